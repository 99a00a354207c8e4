package controller

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

func TestMalformedAndUnauthenticatedRequests(t *testing.T) {
	h := newHarness(t, Config{JoinToken: "s3cret"}, nil, 0)
	post := func(path, user, body string, hdr map[string]string) (int, api.ErrorBody) {
		req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(body))
		if user != "" {
			req.Header.Set(api.HeaderUser, user)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb api.ErrorBody
		data, _ := io.ReadAll(resp.Body)
		_ = jsonUnmarshal(data, &eb)
		return resp.StatusCode, eb
	}
	tests := []struct {
		name, path, user, body string
		hdr                    map[string]string
		status                 int
		code                   string
	}{
		{"malformed JSON", "/v1/jobs", "alice", `{"spec": {`, nil, 400, api.CodeInvalid},
		{"unknown field", "/v1/jobs", "alice", `{"spek": {}}`, nil, 400, api.CodeInvalid},
		{"two documents", "/v1/jobs", "alice", `{} {}`, nil, 400, api.CodeInvalid},
		{"no user", "/v1/jobs", "", `{}`, nil, 401, api.CodeUnauthorized},
		{"agent without token", "/v1/agent/register", "", `{"version":1}`, nil, 401, api.CodeUnauthorized},
		{"agent of another version", "/v1/agent/register", "", `{"version":99,"nodes":[{"name":"x","cpus":1}]}`, map[string]string{api.HeaderToken: "s3cret"}, 400, api.CodeVersion},
		{"oversized body", "/v1/jobs", "alice", `{"spec":{"script":"` + strings.Repeat("x", maxBody) + `"}}`, nil, 413, api.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, eb := post(tt.path, tt.user, tt.body, tt.hdr)
			if status != tt.status || eb.Error.Code != tt.code || eb.Error.Message == "" {
				t.Errorf("POST %s = %d %+v; want %d with code %s and a message", tt.path, status, eb.Error, tt.status, tt.code)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	if _, err := h.client("alice").Submit(context.Background(), api.SubmitRequest{Spec: gpuSpec(1, "duration=0")}, ""); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"gefion_submissions_total 1", "gefion_sched_pass_seconds", "gefion_api_request_seconds", "gefion_store_commit_seconds"} {
		if !strings.Contains(string(data), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

func TestLostAgentRequeuesAndIsToldToKill(t *testing.T) {
	h := newHarness(t, Config{Heartbeat: 100 * time.Millisecond, LostAfter: 400 * time.Millisecond}, nil, 2)
	ctx := context.Background()
	alice := h.client("alice")
	keep := gpuSpec(8, "duration=1000")
	multi := job.Spec{Name: "multi", NodesMin: 2, GPUsPerNode: 8, TimeLimitS: 600, Comment: "duration=1000", Script: "#!/bin/sh\ntrue\n"}
	no := false
	multi.Requeue = &no
	rk, err := alice.Submit(ctx, api.SubmitRequest{Spec: multi}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", rk.ID, job.Running)
	exec := h.agent.Exec
	h.agentC() // the agent stops talking
	j := h.waitState("alice", rk.ID, job.NodeFail)
	if j.Reason == "" {
		t.Errorf("NODE_FAIL job has no reason")
	}
	ns, _ := h.client("admin").Nodes(ctx)
	for _, n := range ns {
		if n.State != "down" {
			t.Errorf("node %s is %s after its agent was lost; want down", n.Name, n.State)
		}
	}
	// The agent comes back still running the job: it is told to kill it.
	if len(exec.Running()) == 0 {
		t.Fatal("the virtual executor lost its job; the test needs it running")
	}
	ctx2, cancel := context.WithCancel(context.Background())
	defer cancel()
	back := &agent.Agent{Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "virtual-test", Nodes: h.agent.Nodes, Exec: exec}
	go func() { _ = back.Run(ctx2) }()
	h.waitFor("the returning agent to kill the job", func() bool { return len(exec.Running()) == 0 })
	// A requeueable job on a lost node goes back to the queue.
	r2, err := alice.Submit(ctx, api.SubmitRequest{Spec: keep}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", r2.ID, job.Running)
	cancel()
	h.waitFor("requeue", func() bool {
		j, err := alice.Job(ctx, r2.ID)
		return err == nil && j.State == job.Pending && j.Restarts == 1
	})
}

func jsonUnmarshal(data []byte, v any) error {
	return jsonDecode(strings.NewReader(string(data)), v)
}

// The kill -9 test: a child process runs a controller on SQLite; the
// parent submits a burst, noting every acknowledged job, kills the child
// with SIGKILL mid-burst, starts a new controller on the same database and
// checks that every acknowledged job is there exactly once.

const childEnv = "GEFION_CONTROLLER_CHILD"

func TestChildController(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestKill9DuringSubmissionBurst")
	}
	st, err := sqlite.Open(dir + "/gefion.db")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	c := cluster.DGXH100
	cl, _ := cluster.New("kill", []cluster.NodeGroup{{Names: []string{"n1"}, Model: &c}}, nil, nil)
	ctl, err := New(Config{Cluster: cl, DefaultProject: "default"}, st, nil, nil)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	go func() { _ = ctl.Run(context.Background()) }()
	fmt.Println("LISTEN", ln.Addr().String())
	_ = http.Serve(ln, ctl.Handler())
}

func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildController$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return cmd, "http://" + addr
		}
		if strings.HasPrefix(sc.Text(), "ERR") {
			t.Fatalf("child: %s", sc.Text())
		}
	}
	t.Fatal("child controller did not start")
	return nil, ""
}

func TestKill9DuringSubmissionBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts controller processes")
	}
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		cmd, addr := startChild(t, dir)
		c := client.New(addr, "alice")
		acked := make(chan job.ID, 100000)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		for w := 0; w < 8; w++ {
			go func(w int) {
				defer func() { done <- struct{}{} }()
				for i := 0; ctx.Err() == nil; i++ {
					key := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					r, err := c.Submit(ctx, api.SubmitRequest{Spec: job.Spec{TimeLimitS: 60, Hold: true, Script: "#!/bin/sh\ntrue\n"}}, key)
					if err != nil {
						return
					}
					acked <- r.ID
				}
			}(w)
		}
		// Let a burst build up, then kill at a moment that varies by round.
		time.Sleep(time.Duration(150+100*round) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		cancel()
		for w := 0; w < 8; w++ {
			<-done
		}
		close(acked)
		var ids []job.ID
		for id := range acked {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			t.Fatalf("round %d: no submission was acknowledged before the kill", round)
		}
		// Reopen the store directly: every acknowledged job is there, once.
		st, err := sqlite.Open(dir + "/gefion.db")
		if err != nil {
			t.Fatal(err)
		}
		recs, err := st.Jobs(context.Background(), store.JobQuery{})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		have := map[job.ID]int{}
		keys := map[string]int{}
		for _, r := range recs {
			have[r.ID]++
			keys[r.IdemKey]++
		}
		for _, id := range ids {
			if have[id] != 1 {
				t.Fatalf("round %d: acknowledged job %d is stored %d times; want once", round, id, have[id])
			}
		}
		for k, n := range keys {
			if n > 1 {
				t.Fatalf("round %d: idempotency key %q stored %d times", round, k, n)
			}
		}
		t.Logf("round %d: %d acknowledged before kill -9, %d stored in all", round, len(ids), len(recs))
	}
	// A controller restarted on the database keeps numbering after the last
	// job and answers for the old ones.
	cmd, addr := startChild(t, dir)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	c := client.New(addr, "alice")
	r, err := c.Submit(context.Background(), api.SubmitRequest{Spec: job.Spec{TimeLimitS: 60, Hold: true, Script: "#!/bin/sh\ntrue\n"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Jobs(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.ID >= r.ID && j.ID != r.ID {
			t.Errorf("job %d is newer than the new job %d: IDs were reused", j.ID, r.ID)
		}
	}
	var ae *api.Error
	if _, err := c.Job(context.Background(), r.ID+1000); !errors.As(err, &ae) || ae.Code != api.CodeNotFound {
		t.Errorf("unknown job = %v; want not_found", err)
	}
}

// failingStore fails every commit after the first ok ones, slowly, so that
// submissions pile up in the next burst while one is being committed.
type failingStore struct {
	store.Store
	mu sync.Mutex
	ok int
}

func (f *failingStore) Apply(ctx context.Context, b *store.Batch) error {
	time.Sleep(2 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == 0 {
		return errors.New("disk full")
	}
	f.ok--
	return f.Store.Apply(ctx, b)
}

// TestStoreFailureStopsWithoutLosingAcknowledged submits concurrently while
// commits start failing: the controller stops with an error, every
// submission it acknowledged is in the store and none it refused is, and a
// new controller on the store carries on from there.
func TestStoreFailureStopsWithoutLosingAcknowledged(t *testing.T) {
	mem := store.NewMemory()
	fs := &failingStore{Store: mem, ok: 1 << 30}
	cfg := Config{Operators: []string{"admin"}, DefaultProject: "default"}
	c, err := cluster.Preset("dgx-h100")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cluster = c
	ctl, err := New(cfg, fs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- ctl.Run(context.Background()) }()
	var (
		mu      sync.Mutex
		acked   []job.ID
		refused int
		wg      sync.WaitGroup
	)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 40; k++ {
				r, err := ctl.Submit(context.Background(), "alice", "", api.SubmitRequest{Spec: gpuSpec(1, "")})
				mu.Lock()
				if err == nil {
					acked = append(acked, r.ID)
				} else {
					refused++
				}
				if len(acked) == 100 {
					fs.mu.Lock()
					fs.ok = 0
					fs.mu.Unlock()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-runErr:
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("Run returned %v; want the store's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the controller kept running after a failed commit")
	}
	if refused == 0 || len(acked) < 100 {
		t.Fatalf("%d acknowledged, %d refused; want 100 or more, then refusals", len(acked), refused)
	}
	snap, err := mem.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inStore := map[job.ID]bool{}
	for _, r := range snap.ActiveJobs {
		inStore[r.ID] = true
	}
	for _, id := range acked {
		if !inStore[id] {
			t.Errorf("acknowledged job %d is not in the store", id)
		}
	}
	if len(inStore) != len(acked) {
		t.Errorf("the store holds %d jobs; %d were acknowledged", len(inStore), len(acked))
	}
	// A new controller recovers and hands out fresh IDs.
	h := newHarness(t, cfg, mem, 0)
	r, err := h.client("alice").Submit(context.Background(), api.SubmitRequest{Spec: gpuSpec(1, "")}, "")
	if err != nil {
		t.Fatal(err)
	}
	if inStore[r.ID] {
		t.Errorf("the restarted controller reused job ID %d", r.ID)
	}
}

// loseAssignReply is a transport that loses, once, the first agent sync
// reply carrying an assignment (as a broken connection would), and counts
// registrations.
type loseAssignReply struct {
	base      http.RoundTripper
	lost      atomic.Bool
	registers atomic.Int32
}

func (l *loseAssignReply) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/agent/register" {
		l.registers.Add(1)
	}
	resp, err := l.base.RoundTrip(r)
	if err != nil || r.URL.Path != "/v1/agent/sync" || l.lost.Load() {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(body), `"assign":`) && l.lost.CompareAndSwap(false, true) {
		return nil, errors.New("connection reset by peer")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// TestLostAssignmentReplyIsResent loses the reply that carries a job's
// assignment: the agent retries its sync in the same session, the
// controller sends the unacknowledged assignment again, and the job runs
// once, to completion, without a requeue.
func TestLostAssignmentReplyIsResent(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	lose := &loseAssignReply{base: http.DefaultTransport}
	cl := client.NewAgent(h.srv.URL, h.ctl.JoinToken())
	cl.HTTP = &http.Client{Transport: lose}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ag := &agent.Agent{Client: cl, ID: "lossy", Nodes: agent.VirtualNodes("dgx", 1, &cluster.DGXH100, 1),
		Exec: &agent.Virtual{GPU: cluster.H100SXM}}
	go func() { _ = ag.Run(ctx) }()
	h.waitFor("node up", func() bool {
		ns, err := h.client("admin").Nodes(context.Background())
		return err == nil && len(ns) == 1 && ns[0].State != "down"
	})
	r, err := h.client("alice").Submit(context.Background(), api.SubmitRequest{Spec: gpuSpec(8, "duration=1")}, "")
	if err != nil {
		t.Fatal(err)
	}
	j := h.waitState("alice", r.ID, job.Completed)
	if !lose.lost.Load() {
		t.Fatal("no sync reply with an assignment was lost; the test tested nothing")
	}
	if j.Restarts != 0 || lose.registers.Load() != 1 {
		t.Errorf("job restarts %d, agent registrations %d; want the job run once in the first session", j.Restarts, lose.registers.Load())
	}
}

// TestAgentsNeedATokenEvenWhenNoneIsConfigured: a controller configured
// without a join token draws one; before, it let any agent register.
func TestAgentsNeedATokenEvenWhenNoneIsConfigured(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	if len(h.ctl.JoinToken()) < 32 {
		t.Fatalf("JoinToken() = %q; want a drawn token", h.ctl.JoinToken())
	}
	ctx := context.Background()
	req := api.RegisterRequest{Version: api.Version, AgentID: "rogue", Nodes: agent.VirtualNodes("rogue", 1, &cluster.DGXH100, 1)}
	for _, tok := range []string{"", "wrong"} {
		_, err := client.NewAgent(h.srv.URL, tok).Register(ctx, req)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeUnauthorized {
			t.Errorf("Register with token %q: err = %v; want unauthorized", tok, err)
		}
	}
	if _, err := client.NewAgent(h.srv.URL, h.ctl.JoinToken()).Register(ctx, req); err != nil {
		t.Errorf("Register with the drawn token: %v", err)
	}
}
