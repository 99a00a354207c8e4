//go:build linux

package agent

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// recorder collects an executor's reports.
type recorder struct {
	mu   sync.Mutex
	reps []api.Report
	ch   chan api.Report
}

func newRecorder() *recorder { return &recorder{ch: make(chan api.Report, 256)} }

func (r *recorder) report(rep api.Report) {
	r.mu.Lock()
	r.reps = append(r.reps, rep)
	r.mu.Unlock()
	r.ch <- rep
}

// wait returns the next report of a kind.
func (r *recorder) wait(t *testing.T, kind string, within time.Duration) api.Report {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case rep := <-r.ch:
			if rep.Kind == kind {
				return rep
			}
		case <-deadline:
			t.Fatalf("no %s report within %v", kind, within)
		}
	}
}

func (r *recorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rep := range r.reps {
		if rep.Kind == kind {
			n++
		}
	}
	return n
}

func me(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// newTestProcess returns a process executor for a test node named after
// the test, with fast sampling and a short KillWait.
func newTestProcess(t *testing.T, cfg ProcessConfig, gpus *GPUs) *Process {
	t.Helper()
	cfg.StateDir = t.TempDir()
	// The tests submit as the user running them, root included here.
	cfg.AllowSystemUsers = true
	if cfg.Node == "" {
		cfg.Node = strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	}
	if cfg.KillWait == 0 {
		cfg.KillWait = 500 * time.Millisecond
	}
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = 20 * time.Millisecond
	}
	p, err := NewProcess(cfg, gpus)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func assignment(p *Process, id job.ID, dir, script string) api.Assignment {
	return api.Assignment{
		JobID: id, Node: p.cfg.Node, BatchHost: true, NodeList: p.cfg.Node, Nodes: 1, CPUs: 2,
		Partition: "batch", Project: "default",
		Spec: job.Spec{Name: "test", User: p.self.Name, SubmitDir: dir, SubmitHost: "login1", Script: script},
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestProcessJobSeesItsEnvironment(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, DeclaredGPUs(8, cluster.H100SXM))
	dir := t.TempDir()
	a := assignment(p, 77, dir, "#!/bin/sh\necho \"args=$*\"\npwd\nenv\n")
	a.GPUs = []int{3, 6}
	a.Spec.Argv = []string{"one", "two words"}
	a.ArrayJob, a.ArrayTask, a.ArrayInfo = 70, 7, api.ArrayInfo{Count: 8, Min: 0, Max: 7}
	a.Spec.Env = []string{"FROM_SUBMIT=yes", "CUDA_VISIBLE_DEVICES=0"}
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportStart, 5*time.Second)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.ExitCode != 0 || end.Signal != "" || end.State != "" {
		t.Fatalf("end = %+v; want exit 0 and the state left to the controller", end)
	}
	if end.Measured || end.EnergyJ != 0 {
		t.Errorf("end energy = %v (measured %v); want nothing measured on declared GPUs", end.EnergyJ, end.Measured)
	}
	out := readFile(t, filepath.Join(dir, "slurm-70_7.out"))
	lines := strings.Split(out, "\n")
	if lines[0] != "args=one two words" || lines[1] != dir {
		t.Errorf("first lines = %q; want the arguments and the submit directory", lines[:2])
	}
	env := envMap(lines[2:])
	for k, v := range map[string]string{
		"CUDA_VISIBLE_DEVICES": "3,6", "SLURM_JOB_GPUS": "3,6", "SLURM_GPUS_ON_NODE": "2",
		"SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "70", "SLURM_ARRAY_TASK_ID": "7",
		"SLURM_JOB_NODELIST": p.cfg.Node, "SLURM_NNODES": "1", "SLURM_SUBMIT_DIR": dir,
		"SLURM_JOB_USER": p.self.Name, "FROM_SUBMIT": "yes", "GEFION_JOB_ID": "77",
	} {
		if env[k] != v {
			t.Errorf("job saw %s=%q; want %q", k, env[k], v)
		}
	}
	if _, err := os.Stat(p.spoolDir(77)); !os.IsNotExist(err) {
		t.Errorf("the job's spool directory is still there after its end (%v)", err)
	}
	if n := len(p.Running()); n != 0 {
		t.Errorf("Running() lists %d shares after the end; want 0", n)
	}
}

func TestProcessExitCodesAndOutputFiles(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir := t.TempDir()
	a := assignment(p, 5, dir, "#!/bin/sh\necho out\necho err >&2\nexit 7\n")
	a.Spec.Name = "exits"
	a.Spec.Output, a.Spec.Error = "logs/%x-%j.out", "logs/%x-%j.err"
	rec := newRecorder()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.ExitCode != 7 || end.Signal != "" {
		t.Errorf("end = exit %d signal %q; want exit 7", end.ExitCode, end.Signal)
	}
	if got := readFile(t, filepath.Join(dir, "logs/exits-5.out")); got != "out\n" {
		t.Errorf("output = %q; want %q", got, "out\n")
	}
	if got := readFile(t, filepath.Join(dir, "logs/exits-5.err")); got != "err\n" {
		t.Errorf("error = %q; want %q", got, "err\n")
	}

	// --open-mode=append keeps what the file had.
	a.JobID = 6
	a.Spec.Output, a.Spec.Error, a.Spec.OpenMode = "same.out", "", "append"
	a.Spec.Script = "#!/bin/sh\necho second\n"
	if err := os.WriteFile(filepath.Join(dir, "same.out"), []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Start(a, rec.report)
	rec.wait(t, api.ReportEnd, 5*time.Second)
	if got := readFile(t, filepath.Join(dir, "same.out")); got != "first\nsecond\n" {
		t.Errorf("appended output = %q; want %q", got, "first\nsecond\n")
	}
}

// TestProcessStartFailureIsReported checks that a job that cannot start
// ends FAILED with the reason in its end report: the path and what the
// system said of it, which the controller shows as the job's reason.
func TestProcessStartFailureIsReported(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name                  string
		submitDir, chdir      string
		input, output, errout string
		want                  string
	}{
		{"missing submit directory", "/nonexistent/dir", "", "", "", "", "chdir /nonexistent/dir: no such file or directory"},
		{"missing --chdir", dir, "/nonexistent", "", "", "", "chdir /nonexistent: no such file or directory"},
		{"--chdir to a file", dir, file, "", "", "", "chdir " + file + ": not a directory"},
		{"missing --input", dir, "", "missing.in", "", "", "cannot open input file " + dir + "/missing.in: no such file or directory"},
		{"--output under a file", dir, "", "", "a-file/x.out", "", "cannot open output file " + file + "/x.out: not a directory"},
		{"--error under a file", dir, "", "", "", "a-file/x.err", "cannot open error file " + file + "/x.err: not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := assignment(p, job.ID(100+i), tc.submitDir, "#!/bin/sh\ntrue\n")
			a.Spec.Chdir, a.Spec.Input, a.Spec.Output, a.Spec.Error = tc.chdir, tc.input, tc.output, tc.errout
			rec := newRecorder()
			p.Start(a, rec.report)
			end := rec.wait(t, api.ReportEnd, 5*time.Second)
			if end.State != job.Failed || end.ExitCode != 1 || end.Message != tc.want {
				t.Errorf("end = %s, exit %d, message %q; want FAILED, exit 1, %q", end.State, end.ExitCode, end.Message, tc.want)
			}
		})
	}
}

