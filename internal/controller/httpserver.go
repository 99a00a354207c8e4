package controller

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPConfig bounds what one client can hold of the API server. The zero
// value is the production default; tests shorten the timeouts.
type HTTPConfig struct {
	// ReadHeaderTimeout bounds reading a request's head (default 10 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, head and body (default
	// DefaultReadTimeout). It must also exceed the longest a handler holds
	// a request: agents' syncs wait at most Config.Heartbeat.
	ReadTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request (default 120 s: longer than net/http's client keeps an
	// idle connection, 90 s, so that the client, not the server, closes it
	// and a request never races the server's close).
	IdleTimeout time.Duration
}

// DefaultReadTimeout is the default HTTPConfig.ReadTimeout. The largest
// request is a submission with a batch script at job.MaxScriptSize (4 MiB),
// up to twice that once JSON-escaped; at 1 Mbit/s, a slow uplink from a
// laptop, 4 MiB takes about 34 s and the escaped worst case about 70 s.
// Two minutes leaves room for that and still frees a connection that
// trickles its body within a bounded time; the per-address connection
// bound (LimitListener) keeps one client from holding many such slots.
const DefaultReadTimeout = 120 * time.Second

// DefaultMaxConnsPerIP is the usual bound for LimitListener: far above what
// one user's CLI or one node's agent opens, far below the file descriptors
// a controller has.
const DefaultMaxConnsPerIP = 256

// NewHTTPServer returns the API server for h with cfg's timeouts. It sets
// no WriteTimeout: an answer is small and written at once, and a write
// deadline would cut the agents' long-polling syncs.
func NewHTTPServer(h http.Handler, cfg HTTPConfig) *http.Server {
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10, // the API's heads are a few hundred bytes
	}
}

// LimitListener returns ln bounded to perIP connections open at once from
// each remote IP address: an accepted connection over the bound is closed
// at once, before it is read. perIP <= 0 means no bound. Connections that
// are not TCP (a Unix socket) count under their remote address as a
// string, so all of them share one bound.
func LimitListener(ln net.Listener, perIP int) net.Listener {
	if perIP <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, perIP: perIP, open: map[string]int{}}
}

type limitListener struct {
	net.Listener
	perIP int

	mu   sync.Mutex
	open map[string]int // connections open per remote IP
}

// Accept returns the next connection whose address is under its bound;
// the others are closed here, so that the server never spends a goroutine
// or a read on them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := remoteKey(c.RemoteAddr())
		l.mu.Lock()
		if l.open[key] >= l.perIP {
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &limitConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *limitListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key) // the map holds only addresses with open connections
	}
}

func remoteKey(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if a == nil {
		return ""
	}
	return a.String()
}

// limitConn gives its slot back when it is closed, once however often
// Close is called.
type limitConn struct {
	net.Conn
	l    *limitListener
	key  string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// NetConn returns the accepted connection, so that code which asks the
// kernel about the socket (package peercred) sees it through the wrapper.
func (c *limitConn) NetConn() net.Conn { return c.Conn }
