package sched

import (
	"math"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
)

// TestPriorityFactorsSumToOrderingPriority checks, for every built-in
// weighted policy and one that weighs every factor, that the factors
// PriorityFactors shows add up (weighted, less nice) to the priority a
// pass ordered the queue by, job for job, and that each weighted term is
// its weight times a factor in [0, 1].
func TestPriorityFactorsSumToOrderingPriority(t *testing.T) {
	all, err := PolicyByName("gefion")
	if err != nil {
		t.Fatal(err)
	}
	all.Name = "all-factors"
	all.Weights.JobSize, all.Weights.Partition, all.Weights.FairShare = 2000, 500, 3000
	var policies []Policy
	for _, name := range []string{"gefion", "backfill", "conservative"} {
		p, err := PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		policies = append(policies, p)
	}
	policies = append(policies, all)
	for _, pol := range policies {
		t.Run(pol.Name, func(t *testing.T) {
			s := synthSnapshot(64, 400, 1.0, 7)
			s.QOS = []QOS{{Name: "normal", Priority: 10}, {Name: "high", Priority: 100}}
			for i := range s.Pending {
				p := &s.Pending[i]
				p.SubmitS = s.Now - int64(i*977%(3*86400))
				p.Nice = []int{0, 0, 100, -50, 10000}[i%5]
				p.QOS = []string{"normal", "high", ""}[i%3]
			}
			fs := PriorityFactors(s, pol)
			if len(fs) != len(s.Pending) {
				t.Fatalf("PriorityFactors gave %d jobs; want %d", len(fs), len(s.Pending))
			}
			byID := map[job.ID]*JobPriority{}
			for i := range fs {
				byID[fs[i].ID] = &fs[i]
			}
			plan := Schedule(s, pol)
			if len(plan.Waiting) == 0 {
				t.Fatal("no job waits; the test needs a full machine")
			}
			w := pol.Weights
			for _, wt := range plan.Waiting {
				jp := byID[wt.ID]
				if jp == nil {
					t.Fatalf("job %d waits but PriorityFactors has no factors for it", wt.ID)
				}
				f := jp.Factors
				sum := f.Age + f.FairShare + f.JobSize + f.Partition + f.QOS + f.ShortJob + f.Slowdown - float64(f.Nice)
				if sum != wt.Priority || jp.Priority != wt.Priority {
					t.Errorf("job %d: factors sum to %v (PriorityFactors says %v); the pass ordered it by %v", wt.ID, sum, jp.Priority, wt.Priority)
				}
				for _, c := range []struct {
					name         string
					term, weight float64
					norm         float64
				}{
					{"age", f.Age, w.Age, f.NormAge}, {"fair share", f.FairShare, w.FairShare, f.NormFairShare},
					{"job size", f.JobSize, w.JobSize, f.NormJobSize}, {"partition", f.Partition, w.Partition, f.NormPartition},
					{"qos", f.QOS, w.QOS, f.NormQOS}, {"short job", f.ShortJob, w.ShortJob, f.NormShortJob},
					{"slowdown", f.Slowdown, w.Slowdown, f.NormSlowdown},
				} {
					if c.norm < 0 || c.norm > 1 {
						t.Errorf("job %d: %s factor %v; want it in [0, 1]", wt.ID, c.name, c.norm)
					}
					if math.Abs(c.term-c.weight*c.norm) > 1e-9*math.Max(1, c.weight) {
						t.Errorf("job %d: weighted %s %v; want weight %v x factor %v", wt.ID, c.name, c.term, c.weight, c.norm)
					}
				}
			}
			// The waiting jobs come in priority order, so the factor sums
			// order them too.
			for i := 1; i < len(plan.Waiting); i++ {
				a, b := byID[plan.Waiting[i-1].ID], byID[plan.Waiting[i].ID]
				if a.Priority < b.Priority && plan.Waiting[i-1].Reason != ReasonHeld {
					t.Errorf("job %d (priority %v) waits ahead of job %d (priority %v)", a.ID, a.Priority, b.ID, b.Priority)
					break
				}
			}
		})
	}
}

// TestPriorityFactorsFIFO checks that a FIFO policy, which has no factors,
// says so with nil.
func TestPriorityFactorsFIFO(t *testing.T) {
	p, err := PolicyByName("fifo")
	if err != nil {
		t.Fatal(err)
	}
	if got := PriorityFactors(synthSnapshot(8, 10, 0.5, 1), p); got != nil {
		t.Errorf("PriorityFactors(fifo) = %v; want nil", got)
	}
}
