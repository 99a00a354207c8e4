package controller

import (
	"cmp"
	"context"
	"net/http"
	"slices"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// Priority returns every pending, unheld job's priority factors
// (GET /v1/priority), as the scheduling core computes them to order the
// queue, at the time of the last pass: the snapshot is built as a pass
// builds it, and the factors come from sched.PriorityFactors, the
// function the pass orders by. A job's priority here is the one the job
// list shows. Only the jobs user may see are listed (as squeue does).
func (c *Controller) Priority(ctx context.Context, user string) (*api.PriorityList, error) {
	v, err := c.doNow(ctx, func(cr *core) (any, error) {
		acc := c.accessOf(cr.projects, user)
		at := cr.planAt
		if at == 0 {
			at = c.clk.Now().Unix()
		}
		w := c.policy.Weights
		out := &api.PriorityList{Policy: c.policy.Name, AtS: at, Jobs: []api.JobPriority{},
			Weights: api.PriorityWeights{Age: w.Age, FairShare: w.FairShare, JobSize: w.JobSize, Partition: w.Partition,
				QOS: w.QOS, ShortJob: w.ShortJob, Slowdown: w.Slowdown}}
		if c.policy.FIFO {
			out.Weights = api.PriorityWeights{}
		}
		snap := c.snapshot(cr, at, nil)
		for _, jp := range sched.PriorityFactors(snap, c.policy) {
			r := cr.jobs[jp.ID]
			if r == nil || r.Spec.Hold || !acc.seeJob(r.User, r.Project) {
				continue
			}
			f := &jp.Factors
			out.Jobs = append(out.Jobs, api.JobPriority{
				JobID: jp.ID, ArrayJobID: r.ArrayJobID, ArrayTaskID: r.ArrayTaskID, User: r.User, Project: r.Project,
				Partition: r.Partition, QOS: r.QOS, Priority: jp.Priority,
				Factors: api.PriorityFactors{Age: f.Age, FairShare: f.FairShare, JobSize: f.JobSize, Partition: f.Partition,
					QOS: f.QOS, ShortJob: f.ShortJob, Slowdown: f.Slowdown, Nice: f.Nice,
					Norm: &api.PriorityFactors{Age: f.NormAge, FairShare: f.NormFairShare, JobSize: f.NormJobSize,
						Partition: f.NormPartition, QOS: f.NormQOS, ShortJob: f.NormShortJob, Slowdown: f.NormSlowdown}},
			})
		}
		slices.SortFunc(out.Jobs, func(a, b api.JobPriority) int { return cmp.Compare(a.JobID, b.JobID) })
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*api.PriorityList), nil
}

func (c *Controller) hPriority(r *http.Request, user string) (any, error) {
	return c.Priority(r.Context(), user)
}
