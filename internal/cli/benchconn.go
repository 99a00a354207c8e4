package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
)

// benchConn is one keep-alive HTTP/1.1 connection that makes the same
// request over and over: the load tool's own client. It sends exactly what
// the client package sends, but without net/http's transport machinery
// (two goroutines per connection, a header map and a request object per
// call), so that on a machine shared with the controller the cores go to
// the controller being measured. Every answer is read and checked.
type benchConn struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	req  []byte // the whole request, head and body
}

// newBenchConn prepares a connection for POSTing body to path on the
// controller at base (an http:// URL), with the client's headers.
func newBenchConn(base, path string, hdr map[string]string, body []byte) (*benchConn, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("the load tool needs an http://host:port address, not %q", base)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", strings.TrimRight(u.Path, "/"), path, u.Host, len(body))
	for k, v := range hdr {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(body)
	return &benchConn{addr: u.Host, req: []byte(b.String())}, nil
}

// submit sends the request once and returns the job ID the controller
// answered with. A connection the controller closed is redialled once.
func (b *benchConn) submit() (job.ID, error) {
	for attempt := 0; ; attempt++ {
		id, fresh, err := b.try()
		if err == nil || fresh || attempt > 0 {
			return id, err
		}
		b.close() // a stale keep-alive connection: dial again
	}
}

// try makes one request; fresh reports that the connection was new, so
// that a failure is not the controller closing an idle one.
func (b *benchConn) try() (id job.ID, fresh bool, err error) {
	if b.conn == nil {
		c, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
		if err != nil {
			return 0, true, err
		}
		b.conn, b.br, fresh = c, bufio.NewReaderSize(c, 4096), true
	}
	if _, err := b.conn.Write(b.req); err != nil {
		b.close()
		return 0, fresh, err
	}
	resp, err := client.ReadResponse(b.br)
	if err != nil {
		b.close()
		return 0, fresh, err
	}
	if resp.Close {
		b.close()
	}
	data := resp.Body
	if resp.Status != http.StatusOK {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return 0, fresh, &eb.Error
		}
		return 0, fresh, fmt.Errorf("controller answered HTTP status %d", resp.Status)
	}
	var out struct {
		ID job.ID `json:"id"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.ID <= 0 {
		return 0, fresh, fmt.Errorf("controller answered without a job ID: %.100q", data)
	}
	return out.ID, fresh, nil
}

func (b *benchConn) close() {
	if b.conn != nil {
		b.conn.Close()
		b.conn, b.br = nil, nil
	}
}

// submitLoadRaw is submitLoad over benchConns: n submissions of spec over
// conc connections. It also checks that every acknowledged submission got
// its own job ID.
func submitLoadRaw(ctx context.Context, c *client.Client, n, conc int, spec job.Spec) ([]time.Duration, int, time.Duration, error) {
	body, err := json.Marshal(api.SubmitRequest{Spec: spec})
	if err != nil {
		return nil, 0, 0, err
	}
	hdr := map[string]string{api.HeaderUser: c.User, api.HeaderToken: c.Token}
	conns := make([]*benchConn, conc)
	for w := range conns {
		if conns[w], err = newBenchConn(c.Base, "/v1/jobs", hdr, body); err != nil {
			return nil, 0, 0, err
		}
	}
	lat := make([]time.Duration, n)
	ids := make([]job.ID, n)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for _, bc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer bc.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				id, err := bc.submit()
				lat[i] = time.Since(t)
				ids[i] = id
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if e, ok := firstErr.Load().(string); ok {
		slog.Warn("submissions failed", "count", errs.Load(), "first", e)
	}
	seen := make(map[job.ID]bool, n)
	for _, id := range ids {
		if id == 0 {
			continue
		}
		if seen[id] {
			return nil, 0, 0, fmt.Errorf("the controller gave job ID %d to two submissions", id)
		}
		seen[id] = true
	}
	return lat, int(errs.Load()), wall, nil
}
