package agent

import (
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

// gpuPower turns a GPU's energy counter into a power draw: the energy
// used between two samples over the time between them.
type gpuPower struct {
	mu   sync.Mutex
	last map[int]energyMark
}

type energyMark struct {
	mj uint64
	at time.Time
}

// watts records a reading of GPU g and returns the draw since the last
// one, or false on the first reading (or a counter that went back, as
// after a driver reload).
func (p *gpuPower) watts(g int, mj uint64, at time.Time) (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[int]energyMark{}
	}
	prev, ok := p.last[g]
	p.last[g] = energyMark{mj, at}
	dt := at.Sub(prev.at).Seconds()
	if !ok || mj < prev.mj || dt <= 0 {
		return 0, false
	}
	return float64(mj-prev.mj) / 1000 / dt, true
}

var _ GPUSampler = (*Process)(nil)

// SampleGPUs reads every GPU of this node through its meter: utilisation
// where the meter gives it, power from the energy counter between two
// heartbeats.
func (p *Process) SampleGPUs([]api.NodeInventory) []api.GPUStat {
	if p.gpus == nil || p.gpus.Meter == nil {
		return nil
	}
	now := time.Now()
	var out []api.GPUStat
	for _, g := range p.gpus.Inventory {
		s, err := p.gpus.Meter.Sample(g.Index)
		if err != nil {
			continue
		}
		st := api.GPUStat{Node: p.cfg.Node, Index: g.Index, MemUsedMB: s.MemUsedMB}
		if s.HasUtil {
			u := s.UtilPct
			st.UtilPct = &u
		}
		if s.HasEnergy {
			if w, ok := p.power.watts(g.Index, s.EnergyMJ, now); ok {
				st.PowerW = &w
			}
		}
		out = append(out, st)
	}
	return out
}
