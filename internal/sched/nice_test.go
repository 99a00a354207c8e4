package sched

import (
	"math"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
)

// TestPriorityNiceExtremes checks that any nice value, the extremes of int
// included, gives a finite priority within Slurm's nice range of the
// others, and that huge weights cannot produce NaN or infinities.
func TestPriorityNiceExtremes(t *testing.T) {
	for _, name := range []string{"gefion", "backfill"} {
		p, err := PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []float64{1, math.MaxFloat64} {
			pol := p
			pol.Weights.Age, pol.Weights.JobSize, pol.Weights.ShortJob = w, w, w
			s := &Snapshot{Now: 1000, Cluster: smallCluster(t, 1, 2), Pending: []Pending{
				{ID: 1, Nice: math.MinInt, SubmitS: 10, Req: job.Request{Nodes: 1, GPUsPerNode: 1, TimeLimitS: 60}},
				{ID: 2, Nice: 0, SubmitS: 10, Req: job.Request{Nodes: 1, GPUsPerNode: 1, TimeLimitS: 60}},
				{ID: 3, Nice: math.MaxInt, SubmitS: 10, Req: job.Request{Nodes: 1, GPUsPerNode: 1, TimeLimitS: 60}},
				{ID: 4, Nice: -job.MaxNice, SubmitS: 10, Req: job.Request{Nodes: 1, GPUsPerNode: 1, TimeLimitS: 60}},
			}}
			items := priorities(s, &pol, nil, nil)
			prio := map[job.ID]float64{}
			for _, it := range items {
				if math.IsNaN(it.prio) || math.IsInf(it.prio, 0) {
					t.Errorf("%s, weight %g: job %d priority %v; want a finite number", name, w, it.id, it.prio)
				}
				prio[it.id] = it.prio
			}
			if w == 1 {
				if d := prio[1] - prio[2]; d != job.MaxNice {
					t.Errorf("%s: nice MinInt is %g above nice 0; want it clamped to %d", name, d, job.MaxNice)
				}
				if d := prio[2] - prio[3]; d != job.MaxNice {
					t.Errorf("%s: nice MaxInt is %g below nice 0; want it clamped to %d", name, d, job.MaxNice)
				}
				if prio[1] != prio[4] {
					t.Errorf("%s: nice MinInt priority %g; want the same as -MaxNice (%g)", name, prio[1], prio[4])
				}
			}
		}
	}
}
