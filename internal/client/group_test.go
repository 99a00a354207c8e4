package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// fakeControllers starts a leader, which counts the submissions it is
// sent, and a standby, which answers as a standby naming the leader.
func fakeControllers(t *testing.T) (leader, standby *httptest.Server, submits *atomic.Int64) {
	t.Helper()
	submits = &atomic.Int64{}
	leader = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		submits.Add(1)
		_ = json.NewEncoder(w).Encode(api.SubmitResponse{ID: 7})
	}))
	t.Cleanup(leader.Close)
	standby = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: api.CodeUnavailable, Message: "standby", Leader: leader.URL}})
	}))
	t.Cleanup(standby.Close)
	return leader, standby, submits
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	return addr
}

func TestGroupFollowsLeader(t *testing.T) {
	leader, standby, submits := fakeControllers(t)
	down := closedAddr(t)
	for _, mk := range []struct {
		name string
		new  func(addr, user string) *Client
	}{{"New", New}, {"NewPooled", NewPooled}} {
		for _, order := range [][]string{{standby.URL, leader.URL}, {down, standby.URL, leader.URL}, {leader.URL, standby.URL}} {
			addr := strings.Join(order, ", ")
			submits.Store(0)
			c := mk.new(addr, "alice")
			ctx := context.Background()
			// A keyed submission may be passed on; it lands on the leader
			// once.
			resp, err := c.Submit(ctx, api.SubmitRequest{Spec: job.Spec{Name: "x"}}, "k1")
			if err != nil || resp.ID != 7 || submits.Load() != 1 {
				t.Errorf("%s(%q): Submit = %+v, %v, leader saw %d; want job 7, sent to the leader once", mk.name, addr, resp, err, submits.Load())
			}
			// The client now goes to the leader first.
			if _, err := c.Submit(ctx, api.SubmitRequest{Spec: job.Spec{Name: "x"}}, ""); err != nil || submits.Load() != 2 {
				t.Errorf("%s(%q): second Submit = %v, leader saw %d; want 2", mk.name, addr, err, submits.Load())
			}
		}
	}
}

// TestGroupUnkeyedNotResent: a submission without an idempotency key is
// not passed on after a failure that may have applied it.
func TestGroupUnkeyedNotResent(t *testing.T) {
	leader, _, submits := fakeControllers(t)
	var hung atomic.Int64
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer silent.Close()
	saved := AttemptTimeout
	AttemptTimeout = 200 * time.Millisecond
	defer func() { AttemptTimeout = saved }()
	c := New(silent.URL+","+leader.URL, "alice")
	_, err := c.Submit(context.Background(), api.SubmitRequest{Spec: job.Spec{Name: "x"}}, "")
	if !errors.Is(err, ErrUnreachable) || submits.Load() != 0 || hung.Load() != 1 {
		t.Errorf("unkeyed Submit to a silent controller = %v, silent one saw %d, leader %d; want ErrUnreachable, sent once", err, hung.Load(), submits.Load())
	}
	// A keyed one moves on to the leader.
	if _, err := c.Submit(context.Background(), api.SubmitRequest{Spec: job.Spec{Name: "x"}}, "k"); err != nil || submits.Load() != 1 {
		t.Errorf("keyed Submit = %v, leader saw %d; want it passed on to the leader", err, submits.Load())
	}
}

// TestGroupGivesUp: with no controller reachable, a request fails after
// FailoverWait with ErrUnreachable.
func TestGroupGivesUp(t *testing.T) {
	saved := FailoverWait
	FailoverWait = 300 * time.Millisecond
	defer func() { FailoverWait = saved }()
	c := New(closedAddr(t)+","+closedAddr(t), "alice")
	start := time.Now()
	err := c.Health(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Health with every controller down = %v; want ErrUnreachable", err)
	}
	if d := time.Since(start); d < FailoverWait {
		t.Errorf("gave up after %s; want it to keep trying for %s", d, FailoverWait)
	}
}

// TestGroupAgentPassedOn: an agent's sync, which carries no key but which
// the agent resends itself, moves on from a controller that is down.
func TestGroupAgentPassedOn(t *testing.T) {
	leader, _, submits := fakeControllers(t)
	c := NewAgent(closedAddr(t)+","+leader.URL, "token")
	if _, err := c.Sync(context.Background(), api.SyncRequest{}); err != nil || submits.Load() != 1 {
		t.Errorf("agent Sync with the first controller down = %v, leader saw %d; want it sent to the leader", err, submits.Load())
	}
}
