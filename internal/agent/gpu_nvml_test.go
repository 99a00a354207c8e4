//go:build linux && cgo

package agent

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/gefion-hpc/gefion/internal/api"
)

// mockDGX is go-nvml's mock of a DGX H100, with the functions it leaves
// unset filled in: energy counters the test advances, utilisation, NVLink
// peers (all eight GPUs reach each other through NVSwitch) and an event
// set fed from a channel.
type mockDGX struct {
	srv    *server.Server
	energy [8]atomic.Uint64 // millijoules
	util   [8]atomic.Uint32
	events chan nvml.EventData
}

func newMockDGX(t *testing.T) *mockDGX {
	t.Helper()
	m := &mockDGX{srv: dgxh100.New(), events: make(chan nvml.EventData, 8)}
	for i, d := range m.srv.Devices {
		dev := d.(*server.Device)
		m.energy[i].Store(5_000_000 + uint64(i)) // counters run since the driver loaded
		dev.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) { return m.energy[i].Load(), nvml.SUCCESS }
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: m.util[i].Load()}, nvml.SUCCESS
		}
		dev.GetP2PStatusFunc = func(nvml.Device, nvml.GpuP2PCapsIndex) (nvml.GpuP2PStatus, nvml.Return) {
			return nvml.P2P_STATUS_OK, nvml.SUCCESS
		}
		dev.RegisterEventsFunc = func(types uint64, _ nvml.EventSet) nvml.Return {
			if types&nvml.EventTypeXidCriticalError == 0 {
				t.Errorf("GPU %d: registered events %#x; want XID critical errors", i, types)
			}
			return nvml.SUCCESS
		}
	}
	m.srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(ms uint32) (nvml.EventData, nvml.Return) {
				select {
				case e := <-m.events:
					return e, nvml.SUCCESS
				case <-time.After(time.Duration(ms) * time.Millisecond):
					return nvml.EventData{}, nvml.ERROR_TIMEOUT
				}
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	return m
}

func TestNVMLInventoryOfADGX(t *testing.T) {
	m := newMockDGX(t)
	n, err := NewNVML(m.srv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := n.GPUs()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if len(g.Inventory) != 8 {
		t.Fatalf("%d GPUs; want the DGX's 8", len(g.Inventory))
	}
	for i, gpu := range g.Inventory {
		if gpu.Index != i || gpu.UUID == "" || gpu.Name != "NVIDIA H100 80GB HBM3" || gpu.MemoryMB < 80000 || len(gpu.Peers) != 7 {
			t.Errorf("GPU %d = %+v; want index %d, a UUID, the H100's name, 80 GB and 7 NVLink peers", i, gpu, i)
		}
	}
	if g.Driver != "nvml 550.54.15" {
		t.Errorf("driver = %q; want the mock's 550.54.15", g.Driver)
	}
}

func TestNVMLEnergyOfAJob(t *testing.T) {
	m := newMockDGX(t)
	n, err := NewNVML(m.srv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := n.GPUs()
	if err != nil {
		t.Fatal(err)
	}
	p := newTestProcess(t, ProcessConfig{}, g)
	dir := t.TempDir()
	a := assignment(p, 31, dir, "#!/bin/sh\necho go\nwhile [ ! -e go-on ]; do sleep 0.01; done\n")
	a.GPUs = []int{1, 3}
	m.util[1].Store(80)
	m.util[3].Store(40)
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportStart, 5*time.Second)
	waitFile(t, dir+"/slurm-31.out", "go")
	// The job uses 1.5 kJ on GPU 1 and 250 J on GPU 3; GPU 0 is not its.
	m.energy[1].Add(1_500_000)
	m.energy[3].Add(250_000)
	m.energy[0].Add(9_000_000)
	time.Sleep(50 * time.Millisecond) // a few samples
	if err := os.WriteFile(dir+"/go-on", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if !end.Measured || len(end.PerGPUJ) != 2 || end.PerGPUJ[0] != 1500 || end.PerGPUJ[1] != 250 || end.EnergyJ != 1750 {
		t.Errorf("end energy = %v J, per GPU %v, measured %v; want 1750 J = [1500 250], measured", end.EnergyJ, end.PerGPUJ, end.Measured)
	}
	if end.GPUUtil != 60 {
		t.Errorf("average utilisation = %v%%; want 60%%", end.GPUUtil)
	}
}

func TestNVMLXIDEvents(t *testing.T) {
	m := newMockDGX(t)
	n, err := NewNVML(m.srv)
	if err != nil {
		t.Fatal(err)
	}
	n.EventWaitMS = 10
	got := make(chan HealthEvent, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.WatchHealth(ctx, func(e HealthEvent) { got <- e }) }()
	m.events <- nvml.EventData{Device: m.srv.Devices[5], EventType: nvml.EventTypeXidCriticalError, EventData: 79}
	m.events <- nvml.EventData{Device: m.srv.Devices[2], EventType: nvml.EventTypeDoubleBitEccError}
	for _, want := range []HealthEvent{{GPU: 5, XID: 79}, {GPU: 2, DoubleBitECC: true}} {
		select {
		case e := <-got:
			if e != want {
				t.Errorf("event = %+v; want %+v", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %+v", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchHealth = %v after cancel; want nil", err)
	}
}
