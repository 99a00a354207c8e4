package controller

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// harness is a controller on a loopback HTTP server with an in-memory store
// and one virtual agent.
type harness struct {
	t      *testing.T
	ctl    *Controller
	st     store.Store
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
	agent  *agent.Agent
	agentC context.CancelFunc
}

func newHarness(t *testing.T, cfg Config, st store.Store, nodes int) *harness {
	t.Helper()
	if st == nil {
		st = store.NewMemory()
	}
	if cfg.Operators == nil {
		cfg.Operators = []string{"admin"}
	}
	if cfg.DefaultProject == "" {
		cfg.DefaultProject = "default"
	}
	ctl, err := New(cfg, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, ctl: ctl, st: st, cancel: cancel, done: make(chan struct{})}
	go func() { _ = ctl.Run(ctx); close(h.done) }()
	h.srv = httptest.NewServer(ctl.Handler())
	if nodes > 0 {
		h.startAgent(nodes)
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) startAgent(nodes int) {
	ctx, cancel := context.WithCancel(context.Background())
	h.agentC = cancel
	h.agent = &agent.Agent{
		Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "virtual-test",
		Nodes: agent.VirtualNodes("dgx", nodes, &cluster.DGXH100, 1),
		Exec:  &agent.Virtual{GPU: cluster.H100SXM},
	}
	go func() { _ = h.agent.Run(ctx) }()
	h.waitFor("nodes up", func() bool {
		ns, err := h.client("admin").Nodes(context.Background())
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

func (h *harness) stop() {
	if h.agentC != nil {
		h.agentC()
	}
	h.srv.Close()
	h.cancel()
	<-h.done
}

func (h *harness) client(user string) *client.Client { return client.New(h.srv.URL, user) }

func (h *harness) waitFor(what string, ok func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s", what)
}

func (h *harness) waitState(user string, id job.ID, want job.State) *api.Job {
	h.t.Helper()
	var j *api.Job
	h.waitFor("job to reach "+string(want), func() bool {
		var err error
		j, err = h.client(user).Job(context.Background(), id)
		return err == nil && j.State == want
	})
	return j
}

func gpuSpec(gpusPerNode int, comment string) job.Spec {
	return job.Spec{Name: "train", GPUsPerNode: gpusPerNode, TimeLimitS: 600, Comment: comment, Script: "#!/bin/sh\necho hi\n"}
}

func TestSubmitRunsAndAccounts(t *testing.T) {
	h := newHarness(t, Config{}, nil, 2)
	c := h.client("alice")
	ctx := context.Background()
	resp, err := c.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(2, "duration=0")}, "")
	if err != nil {
		t.Fatal(err)
	}
	j := h.waitState("alice", resp.ID, job.Completed)
	if j.Project != "default" || j.User != "alice" || len(j.Allocs) != 1 || len(j.Allocs[0].GPUs) != 2 {
		t.Errorf("job = %+v; want alice's job in project default on 2 GPUs of one node", j)
	}
	acct, err := c.Acct(ctx, client.AcctQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if acct.Totals.Jobs != 1 || acct.Jobs[0].ID != resp.ID {
		t.Errorf("acct = %+v; want the one job", acct)
	}
}

func TestVirtualJobRunsForItsDuration(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	c := h.client("alice")
	resp, err := c.Submit(context.Background(), api.SubmitRequest{Spec: gpuSpec(8, "duration=0.3")}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", resp.ID, job.Running)
	j := h.waitState("alice", resp.ID, job.Completed)
	if j.EnergyJ <= 0 {
		t.Errorf("energy = %v J; want the modelled energy of 8 GPUs for 0.3 s", j.EnergyJ)
	}
}

func TestIdempotentSubmission(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	c := h.client("alice")
	ctx := context.Background()
	a, err := c.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=100")}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=100")}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || !b.Duplicate {
		t.Errorf("retry with the same key = %+v; want job %d again, marked duplicate", b, a.ID)
	}
	// Another user's same key is another job.
	o, err := h.client("bob").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=100")}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.ID == a.ID {
		t.Errorf("bob's submission with alice's key returned alice's job")
	}
}

func TestBadSubmissions(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	c := h.client("alice")
	ctx := context.Background()
	tests := []struct {
		name string
		spec job.Spec
		code string
	}{
		{"unknown project", job.Spec{Account: "nope", TimeLimitS: 60, Script: "#!/bin/sh\ntrue\n"}, api.CodeInvalid},
		{"bigger than the machine", job.Spec{GPUs: 64, TimeLimitS: 60, Script: "#!/bin/sh\ntrue\n"}, api.CodeInvalid},
		{"nine GPUs per node", job.Spec{GPUsPerNode: 9, TimeLimitS: 60, Script: "#!/bin/sh\ntrue\n"}, api.CodeInvalid},
		{"unknown QOS", job.Spec{QOS: "gold", TimeLimitS: 60, Script: "#!/bin/sh\ntrue\n"}, api.CodeInvalid},
		{"dependency on the future", job.Spec{Dependency: "afterok:999999", TimeLimitS: 60, Script: "#!/bin/sh\ntrue\n"}, api.CodeInvalid},
		{"oversized script", job.Spec{TimeLimitS: 60, Script: string(make([]byte, job.MaxScriptSize+1))}, api.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Submit(ctx, api.SubmitRequest{Spec: tt.spec}, "")
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.Message == "" {
				t.Errorf("Submit = %v; want an error with code %s and a message", err, tt.code)
			}
		})
	}
	jobs, err := h.client("admin").Jobs(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("rejected submissions left %d jobs behind", len(jobs))
	}
}

