package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// stepCluster is a live controller with two real local nodes (process
// executors with 8 declared GPUs each, as gefion dev --nodes 2 --gpus 8
// runs them) and one job of the current user holding both.
type stepCluster struct {
	t     testing.TB
	addr  string
	user  string
	jobID job.ID
	// nodes are the job's nodes in its allocation's order.
	nodes []string
	// stopAgent stops a node's agent (not its tasks), as a node that is
	// lost looks to the controller.
	stopAgent map[string]context.CancelFunc
}

func newStepCluster(t testing.TB) *stepCluster {
	t.Helper()
	sc := newStepNodes(t)
	sc.allocate(nil)
	return sc
}

// allocate submits the job that holds both nodes and waits for it to run.
func (sc *stepCluster) allocate(edit func(*job.Spec)) {
	t := sc.t
	t.Helper()
	c := client.New(sc.addr, sc.user)
	spec := job.Spec{
		Name: "alloc", NodesMin: 2, GPUsPerNode: 8, TimeLimitS: 600, SubmitDir: t.TempDir(),
		Script: "#!/bin/sh\nsleep 600\n", Env: []string{"PATH=" + os.Getenv("PATH")},
	}
	if edit != nil {
		edit(&spec)
	}
	resp, err := c.Submit(context.Background(), api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	sc.jobID = resp.ID
	waitUntil(t, "the job running", func() bool {
		j, err := c.Job(context.Background(), resp.ID)
		if err != nil || j.State != job.Running {
			return false
		}
		for _, a := range j.Allocs {
			sc.nodes = append(sc.nodes, a.Node)
		}
		return true
	})
}

// newStepNodes is the controller and its two nodes, with no job yet.
func newStepNodes(t testing.TB) *stepCluster {
	t.Helper()
	return newStepNodesWith(t, controller.Config{})
}

// newStepNodesWith is newStepNodes with a controller configuration.
func newStepNodesWith(t testing.TB, cfg controller.Config) *stepCluster {
	t.Helper()
	return newStepNodesOpts(t, cfg, nodeOpts{})
}

// nodeOpts are the test nodes' container settings.
type nodeOpts struct {
	images  agent.ImageStore
	runtime string
	// stateDir is where the nodes keep their state (default: a test
	// directory).
	stateDir string
}

func newStepNodesOpts(t testing.TB, cfg controller.Config, no nodeOpts) *stepCluster {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("job steps run tasks on Linux only")
	}
	me, err := user.Current()
	if err != nil {
		t.Skip("needs a current user:", err)
	}
	cfg.DefaultProject, cfg.AcceptNewNodes = "default", true
	ctl, err := controller.New(cfg, store.NewMemory(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	srv := httptest.NewServer(ctl.Handler())
	dir := no.stateDir
	if dir == "" {
		dir = t.TempDir()
	}
	stop := map[string]context.CancelFunc{}
	for _, name := range []string{"dev1", "dev2"} {
		g := agent.DeclaredGPUs(8, cluster.H100SXM)
		exec, err := agent.NewProcess(agent.ProcessConfig{Node: name, StateDir: filepath.Join(dir, name), NoCgroups: true, KillWait: time.Second, AllowSystemUsers: true,
			Images: no.images, ContainerRuntime: no.runtime,
			Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}, g)
		if err != nil {
			t.Fatal(err)
		}
		inv := api.NodeInventory{Name: name, SU: "su1", CPUs: 8, MemoryMB: 4096, GPUs: g.Inventory}
		inv.ContainerRuntime, inv.NoContainers = exec.ContainerSupport()
		ag := &agent.Agent{Client: client.NewAgent(srv.URL, ctl.JoinToken()), ID: "test-" + name, Nodes: []api.NodeInventory{inv}, Exec: exec}
		agentCtx, stopIt := context.WithCancel(ctx)
		stop[name] = stopIt
		go func() { _ = ag.Run(agentCtx) }()
	}
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	sc := &stepCluster{t: t, addr: srv.URL, user: me.Username, stopAgent: stop}
	c := client.New(srv.URL, sc.user)
	waitUntil(t, "two nodes up", func() bool {
		ns, err := c.Nodes(context.Background())
		return err == nil && len(ns) == 2 && ns[0].State == "idle" && ns[1].State == "idle"
	})
	return sc
}

// testWriter sends the nodes' log to the test's.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitUntil polls ok until it holds, and fails the test after 45 s.
// The deadline is generous: with every package's tests sharing two cores,
// a step's tasks and the agents' samples can take well over 15 s to show
// (TestSstatMeasuresARunningStep once did), and a condition that holds
// returns at once whatever the deadline.
func waitUntil(t testing.TB, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// srun runs srun inside the job with stdin and returns its output and
// exit status.
func (sc *stepCluster) srun(stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	env := map[string]string{"GEFION_ADDR": sc.addr, "GEFION_USER": sc.user, "SLURM_JOB_ID": strconv.FormatInt(int64(sc.jobID), 10), "SLURM_JOB_NAME": "alloc"}
	e := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
		Environ: func() []string {
			return []string{"PATH=" + os.Getenv("PATH"), "HOME=/tmp", "FROM_SRUN=yes", "SLURM_JOB_ID=" + env["SLURM_JOB_ID"]}
		}}
	code := RunEnv(e, append([]string{"srun"}, args...))
	return out.String(), errb.String(), code
}

func TestSrunTasksGetTheirVariablesAndGPUs(t *testing.T) {
	sc := newStepCluster(t)
	out, errs, code := sc.srun("", "-n", "8", "--gpus-per-task=1", "-l", "bash", "-c",
		`echo $SLURM_PROCID $SLURM_LOCALID $SLURM_NODEID $SLURM_NTASKS $SLURM_NPROCS $SLURM_STEP_ID $SLURM_STEPID $SLURM_STEP_NUM_NODES $SLURM_STEP_NUM_TASKS $SLURM_STEP_TASKS_PER_NODE $SLURM_NNODES $SLURM_STEP_NODELIST $SLURM_JOB_NODELIST $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES $SLURM_LAUNCH_NODE_IPADDR $SLURM_SRUN_COMM_HOST $FROM_SRUN`)
	if code != 0 {
		t.Fatalf("srun: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 {
		t.Fatalf("srun printed %d lines; want one per task:\n%s", len(lines), out)
	}
	gpusOn := map[string]map[string]bool{}
	var ranks []int
	for _, l := range lines {
		label, rest, _ := strings.Cut(l, ": ")
		f := strings.Fields(rest)
		if len(f) != 18 {
			t.Fatalf("line %q: want 18 fields", l)
		}
		rank, _ := strconv.Atoi(f[0])
		local, _ := strconv.Atoi(f[1])
		node, _ := strconv.Atoi(f[2])
		ranks = append(ranks, rank)
		if label != f[0] {
			t.Errorf("line %q: label %s for task %s", l, label, f[0])
		}
		// Block distribution: tasks 0-3 on the step's first node (the
		// job's first), 4-7 on the second.
		wantNode, wantName := rank/4, sc.nodes[rank/4]
		if node != wantNode || local != rank%4 || f[13] != wantName {
			t.Errorf("task %d: node %d local %d on %s; want node %d local %d on %s", rank, node, local, f[13], wantNode, rank%4, wantName)
		}
		want := []string{"8", "8", "0", "0", "2", "8", "4(x2)", "2", "dev[1-2]", "dev[1-2]"}
		if got := f[3:13]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("task %d: NTASKS NPROCS STEP_ID STEPID STEP_NUM_NODES STEP_NUM_TASKS STEP_TASKS_PER_NODE NNODES STEP_NODELIST JOB_NODELIST = %v; want %v", rank, got, want)
		}
		gpu := f[14]
		if strings.Contains(gpu, ",") {
			t.Errorf("task %d sees GPUs %s; want exactly one", rank, gpu)
		}
		if gpusOn[f[13]] == nil {
			gpusOn[f[13]] = map[string]bool{}
		}
		if gpusOn[f[13]][gpu] {
			t.Errorf("GPU %s on %s given to two tasks", gpu, f[13])
		}
		gpusOn[f[13]][gpu] = true
		if f[15] != "127.0.0.1" || f[16] != "127.0.0.1" || f[17] != "yes" {
			t.Errorf("task %d: launch node %s, comm host %s, FROM_SRUN %s; want 127.0.0.1 twice and srun's environment", rank, f[15], f[16], f[17])
		}
	}
	sort.Ints(ranks)
	if joinInts(ranks) != "0 1 2 3 4 5 6 7" {
		t.Errorf("ranks %v; want 0-7 once each", ranks)
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " ")
}

func TestSrunExitCodesIOAndAccounting(t *testing.T) {
	sc := newStepCluster(t)
	// The highest task exit code.
	if out, errs, code := sc.srun("", "-n", "2", "bash", "-c", "exit $((SLURM_PROCID + 2))"); code != 3 {
		t.Errorf("srun of tasks exiting 2 and 3: exit %d; want 3\n%s%s", code, out, errs)
	}
	// A task killed by a signal: 128 + the signal.
	if out, errs, code := sc.srun("", "-n", "1", "bash", "-c", "kill -9 $$"); code != 137 {
		t.Errorf("srun of a task killed by KILL: exit %d; want 137\n%s%s", code, out, errs)
	}
	// stdin reaches task 0 only; output order per task is kept.
	out, errs, code := sc.srun("hello\nworld\n", "-n", "2", "-l", "bash", "-c", `cat; echo done >&2`)
	if code != 0 || out != "0: hello\n0: world\n" || strings.Count(errs, "done") != 2 {
		t.Errorf("srun cat: exit %d, stdout %q, stderr %q; want task 0 to echo the input and both to say done", code, out, errs)
	}
	// Labels are right-aligned to the widest rank, as Slurm's.
	out, errs, code = sc.srun("", "-n", "12", "-l", "bash", "-c", `if [ $SLURM_PROCID = 3 ] || [ $SLURM_PROCID = 11 ]; then echo hi; fi`)
	if code != 0 || !strings.Contains(out, " 3: hi\n") || !strings.Contains(out, "11: hi\n") {
		t.Errorf("srun -n 12 -l: exit %d, stdout %q, stderr %q; want labels \" 3: \" and \"11: \"", code, out, errs)
	}
	// Output files by pattern.
	dir := t.TempDir()
	if _, errs, code := sc.srun("", "-n", "2", "-o", filepath.Join(dir, "%j.%s.%t.%N.out"), "bash", "-c", "echo task $SLURM_PROCID"); code != 0 {
		t.Fatalf("srun -o: exit %d: %s", code, errs)
	}
	for rank, node := range sc.nodes {
		p := filepath.Join(dir, strconv.FormatInt(int64(sc.jobID), 10)+".4."+strconv.Itoa(rank)+"."+node+".out")
		if b, err := os.ReadFile(p); err != nil || string(b) != "task "+strconv.Itoa(rank)+"\n" {
			t.Errorf("%s: %q, %v; want task %d's line", p, b, err, rank)
		}
	}
	// A program that does not exist.
	if _, errs, code := sc.srun("", "-n", "1", "no-such-program-here"); code == 0 || !strings.Contains(errs, "no-such-program-here") {
		t.Errorf("srun of a missing program: exit %d, %q; want a failure naming it", code, errs)
	}
	// Refusals say what to fix.
	if _, errs, code := sc.srun("", "-N", "3", "true"); code != 1 || !strings.Contains(errs, "at most 2") {
		t.Errorf("srun -N 3: exit %d, %q; want a refusal naming the job's 2 nodes", code, errs)
	}
	if _, errs, code := sc.srun("", "--frobnicate", "true"); code != 2 || !strings.Contains(errs, "--frobnicate") {
		t.Errorf("srun --frobnicate: exit %d, %q; want a usage error naming the option", code, errs)
	}

	// Every step is accounted, with its state and exit code.
	c := client.New(sc.addr, sc.user)
	var steps []api.Step
	waitUntil(t, "the steps recorded as ended", func() bool {
		var err error
		steps, err = c.Steps(context.Background(), sc.jobID)
		if err != nil || len(steps) != 6 {
			return false
		}
		for _, s := range steps {
			if !s.State.Final() {
				return false
			}
		}
		return true
	})
	want := []struct {
		state job.State
		code  int
	}{{job.Failed, 3}, {job.Failed, 0}, {job.Completed, 0}, {job.Completed, 0}, {job.Completed, 0}, {job.Failed, 1}}
	for i, w := range want {
		if steps[i].StepID != i || steps[i].State != w.state || steps[i].ExitCode != w.code {
			t.Errorf("step %d: %+v; want %s with exit code %d", i, steps[i], w.state, w.code)
		}
	}
	if steps[1].Signal != "KILL" {
		t.Errorf("step 1 signal %q; want KILL", steps[1].Signal)
	}
}

// TestSrunEndsAfterItsStepIsRecorded: when srun exits, the controller
// has the step's end, so that the next srun of a script finds the
// resources free instead of waiting for them.
func TestSrunEndsAfterItsStepIsRecorded(t *testing.T) {
	sc := newStepCluster(t)
	c := client.New(sc.addr, sc.user)
	for i := range 3 {
		// 16 tasks hold every CPU of both nodes (8 each).
		_, errs, code := sc.srun("", "-n", "16", "-c", "1", "true")
		if code != 0 || strings.Contains(errs, "temporarily disabled") {
			t.Fatalf("srun %d: exit %d, %q; want it to start at once", i, code, errs)
		}
		steps, err := c.Steps(context.Background(), sc.jobID)
		if err != nil || len(steps) != i+1 || steps[i].State != job.Completed {
			t.Fatalf("steps right after srun %d = %+v, %v; want step %d COMPLETED", i, steps, err, i)
		}
	}
}

// cli runs another command as the cluster's user.
func (sc *stepCluster) cli(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	env := map[string]string{"GEFION_ADDR": sc.addr, "GEFION_USER": sc.user}
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code := RunEnv(e, append([]string{"gefion"}, args...))
	return out.String(), errb.String(), code
}

func TestStepCancelTimeLimitAndAccounting(t *testing.T) {
	sc := newStepCluster(t)
	c := client.New(sc.addr, sc.user)
	id := strconv.FormatInt(int64(sc.jobID), 10)
	stepState := func(n int) job.State {
		steps, err := c.Steps(context.Background(), sc.jobID)
		if err != nil || len(steps) <= n {
			return ""
		}
		return steps[n].State
	}

	// scancel ID.STEP ends the step's tasks; srun exits 128+TERM.
	done := make(chan int, 1)
	go func() { _, _, code := sc.srun("", "-n", "2", "sleep", "60"); done <- code }()
	waitUntil(t, "step 0 running", func() bool { return stepState(0) == job.Running })
	if _, errs, code := sc.cli("cancel", id+".0"); code != 0 {
		t.Fatalf("cancel %s.0: exit %d: %s", id, code, errs)
	}
	select {
	case code := <-done:
		if code != 143 {
			t.Errorf("srun of a cancelled step: exit %d; want 143", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("srun still runs 10 s after its step was cancelled")
	}
	if st := stepState(0); st != job.Cancelled {
		t.Errorf("step 0 is %s; want CANCELLED", st)
	}

	// A step's own time limit.
	start := time.Now()
	if _, errs, code := sc.srun("", "-n", "1", "-t", "0:01", "sleep", "60"); code != 143 || time.Since(start) > 10*time.Second {
		t.Errorf("srun -t 0:01 sleep 60: exit %d after %v: %s; want 143 within seconds", code, time.Since(start), errs)
	}
	if st := stepState(1); st != job.Timeout {
		t.Errorf("step 1 is %s; want TIMEOUT", st)
	}

	// -K ends the step when a task fails.
	start = time.Now()
	if _, _, code := sc.srun("", "-n", "2", "-K", "bash", "-c", `[ $SLURM_PROCID = 0 ] && exit 4; exec sleep 60`); code < 4 || time.Since(start) > 10*time.Second {
		t.Errorf("srun -K: exit %d after %v; want at least 4 within seconds", code, time.Since(start))
	}

	// -W ends the step a while after its first task ended.
	start = time.Now()
	if _, _, code := sc.srun("", "-n", "2", "-W", "1", "bash", "-c", `[ $SLURM_PROCID = 0 ] || exec sleep 60`); code != 143 || time.Since(start) > 10*time.Second {
		t.Errorf("srun -W 1: exit %d after %v; want 143 within seconds", code, time.Since(start))
	}

	// sacct-style lines for the batch script and each step.
	out, errs, code := sc.cli("acct", "-j", id)
	if code != 0 {
		t.Fatalf("acct -j %s: exit %d: %s", id, code, errs)
	}
	for _, want := range []string{id + ".batch", id + ".0", "CANCELLED", id + ".1", "TIMEOUT", id + ".2"} {
		if !strings.Contains(out, want) {
			t.Errorf("acct -j %s does not show %s:\n%s", id, want, out)
		}
	}
}

// TestSrunOutsideAnAllocation: srun from outside a job gets an
// allocation of its own, runs its step there and ends it, COMPLETED.
func TestSrunOutsideAnAllocation(t *testing.T) {
	sc := newStepNodes(t)
	var out, errb bytes.Buffer
	env := map[string]string{"GEFION_ADDR": sc.addr, "GEFION_USER": sc.user}
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] },
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH")} }}
	code := RunEnv(e, []string{"srun", "-N", "2", "-n", "4", "--gpus-per-task=2", "-l", "bash", "-c", "echo $SLURM_NNODES $CUDA_VISIBLE_DEVICES; exit $SLURM_PROCID"})
	if code != 3 || strings.Count(out.String(), "\n") != 4 || !strings.Contains(out.String(), "3: 2 ") {
		t.Fatalf("srun outside a job: exit %d, stdout %q, stderr %q; want 4 tasks on 2 nodes and exit 3", code, out.String(), errb.String())
	}
	c := client.New(sc.addr, sc.user)
	jobs, err := c.Jobs(context.Background(), false)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs = %+v, %v; want srun's allocation", jobs, err)
	}
	waitUntil(t, "srun's allocation to end", func() bool {
		j, err := c.Job(context.Background(), jobs[0].ID)
		return err == nil && j.State.Final()
	})
	if j, _ := c.Job(context.Background(), jobs[0].ID); j.State != job.Completed || j.Nodes != 2 {
		t.Errorf("srun's allocation = %s on %d nodes; want COMPLETED on 2", j.State, j.Nodes)
	}
	if steps, err := c.Steps(context.Background(), jobs[0].ID); err != nil || len(steps) != 1 || steps[0].ExitCode != 3 {
		t.Errorf("steps = %+v, %v; want the one step, exit 3", steps, err)
	}
}

// TestSrunOnNodesThatRunNoSteps: a step whose nodes cannot start it (here
// virtual nodes) fails, and srun says so instead of waiting.
func TestSrunOnNodesThatRunNoSteps(t *testing.T) {
	lc := newLiveCluster(t)
	out, errs, code := lc.cli("alice", "sbatch", "--gpus-per-node=8", "--comment=duration=1000", "--time=10", "--wrap", "sleep 1000")
	if code != 0 {
		t.Fatalf("sbatch: exit %d, %q, %q", code, out, errs)
	}
	id := strings.TrimSpace(strings.TrimPrefix(out, "Submitted batch job "))
	lc.waitFor(func() bool {
		out, _, _ := lc.cli("alice", "queue", "--json")
		return strings.Contains(out, `"state": "RUNNING"`)
	})
	var outb, errb bytes.Buffer
	env := map[string]string{"GEFION_ADDR": lc.addr, "GEFION_USER": "alice", "SLURM_JOB_ID": id}
	e := &Env{Stdin: strings.NewReader(""), Stdout: &outb, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Environ: func() []string { return []string{"PATH=/usr/bin:/bin"} }}
	start := time.Now()
	code = RunEnv(e, []string{"srun", "hostname"})
	if code != 1 || !strings.Contains(errb.String(), "FAILED") || time.Since(start) > 10*time.Second {
		t.Errorf("srun on virtual nodes: exit %d after %v, %q; want 1 within seconds, saying the step failed", code, time.Since(start), errb.String())
	}
}

// BenchmarkSrun measures a whole srun -N 2 -n 8 true inside an allocation
// on two local nodes (in process, on the in-memory store; gefion bench
// steps measures the real binary against gefion dev).
func BenchmarkSrun(b *testing.B) {
	sc := newStepCluster(b)
	var lat []time.Duration
	for b.Loop() {
		t := time.Now()
		if _, errs, code := sc.srun("", "-N", "2", "-n", "8", "true"); code != 0 {
			b.Fatalf("srun: exit %d: %s", code, errs)
		}
		lat = append(lat, time.Since(t))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
}

// BenchmarkSrunOutput streams 1 GiB from one task's stdout through the
// agent to srun (srun -n 1 head -c 1G /dev/zero), and reports MB/s with
// the step's launch included.
func BenchmarkSrunOutput(b *testing.B) {
	sc := newStepCluster(b)
	const size = 1 << 30
	env := map[string]string{"GEFION_ADDR": sc.addr, "GEFION_USER": sc.user, "SLURM_JOB_ID": strconv.FormatInt(int64(sc.jobID), 10)}
	var rates []float64
	for b.Loop() {
		var errb bytes.Buffer
		cw := &countWriter{}
		e := &Env{Stdin: strings.NewReader(""), Stdout: cw, Stderr: &errb, Getenv: func(k string) string { return env[k] },
			Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH")} }}
		t := time.Now()
		if code := RunEnv(e, []string{"srun", "-n", "1", "head", "-c", strconv.Itoa(size), "/dev/zero"}); code != 0 || cw.n != size {
			b.Fatalf("srun: exit %d, %d bytes: %s", code, cw.n, errb.String())
		}
		rates = append(rates, size/time.Since(t).Seconds()/1e6)
	}
	sort.Float64s(rates)
	b.ReportMetric(rates[len(rates)/2], "median-MB/s")
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// TestSrunNodeLostMidStep: a node that stops answering in the middle of a
// step (here its agent stops; its task and its connection to srun stay,
// as with a host that hangs) fails the step with NODE_FAIL and ends the
// job, and srun says so and exits instead of waiting on the dead node.
func TestSrunNodeLostMidStep(t *testing.T) {
	defer func(g time.Duration) { nodeFailGrace = g }(nodeFailGrace)
	nodeFailGrace = 200 * time.Millisecond
	sc := newStepNodesWith(t, controller.Config{Heartbeat: 200 * time.Millisecond, LostAfter: time.Second})
	sc.allocate(nil)
	c := client.New(sc.addr, sc.user)
	sc.loseNodeDuringStep(c, sc.nodes[1])
	start := time.Now()
	_, errs, code := sc.srun("", "-N2", "-n2", "-l", "bash", "-c", "sleep 8")
	if code == 0 || !strings.Contains(errs, "node failure (NODE_FAIL)") || !strings.Contains(errs, "Node failure on "+sc.nodes[1]+"\n") {
		t.Errorf("srun = exit %d, stderr %q; want a failure naming the node failure and %s", code, errs, sc.nodes[1])
	}
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("srun took %s; want it to stop waiting on the lost node well before its task ends (8 s)", d)
	}
	steps, err := c.Steps(context.Background(), sc.jobID)
	if err != nil || len(steps) != 1 || steps[0].State != job.NodeFail {
		t.Errorf("steps = %+v, %v; want step 0 NODE_FAIL", steps, err)
	}
	if j, err := c.Job(context.Background(), sc.jobID); err != nil || j.State == job.Running {
		t.Errorf("job = %+v, %v; want it ended or requeued by the node failure", j, err)
	}
}

// loseNodeDuringStep stops a node's agent once the job's next step runs.
func (sc *stepCluster) loseNodeDuringStep(c *client.Client, node string) {
	before, _ := c.Steps(context.Background(), sc.jobID)
	go func() {
		for range 500 {
			if s, err := c.Steps(context.Background(), sc.jobID); err == nil && len(s) == len(before)+1 && s[len(s)-1].State == job.Running {
				time.Sleep(300 * time.Millisecond) // both nodes' tasks call back
				sc.stopAgent[node]()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
}

// TestSrunNodeLostNoKill: with --no-kill the job keeps its other nodes
// when one that does not run its batch script is lost: the step there
// fails NODE_FAIL, and the next step runs on what is left.
func TestSrunNodeLostNoKill(t *testing.T) {
	defer func(g time.Duration) { nodeFailGrace = g }(nodeFailGrace)
	nodeFailGrace = 200 * time.Millisecond
	sc := newStepNodesWith(t, controller.Config{Heartbeat: 200 * time.Millisecond, LostAfter: time.Second})
	sc.allocate(func(s *job.Spec) { s.NoKill = true })
	c := client.New(sc.addr, sc.user)
	sc.loseNodeDuringStep(c, sc.nodes[1])
	_, errs, code := sc.srun("", "-N2", "-n2", "bash", "-c", "sleep 8")
	if code == 0 || !strings.Contains(errs, "Node failure on "+sc.nodes[1]+"\n") {
		t.Errorf("srun = exit %d, stderr %q; want the node failure of %s", code, errs, sc.nodes[1])
	}
	j, err := c.Job(context.Background(), sc.jobID)
	if err != nil || j.State != job.Running || len(j.Allocs) != 1 || j.Allocs[0].Node != sc.nodes[0] {
		t.Fatalf("job = %+v, %v; want it running on %s alone", j, err, sc.nodes[0])
	}
	out, errs, code := sc.srun("", "printenv", "SLURMD_NODENAME")
	if code != 0 || out != sc.nodes[0]+"\n" {
		t.Errorf("next step = exit %d, out %q, err %q; want it on %s", code, out, errs, sc.nodes[0])
	}
	steps, err := c.Steps(context.Background(), sc.jobID)
	if err != nil || len(steps) != 2 || steps[0].State != job.NodeFail || steps[1].State != job.Completed {
		t.Errorf("steps = %+v, %v; want 0 NODE_FAIL, 1 COMPLETED", steps, err)
	}
}
