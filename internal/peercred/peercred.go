// Package peercred tells which Unix user is on the other end of a local
// connection, as the kernel knows it. It is how `gefion dev` decides who is
// calling: a name in a request header is only a claim, but the owner of the
// peer socket is a fact that no unprivileged caller can forge.
//
// For a Unix socket the answer is SO_PEERCRED. For TCP over loopback it is the
// owner of the peer's socket, which the kernel reports through sock_diag
// netlink (the query `ss -e` makes), with /proc/net/tcp as the fallback; both
// see the socket because client and server share the host's network
// namespace. A connection from another host, or one whose peer socket is gone
// by the time it is looked up, has no answer: callers must refuse it.
//
// It imports only the standard library and golang.org/x/sys; any server
// package may use it.
package peercred

import (
	"context"
	"errors"
	"net"
)

// ErrUnknown means the kernel could not say who the peer is: the connection
// is not local, the platform has no way to ask, or the peer has gone.
var ErrUnknown = errors.New("the peer's Unix user is unknown")

type ctxKey struct{}

type result struct {
	uid uint32
	err error
}

// ConnContext looks up c's peer and remembers the answer in the returned
// context. It has the signature of http.Server.ConnContext, so one lookup
// serves every request on a kept-alive connection.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	uid, err := UID(c)
	return context.WithValue(ctx, ctxKey{}, result{uid, err})
}

// FromContext returns the peer uid that ConnContext recorded. Without
// ConnContext it returns ErrUnknown, so a server that forgot to install it
// refuses everyone rather than trusting anyone.
func FromContext(ctx context.Context) (uint32, error) {
	r, ok := ctx.Value(ctxKey{}).(result)
	if !ok {
		return 0, ErrUnknown
	}
	return r.uid, r.err
}

// UID returns the uid of the process that owns the other end of c.
func UID(c net.Conn) (uint32, error) {
	switch c := c.(type) {
	case *net.UnixConn:
		return unixPeer(c)
	case *net.TCPConn:
		local, lok := c.LocalAddr().(*net.TCPAddr)
		remote, rok := c.RemoteAddr().(*net.TCPAddr)
		if !lok || !rok || !remote.IP.IsLoopback() {
			return 0, ErrUnknown
		}
		return tcpPeer(local, remote)
	case interface{ NetConn() net.Conn }: // *tls.Conn and other wrappers
		return UID(c.NetConn())
	}
	return 0, ErrUnknown
}

// Cred is the identity of a Unix socket's peer as the kernel recorded it
// when the peer connected: its uid, gid and supplementary groups.
type Cred struct {
	UID    uint32
	GID    uint32
	Groups []uint32
}

// UnixCred returns the kernel's record of c's peer (SO_PEERCRED and
// SO_PEERGROUPS). Nothing the peer sends can change it.
func UnixCred(c *net.UnixConn) (Cred, error) { return unixCred(c) }