func TestCancelAndOwnership(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	run, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=1000")}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", run.ID, job.Running)
	pend, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=1000")}, "")
	if err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if err := h.client("bob").Cancel(ctx, run.ID, ""); !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Errorf("bob cancelling alice's job = %v; want forbidden", err)
	}
	if _, err := h.client("bob").Job(ctx, run.ID); !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Errorf("bob reading alice's job = %v; want forbidden", err)
	}
	if err := alice.Cancel(ctx, pend.ID, ""); err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", pend.ID, job.Cancelled)
	if err := h.client("admin").Cancel(ctx, run.ID, ""); err != nil {
		t.Fatalf("operator cancel: %v", err)
	}
	h.waitState("alice", run.ID, job.Cancelled)
	if err := alice.Cancel(ctx, run.ID, ""); !errors.As(err, &ae) || ae.Code != api.CodeConflict {
		t.Errorf("cancelling an ended job = %v; want conflict", err)
	}
}

func TestWhyExplainsTheWait(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	first, _ := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=1000")}, "")
	h.waitState("alice", first.ID, job.Running)
	second, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(4, "duration=10")}, "")
	if err != nil {
		t.Fatal(err)
	}
	var w *api.Why
	h.waitFor("a reason", func() bool {
		w, err = alice.Why(ctx, second.ID)
		return err == nil && w.Reason == "Resources"
	})
	if w.EstimatedStart == 0 || w.Sentence == "" {
		t.Errorf("why = %+v; want an estimated start and a sentence", w)
	}
	// Job 1 holds the node for its 600 s limit: the twin agrees.
	if w.Forecast < w.EstimatedStart-1 || w.Forecast > w.EstimatedStart+1 {
		t.Errorf("forecast = %d, plan estimate = %d; want them equal with one job ahead", w.Forecast, w.EstimatedStart)
	}
	t.Logf("why: %s", w.Sentence)
}

func TestHoldRelease(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	spec := gpuSpec(1, "duration=0")
	spec.Hold = true
	r, err := alice.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if j, _ := alice.Job(ctx, r.ID); j.State != job.Pending || j.Reason != "JobHeldUser" {
		t.Fatalf("held job = %s %s; want PENDING JobHeldUser", j.State, j.Reason)
	}
	if err := alice.Hold(ctx, r.ID, false); err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", r.ID, job.Completed)
}

func TestProjectsAndGrants(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	admin := h.client("admin")
	grant := 0.001 // 3.6 GPU-seconds
	if err := admin.CreateProject(ctx, api.ProjectChange{Name: "med", AddUsers: []string{"alice"}, GrantGPUHours: &grant}); err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if err := h.client("alice").CreateProject(ctx, api.ProjectChange{Name: "mine"}); !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Errorf("a user creating a project = %v; want forbidden", err)
	}
	alice := h.client("alice")
	spec := gpuSpec(8, "duration=1")
	spec.Account = "med"
	r, err := alice.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", r.ID, job.Completed)
	// 8 GPUs for about a second used the grant: the next job waits.
	r2, err := alice.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor("grant reason", func() bool {
		w, err := alice.Why(ctx, r2.ID)
		return err == nil && w.Reason == "AssocGrpGRESMinutes"
	})
	bob := h.client("bob")
	if _, err := bob.Submit(ctx, api.SubmitRequest{Spec: spec}, ""); !errors.As(err, &ae) || ae.Code != api.CodeInvalid {
		t.Errorf("bob submitting to med = %v; want invalid (not a member)", err)
	}
}

