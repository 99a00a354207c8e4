//go:build linux

package controller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// These tests run real batch scripts through the controller and a node
// agent with the process executor, on this machine, as its current user.

// wattMeter is a node's GPUs drawing a constant 500 W each while the test
// runs, as an NVML energy counter would show.
type wattMeter struct{ t0 time.Time }

func (m wattMeter) Sample(int) (agent.GPUSample, error) {
	return agent.GPUSample{EnergyMJ: uint64(time.Since(m.t0).Milliseconds()) * 500, HasEnergy: true, UtilPct: 50, HasUtil: true}, nil
}

// faults delivers the GPU faults sent on it.
type faults chan agent.HealthEvent

func (f faults) WatchHealth(ctx context.Context, event func(agent.HealthEvent)) error {
	for {
		select {
		case e := <-f:
			event(e)
		case <-ctx.Done():
			return nil
		}
	}
}

// startRealNode runs an agent with the process executor for node name with
// 8 declared GPUs, measured by a wattMeter, against url, joining with token.
func startRealNode(t *testing.T, url, token, name string, health agent.HealthSource) *agent.Process {
	t.Helper()
	g := agent.DeclaredGPUs(8, cluster.H100SXM)
	g.Meter = wattMeter{t0: time.Now()}
	g.Health = health
	p, err := agent.NewProcess(agent.ProcessConfig{Node: name, StateDir: t.TempDir(), KillWait: time.Second, SampleEvery: 20 * time.Millisecond, AllowSystemUsers: true}, g)
	if err != nil {
		t.Fatal(err)
	}
	ag := &agent.Agent{Client: client.NewAgent(url, token), ID: "node-" + name, Exec: p,
		Nodes: []api.NodeInventory{{Name: name, SU: "su1", CPUs: 32, MemoryMB: 64 << 10, GPUs: g.Inventory, Cgroups: p.Cgroups()}}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = ag.Run(ctx) }()
	p.Watch(ctx, ag.Report)
	t.Cleanup(cancel)
	return p
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func waitNodeUp(h *harness, name string) {
	h.waitFor("node "+name+" up", func() bool {
		ns, err := h.client("admin").Nodes(context.Background())
		if err != nil {
			return false
		}
		for _, n := range ns {
			if n.Name == name && n.State != "down" {
				return true
			}
		}
		return false
	})
}

const e2eScript = `#!/bin/bash
#SBATCH --gpus-per-node=2
trap 'echo got USR1' USR1
trap 'echo got TERM; exit 0' TERM
echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
echo "SLURM_JOB_ID=$SLURM_JOB_ID SLURM_JOB_NAME=$SLURM_JOB_NAME SLURM_GPUS_ON_NODE=$SLURM_GPUS_ON_NODE"
echo "SLURM_JOB_NODELIST=$SLURM_JOB_NODELIST SLURM_NNODES=$SLURM_NNODES"
for i in $(seq 400); do sleep 0.05; done
echo not reached
`

func TestRealJobThroughController(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	startRealNode(t, h.srv.URL, h.ctl.JoinToken(), "gpu01", nil)
	waitNodeUp(h, "gpu01")
	me := currentUser(t)
	dir := t.TempDir()
	spec := job.Spec{Name: "e2e", GPUsPerNode: 2, Output: "logs/%x-%j.out", Signal: "B:USR1@2", TimeLimitS: 4,
		SubmitDir: dir, SubmitHost: "login1", Script: e2eScript}
	ctx := context.Background()
	resp, err := h.client(me).Submit(ctx, api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	var j *api.Job
	h.waitFor("the job to time out", func() bool {
		j, err = h.client(me).Job(ctx, resp.ID)
		return err == nil && j.State == job.Timeout
	})
	id := strconv.FormatInt(int64(resp.ID), 10)
	data, err := os.ReadFile(filepath.Join(dir, "logs", "e2e-"+id+".out"))
	if err != nil {
		t.Fatalf("the output is not where --output=logs/%%x-%%j.out says: %v", err)
	}
	out := string(data)
	gpus := strings.Split(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "CUDA_VISIBLE_DEVICES="), ",")
	want := make([]string, 0, 2)
	for _, g := range j.Allocs[0].GPUs {
		want = append(want, strconv.Itoa(g))
	}
	if len(gpus) != 2 || strings.Join(gpus, ",") != strings.Join(want, ",") {
		t.Errorf("the job saw CUDA_VISIBLE_DEVICES=%v; want its two GPUs %v", gpus, want)
	}
	for _, s := range []string{"SLURM_JOB_ID=" + id + " SLURM_JOB_NAME=e2e SLURM_GPUS_ON_NODE=2", "SLURM_JOB_NODELIST=gpu01 SLURM_NNODES=1"} {
		if !strings.Contains(out, s) {
			t.Errorf("output %q lacks %q", out, s)
		}
	}
	u, term := strings.Index(out, "got USR1"), strings.Index(out, "got TERM")
	if u < 0 || term < u || strings.Contains(out, "not reached") {
		t.Errorf("output %q; want USR1 (2 s before the limit), then TERM at it", out)
	}
	acct, err := h.client(me).Acct(ctx, client.AcctQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var row *api.Job
	for i := range acct.Jobs {
		if acct.Jobs[i].ID == resp.ID {
			row = &acct.Jobs[i]
		}
	}
	if row == nil {
		t.Fatalf("acct has no job %d", resp.ID)
	}
	// 2 GPUs for about 4 s; 500 W each for as long.
	if row.GPUSeconds < 6 || row.GPUSeconds > 14 {
		t.Errorf("acct GPU-seconds = %v; want about 8", row.GPUSeconds)
	}
	if row.EnergyJ < 3000 || row.EnergyJ > 7000 {
		t.Errorf("acct energy = %v J; want about 4000 (2 GPUs x 500 W x 4 s)", row.EnergyJ)
	}
}

func TestCancelRealJobThroughController(t *testing.T) {
	h := newHarness(t, Config{KillWait: time.Second}, nil, 0)
	startRealNode(t, h.srv.URL, h.ctl.JoinToken(), "gpu02", nil)
	waitNodeUp(h, "gpu02")
	me := currentUser(t)
	dir := t.TempDir()
	ctx := context.Background()
	resp, err := h.client(me).Submit(ctx, api.SubmitRequest{Spec: job.Spec{Name: "c", TimeLimitS: 600, SubmitDir: dir,
		Script: "#!/bin/bash\ntrap 'echo got TERM; exit 1' TERM\necho up\nfor i in $(seq 600); do sleep 0.05; done\n"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(me, resp.ID, job.Running)
	out := filepath.Join(dir, "slurm-"+strconv.FormatInt(int64(resp.ID), 10)+".out")
	h.waitFor("the script to start", func() bool { b, _ := os.ReadFile(out); return strings.Contains(string(b), "up") })
	if err := h.client(me).Cancel(ctx, resp.ID, ""); err != nil {
		t.Fatal(err)
	}
	j := h.waitState(me, resp.ID, job.Cancelled)
	if j.ExitCode != 1 {
		t.Errorf("cancelled job's exit code = %d; want the trap's 1", j.ExitCode)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "got TERM") {
		t.Errorf("output %q; want the TERM the cancel sent", b)
	}
}

func TestXIDDrainsTheNodeAndRequeues(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	f := make(faults, 1)
	startRealNode(t, h.srv.URL, h.ctl.JoinToken(), "gpu03", f)
	waitNodeUp(h, "gpu03")
	me := currentUser(t)
	ctx := context.Background()
	resp, err := h.client(me).Submit(ctx, api.SubmitRequest{Spec: job.Spec{Name: "x", GPUsPerNode: 1, TimeLimitS: 600, SubmitDir: t.TempDir(),
		Script: "#!/bin/sh\nsleep 60\n"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(me, resp.ID, job.Running)
	f <- agent.HealthEvent{GPU: 0, XID: 79}
	h.waitFor("the node to drain", func() bool {
		ns, err := h.client("admin").Nodes(ctx)
		if err != nil {
			return false
		}
		for _, n := range ns {
			if n.Name == "gpu03" && strings.Contains(n.Reason, "XID 79") {
				return true
			}
		}
		return false
	})
	j := h.waitState(me, resp.ID, job.Pending)
	if j.Restarts != 1 {
		t.Errorf("job after the fault = %+v; want requeued once", j)
	}
}

// swapHandler serves whichever controller is current, so that an agent
// keeps one URL across a controller restart.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "restarting", http.StatusServiceUnavailable)
}

func TestJobsKeepRunningAcrossAControllerRestart(t *testing.T) {
	st := store.NewMemory()
	// One token for both controllers, as one configuration file gives.
	cfg := Config{Operators: []string{"admin"}, DefaultProject: "default", JoinToken: "restart-token"}
	var sw swapHandler
	srv := httptest.NewServer(&sw)
	defer srv.Close()
	var wg sync.WaitGroup
	start := func() context.CancelFunc {
		ctl, err := New(cfg, st, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		wg.Add(1)
		go func() { defer wg.Done(); _ = ctl.Run(ctx) }()
		h := ctl.Handler()
		sw.h.Store(&h)
		return cancel
	}
	stop1 := start()
	startRealNode(t, srv.URL, cfg.JoinToken, "gpu04", nil)
	me := currentUser(t)
	c := client.New(srv.URL, me)
	ctx := context.Background()
	dir := t.TempDir()
	var resp *api.SubmitResponse
	waitFor(t, "the node to take a job", func() bool {
		var err error
		resp, err = c.Submit(ctx, api.SubmitRequest{Spec: job.Spec{Name: "r", GPUsPerNode: 2, TimeLimitS: 600, SubmitDir: dir,
			Script: "#!/bin/sh\necho before\nwhile [ ! -e go-on ]; do sleep 0.02; done\necho after\n"}}, "")
		return err == nil
	})
	out := filepath.Join(dir, "slurm-"+strconv.FormatInt(int64(resp.ID), 10)+".out")
	waitFor(t, "the job to start", func() bool { b, _ := os.ReadFile(out); return strings.Contains(string(b), "before") })

	// The controller goes away and a new one takes over the same store.
	sw.h.Store(nil)
	stop1()
	wg.Wait()
	stop2 := start()
	defer func() { stop2(); wg.Wait() }()
	waitFor(t, "the new controller to see the job running", func() bool {
		j, err := c.Job(ctx, resp.ID)
		return err == nil && j.State == job.Running
	})
	time.Sleep(200 * time.Millisecond) // the agent re-registers; the job must survive it
	if j, _ := c.Job(ctx, resp.ID); j == nil || j.State != job.Running {
		t.Fatalf("after the agent re-registered the job is %+v; want still running", j)
	}
	if err := os.WriteFile(filepath.Join(dir, "go-on"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job to complete", func() bool {
		j, err := c.Job(ctx, resp.ID)
		return err == nil && j.State == job.Completed
	})
	if b, _ := os.ReadFile(out); string(b) != "before\nafter\n" {
		t.Errorf("output = %q; want the one run's before and after", b)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestLaunchFailureReasonIsKept runs jobs that cannot start on a real node
// (a missing --chdir, an --output its user may not write) and checks that
// the agent's reason reaches the job, the store, why and acct.
func TestLaunchFailureReasonIsKept(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gefion.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := newHarness(t, Config{}, st, 0)
	startRealNode(t, h.srv.URL, h.ctl.JoinToken(), "gpu05", nil)
	waitNodeUp(h, "gpu05")
	ctx := context.Background()

	who := currentUser(t)
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// Root may write anywhere: run the second job as nobody.
		if _, err := user.Lookup("nobody"); err != nil {
			t.Skip("running as root, this test needs a user 'nobody' to run a job as")
		}
		who = "nobody"
		for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec job.Spec
		want string
	}{
		{"missing --chdir", job.Spec{Chdir: "/nonexistent", SubmitDir: dir}, "chdir /nonexistent: no such file or directory"},
		{"unwritable --output", job.Spec{Output: locked + "/x.out", SubmitDir: dir}, "cannot open output file " + locked + "/x.out: permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.TimeLimitS, tc.spec.Script = 60, "#!/bin/sh\ntrue\n"
			c := h.client(who)
			resp, err := c.Submit(ctx, api.SubmitRequest{Spec: tc.spec}, "")
			if err != nil {
				t.Fatal(err)
			}
			j := h.waitState(who, resp.ID, job.Failed)
			if j.Reason != tc.want || j.ExitCode != 1 {
				t.Errorf("job: reason %q, exit %d; want %q, exit 1", j.Reason, j.ExitCode, tc.want)
			}
			w, err := c.Why(ctx, resp.ID)
			if err != nil {
				t.Fatal(err)
			}
			if w.Reason != tc.want || !strings.HasSuffix(w.Sentence, ": "+tc.want) {
				t.Errorf("why: reason %q, sentence %q; want the reason %q in both", w.Reason, w.Sentence, tc.want)
			}
			a, err := c.Acct(ctx, client.AcctQuery{IDs: []job.ID{resp.ID}})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Jobs) != 1 || a.Jobs[0].Reason != tc.want {
				t.Errorf("acct: %+v; want job %d with reason %q", a.Jobs, resp.ID, tc.want)
			}
			recs, err := st.Jobs(ctx, store.JobQuery{IDs: []job.ID{resp.ID}})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Reason != tc.want {
				t.Errorf("stored record: %+v; want reason %q", recs, tc.want)
			}
		})
	}
}

// TestEndReportWithoutMessage is an agent of an earlier release: its end
// report of a failed job says no reason, and the job still ends FAILED,
// with none.
func TestEndReportWithoutMessage(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	ag := &agent.Agent{Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "old-agent",
		Nodes: agent.VirtualNodes("old", 1, &cluster.DGXH100, 1), Exec: oldExec{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = ag.Run(ctx) }()
	waitNodeUp(h, "old001")
	resp, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "")}, "")
	if err != nil {
		t.Fatal(err)
	}
	j := h.waitState("alice", resp.ID, job.Failed)
	if j.Reason != "" || j.ExitCode != 1 {
		t.Errorf("job: reason %q, exit %d; want none, exit 1", j.Reason, j.ExitCode)
	}
}

// oldExec fails every job at once, as an earlier agent did, with no
// message in its end report.
type oldExec struct{}

func (oldExec) Start(a api.Assignment, report func(api.Report)) {
	report(api.Report{Kind: api.ReportStart, JobID: a.JobID, Node: a.Node, Restart: a.Restarts})
	report(api.Report{Kind: api.ReportEnd, JobID: a.JobID, Node: a.Node, Restart: a.Restarts, State: job.Failed, ExitCode: 1})
}
func (oldExec) Signal(api.Signal, func(api.Report)) {}
func (oldExec) Running() []api.RunningOnNode        { return nil }