// TestProcessUnwritableOutputIsTheReason runs a job whose --output lies in
// a directory its user may not write: as root, the job runs as nobody.
func TestProcessUnwritableOutputIsTheReason(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir := t.TempDir()
	a := assignment(p, 18, dir, "#!/bin/sh\ntrue\n")
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("nobody"); err != nil {
			t.Skip("running as root, this test needs a user 'nobody' to run the job as")
		}
		a.Spec.User = "nobody"
		openPath(t, dir)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	a.Spec.Output = "locked/%j.out"
	rec := newRecorder()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	want := "cannot open output file " + locked + "/18.out: permission denied"
	if end.State != job.Failed || end.Message != want {
		t.Errorf("end = %s, message %q; want FAILED, %q", end.State, end.Message, want)
	}
}

// openPath lets every user reach dir: it opens dir and its parents up to
// the temporary directory.
func openPath(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// trapScript records the signals it gets, in order, and exits 3 on TERM.
const trapScript = `#!/bin/bash
trap 'echo got USR1' USR1
trap 'echo got TERM; exit 3' TERM
echo started
for i in $(seq 300); do sleep 0.05; done
echo not reached
`

func TestProcessSignalBeforeTimeLimitThenTERM(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir := t.TempDir()
	a := assignment(p, 11, dir, trapScript)
	a.TimeLimit = 2
	a.Spec.Signal = "B:USR1@1"
	rec := newRecorder()
	t0 := time.Now()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 10*time.Second)
	took := time.Since(t0)
	if end.State != job.Timeout || end.ExitCode != 3 {
		t.Errorf("end = state %q exit %d; want TIMEOUT after the script's exit 3", end.State, end.ExitCode)
	}
	// Between the two, bash may say that its sleep was Terminated: TERM
	// goes to the whole job, USR1 (B:) to the batch shell only.
	got := readFile(t, filepath.Join(dir, "slurm-11.out"))
	u, term := strings.Index(got, "got USR1\n"), strings.Index(got, "got TERM\n")
	if !strings.HasPrefix(got, "started\n") || u < 0 || term < u || strings.Count(got, "got USR1") != 1 || strings.Contains(got, "not reached") {
		t.Errorf("the script recorded %q; want started, one USR1, then TERM", got)
	}
	if took < 2*time.Second || took > 4*time.Second {
		t.Errorf("the job ended after %v; want about its 2 s limit", took)
	}
}

