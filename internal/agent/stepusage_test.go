//go:build linux

package agent

import (
	"os/exec"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

// TestParseProcStat reads /proc/PID/stat lines, a command name with
// spaces and parentheses among them.
func TestParseProcStat(t *testing.T) {
	line := "4242 (my (odd) cmd) S 4000 4242 4000 0 -1 4194560 300 0 7 0 250 50 20 10 20 0 1 0 100 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	s, ok := parseProcStat([]byte(line))
	want := procStat{pid: 4242, ppid: 4000, pgrp: 4242, ticks: 330, majflt: 7, vsizeB: 104857600, rssPg: 2560}
	if !ok || s != want {
		t.Errorf("parseProcStat(%q) = %+v, %v; want %+v", line, s, ok, want)
	}
	for _, bad := range []string{"", "4242 (cut", "x (a) S 1 2 3"} {
		if _, ok := parseProcStat([]byte(bad)); ok {
			t.Errorf("parseProcStat(%q) ok; want refused", bad)
		}
	}
}

// TestSampleStepsMeasuresTasks runs a step of two tasks, each a shell
// whose child holds about 30 MB and spins, and checks that the samples
// count the children: resident memory near 30 MB per task, the peak at
// least the current value, CPU time growing.
func TestSampleStepsMeasuresTasks(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("needs awk:", err)
	}
	f := newStepFixture(t)
	f.launch("sh", "-c", `awk 'BEGIN { s = sprintf("%30000000s", "x"); while (1) {} }'; true`)
	c := f.accept(t, f.key)
	defer c.Close()
	var last []api.StepUsage
	deadline := time.Now().Add(10 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last = f.p.SampleSteps()
		if len(last) != 1 || len(last[0].Tasks) != 2 {
			continue
		}
		done := true
		for _, tk := range last[0].Tasks {
			done = done && tk.RSSKB > 25_000 && tk.CPUS >= 0.2
		}
		if done {
			break
		}
	}
	if len(last) != 1 || len(last[0].Tasks) != 2 {
		t.Fatalf("SampleSteps() = %+v; want job 7's step 0 with 2 tasks", last)
	}
	u := last[0]
	if u.JobID != 7 || u.StepID != 0 || u.Node != "n1" || u.GPUUtil != nil {
		t.Errorf("SampleSteps() = %+v; want job 7 step 0 on n1, no GPU utilisation (no meter)", u)
	}
	ranks := map[int]bool{}
	for _, tk := range u.Tasks {
		ranks[tk.Rank] = true
		if tk.RSSKB <= 25_000 || tk.RSSKB > 200_000 || tk.MaxRSSKB < tk.RSSKB || tk.VMSizeKB < tk.RSSKB || tk.MaxVMSizeKB < tk.VMSizeKB {
			t.Errorf("task %d: %+v; want about 30 MB resident (the child's), peaks at least the current sizes", tk.Rank, tk)
		}
		if tk.CPUS < 0.2 {
			t.Errorf("task %d: %v CPU seconds; want the spinning child's time", tk.Rank, tk.CPUS)
		}
	}
	if !ranks[0] || !ranks[1] {
		t.Errorf("ranks %v; want 0 and 1", ranks)
	}
}

// TestSampleStepGPUs checks a step's GPU figures: the average utilisation
// and summed memory of its GPUs where a meter reads them, none without.
func TestSampleStepGPUs(t *testing.T) {
	m := &fakeMeter{t0: time.Now(), util: map[int]float64{2: 90, 5: 30}}
	p := &Process{gpus: &GPUs{Meter: m}}
	var u api.StepUsage
	p.sampleStepGPUs([]int{2, 5}, &u)
	if u.GPUUtil == nil || *u.GPUUtil != 60 || u.GPUMemMB != 7000 {
		t.Errorf("sampleStepGPUs(2, 5) = %+v; want utilisation 60 and 7000 MB (2000 + 5000)", u)
	}
	for _, p := range []*Process{{gpus: &GPUs{}}, {gpus: &GPUs{Meter: m}}} {
		var u api.StepUsage
		gpus := []int{}
		if p.gpus.Meter == nil {
			gpus = []int{0}
		}
		p.sampleStepGPUs(gpus, &u)
		if u.GPUUtil != nil || u.GPUMemMB != 0 {
			t.Errorf("sampleStepGPUs without a meter or GPUs = %+v; want nothing measured", u)
		}
	}
}

// BenchmarkReadProcTable measures one read of the process table, what
// each sample of the running steps costs.
func BenchmarkReadProcTable(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if len(readProcTable()) == 0 {
			b.Fatal("no processes read")
		}
	}
}
