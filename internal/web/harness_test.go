package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/store"
)

// testUserHeader names the test's stand-in for a verified identity: the
// fake Identify below believes it, as gefion dev believes the kernel.
const testUserHeader = "X-Test-User"

// harness is a controller with virtual nodes, served with its web view
// as gefion dev serves it.
type harness struct {
	t   testing.TB
	ctl *controller.Controller
	srv *httptest.Server
	// outputs holds the jobs' output files (job.ID -> string), as the
	// Output option reads them.
	outputs sync.Map
}

func (h *harness) output(j *api.Job, limit int) (string, error) {
	v, ok := h.outputs.Load(j.ID)
	if !ok {
		return "", fmt.Errorf("no output file for job %d (yet)", j.ID)
	}
	s := v.(string)
	return s[max(len(s)-limit, 0):], nil
}

func identifyTestUser(r *http.Request) (controller.Identity, error) {
	u := r.Header.Get(testUserHeader)
	if u == "" {
		return controller.Identity{}, &api.Error{Code: api.CodeUnauthorized, Message: "no test user"}
	}
	return controller.Identity{User: u, Via: "test"}, nil
}

func newHarness(t testing.TB, nodes int) *harness {
	t.Helper()
	return newHarnessWith(t, nodes, &agent.Virtual{GPU: cluster.H100SXM})
}

// newHarnessWith runs the nodes with the given executor.
func newHarnessWith(t testing.TB, nodes int, exec agent.Executor) *harness {
	t.Helper()
	ctl, err := controller.New(controller.Config{
		Operators: []string{"admin"}, DefaultProject: "default", Identify: identifyTestUser,
		Heartbeat: 200 * time.Millisecond,
	}, store.NewMemory(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	h := &harness{t: t, ctl: ctl}
	h.srv = httptest.NewServer(Handler(ctl, Options{Output: h.output}))
	t.Cleanup(func() {
		h.srv.CloseClientConnections()
		h.srv.Close()
		cancel()
		<-done
	})
	if nodes > 0 {
		ag := &agent.Agent{
			Client: client.NewAgent(h.srv.URL, ctl.JoinToken()), ID: "virtual-test",
			Nodes: agent.VirtualNodes("dgx", nodes, &cluster.DGXH100, 1),
			Exec:  exec,
		}
		go func() { _ = ag.Run(ctx) }()
		h.waitFor("nodes up", func() bool {
			ns, err := ctl.Nodes(context.Background())
			if err != nil || len(ns) != nodes {
				return false
			}
			for _, n := range ns {
				if n.State == "down" {
					return false
				}
			}
			return true
		})
	}
	return h
}

func (h *harness) waitFor(what string, ok func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s", what)
}

// get fetches a page as user.
func (h *harness) get(user, path string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	return h.do(user, req)
}

func (h *harness) do(user string, req *http.Request) (*http.Response, string) {
	h.t.Helper()
	if user != "" {
		req.Header.Set(testUserHeader, user)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	b, err = io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, string(b)
}
