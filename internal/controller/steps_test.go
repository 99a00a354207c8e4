package controller

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

func TestPlanStep(t *testing.T) {
	two := []store.Alloc{
		{Node: "n1", GPUs: []int{0, 1, 2, 3}, CPUs: 8},
		{Node: "n2", GPUs: []int{4, 5, 6, 7}, CPUs: 8},
	}
	tests := []struct {
		name  string
		req   api.StepRequest
		busy  map[string]*stepUse
		want  []api.StepNode
		tasks int
	}{
		{"one task per node by default", api.StepRequest{}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0}, GPUs: []int{0, 1, 2, 3}, CPUs: 1},
			{Node: "n2", Tasks: []int{1}, GPUs: []int{4, 5, 6, 7}, CPUs: 1},
		}, 2},
		{"block", api.StepRequest{Tasks: 5}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1, 2}, GPUs: []int{0, 1, 2, 3}, CPUs: 3},
			{Node: "n2", Tasks: []int{3, 4}, GPUs: []int{4, 5, 6, 7}, CPUs: 2},
		}, 5},
		{"cyclic", api.StepRequest{Tasks: 5, Distribution: "cyclic"}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 2, 4}, GPUs: []int{0, 1, 2, 3}, CPUs: 3},
			{Node: "n2", Tasks: []int{1, 3}, GPUs: []int{4, 5, 6, 7}, CPUs: 2},
		}, 5},
		{"one task uses one node", api.StepRequest{Tasks: 1}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0}, GPUs: []int{0, 1, 2, 3}, CPUs: 1},
		}, 1},
		{"tasks per node fill nodes in order", api.StepRequest{Tasks: 3, TasksPerNode: 2}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1}, GPUs: []int{0, 1, 2, 3}, CPUs: 2},
			{Node: "n2", Tasks: []int{2}, GPUs: []int{4, 5, 6, 7}, CPUs: 1},
		}, 3},
		{"gpus per task bind each task", api.StepRequest{Tasks: 4, GPUsPerTask: 1, CPUsPerTask: 2}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1}, GPUs: []int{0, 1}, TaskGPUs: [][]int{{0}, {1}}, CPUs: 4},
			{Node: "n2", Tasks: []int{2, 3}, GPUs: []int{4, 5}, TaskGPUs: [][]int{{4}, {5}}, CPUs: 4},
		}, 4},
		{"gpus per task skip GPUs other steps hold", api.StepRequest{Tasks: 2, GPUsPerTask: 1, Nodes: 1},
			map[string]*stepUse{"n1": {cpus: 1, gpus: map[int]bool{0: true, 2: true}}}, []api.StepNode{
				{Node: "n1", Tasks: []int{0, 1}, GPUs: []int{1, 3}, TaskGPUs: [][]int{{1}, {3}}, CPUs: 2},
			}, 2},
		{"a busy node is passed over", api.StepRequest{Tasks: 1, GPUs: 4},
			map[string]*stepUse{"n1": {gpus: map[int]bool{0: true}}}, []api.StepNode{
				{Node: "n2", Tasks: []int{0}, GPUs: []int{4, 5, 6, 7}, CPUs: 1},
			}, 1},
		{"an overlapping step ignores other steps", api.StepRequest{Tasks: 1, GPUs: 4, Overlap: true},
			map[string]*stepUse{"n1": {cpus: 8, gpus: map[int]bool{0: true}}}, []api.StepNode{
				{Node: "n1", Tasks: []int{0}, GPUs: []int{0, 1, 2, 3}, CPUs: 1},
			}, 1},
		{"gpus shared out over nodes, bind none", api.StepRequest{Tasks: 4, GPUs: 4, GPUBind: "none"}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1}, GPUs: []int{0, 1}, CPUs: 2},
			{Node: "n2", Tasks: []int{2, 3}, GPUs: []int{4, 5}, CPUs: 2},
		}, 4},
		{"closest shares the node's GPUs out", api.StepRequest{Tasks: 2, Nodes: 1, GPUBind: "closest"}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1}, GPUs: []int{0, 1, 2, 3}, TaskGPUs: [][]int{{0, 1}, {2, 3}}, CPUs: 2},
		}, 2},
		{"single:2", api.StepRequest{Tasks: 4, Nodes: 1, GPUBind: "single:2"}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1, 2, 3}, GPUs: []int{0, 1, 2, 3}, TaskGPUs: [][]int{{0}, {0}, {1}, {1}}, CPUs: 4},
		}, 4},
		{"map_gpu", api.StepRequest{Tasks: 3, Nodes: 1, GPUBind: "map_gpu:3,1*2"}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1, 2}, GPUs: []int{0, 1, 2, 3}, TaskGPUs: [][]int{{3}, {1}, {1}}, CPUs: 3},
		}, 3},
		{"nodelist", api.StepRequest{NodeList: "n2"}, nil, []api.StepNode{
			{Node: "n2", Tasks: []int{0}, GPUs: []int{4, 5, 6, 7}, CPUs: 1},
		}, 1},
		{"more tasks than CPUs share them", api.StepRequest{Tasks: 20}, nil, []api.StepNode{
			{Node: "n1", Tasks: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, GPUs: []int{0, 1, 2, 3}, CPUs: 8},
			{Node: "n2", Tasks: []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, GPUs: []int{4, 5, 6, 7}, CPUs: 8},
		}, 20},
		{"exclude", api.StepRequest{Tasks: 2, Exclude: "n1"}, nil, []api.StepNode{
			{Node: "n2", Tasks: []int{0, 1}, GPUs: []int{4, 5, 6, 7}, CPUs: 2},
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, tasks, err := planStep(two, tc.req, tc.busy)
			if err != nil {
				t.Fatalf("planStep(%+v) = %v", tc.req, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || tasks != tc.tasks {
				t.Errorf("planStep(%+v): %d tasks (want %d), layout (-want +got):\n%s", tc.req, tasks, tc.tasks, diff)
			}
		})
	}
}

