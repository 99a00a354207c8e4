//go:build linux

package agent

import (
	"bytes"
	"encoding/hex"
	"net"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// stepFixture is a process executor holding a share of job 7 on node n1
// (no batch script there, as on a job's second node), and a listener
// playing srun.
type stepFixture struct {
	p   *Process
	rec *recorder
	ln  net.Listener
	key []byte
}

func newStepFixture(t *testing.T) *stepFixture {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Skip("needs a current user:", err)
	}
	p := newTestProcess(t, ProcessConfig{Node: "n1", NoCgroups: true}, nil)
	rec := newRecorder()
	p.Start(api.Assignment{JobID: 7, Node: "n1", Spec: job.Spec{User: me.Username}, TimeLimit: 600}, rec.report)
	rec.wait(t, api.ReportStart, 5*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		p.Signal(api.Signal{JobID: 7, Node: "n1", Release: true}, rec.report)
	})
	return &stepFixture{p: p, rec: rec, ln: ln, key: bytes.Repeat([]byte{3}, 32)}
}

func (f *stepFixture) launch(argv ...string) {
	l := &api.StepLaunch{JobID: 7, StepID: 0, Node: "n1", Part: api.StepNode{Node: "n1", Tasks: []int{0, 1}},
		Tasks: 2, StepNodes: 1, StepNodeList: "n1", TasksPerNode: "2", Argv: argv, Env: []string{"PATH=/usr/bin:/bin"},
		IOAddr: f.ln.Addr().String(), IOKey: hex.EncodeToString(f.key), Stdin: 0}
	f.p.Step(api.StepCommand{Launch: l}, func(r api.Report) <-chan struct{} {
		f.rec.report(r)
		ch := make(chan struct{})
		close(ch)
		return ch
	})
}

// accept plays srun's side of the handshake with key.
func (f *stepFixture) accept(t *testing.T, key []byte) net.Conn {
	t.Helper()
	_ = f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := f.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SrunHandshake(c, key); err != nil {
		t.Fatalf("srun's handshake: %v", err)
	}
	return c
}

func taskPIDs(t *testing.T, f *stepFixture) []int {
	t.Helper()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	var pids []int
	for _, st := range f.p.steps {
		st.mu.Lock()
		for _, tk := range st.tasks {
			pids = append(pids, tk.pid)
		}
		st.mu.Unlock()
	}
	return pids
}

// TestLostSrunEndsTasks: srun killed -9 closes its connection; the
// node's tasks must not run on with nobody reading them.
func TestLostSrunEndsTasks(t *testing.T) {
	f := newStepFixture(t)
	f.launch("sleep", "60")
	c := f.accept(t, f.key)
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); len(pids) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pids = taskPIDs(t, f)
	}
	if len(pids) != 2 {
		t.Fatalf("%d tasks started; want 2", len(pids))
	}
	c.Close()
	end := f.rec.wait(t, api.ReportStepEnd, 5*time.Second)
	if end.Signal != "KILL" || end.Step != 0 || end.JobID != 7 {
		t.Errorf("step end = %+v; want the tasks killed", end)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("task process %d still runs after srun went away", pid)
		}
	}
}

// TestJobEndEndsSteps: the job's share ending (cancel, time limit, the
// batch script's end) ends its steps' tasks.
func TestJobEndEndsSteps(t *testing.T) {
	f := newStepFixture(t)
	f.launch("sleep", "60")
	c := f.accept(t, f.key)
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); len(taskPIDs(t, f)) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	f.p.Signal(api.Signal{JobID: 7, Node: "n1", Release: true}, f.rec.report)
	if end := f.rec.wait(t, api.ReportStepEnd, 5*time.Second); end.Signal != "KILL" {
		t.Errorf("step end = %+v; want the tasks killed with the job", end)
	}
}

// TestStepRefusesForgedSrun: a listener without the step's key gets
// nothing, and the step fails without running its tasks.
func TestStepRefusesForgedSrun(t *testing.T) {
	f := newStepFixture(t)
	f.launch("sh", "-c", "echo secret")
	_ = f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := f.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_, herr := SrunHandshake(c, bytes.Repeat([]byte{9}, 32))
	c.Close() // as srun does with an agent it cannot verify
	end := f.rec.wait(t, api.ReportStepEnd, 15*time.Second)
	if herr == nil || end.State != job.Failed || !strings.Contains(end.Message, "handshake") {
		t.Errorf("forged srun: handshake %v, step end %+v; want refused both ways and the step failed", herr, end)
	}
	if n := len(taskPIDs(t, f)); n != 0 {
		t.Errorf("%d tasks started for a forged srun", n)
	}
}

// TestStepCancelBeforeTasksStart: a cancel that reaches the node while
// its tasks are still starting (srun not yet reached) ends them with
// the cancel's signal as soon as they start, not KillWait later.
func TestStepCancelBeforeTasksStart(t *testing.T) {
	f := newStepFixture(t)
	f.launch("sleep", "60")
	f.p.Step(api.StepCommand{Signal: &api.StepSignal{JobID: 7, StepID: 0, Node: "n1", Signal: "TERM"}}, nil)
	c := f.accept(t, f.key)
	defer c.Close()
	if end := f.rec.wait(t, api.ReportStepEnd, 5*time.Second); end.Signal != "TERM" {
		t.Errorf("step end = %+v; want the tasks ended by the cancel's TERM", end)
	}
}

// TestJobsAndTasksKnowTheController: a batch script's srun must find the
// controller (the submit host's GEFION_ADDR is dropped with the other
// GEFION_ variables), so the node gives its own.
func TestJobsAndTasksKnowTheController(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	p.SetControllerAddr("http://10.1.2.3:8420")
	dir := t.TempDir()
	a := assignment(p, 78, dir, "#!/bin/sh\necho \"addr=$GEFION_ADDR\"\n")
	a.Spec.Env = []string{"GEFION_ADDR=http://login-only:1"}
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportEnd, 5*time.Second)
	if out := readFile(t, filepath.Join(dir, "slurm-78.out")); out != "addr=http://10.1.2.3:8420\n" {
		t.Errorf("batch script saw %q; want the node's controller address", out)
	}
	// A task keeps srun's own address, and gets the node's without one.
	if env := p.withControllerAddr([]string{"GEFION_ADDR=http://x:1"}); envValue(env, "GEFION_ADDR") != "http://x:1" {
		t.Errorf("task env = %v; want srun's GEFION_ADDR kept", env)
	}
	if env := p.withControllerAddr(nil); envValue(env, "GEFION_ADDR") != "http://10.1.2.3:8420" {
		t.Errorf("task env = %v; want the node's GEFION_ADDR", env)
	}
}
