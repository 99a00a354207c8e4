package nodeauth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/peercred"
)

// Server answers credential requests on a Unix socket.
type Server struct {
	// Key is the node's enrolled key; Node its name.
	Key  ed25519.PrivateKey
	Node string
	// Life is a credential's validity (default 60 s).
	Life time.Duration
	// Controller and CA (which may be known only once the agent has
	// reached the controller) are handed to callers (see Reply).
	Controller string
	CA         func() string
	// Lookup names a uid (default: the node's user database, cached).
	Lookup func(uid uint32) (string, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger

	mu    sync.Mutex
	names map[uint32]cachedName
	mac   []byte
}

// SetMACKey gives the MAC key the controller handed out at enrolment:
// credentials are then sealed with it, which the controller checks about
// ten times faster than a signature. Until then they are signed with Key.
func (s *Server) SetMACKey(k []byte) {
	s.mu.Lock()
	s.mac = k
	s.mu.Unlock()
}

type cachedName struct {
	name string
	at   time.Time
}

// Listen makes the socket at path: its directory is created owned by this
// process and closed to others' writes, a stale socket is replaced, and
// the socket itself is open to every local user (each gets only their own
// credential).
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("credential socket: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("credential socket: %w", err)
	} else if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("credential socket: directory %s is writable by others (mode %v): another user could replace the socket; use a directory only this agent writes", dir, fi.Mode().Perm())
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("credential socket: %s exists and is no socket; remove it", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("credential socket: another agent serves %s", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("credential socket: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("credential socket: %w", err)
	}
	return ln, nil
}

// Serve answers every connection on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go s.answer(conn)
	}
}

func (s *Server) answer(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := Reply{Controller: s.Controller}
	if s.CA != nil {
		r.CA = s.CA()
	}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		r.Error = "not a Unix socket"
	} else if cred, err := s.Issue(uc); err != nil {
		r.Error = err.Error()
		if s.Log != nil {
			s.Log.Warn("credential refused", "err", err)
		}
	} else {
		r.Credential = cred
	}
	b, _ := json.Marshal(&r)
	_, _ = conn.Write(b)
}

// Issue signs a credential for conn's peer, as the kernel names it.
func (s *Server) Issue(conn *net.UnixConn) (string, error) {
	pc, err := peercred.UnixCred(conn)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	name, err := s.name(pc.UID, now)
	if err != nil {
		return "", err
	}
	life := s.Life
	if life == 0 {
		life = time.Minute
	}
	groups := pc.Groups
	if len(groups) > ident.MaxGroups {
		groups = groups[:ident.MaxGroups]
	}
	c := &ident.Credential{
		UID: pc.UID, GID: pc.GID, Groups: groups, User: name, Node: s.Node,
		IssuedMS: now.UnixMilli(), ExpiresMS: now.Add(life).UnixMilli(), Nonce: ident.NewNonce(),
	}
	s.mu.Lock()
	mac := s.mac
	s.mu.Unlock()
	if mac != nil {
		return ident.SealCredential(mac, c)
	}
	return ident.SignCredential(s.Key, c)
}

// name returns uid's user name, from a cache of a minute.
func (s *Server) name(uid uint32, now time.Time) (string, error) {
	s.mu.Lock()
	c, ok := s.names[uid]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < time.Minute {
		return c.name, nil
	}
	lookup := s.Lookup
	if lookup == nil {
		lookup = func(uid uint32) (string, error) {
			u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
			if err != nil {
				return "", fmt.Errorf("uid %d has no user name on this node: %w", uid, err)
			}
			return u.Username, nil
		}
	}
	name, err := lookup(uid)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.names == nil {
		s.names = map[uint32]cachedName{}
	}
	s.names[uid] = cachedName{name, now}
	s.mu.Unlock()
	return name, nil
}