func TestPlanStepRefusals(t *testing.T) {
	two := []store.Alloc{
		{Node: "n1", GPUs: []int{0, 1}, CPUs: 4},
		{Node: "n2", GPUs: []int{0, 1}, CPUs: 4},
	}
	tests := []struct {
		name string
		req  api.StepRequest
		busy map[string]*stepUse
		// want are pieces of the message; busy says it must be a wait,
		// not a refusal.
		want    []string
		busyErr bool
	}{
		{"more nodes than the job", api.StepRequest{Nodes: 3}, nil, []string{"-N/--nodes=3", "2 node(s)", "n[1-2]"}, false},
		{"more CPUs than the job", api.StepRequest{Tasks: 10, CPUsPerTask: 1}, nil, []string{"5 CPUs on node n1", "holds 4"}, false},
		{"more GPUs than the job", api.StepRequest{Tasks: 2, GPUsPerTask: 2, Nodes: 1}, nil, []string{"4 GPUs on node n1", "holds 2"}, false},
		{"nodelist outside the job", api.StepRequest{NodeList: "n3"}, nil, []string{"n3 is not in the job's allocation"}, false},
		{"bad nodelist", api.StepRequest{NodeList: "n[1-"}, nil, []string{"-w/--nodelist"}, false},
		{"exclude all", api.StepRequest{Exclude: "n[1-2]"}, nil, []string{"leaves none"}, false},
		{"bad distribution", api.StepRequest{Distribution: "plane"}, nil, []string{"block or cyclic"}, false},
		{"bad gpu-bind", api.StepRequest{GPUBind: "mask_gpu:0x1"}, nil, []string{"--gpu-bind=mask_gpu:0x1", "none, closest"}, false},
		{"map_gpu of a GPU the step lacks", api.StepRequest{Tasks: 1, GPUBind: "map_gpu:5"}, nil, []string{"GPU 5 is not one of the step's GPUs"}, false},
		{"single needs more GPUs", api.StepRequest{Tasks: 3, Nodes: 1, GPUBind: "single:1"}, nil, []string{"need 3 GPUs", "has 2"}, false},
		{"both gpu options", api.StepRequest{GPUs: 1, GPUsPerTask: 1}, nil, []string{"give one of them"}, false},
		{"negative tasks", api.StepRequest{Tasks: -1}, nil, []string{"-n/--ntasks=-1"}, false},
		{"held by other steps", api.StepRequest{Tasks: 2, GPUsPerTask: 1},
			map[string]*stepUse{"n1": {gpus: map[int]bool{0: true, 1: true}}, "n2": {cpus: 4, gpus: map[int]bool{}}},
			[]string{"n1 has 4 of 4 CPUs and 0 of 2 GPUs free", "n2 has 0 of 4 CPUs"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := planStep(two, tc.req, tc.busy)
			if err == nil {
				t.Fatalf("planStep(%+v) = nil; want an error", tc.req)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("planStep(%+v) = %q; want it to say %q", tc.req, err, w)
				}
			}
			if errors.Is(err, errStepBusy) != tc.busyErr {
				t.Errorf("planStep(%+v) = %v; busy = %v, want %v", tc.req, err, !tc.busyErr, tc.busyErr)
			}
		})
	}
}