func TestDrainResume(t *testing.T) {
	h := newHarness(t, Config{}, nil, 2)
	ctx := context.Background()
	admin := h.client("admin")
	var ae *api.Error
	if err := h.client("alice").SetNodes(ctx, api.NodeAction{Nodes: "dgx001", Reason: "x"}, true); !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Errorf("user drain = %v; want forbidden", err)
	}
	if err := admin.SetNodes(ctx, api.NodeAction{Nodes: "dgx[001-002]"}, true); !errors.As(err, &ae) || ae.Code != api.CodeInvalid {
		t.Errorf("drain without reason = %v; want invalid", err)
	}
	if err := admin.SetNodes(ctx, api.NodeAction{Nodes: "dgx[001-002]", Reason: "maintenance"}, true); err != nil {
		t.Fatal(err)
	}
	r, _ := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=0")}, "")
	time.Sleep(50 * time.Millisecond)
	if j, _ := h.client("alice").Job(ctx, r.ID); j.State != job.Pending {
		t.Fatalf("job on a drained cluster is %s; want PENDING", j.State)
	}
	ns, _ := admin.Nodes(ctx)
	if ns[0].State != "drained" || ns[0].Reason == "" {
		t.Errorf("node = %+v; want drained with a reason", ns[0])
	}
	if err := admin.SetNodes(ctx, api.NodeAction{Nodes: "dgx001"}, false); err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", r.ID, job.Completed)
}

func TestUnmeasuredEnergyIsModelled(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	// An executor without counters reports 0 J, unmeasured.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ag := &agent.Agent{Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "nocounters",
		Nodes: agent.VirtualNodes("n", 1, &cluster.DGXH100, 1), Exec: &agent.Virtual{}}
	go func() { _ = ag.Run(ctx) }()
	h.waitFor("node", func() bool { ns, _ := h.client("admin").Nodes(ctx); return len(ns) == 1 && ns[0].State == "idle" })
	r, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(2, "duration=1.2")}, "")
	if err != nil {
		t.Fatal(err)
	}
	j := h.waitState("alice", r.ID, job.Completed)
	want := 2 * cluster.H100SXM.TDPWatts * float64(j.EndTime-j.StartTime)
	if j.EnergyJ != want || want == 0 {
		t.Errorf("energy = %v J; want 2 GPUs x 700 W x %d s = %v J", j.EnergyJ, j.EndTime-j.StartTime, want)
	}
}

// idleReporter is a virtual executor that reports its job's GPU 0 idle at
// once, as the process executor does after its idle time.
type idleReporter struct{ agent.Virtual }

func (e *idleReporter) Start(a api.Assignment, report func(api.Report)) {
	e.Virtual.Start(a, report)
	report(api.Report{Kind: api.ReportIdle, JobID: a.JobID, Node: a.Node, GPU: a.GPUs[0], Message: "0% utilisation for 30m0s"})
}

func TestIdleGPUReportAndCancelPolicy(t *testing.T) {
	for _, cancelIdle := range []bool{false, true} {
		h := newHarness(t, Config{CancelIdleGPUJobs: cancelIdle}, nil, 0)
		ctx, stop := context.WithCancel(context.Background())
		ag := &agent.Agent{Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "idle",
			Nodes: agent.VirtualNodes("n", 1, &cluster.DGXH100, 1), Exec: &idleReporter{agent.Virtual{GPU: cluster.H100SXM}}}
		go func() { _ = ag.Run(ctx) }()
		h.waitFor("node", func() bool { ns, _ := h.client("admin").Nodes(ctx); return len(ns) == 1 && ns[0].State == "idle" })
		r, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=1000")}, "")
		if err != nil {
			t.Fatal(err)
		}
		if cancelIdle {
			j := h.waitState("alice", r.ID, job.Cancelled)
			if !strings.Contains(j.Reason, "idle") {
				t.Errorf("reason = %q; want the idle GPU named", j.Reason)
			}
		} else {
			h.waitFor("an idle warning", func() bool {
				w, err := h.client("alice").Why(ctx, r.ID)
				return err == nil && len(w.Warnings) == 1 && strings.Contains(w.Warnings[0], "idle")
			})
			if j, _ := h.client("alice").Job(ctx, r.ID); j.State != job.Running {
				t.Errorf("job is %s; without the policy it keeps running", j.State)
			}
		}
		stop()
	}
}

func TestCancelWithASignalOnlySignals(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	r, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=1000")}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", r.ID, job.Running)
	var ae *api.Error
	if err := alice.Cancel(ctx, r.ID, "NOPE"); !errors.As(err, &ae) || ae.Code != api.CodeInvalid {
		t.Errorf("cancel with an unknown signal = %v; want invalid", err)
	}
	// The virtual executor ends a job on any signal, so the job ends; what
	// matters is that it is not recorded as cancelled by the user.
	if err := alice.Cancel(ctx, r.ID, "USR1"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the job to end", func() bool {
		j, err := alice.Job(ctx, r.ID)
		return err == nil && j.State.Final()
	})
	if j, _ := alice.Job(ctx, r.ID); j.State == job.Cancelled {
		t.Errorf("a signal-only cancel recorded the job as CANCELLED; want it to end on its own terms")
	}
	// A plain cancel of another job still cancels it.
	r2, _ := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=1000")}, "")
	h.waitState("alice", r2.ID, job.Running)
	if err := alice.Cancel(ctx, r2.ID, ""); err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", r2.ID, job.Cancelled)
}

