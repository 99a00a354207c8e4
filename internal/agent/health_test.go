//go:build linux

package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
)

// fakeMeter is a node's GPUs whose energy counters grow at WattsPer[gpu]
// and whose utilisation is Util[gpu], read from the wall clock.
type fakeMeter struct {
	mu    sync.Mutex
	t0    time.Time
	watts map[int]float64
	util  map[int]float64
	reads int
}

func (f *fakeMeter) Sample(gpu int) (GPUSample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	ms := float64(time.Since(f.t0).Milliseconds())
	return GPUSample{EnergyMJ: 1e9 + uint64(f.watts[gpu]*ms), HasEnergy: true, UtilPct: f.util[gpu], HasUtil: true, MemUsedMB: int64(gpu) * 1000}, nil
}

func TestHealthVerdict(t *testing.T) {
	tests := []struct {
		e     HealthEvent
		drain bool
	}{
		{HealthEvent{GPU: 1, XID: 79}, true},
		{HealthEvent{GPU: 1, XID: 48}, true},
		{HealthEvent{GPU: 2, DoubleBitECC: true}, true},
		{HealthEvent{GPU: 1, XID: 13}, false}, // a program's fault
		{HealthEvent{GPU: 1, XID: 31}, false},
	}
	for _, tt := range tests {
		if got, msg := HealthVerdict(tt.e, DrainXIDs); got != tt.drain || msg == "" {
			t.Errorf("HealthVerdict(%+v) = %v, %q; want drain %v with a reason", tt.e, got, msg, tt.drain)
		}
	}
}

func TestProcessMeasuresEnergyPerGPU(t *testing.T) {
	m := &fakeMeter{t0: time.Now(), watts: map[int]float64{2: 700, 5: 350}, util: map[int]float64{2: 90, 5: 30}}
	g := DeclaredGPUs(8, cluster.H100SXM)
	g.Meter = m
	p := newTestProcess(t, ProcessConfig{}, g)
	a := assignment(p, 21, t.TempDir(), "#!/bin/sh\nsleep 0.3\n")
	a.GPUs = []int{2, 5}
	rec := newRecorder()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if !end.Measured || len(end.PerGPUJ) != 2 {
		t.Fatalf("end = %+v; want measured energy for two GPUs", end)
	}
	// 0.3 s at 700 W and 350 W: about 210 J and 105 J.
	if end.PerGPUJ[0] < 150 || end.PerGPUJ[0] > 400 || end.PerGPUJ[1] < 75 || end.PerGPUJ[1] > 200 {
		t.Errorf("per-GPU energy = %v J; want about [210 105]", end.PerGPUJ)
	}
	if d := end.EnergyJ - (end.PerGPUJ[0] + end.PerGPUJ[1]); d > 1e-9 || d < -1e-9 {
		t.Errorf("energy %v J is not the sum of %v", end.EnergyJ, end.PerGPUJ)
	}
	if end.GPUUtil < 59 || end.GPUUtil > 61 || end.GPUMemMB != 5000 {
		t.Errorf("utilisation %v%%, memory %d MB; want the average 60%% and the largest 5000 MB", end.GPUUtil, end.GPUMemMB)
	}
}

func TestProcessReportsAnIdleGPUOnce(t *testing.T) {
	m := &fakeMeter{t0: time.Now(), watts: map[int]float64{0: 70, 1: 700}, util: map[int]float64{0: 0, 1: 100}}
	g := DeclaredGPUs(8, cluster.H100SXM)
	g.Meter = m
	p := newTestProcess(t, ProcessConfig{IdleAfter: 100 * time.Millisecond, SampleEvery: 10 * time.Millisecond}, g)
	a := assignment(p, 22, t.TempDir(), "#!/bin/sh\nsleep 0.5\n")
	a.GPUs = []int{0, 1}
	rec := newRecorder()
	p.Start(a, rec.report)
	idle := rec.wait(t, api.ReportIdle, 5*time.Second)
	if idle.GPU != 0 || idle.JobID != 22 || idle.Message == "" {
		t.Errorf("idle report = %+v; want GPU 0 of job 22 with a message", idle)
	}
	rec.wait(t, api.ReportEnd, 5*time.Second)
	if n := rec.count(api.ReportIdle); n != 1 {
		t.Errorf("%d idle reports; want one for the one idle GPU", n)
	}
}

// fakeHealth delivers the events sent on its channel.
type fakeHealth chan HealthEvent

func (f fakeHealth) WatchHealth(ctx context.Context, event func(HealthEvent)) error {
	for {
		select {
		case e := <-f:
			event(e)
		case <-ctx.Done():
			return nil
		}
	}
}

func TestProcessDrainsOnHardwareFaultsOnly(t *testing.T) {
	h := make(fakeHealth)
	g := DeclaredGPUs(8, cluster.H100SXM)
	g.Health = h
	p := newTestProcess(t, ProcessConfig{Node: "dgx009"}, g)
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Watch(ctx, rec.report)
	h <- HealthEvent{GPU: 4, XID: 13}
	h <- HealthEvent{GPU: 4, XID: 79}
	h <- HealthEvent{GPU: 4, XID: 79} // the same fault again: one report
	h <- HealthEvent{GPU: 6, DoubleBitECC: true}
	first := rec.wait(t, api.ReportHealth, 5*time.Second)
	second := rec.wait(t, api.ReportHealth, 5*time.Second)
	if !first.Drain || first.Node != "dgx009" || first.GPU != 4 || first.Message != "GPU 4: XID 79 (GPU has fallen off the bus)" {
		t.Errorf("first health report = %+v; want a drain for XID 79 on GPU 4", first)
	}
	if !second.Drain || second.GPU != 6 {
		t.Errorf("second health report = %+v; want a drain for the ECC error on GPU 6", second)
	}
	time.Sleep(20 * time.Millisecond)
	if n := rec.count(api.ReportHealth); n != 2 {
		t.Errorf("%d health reports; want 2 (XID 13 is the program's, the repeat is the same fault)", n)
	}
}