// stepRecorder is a virtual node executor that records step commands
// instead of running tasks.
type stepRecorder struct {
	*agent.Virtual
	cmds chan api.StepCommand
}

func (r *stepRecorder) Step(cmd api.StepCommand, report agent.StepReport) {
	r.cmds <- cmd
}

// newStepHarness is a harness whose two virtual nodes record step
// commands, with one long job of alice's running on both.
func newStepHarness(t *testing.T) (*harness, *stepRecorder, job.ID) {
	return newStepHarnessWith(t, Config{}, nil, job.Spec{})
}

// newStepHarnessWith is newStepHarness with a configuration and a store
// (nil: an empty one), and alice's job's name, account, script and
// output path from extra where it sets them.
func newStepHarnessWith(t *testing.T, cfg Config, st store.Store, extra job.Spec) (*harness, *stepRecorder, job.ID) {
	h := newHarness(t, cfg, st, 0)
	rec := &stepRecorder{Virtual: &agent.Virtual{GPU: cluster.H100SXM}, cmds: make(chan api.StepCommand, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	h.agentC = cancel
	h.agent = &agent.Agent{Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "steps-test",
		Nodes: agent.VirtualNodes("dgx", 2, &cluster.DGXH100, 1), Exec: rec}
	go func() { _ = h.agent.Run(ctx) }()
	h.waitFor("nodes up", func() bool {
		ns, err := h.client("admin").Nodes(context.Background())
		return err == nil && len(ns) == 2
	})
	spec := gpuSpec(8, "duration=1000")
	spec.NodesMin = 2
	if extra.Name != "" {
		spec.Name, spec.Account, spec.Script, spec.Output = extra.Name, extra.Account, extra.Script, extra.Output
	}
	resp, err := h.client("alice").Submit(context.Background(), api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", resp.ID, job.Running)
	return h, rec, resp.ID
}

func (r *stepRecorder) next(t *testing.T) api.StepCommand {
	t.Helper()
	select {
	case c := <-r.cmds:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no step command reached the agent")
		return api.StepCommand{}
	}
}

func TestStepLaunchRecordAndEnd(t *testing.T) {
	h, rec, id := newStepHarness(t)
	ctx := context.Background()
	alice := h.client("alice")
	req := api.StepRequest{Tasks: 4, GPUsPerTask: 1, Argv: []string{"/bin/env"}, IOAddr: "127.0.0.1:4000", Env: []string{"A=1"}}
	resp, err := alice.CreateStep(ctx, id, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StepID != 0 || resp.Tasks != 4 || len(resp.Layout) != 2 || len(resp.IOKey) != 64 {
		t.Fatalf("CreateStep = %+v; want step 0 of 4 tasks on 2 nodes with a 32-byte key", resp)
	}
	// Both nodes are told, with their part and the key.
	seen := map[string]*api.StepLaunch{}
	for range 2 {
		c := rec.next(t)
		if c.Launch == nil {
			t.Fatalf("step command %+v; want a launch", c)
		}
		seen[c.Launch.Node] = c.Launch
	}
	l := seen["dgx001"]
	if l == nil || l.IOKey != resp.IOKey || l.NodeIndex != 0 || l.Tasks != 4 || l.StepNodes != 2 || l.TasksPerNode != "2(x2)" ||
		l.StepNodeList != "dgx[001-002]" || l.User != "alice" || l.IOAddr != req.IOAddr || len(l.Part.TaskGPUs) != 2 {
		t.Errorf("launch on dgx001 = %+v", l)
	}
	if l2 := seen["dgx002"]; l2 == nil || l2.NodeIndex != 1 || !cmp.Equal(l2.Part.Tasks, []int{2, 3}) {
		t.Errorf("launch on dgx002 = %+v; want node 1 with tasks 2 and 3", l2)
	}
	// Recorded at once, running.
	steps, err := alice.Steps(ctx, id)
	if err != nil || len(steps) != 1 || steps[0].State != job.Running || steps[0].Name != "env" || steps[0].Tasks != 4 {
		t.Fatalf("Steps = %+v, %v; want step 0 running", steps, err)
	}
	// A second step gets the next ID; the GPUs the first holds are not
	// given again.
	resp2, err := alice.CreateStep(ctx, id, api.StepRequest{Tasks: 2, GPUsPerTask: 3, Argv: []string{"true"}, IOAddr: "127.0.0.1:4001"})
	if err != nil {
		t.Fatal(err)
	}
	if resp2.StepID != 1 || !cmp.Equal(resp2.Layout[0].GPUs, []int{2, 3, 4}) {
		t.Errorf("second step = %+v; want step 1 on GPUs 2-4 of dgx001", resp2)
	}
	rec.next(t)
	rec.next(t)
	// A third that needs GPUs the first two hold must wait (srun asks
	// again), and says what is held.
	_, err = alice.CreateStep(ctx, id, api.StepRequest{GPUs: 8, Argv: []string{"true"}, IOAddr: "127.0.0.1:4002"})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeBusy || !strings.Contains(ae.Message, "dgx001 has") {
		t.Errorf("CreateStep of held GPUs = %v; want %s naming what dgx001 has free", err, api.CodeBusy)
	}

	// The nodes report: the step fails with the highest exit code.
	h.agent.Report(api.Report{Kind: api.ReportStepEnd, JobID: id, Step: 0, Node: "dgx001", ExitCode: 0})
	h.agent.Report(api.Report{Kind: api.ReportStepEnd, JobID: id, Step: 0, Node: "dgx002", ExitCode: 3})
	h.agent.Report(api.Report{Kind: api.ReportStepEnd, JobID: id, Step: 1, Node: "dgx001"})
	h.agent.Report(api.Report{Kind: api.ReportStepEnd, JobID: id, Step: 1, Node: "dgx002"})
	h.waitFor("steps to end", func() bool {
		steps, err = alice.Steps(ctx, id)
		return err == nil && len(steps) == 2 && steps[0].State.Final() && steps[1].State.Final()
	})
	if steps[0].State != job.Failed || steps[0].ExitCode != 3 || steps[1].State != job.Completed {
		t.Errorf("steps = %+v; want 0 FAILED with exit 3, 1 COMPLETED", steps)
	}
	// The step's record is in the store.
	recs, err := h.st.Steps(ctx, []job.ID{id})
	if err != nil || len(recs) != 2 || recs[0].ExitCode != 3 || recs[0].EndS == 0 {
		t.Errorf("stored steps = %+v, %v", recs, err)
	}
}

func TestStepRefusals(t *testing.T) {
	h, _, id := newStepHarness(t)
	ctx := context.Background()
	ok := api.StepRequest{Argv: []string{"true"}, IOAddr: "127.0.0.1:4000"}
	pending, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=10")}, "")
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(r *api.StepRequest)) api.StepRequest {
		r := ok
		f(&r)
		return r
	}
	tests := []struct {
		name string
		user string
		id   job.ID
		req  api.StepRequest
		code string
		want string
	}{
		{"not the owner", "bob", id, ok, api.CodeForbidden, "is not yours"},
		{"no such job", "alice", 999, ok, api.CodeNotFound, "job 999"},
		{"job not running", "alice", pending.ID, ok, api.CodeConflict, "PENDING"},
		{"no command", "alice", id, with(func(r *api.StepRequest) { r.Argv = nil }), api.CodeInvalid, "give srun a command"},
		{"no I/O address", "alice", id, with(func(r *api.StepRequest) { r.IOAddr = "nowhere" }), api.CodeInvalid, "io_addr"},
		{"more than the allocation", "alice", id, with(func(r *api.StepRequest) { r.GPUs = 17 }), api.CodeInvalid, "9 GPUs on node dgx001; the job holds 8"},
		{"stdin past the tasks", "alice", id, with(func(r *api.StepRequest) { r.Stdin = 5 }), api.CodeInvalid, "2 task(s)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client(tc.user).CreateStep(ctx, tc.id, tc.req)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tc.code || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("CreateStep = %v; want %s saying %q", err, tc.code, tc.want)
			}
		})
	}
	// Nothing was recorded by the refusals.
	if recs, err := h.st.Steps(ctx, []job.ID{id, pending.ID}); err != nil || len(recs) != 0 {
		t.Errorf("stored steps after refusals = %+v, %v; want none", recs, err)
	}
	// An operator may start a step in anyone's job.
	if _, err := h.client("admin").CreateStep(ctx, id, ok); err != nil {
		t.Errorf("operator's CreateStep = %v", err)
	}
}

func TestStepCancelAndJobEnd(t *testing.T) {
	h, rec, id := newStepHarness(t)
	ctx := context.Background()
	alice := h.client("alice")
	if _, err := alice.CreateStep(ctx, id, api.StepRequest{Tasks: 2, Argv: []string{"sleep", "100"}, IOAddr: "127.0.0.1:4000"}); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	rec.next(t)
	if err := h.client("bob").CancelStep(ctx, id, 0, ""); err == nil {
		t.Error("bob cancelled alice's step")
	}
	if err := alice.CancelStep(ctx, id, 7, ""); err == nil || !strings.Contains(err.Error(), "no step 7") {
		t.Errorf("CancelStep of an unknown step = %v; want 'no step 7'", err)
	}
	if err := alice.CancelStep(ctx, id, 0, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if c := rec.next(t); c.Signal == nil || c.Signal.Signal != "TERM" || c.Signal.StepID != 0 {
			t.Errorf("after a cancel the agent got %+v; want TERM to step 0", c)
		}
	}
	for _, n := range []string{"dgx001", "dgx002"} {
		h.agent.Report(api.Report{Kind: api.ReportStepEnd, JobID: id, Step: 0, Node: n, Signal: "TERM"})
	}
	h.waitFor("step cancelled", func() bool {
		s, err := alice.Steps(ctx, id)
		return err == nil && len(s) == 1 && s[0].State == job.Cancelled
	})
	var ae *api.Error
	if err := alice.CancelStep(ctx, id, 0, ""); !errors.As(err, &ae) || ae.Code != api.CodeConflict || !strings.Contains(ae.Message, "already ended") {
		t.Errorf("CancelStep of an ended step = %v; want a conflict saying it ended", err)
	}

	// A step still running when its job ends ends with it.
	if _, err := alice.CreateStep(ctx, id, api.StepRequest{Argv: []string{"sleep", "100"}, IOAddr: "127.0.0.1:4000"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.Cancel(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	h.waitFor("step ended with its job", func() bool {
		s, err := alice.Steps(ctx, id)
		return err == nil && len(s) == 2 && s[1].State == job.Cancelled && s[1].EndS > 0
	})
}

// TestStepIDsSurviveRestart: a restarted controller numbers a job's next
// step after every stored one, and keeps only running steps in memory.
func TestStepIDsSurviveRestart(t *testing.T) {
	running := store.StepRecord{JobID: 1, StepID: 0, State: job.Running, Layout: []store.StepAlloc{{Node: "n1", Tasks: []int{0}}}}
	done := store.StepRecord{JobID: 1, StepID: 4, State: job.Completed}
	cfg := Config{}
	cfg.setDefaults()
	cr, err := recoverCore(&cfg, &store.Snapshot{Steps: []store.StepRecord{running, done}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n := cr.stepSt.next[1]; n != 5 {
		t.Errorf("next step of job 1 = %d; want 5", n)
	}
	if m := cr.stepsOf(1); len(m) != 1 || m[0] == nil {
		t.Errorf("steps in memory = %v; want only running step 0", m)
	}
}

// TestStepEndsAcrossRestart: a step whose nodes report their end on both
// sides of a controller restart ends then, not only with its job: what
// each node reported is part of the stored step.
func TestStepEndsAcrossRestart(t *testing.T) {
	h, rec, id := newStepHarness(t)
	ctx := context.Background()
	resp, err := h.client("alice").CreateStep(ctx, id, api.StepRequest{Tasks: 4, GPUsPerTask: 1, Argv: []string{"true"}, IOAddr: "127.0.0.1:4000"})
	if err != nil || len(resp.Layout) != 2 {
		t.Fatalf("CreateStep = %+v, %v; want a step on both nodes", resp, err)
	}
	rec.next(t)
	rec.next(t)
	h.agent.Report(api.Report{Kind: api.ReportStepEnd, JobID: id, Step: 0, Node: "dgx001", ExitCode: 0})
	h.waitFor("dgx001's end stored", func() bool {
		recs, err := h.st.Steps(ctx, []job.ID{id})
		return err == nil && len(recs) == 1 && recs[0].Layout[0].Ended && !recs[0].Layout[1].Ended
	})

	// The controller restarts on the same address; the agent carries on.
	addr := h.srv.Listener.Addr().String()
	h.srv.Close()
	h.cancel()
	<-h.done
	ctl, err := New(Config{JoinToken: h.ctl.JoinToken(), Operators: []string{"admin"}, DefaultProject: "default"}, h.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s for the restarted controller: %v", addr, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	h.ctl, h.cancel, h.done = ctl, cancel, make(chan struct{})
	go func(done chan struct{}) { _ = ctl.Run(runCtx); close(done) }(h.done)
	h.srv = httptest.NewUnstartedServer(ctl.Handler())
	h.srv.Listener.Close()
	h.srv.Listener = ln
	h.srv.Start()

	h.agent.Report(api.Report{Kind: api.ReportStepEnd, JobID: id, Step: 0, Node: "dgx002", ExitCode: 5})
	var steps []api.Step
	h.waitFor("step 0 to end", func() bool {
		steps, err = h.client("alice").Steps(ctx, id)
		return err == nil && len(steps) == 1 && steps[0].State.Final()
	})
	if steps[0].State != job.Failed || steps[0].ExitCode != 5 {
		t.Errorf("step 0 = %+v; want FAILED with exit code 5", steps[0])
	}
	if j := h.waitState("alice", id, job.Running); j == nil {
		t.Error("the job did not keep running")
	}
}
