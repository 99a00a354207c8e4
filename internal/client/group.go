package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

// FailoverWait bounds how long a client that knows several controllers
// keeps looking for the leader before it gives up: longer than a
// takeover (a lease of a few seconds, then the new leader's load).
var FailoverWait = 20 * time.Second

// AttemptTimeout bounds one request to one controller of a group: a
// leader that is paused (stopped, frozen) still accepts connections but
// answers none, and a request must move on to the controller that took
// over. It is longer than an agent's sync, which the controller holds for
// up to its heartbeat (5 s by default).
var AttemptTimeout = 15 * time.Second

// group is a set of controllers sharing one store, one of which leads.
// A request goes to the one that last answered as leader; a standby's
// answer names the leader, which the request is sent to instead, and an
// unreachable controller passes the request to the next one. A request
// that may change state is passed on only where that cannot apply it
// twice: a standby applies nothing, a keyed request (Idempotency-Key)
// is answered once however often it is sent, and an agent's requests are
// resent by the agent anyway.
type group struct {
	mu    sync.Mutex
	bases []string
	cur   int
	light []*conn1 // per base, for clients made by New
}

// newGroup splits a comma-separated list of controllers; it returns the
// first and a group, or nil for a single address.
func newGroup(addr string) (string, *group) {
	if !strings.Contains(addr, ",") {
		return addr, nil
	}
	g := &group{}
	for _, a := range strings.Split(addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			g.bases = append(g.bases, baseURL(a))
		}
	}
	if len(g.bases) < 2 {
		if len(g.bases) == 1 {
			return g.bases[0], nil
		}
		return "", nil
	}
	g.light = make([]*conn1, len(g.bases))
	for i, b := range g.bases {
		if host, prefix, ok := splitHTTP(b); ok {
			g.light[i] = &conn1{host: host, prefix: prefix}
		}
	}
	return g.bases[0], g
}

// current returns the controller to send to.
func (g *group) current() (int, string, *conn1) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur, g.bases[g.cur], g.light[g.cur]
}

// move makes the next request go to the leader named, if the group knows
// it, or else to the controller after i.
func (g *group) move(i int, leader string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != i {
		return // another request moved it already
	}
	if leader != "" {
		for j, b := range g.bases {
			if b == baseURL(leader) && j != i {
				g.cur = j
				return
			}
		}
	}
	g.cur = (i + 1) % len(g.bases)
}

func (g *group) send(ctx context.Context, c *Client, method, path string, hdr []string, body []byte) ([]byte, error) {
	keyed := false
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == api.HeaderIdemKey && hdr[i+1] != "" {
			keyed = true
		}
	}
	// An agent (it carries the join token) resends its registrations and
	// syncs itself until one is answered, so passing one on repeats
	// nothing it would not.
	safe := method == "GET" || method == "HEAD" || keyed || c.Token != ""
	deadline := time.Now().Add(FailoverWait)
	for tries := 1; ; tries++ {
		i, base, light := g.current()
		actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
		data, err := c.send1(actx, light, base, method, path, hdr, body)
		timedOut := err != nil && actx.Err() != nil && ctx.Err() == nil
		cancel()
		var ae *api.Error
		standby := errors.As(err, &ae) && ae.Code == api.CodeUnavailable
		if timedOut {
			err = fmt.Errorf("%w at %s: no answer in %s", ErrUnreachable, base, AttemptTimeout)
		}
		if err == nil || ctx.Err() != nil || !(standby || (safe && errors.Is(err, ErrUnreachable))) {
			return data, err
		}
		leader := ""
		if standby {
			leader = ae.Leader
		}
		g.move(i, leader)
		if time.Now().After(deadline) {
			return nil, err
		}
		// Every controller tried once: the leader may be changing;
		// wait a little before the next round.
		if tries%len(g.bases) == 0 && leader == "" {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// Controllers returns the controllers the client knows: one, or each of
// a group.
func (c *Client) Controllers() []string {
	if c.group == nil {
		return []string{c.Base}
	}
	return c.group.bases
}

// LeaderOf asks the controller at base who leads (GET /v1/leader, which
// only controllers on a shared store answer).
func (c *Client) LeaderOf(ctx context.Context, base string) (*api.Leader, error) {
	one := NewPooled(base, c.User)
	var out api.Leader
	return &out, one.do(ctx, "GET", "/v1/leader", nil, nil, &out)
}
