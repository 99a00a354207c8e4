package agent

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/clock"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// VirtualNodes returns the inventory of n virtual nodes of a model, named
// prefix001... and grouped in scalable units of 32 as on a SuperPOD (31 in
// the first).
func VirtualNodes(prefix string, n int, m *cluster.NodeModel, first int) []api.NodeInventory {
	width := max(3, len(strconv.Itoa(first+n)))
	out := make([]api.NodeInventory, 0, n)
	for i := 0; i < n; i++ {
		k := first + i // 1-based overall index
		su := 1
		if k > 31 {
			su = 2 + (k-32)/32
		}
		inv := api.NodeInventory{
			Name: fmt.Sprintf("%s%0*d", prefix, width, k), SU: fmt.Sprintf("su%d", su),
			CPUs: m.CPUs, MemoryMB: m.MemoryBytes >> 20, Model: m.Name, Virtual: true,
		}
		for g := 0; g < m.GPUs; g++ {
			inv.GPUs = append(inv.GPUs, api.GPU{Index: g, UUID: fmt.Sprintf("GPU-virtual-%s-%d", inv.Name, g), Name: m.GPU.Name, MemoryMB: m.GPU.MemoryBytes >> 20})
		}
		out = append(out, inv)
	}
	return out
}

// Virtual is an executor whose jobs run for the duration they declare in
// their comment ("duration=300", seconds, or a Slurm time such as 5:00),
// else for their time limit, and report energy from the GPU model: TDP for
// every allocated GPU while running.
type Virtual struct {
	Clock clock.Clock
	GPU   cluster.GPUModel

	mu   sync.Mutex
	jobs map[share]*vjob
}

type share struct {
	id   job.ID
	node string
}

type vjob struct {
	a     api.Assignment
	start time.Time
	stop  chan struct{}
	once  sync.Once
}

var _ Executor = (*Virtual)(nil)

// Duration returns how long a virtual job runs: its comment's duration=,
// else its time limit.
func Duration(a api.Assignment) time.Duration {
	for _, f := range strings.FieldsFunc(a.Spec.Comment, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "duration" {
			continue
		}
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return time.Duration(s * float64(time.Second))
		}
		if s, err := job.ParseTime(v); err == nil {
			return time.Duration(s) * time.Second
		}
	}
	return time.Duration(a.TimeLimit) * time.Second
}

func (v *Virtual) clk() clock.Clock {
	if v.Clock == nil {
		return clock.Real{}
	}
	return v.Clock
}

// Start runs the share: the batch host ends after the duration (or at the
// time limit, as TIMEOUT); other nodes hold until released.
func (v *Virtual) Start(a api.Assignment, report func(api.Report)) {
	v.mu.Lock()
	if v.jobs == nil {
		v.jobs = map[share]*vjob{}
	}
	k := share{a.JobID, a.Node}
	if old, dup := v.jobs[k]; dup {
		v.mu.Unlock()
		if old.a.Restarts != a.Restarts {
			// An earlier run of a requeued job has not ended here yet.
			report(api.Report{Kind: api.ReportEnd, JobID: a.JobID, Node: a.Node, Restart: a.Restarts, State: job.NodeFail,
				ExitCode: 1, Message: "an earlier run of this job is still ending on " + a.Node})
		}
		return
	}
	j := &vjob{a: a, start: v.clk().Now(), stop: make(chan struct{})}
	v.jobs[k] = j
	v.mu.Unlock()
	report(api.Report{Kind: api.ReportStart, JobID: a.JobID, Node: a.Node})
	if !a.BatchHost {
		return
	}
	d := Duration(a)
	state := job.State("")
	if a.TimeLimit > 0 && d > time.Duration(a.TimeLimit)*time.Second {
		d, state = time.Duration(a.TimeLimit)*time.Second, job.Timeout
	}
	if d <= 0 {
		v.end(k, j, report, state, 0, "")
		return
	}
	go func() {
		select {
		case <-v.clk().After(d):
			v.end(k, j, report, state, 0, "")
		case <-j.stop:
		}
	}()
}

// end reports a share's end once, with its modelled energy.
func (v *Virtual) end(k share, j *vjob, report func(api.Report), state job.State, exit int, sig string) {
	j.once.Do(func() {
		v.mu.Lock()
		delete(v.jobs, k)
		v.mu.Unlock()
		close(j.stop)
		elapsed := v.clk().Now().Sub(j.start).Seconds()
		energy := float64(len(j.a.GPUs)) * v.GPU.TDPWatts * elapsed
		report(api.Report{Kind: api.ReportEnd, JobID: k.id, Node: k.node, Restart: j.a.Restarts, State: state, ExitCode: exit, Signal: sig, EnergyJ: energy})
	})
}

// Signal ends the share: a virtual job dies of any signal at once.
func (v *Virtual) Signal(s api.Signal, report func(api.Report)) {
	k := share{s.JobID, s.Node}
	v.mu.Lock()
	j := v.jobs[k]
	v.mu.Unlock()
	if j == nil {
		return
	}
	sig := s.Signal
	if s.Release {
		sig = ""
	}
	v.end(k, j, report, "", 0, sig)
}

// Running lists the shares that have not ended.
func (v *Virtual) Running() []api.RunningOnNode {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]api.RunningOnNode, 0, len(v.jobs))
	for k := range v.jobs {
		out = append(out, api.RunningOnNode{JobID: k.id, Node: k.node})
	}
	return out
}

var _ GPUSampler = (*Virtual)(nil)

// SampleGPUs reports the model's figures for every GPU of nodes: an
// allocated GPU fully used at its TDP, a free one idle at its idle draw.
func (v *Virtual) SampleGPUs(nodes []api.NodeInventory) []api.GPUStat {
	v.mu.Lock()
	busy := map[string]map[int]bool{}
	for sh, j := range v.jobs {
		if busy[sh.node] == nil {
			busy[sh.node] = map[int]bool{}
		}
		for _, g := range j.a.GPUs {
			busy[sh.node][g] = true
		}
	}
	v.mu.Unlock()
	var out []api.GPUStat
	for _, n := range nodes {
		for _, g := range n.GPUs {
			util, power := 0.0, v.GPU.IdleWatts
			if busy[n.Name][g.Index] {
				util, power = 100, v.GPU.TDPWatts
			}
			out = append(out, api.GPUStat{Node: n.Name, Index: g.Index, UtilPct: &util, PowerW: &power})
		}
	}
	return out
}