func TestProcessKilledAfterKillWait(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{KillWait: 300 * time.Millisecond}, nil)
	dir := t.TempDir()
	a := assignment(p, 12, dir, "#!/bin/bash\ntrap 'echo ignoring TERM' TERM\nfor i in $(seq 300); do sleep 0.05; done\n")
	a.TimeLimit = 1
	rec := newRecorder()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 10*time.Second)
	if end.State != job.Timeout || end.Signal != "KILL" {
		t.Errorf("end = state %q signal %q; want TIMEOUT by KILL", end.State, end.Signal)
	}
	if got := readFile(t, filepath.Join(dir, "slurm-12.out")); !strings.Contains(got, "ignoring TERM") {
		t.Errorf("output = %q; want the TERM the script ignored", got)
	}
}

func TestProcessCancel(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir := t.TempDir()
	a := assignment(p, 13, dir, "#!/bin/sh\necho running\nsleep 30\n")
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportStart, 5*time.Second)
	waitFile(t, filepath.Join(dir, "slurm-13.out"), "running")
	if got := p.Running(); len(got) != 1 || got[0].JobID != 13 {
		t.Errorf("Running() = %v; want job 13", got)
	}
	p.Signal(api.Signal{JobID: 13, Node: a.Node, Signal: "TERM", GraceS: 5, Reason: "cancelled"}, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.Signal != "TERM" || end.State != "" {
		t.Errorf("end = signal %q state %q; want TERM, the state left to the controller", end.Signal, end.State)
	}
}

func TestProcessReleasesAShareWithoutBatchScript(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, DeclaredGPUs(8, cluster.H100SXM))
	a := assignment(p, 14, t.TempDir(), "#!/bin/sh\nexit 0\n")
	a.BatchHost, a.GPUs = false, []int{0, 1}
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportStart, 5*time.Second)
	time.Sleep(50 * time.Millisecond)
	if len(p.Running()) != 1 {
		t.Fatal("a share without a batch script ended before its release")
	}
	p.Signal(api.Signal{JobID: 14, Node: a.Node, Release: true}, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.State != "" || end.Signal != "" || end.ExitCode != 0 {
		t.Errorf("release end = %+v; want a plain end", end)
	}
}

func waitFile(t *testing.T, path, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), substr) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never contained %q", path, substr)
}

func TestProcessRunsAsTheSubmitter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent switches users only when it runs as root; this test runs as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user 'nobody' on this machine to run a job as")
	}
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir := t.TempDir()
	// The job's user must reach its submit directory.
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	a := assignment(p, 15, dir, "#!/bin/sh\nid -u\nid -g\necho \"$USER\"\ntouch made-by-job\n")
	a.Spec.User = "nobody"
	a.Spec.Output = "logs/%u-%j.out"
	rec := newRecorder()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.ExitCode != 0 {
		t.Fatalf("end = %+v; want success", end)
	}
	outPath := filepath.Join(dir, "logs/nobody-15.out")
	got := strings.Fields(readFile(t, outPath))
	if len(got) < 2 || got[0] != nobody.Uid || got[1] != nobody.Gid {
		t.Errorf("the job ran as %v; want uid %s gid %s", got, nobody.Uid, nobody.Gid)
	}
	for _, f := range []string{outPath, filepath.Join(dir, "logs"), filepath.Join(dir, "made-by-job")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != nobody.Uid {
			t.Errorf("%s is owned by uid %d; want nobody (%s)", f, uid, nobody.Uid)
		}
	}

	// The user's rights hold for the output: a directory only root may
	// write is refused, not written with the agent's rights.
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	a.JobID, a.Spec.Output = 16, "locked/out"
	p.Start(a, rec.report)
	end = rec.wait(t, api.ReportEnd, 5*time.Second)
	if want := "cannot open output file " + filepath.Join(locked, "out") + ": permission denied"; end.State != job.Failed || end.Message != want {
		t.Errorf("end = %s, message %q; want FAILED, %q", end.State, end.Message, want)
	}
	if _, err := os.Stat(filepath.Join(locked, "out")); err == nil {
		t.Error("the agent wrote a file where the job's user may not")
	}
}

