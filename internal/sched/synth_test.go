package sched

import (
	"fmt"
	"math/rand/v2"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// synthSizes is a realistic mix of GPU counts: mostly 1-8 GPUs, some
// multi-node jobs of 16-256 GPUs (compare the Philly trace: 93% one GPU,
// 0.4% over 8).
var synthSizes = []struct {
	gpus   int
	weight int
}{
	{1, 50}, {2, 12}, {4, 12}, {8, 14}, {16, 4}, {32, 3}, {64, 2}, {128, 2}, {256, 1},
}

var synthLimits = []int64{1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600, 24 * 3600, 48 * 3600}

func synthRequest(rng *rand.Rand, c *cluster.Cluster) job.Request {
	total := 0
	for _, s := range synthSizes {
		total += s.weight
	}
	x := rng.IntN(total)
	g := 1
	for _, s := range synthSizes {
		if x < s.weight {
			g = s.gpus
			break
		}
		x -= s.weight
	}
	r := job.Request{TimeLimitS: synthLimits[rng.IntN(len(synthLimits))]}
	if g <= 8 {
		r.Nodes, r.GPUsPerNode, r.CPUsPerNode, r.MemPerNodeMB = 1, g, g*14, int64(g)*200*1024
	} else {
		r.Nodes, r.GPUsPerNode, r.WholeNodes = g/8, 8, true
		r.CPUsPerNode, r.MemPerNodeMB = c.Nodes[0].Model.CPUs, c.Nodes[0].Model.MemoryBytes>>20
	}
	return r
}

// synthSnapshot builds a cluster of n DGX nodes with about busy of its GPUs
// running a realistic mix (placed by the core itself) and pending jobs
// waiting, deterministic for seed.
func synthSnapshot(nodes, pending int, busy float64, seed uint64) *Snapshot {
	c, err := cluster.SuperPOD(fmt.Sprintf("synth-%d", nodes), nodes, &cluster.DGXH100)
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	const now = 1_000_000
	projects := []string{"medicine", "quantum", "social", "climate", "startup"}
	s := &Snapshot{Now: now, Cluster: c}
	for _, p := range projects {
		s.Projects = append(s.Projects, Project{Name: p, Shares: 1, UsageGPUS: rng.Float64() * 1e7})
	}
	// Fill to the busy fraction by scheduling jobs onto the empty machine.
	target := int(busy * float64(c.TotalGPUs()))
	used := 0
	id := job.ID(1)
	for used < target {
		var batch []Pending
		for k := 0; k < 64 && used < target; k++ {
			r := synthRequest(rng, c)
			if used+r.GPUs() > target+8 {
				continue
			}
			batch = append(batch, Pending{ID: id, Req: r, User: fmt.Sprintf("u%d", rng.IntN(200)), Project: projects[rng.IntN(len(projects))], SubmitS: now - 3600})
			id++
			used += r.GPUs()
		}
		fill := &Snapshot{Now: now, Cluster: c, Running: s.Running, Pending: batch}
		plan := Schedule(fill, Policy{Name: "fill", FIFO: true, Backfill: EASY, ReservationDepth: 0})
		byID := map[job.ID]*Pending{}
		for i := range batch {
			byID[batch[i].ID] = &batch[i]
		}
		if len(plan.Starts) == 0 {
			break
		}
		for _, st := range plan.Starts {
			p := byID[st.ID]
			started := now - rng.Int64N(p.Req.TimeLimitS)
			s.Running = append(s.Running, Running{ID: st.ID, User: p.User, Project: p.Project, Allocs: st.Allocs, StartS: started, EndS: started + p.Req.TimeLimitS})
		}
	}
	for k := 0; k < pending; k++ {
		r := synthRequest(rng, c)
		s.Pending = append(s.Pending, Pending{
			ID: id, Req: r, User: fmt.Sprintf("u%d", rng.IntN(200)), Project: projects[rng.IntN(len(projects))],
			SubmitS: now - rng.Int64N(86400),
		})
		id++
	}
	return s
}
