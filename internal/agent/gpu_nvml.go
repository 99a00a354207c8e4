//go:build linux && cgo

package agent

import (
	"context"
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/gefion-hpc/gefion/internal/api"
)

// go-nvml binds libnvidia-ml through cgo (it dlopens the library at Init,
// so building needs no driver, only a C compiler). This file is therefore
// built only with cgo on Linux; elsewhere DiscoverGPUs reports ErrNoNVML
// and nodes declare their GPUs, so the controller, the CLI and the twin
// build without cgo.

func init() {
	openNVML = func() (*GPUs, error) {
		n, err := NewNVML(nvml.New())
		if err != nil {
			return nil, err
		}
		return n.GPUs()
	}
}

// NVML reads a node's GPUs through the NVIDIA management library (or a
// mock of it in tests).
type NVML struct {
	lib  nvml.Interface
	devs []nvml.Device
	// EventWaitMS is how long one wait for health events blocks; the watch
	// checks for cancellation between waits.
	EventWaitMS uint32

	mu     sync.Mutex
	closed bool
}

var (
	_ GPUMeter     = (*NVML)(nil)
	_ HealthSource = (*NVML)(nil)
)

// NewNVML initialises lib and opens every device.
func NewNVML(lib nvml.Interface) (*NVML, error) {
	if r := lib.Init(); r != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: initialising NVML: %v (is the NVIDIA driver installed?)", ErrNoNVML, lib.ErrorString(r))
	}
	count, r := lib.DeviceGetCount()
	if r != nvml.SUCCESS {
		lib.Shutdown()
		return nil, fmt.Errorf("counting GPUs through NVML: %v", lib.ErrorString(r))
	}
	n := &NVML{lib: lib, EventWaitMS: 1000}
	for i := 0; i < count; i++ {
		d, r := lib.DeviceGetHandleByIndex(i)
		if r != nvml.SUCCESS {
			lib.Shutdown()
			return nil, fmt.Errorf("opening GPU %d through NVML: %v", i, lib.ErrorString(r))
		}
		n.devs = append(n.devs, d)
	}
	return n, nil
}

// GPUs returns the inventory with this NVML as meter and fault source.
func (n *NVML) GPUs() (*GPUs, error) {
	inv, err := n.Inventory()
	if err != nil {
		n.Close()
		return nil, err
	}
	driver := "nvml"
	if v, r := n.lib.SystemGetDriverVersion(); r == nvml.SUCCESS {
		driver += " " + v
	}
	return &GPUs{Inventory: inv, Meter: n, Health: n, Driver: driver, Close: n.Close}, nil
}

// Inventory describes every GPU: index, UUID, name, memory and the GPUs it
// reaches over NVLink.
func (n *NVML) Inventory() ([]api.GPU, error) {
	out := make([]api.GPU, len(n.devs))
	for i, d := range n.devs {
		g := api.GPU{Index: i}
		if idx, r := d.GetIndex(); r == nvml.SUCCESS {
			g.Index = idx
		}
		var r nvml.Return
		if g.UUID, r = d.GetUUID(); r != nvml.SUCCESS {
			return nil, fmt.Errorf("reading GPU %d's UUID: %v", i, n.lib.ErrorString(r))
		}
		if g.Name, r = d.GetName(); r != nvml.SUCCESS {
			return nil, fmt.Errorf("reading GPU %d's name: %v", i, n.lib.ErrorString(r))
		}
		if m, r := d.GetMemoryInfo(); r == nvml.SUCCESS {
			g.MemoryMB = int64(m.Total >> 20)
		}
		for j, o := range n.devs {
			if j == i {
				continue
			}
			if st, r := d.GetP2PStatus(o, nvml.P2P_CAPS_INDEX_NVLINK); r == nvml.SUCCESS && st == nvml.P2P_STATUS_OK {
				g.Peers = append(g.Peers, j)
			}
		}
		out[i] = g
	}
	return out, nil
}

// Sample reads one GPU's energy counter, utilisation and memory in use.
func (n *NVML) Sample(gpu int) (GPUSample, error) {
	if gpu < 0 || gpu >= len(n.devs) {
		return GPUSample{}, fmt.Errorf("no GPU %d on this node (it has %d)", gpu, len(n.devs))
	}
	d := n.devs[gpu]
	var s GPUSample
	if e, r := d.GetTotalEnergyConsumption(); r == nvml.SUCCESS {
		s.EnergyMJ, s.HasEnergy = e, true
	}
	if u, r := d.GetUtilizationRates(); r == nvml.SUCCESS {
		s.UtilPct, s.HasUtil = float64(u.Gpu), true
	}
	if m, r := d.GetMemoryInfo(); r == nvml.SUCCESS {
		s.MemUsedMB = int64(m.Used >> 20)
	}
	return s, nil
}

// healthEvents are the NVML events that can take a GPU out of service.
const healthEvents = nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError

// WatchHealth waits for XID and uncorrectable ECC events on every GPU and
// hands them to event until ctx ends. GPUs that cannot deliver events
// (older models, some virtual GPUs) are skipped.
func (n *NVML) WatchHealth(ctx context.Context, event func(HealthEvent)) error {
	set, r := n.lib.EventSetCreate()
	if r != nvml.SUCCESS {
		return fmt.Errorf("creating an NVML event set: %v", n.lib.ErrorString(r))
	}
	defer set.Free()
	index := map[nvml.Device]int{}
	registered := 0
	for i, d := range n.devs {
		index[d] = i
		if r := d.RegisterEvents(healthEvents, set); r == nvml.SUCCESS {
			registered++
		}
	}
	if registered == 0 {
		return fmt.Errorf("no GPU delivers XID or ECC events")
	}
	for ctx.Err() == nil {
		e, r := set.Wait(n.EventWaitMS)
		switch r {
		case nvml.SUCCESS:
		case nvml.ERROR_TIMEOUT:
			continue
		default:
			return fmt.Errorf("waiting for NVML events: %v", n.lib.ErrorString(r))
		}
		gpu, ok := index[e.Device]
		if !ok && e.Device != nil {
			if idx, r := e.Device.GetIndex(); r == nvml.SUCCESS {
				gpu = idx
			}
		}
		ev := HealthEvent{GPU: gpu}
		if e.EventType&nvml.EventTypeDoubleBitEccError != 0 {
			ev.DoubleBitECC = true
		} else {
			ev.XID = e.EventData
		}
		event(ev)
	}
	return nil
}

// Close shuts NVML down once.
func (n *NVML) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		n.lib.Shutdown()
	}
}