func TestProcessUnknownUserFails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent looks users up only when it runs as root")
	}
	p := newTestProcess(t, ProcessConfig{}, nil)
	a := assignment(p, 17, t.TempDir(), "#!/bin/sh\ntrue\n")
	a.Spec.User = "no-such-user-here"
	rec := newRecorder()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.State != job.Failed || !strings.Contains(end.Message, "does not exist") {
		t.Errorf("end = %+v; want FAILED naming the missing account", end)
	}
}

func TestProcessCgroupKillsEscapedProcesses(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	if !p.Cgroups() {
		t.Skip("no writable cgroup v2 on this host: jobs run without cgroups")
	}
	dir := t.TempDir()
	a := assignment(p, 18, dir, "#!/bin/sh\ncat /proc/self/cgroup\nsetsid sleep 60 </dev/null >/dev/null 2>&1 &\necho $! > escaped.pid\nexit 0\n")
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportEnd, 5*time.Second)
	if out := readFile(t, filepath.Join(dir, "slurm-18.out")); !strings.Contains(out, ".job18") {
		t.Errorf("the job ran in cgroup %q; want its own", out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "escaped.pid"))))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d, which left the job's process group, outlived the job", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie is dead).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestProcessCgroupLimits(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	if !p.Cgroups() {
		t.Skip("no writable cgroup v2 on this host: jobs run without cgroups")
	}
	if !p.cg.has("memory") || !p.cg.has("cpu") {
		t.Skipf("the memory and cpu controllers are not delegated to %s (have %v): limits cannot be enforced here", p.cg.dir, p.cg.controllers)
	}
	dir := t.TempDir()
	mnt, err := cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	a := assignment(p, 19, dir, "#!/bin/sh\nd="+mnt+"$(sed -n 's/^0:://p' /proc/self/cgroup)\ncat $d/memory.max $d/cpu.max\n")
	a.MemMB, a.CPUs = 256, 3
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportEnd, 5*time.Second)
	if got, want := readFile(t, filepath.Join(dir, "slurm-19.out")), "268435456\n300000 100000\n"; got != want {
		t.Errorf("the job's limits = %q; want %q", got, want)
	}
}

func TestRootAgentRefusesSystemAccounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a root agent switches users")
	}
	p, err := NewProcess(ProcessConfig{Node: "n1", StateDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.jobUser(api.Assignment{JobID: 1, Spec: job.Spec{User: "root"}}); err == nil || !strings.Contains(err.Error(), "system account") {
		t.Errorf("jobUser(root) = %v; want a refusal naming the system account", err)
	}
	if _, err := p.jobUser(api.Assignment{JobID: 2, Spec: job.Spec{User: "nobody"}}); err != nil {
		t.Errorf("jobUser(nobody) = %v; want it allowed (uid 65534)", err)
	}
}

func TestRootAgentRefusesAPlantedStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a root agent checks its state directory's owner")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := NewProcess(ProcessConfig{Node: "n1", StateDir: dir}, nil); err == nil || !strings.Contains(err.Error(), "writable by no one else") {
		t.Errorf("NewProcess on a world-writable directory = %v; want a refusal", err)
	}
	if _, err := NewProcess(ProcessConfig{Node: "n1", StateDir: filepath.Join(t.TempDir(), "fresh")}, nil); err != nil {
		t.Errorf("NewProcess on a directory it creates = %v; want it accepted", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if _, err := NewProcess(ProcessConfig{Node: "n1", StateDir: link}, nil); err == nil {
		t.Errorf("NewProcess through a symlink succeeded; want a refusal")
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := NewProcess(ProcessConfig{Node: "n1", StateDir: dir}, nil); err == nil || !strings.Contains(err.Error(), "owned by root") {
		t.Errorf("NewProcess on a directory owned by nobody = %v; want a refusal", err)
	}
}
