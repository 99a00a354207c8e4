package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/store"
)

// liveCluster is a controller with an in-memory store and two virtual
// nodes on a loopback server; cli runs commands against it as user.
type liveCluster struct {
	t    *testing.T
	addr string
}

func newLiveCluster(t *testing.T) *liveCluster {
	t.Helper()
	ctl, err := controller.New(controller.Config{DefaultProject: "default", Operators: []string{"ops"}}, store.NewMemory(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	srv := httptest.NewServer(ctl.Handler())
	ag := &agent.Agent{Client: client.NewAgent(srv.URL, ctl.JoinToken()), ID: "cli-test",
		Nodes: agent.VirtualNodes("dgx", 2, &cluster.DGXH100, 1), Exec: &agent.Virtual{GPU: cluster.H100SXM}}
	go func() { _ = ag.Run(ctx) }()
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	lc := &liveCluster{t: t, addr: srv.URL}
	lc.waitFor(func() bool {
		out, _, code := lc.cli("ops", "nodes", "--json")
		return code == 0 && strings.Count(out, `"state": "idle"`) == 2
	})
	return lc
}

func (lc *liveCluster) cli(user string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	env := map[string]string{"GEFION_ADDR": lc.addr, "GEFION_USER": user}
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Environ: func() []string { return []string{"HOME=/tmp"} }}
	code := RunEnv(e, append([]string{"gefion"}, args...))
	return out.String(), errb.String(), code
}

func (lc *liveCluster) waitFor(ok func() bool) {
	lc.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	lc.t.Fatal("timed out")
}

func TestCommandsAgainstALiveController(t *testing.T) {
	lc := newLiveCluster(t)
	// Submit: one running job holding a node, one waiting behind it.
	out, errs, code := lc.cli("alice", "sbatch", "--gpus-per-node=8", "--comment=duration=1000", "--time=10", "--wrap", "sleep 1000")
	if code != 0 || !strings.HasPrefix(out, "Submitted batch job 1") {
		t.Fatalf("sbatch: exit %d, %q, %q", code, out, errs)
	}
	lc.cli("alice", "sbatch", "--gpus-per-node=8", "--comment=duration=1000", "--time=10", "--wrap", "sleep 1000")
	lc.cli("alice", "sbatch", "-J", "third", "--gpus-per-node=8", "--time=10", "--comment=duration=0", "--wrap", "true")
	lc.waitFor(func() bool {
		out, _, _ := lc.cli("alice", "queue", "--json")
		return strings.Count(out, `"state": "RUNNING"`) == 2 && strings.Count(out, `"state": "PENDING"`) == 1
	})
	out, _, code = lc.cli("alice", "queue")
	if code != 0 || !strings.Contains(out, "NODELIST(REASON)") || !strings.Contains(out, "(Resources)") {
		t.Errorf("queue:\n%s", out)
	}
	out, _, code = lc.cli("alice", "why", "3")
	if code != 0 || !strings.Contains(out, "Job 3 is PENDING") || !strings.Contains(out, "estimated start") {
		t.Errorf("why 3:\n%s", out)
	}
	// Another user sees nothing of alice's and may not cancel her jobs.
	out, _, _ = lc.cli("bob", "queue", "--json")
	if strings.Contains(out, `"user": "alice"`) {
		t.Errorf("bob's queue shows alice's jobs:\n%s", out)
	}
	if _, errs, code := lc.cli("bob", "cancel", "1"); code == 0 || !strings.Contains(errs, "is not yours") || strings.Contains(errs, "alice") {
		t.Errorf("bob cancel: exit %d, %q", code, errs)
	}
	// Hold and release the pending job; cancel a running one.
	if _, errs, code := lc.cli("alice", "hold", "3"); code != 0 {
		t.Fatalf("hold: %s", errs)
	}
	lc.waitFor(func() bool { out, _, _ := lc.cli("alice", "queue"); return strings.Contains(out, "(JobHeldUser)") })
	if _, errs, code := lc.cli("alice", "release", "3"); code != 0 {
		t.Fatalf("release: %s", errs)
	}
	if _, errs, code := lc.cli("alice", "cancel", "1"); code != 0 {
		t.Fatalf("cancel: %s", errs)
	}
	lc.waitFor(func() bool {
		out, _, _ := lc.cli("alice", "acct", "--json", "-j", "1,3")
		return strings.Contains(out, `"state": "CANCELLED"`) && strings.Contains(out, `"state": "COMPLETED"`)
	})
	out, _, code = lc.cli("alice", "acct")
	if code != 0 || !strings.Contains(out, "GPU-h") || !strings.Contains(out, "CANCELLED") {
		t.Errorf("acct:\n%s", out)
	}
	// Nodes, drain (operators only) and projects.
	out, _, code = lc.cli("alice", "nodes", "-N")
	if code != 0 || !strings.Contains(out, "dgx001") {
		t.Errorf("nodes -N:\n%s", out)
	}
	if _, errs, code := lc.cli("alice", "drain", "dgx002", "--reason", "x"); code == 0 || !strings.Contains(errs, "only operators") {
		t.Errorf("alice drain: exit %d, %q", code, errs)
	}
	if _, errs, code := lc.cli("ops", "drain", "dgx002", "--reason", "fan"); code != 0 {
		t.Errorf("ops drain: %s", errs)
	}
	if _, errs, code := lc.cli("ops", "project", "create", "med", "--grant", "100", "--users", "alice"); code != 0 {
		t.Fatalf("project create: %s", errs)
	}
	out, _, code = lc.cli("alice", "project", "usage", "--json")
	var pu struct {
		Projects []struct {
			Name          string  `json:"name"`
			GrantGPUHours float64 `json:"grant_gpu_hours"`
		} `json:"projects"`
	}
	if err := json.Unmarshal([]byte(out), &pu); code != 0 || err != nil || len(pu.Projects) != 2 {
		t.Errorf("project usage: exit %d, %v:\n%s", code, err, out)
	}
	if _, errs, code := lc.cli("bob", "sbatch", "-A", "med", "--wrap", "true"); code == 0 || !strings.Contains(errs, "not a member") {
		t.Errorf("bob submitting to med: exit %d, %q", code, errs)
	}
}

// TestBenchSubmitAgainstALiveController runs the load tool, then checks
// that the controller holds exactly the jobs it reported, held, as alice's.
func TestBenchSubmitAgainstALiveController(t *testing.T) {
	lc := newLiveCluster(t)
	out, errOut, code := lc.cli("alice", "bench", "submit", "--jobs", "300", "--concurrency", "7", "--json")
	if code != 0 {
		t.Fatalf("bench submit: exit %d: %s", code, errOut)
	}
	var res benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench submit --json: %v\n%s", err, out)
	}
	if res.Jobs != 300 || res.Errors != 0 || res.PerSecond <= 0 || res.P50MS <= 0 || res.P99MS < res.P50MS {
		t.Fatalf("bench result %+v; want 300 jobs, no errors, sane latencies", res)
	}
	out, errOut, code = lc.cli("alice", "queue", "--me", "--json")
	if code != 0 {
		t.Fatalf("queue: exit %d: %s", code, errOut)
	}
	var q struct {
		Jobs []struct {
			User   string `json:"user"`
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatalf("queue --json: %v", err)
	}
	jobs := q.Jobs
	held := 0
	for _, j := range jobs {
		if j.User == "alice" && j.State == "PENDING" && j.Reason == "JobHeldUser" {
			held++
		}
	}
	if held != 300 || len(jobs) != 300 {
		t.Errorf("queue holds %d jobs, %d of them alice's held ones; want 300 of 300", len(jobs), held)
	}
	// An address the load tool's own client cannot use is a clear error.
	_, errOut, code = lc.cli("alice", "bench", "submit", "--addr", "http://", "--jobs", "1")
	if code == 0 || errOut == "" {
		t.Errorf("bench submit --addr http:// exited %d with %q; want an error", code, errOut)
	}
}

// TestAcctExportReplays: jobs run on virtual nodes, exported with acct
// --export and replayed by the twin on the same machine, give the live
// run's completed count, average wait and utilisation. The export's times
// are whole seconds and the live loop starts a job a little after the
// one it follows ends, so waits agree within 5% plus a second.
func TestAcctExportReplays(t *testing.T) {
	lc := newLiveCluster(t)
	start := time.Now().Add(-time.Minute).Format("2006-01-02T15:04:05")
	var ids []string
	for i := range 8 {
		out, errs, code := lc.cli("alice", "sbatch", "--parsable", "-N1", "--gpus-per-node=8", "-t", "1",
			fmt.Sprintf("--comment=duration=%d", 1+i%3), "--wrap", "true")
		if code != 0 {
			t.Fatalf("sbatch: %s", errs)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	lc.waitFor30(func() bool {
		out, _, code := lc.cli("alice", "acct", "--json", "-X", "-j", strings.Join(ids, ","))
		return code == 0 && strings.Count(out, `"state": "COMPLETED"`) == len(ids)
	})
	path := filepath.Join(t.TempDir(), "history.csv")
	if _, errs, code := lc.cli("ops", "acct", "-S", start, "--export", path); code != 0 {
		t.Fatalf("acct --export: %s", errs)
	}
	var a struct {
		Jobs []struct {
			SubmitTime int64 `json:"submit_time"`
			StartTime  int64 `json:"start_time"`
			EndTime    int64 `json:"end_time"`
			GPUs       int   `json:"gpus"`
		} `json:"jobs"`
	}
	out, _, _ := lc.cli("ops", "acct", "--json", "-X", "-S", start)
	if err := json.Unmarshal([]byte(out), &a); err != nil || len(a.Jobs) != len(ids) {
		t.Fatalf("acct --json: %v, %d jobs", err, len(a.Jobs))
	}
	// The live run's average wait and its utilisation over the makespan
	// (GPU-seconds held over the 16 GPUs of the two nodes times the time
	// from the first submission to the last end), as the twin defines it.
	var liveWait, busy float64
	first, last := a.Jobs[0].SubmitTime, int64(0)
	for _, j := range a.Jobs {
		liveWait += float64(j.StartTime - j.SubmitTime)
		busy += float64(j.GPUs) * float64(j.EndTime-j.StartTime)
		first, last = min(first, j.SubmitTime), max(last, j.EndTime)
	}
	liveWait /= float64(len(a.Jobs))
	span := float64(last - first)
	liveUtil := busy / (16 * span)

	out, errs, code := lc.cli("ops", "sim", "--preset", "gefion:2", "--format", "gefion", "--trace", path,
		"--time-limit-model", "trace", "--sched-interval", "1", "--no-progress", "--json")
	if code != 0 {
		t.Fatalf("sim: %s", errs)
	}
	var res struct {
		Completed int     `json:"completed"`
		AvgWaitS  float64 `json:"avg_wait_s"`
		Util      float64 `json:"utilization_makespan"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("sim --json: %v\n%s", err, out)
	}
	if res.Completed != len(ids) {
		t.Errorf("replay completed %d; the live run %d", res.Completed, len(ids))
	}
	if d := res.AvgWaitS - liveWait; d > 0.05*liveWait+1 || d < -(0.05*liveWait+1) {
		t.Errorf("replay average wait %.2f s; the live run's %.2f s", res.AvgWaitS, liveWait)
	}
	// Times are whole seconds: a second of the makespan is the slack
	// beside the 5%.
	if d := res.Util - liveUtil; d > 0.05*liveUtil+liveUtil/span || d < -(0.05*liveUtil+liveUtil/span) {
		t.Errorf("replay utilisation %.3f; the live run's %.3f (makespan %.0f s)", res.Util, liveUtil, span)
	}
	t.Logf("average wait: live %.2f s, replay %.2f s; utilisation: live %.3f, replay %.3f", liveWait, res.AvgWaitS, liveUtil, res.Util)
}

func (lc *liveCluster) waitFor30(ok func() bool) {
	lc.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	lc.t.Fatal("timed out")
}