func TestStaleEndReportOfAnEarlierRunIsIgnored(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	ctx := context.Background()
	ag := client.NewAgent(h.srv.URL, h.ctl.JoinToken())
	reg, err := ag.Register(ctx, api.RegisterRequest{Version: api.Version, AgentID: "manual",
		Nodes: agent.VirtualNodes("m", 1, &cluster.DGXH100, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "")}, "")
	if err != nil {
		t.Fatal(err)
	}
	var as api.Assignment
	h.waitFor("the assignment", func() bool {
		resp, err := ag.Sync(ctx, api.SyncRequest{Session: reg.Session, WaitMS: 50})
		if err == nil && len(resp.Assign) == 1 {
			as = resp.Assign[0]
			return true
		}
		return false
	})
	// An end report of run 5 (not this run, 0) changes nothing.
	if _, err := ag.Sync(ctx, api.SyncRequest{Session: reg.Session, Reports: []api.Report{
		{Seq: 1, Kind: api.ReportEnd, JobID: as.JobID, Node: as.Node, Restart: as.Restarts + 5, ExitCode: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	if j, _ := h.client("alice").Job(ctx, r.ID); j.State != job.Running {
		t.Fatalf("a stale end report ended the job: %s", j.State)
	}
	// A share the node cannot run yet (NODE_FAIL) requeues the job.
	if _, err := ag.Sync(ctx, api.SyncRequest{Session: reg.Session, Reports: []api.Report{
		{Seq: 2, Kind: api.ReportEnd, JobID: as.JobID, Node: as.Node, Restart: as.Restarts, State: job.NodeFail, ExitCode: 1, Message: "an earlier run is still ending"},
	}}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("requeue", func() bool {
		j, err := h.client("alice").Job(ctx, r.ID)
		return err == nil && j.Restarts == 1 && (j.State == job.Pending || j.State == job.Running)
	})
}

// TestRegisterRefusesBadNodeNames registers nodes whose names are no host
// names, to a controller that accepts new nodes and to one with a fixed
// cluster: each is refused with a message naming the node and the rule, and
// no node is added, so none can exist that drain or a host list cannot name.
func TestRegisterRefusesBadNodeNames(t *testing.T) {
	fixed, err := cluster.Preset("dgx-h100")
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{{}, {Cluster: fixed}} {
		h := newHarness(t, cfg, nil, 0)
		ctx := context.Background()
		ag := client.NewAgent(h.srv.URL, h.ctl.JoinToken())
		for _, name := range []string{"dgx[001-003]", "a]b[0]", "../../x", "dgx\x1b[2J", "n1,n2", "", "-n1"} {
			inv := agent.VirtualNodes("dgx", 1, &cluster.DGXH100, 1)
			inv = append(inv, inv[0])
			inv[1].Name = name
			_, err := ag.Register(ctx, api.RegisterRequest{Version: api.Version, AgentID: "bad", Nodes: inv})
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeInvalid {
				t.Errorf("fixed cluster %v: Register(node %q) = %v; want an invalid-request error", cfg.Cluster != nil, name, err)
				continue
			}
			if !strings.Contains(ae.Message, strconv.Quote(name)) || !strings.Contains(ae.Message, "RFC 1123") {
				t.Errorf("fixed cluster %v: Register(node %q) error %q; want the quoted name and the rule", cfg.Cluster != nil, name, ae.Message)
			}
		}
		ns, err := h.client("admin").Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if cfg.Cluster != nil {
			want = 1
		}
		if len(ns) != want {
			t.Errorf("fixed cluster %v: after refused registrations, %d nodes %v; want %d", cfg.Cluster != nil, len(ns), ns, want)
		}
	}
	h := newHarness(t, Config{}, nil, 0)
	ag := client.NewAgent(h.srv.URL, h.ctl.JoinToken())
	if _, err := ag.Register(context.Background(), api.RegisterRequest{Version: api.Version, AgentID: "good",
		Nodes: agent.VirtualNodes("ok-a.su1.", 1, &cluster.DGXH100, 1)}); err != nil {
		t.Errorf("Register(ok-a.su1.001) = %v; want it accepted", err)
	}
}
