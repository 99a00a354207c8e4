package controller

import (
	"context"
	"sort"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// WhatIf is the twin's forecast of the pending queue under the running
// policy and under another, for operators weighing a change.
type WhatIf struct {
	Policy, Other string
	// Now is when the queue was read (Unix s).
	Now  int64
	Jobs []WhatIfJob
	// Started counts the jobs each forecast starts within its horizon;
	// AvgWaitS is their mean wait from Now.
	Started, OtherStarted   int
	AvgWaitS, OtherAvgWaitS float64
}

// WhatIfJob is one pending job's forecast start under each policy (Unix
// s; 0 where the forecast does not start it within its horizon).
type WhatIfJob struct {
	ID                 job.ID
	User, Project      string
	GPUs               int
	StartS, OtherStart int64
}

// WhatIf replays the pending queue in the twin under the running policy
// and under the named one. Only operators may: the answer names every
// user's jobs.
func (c *Controller) WhatIf(ctx context.Context, user, policy string) (*WhatIf, error) {
	if !c.isOperator(user) {
		return nil, forbidden("only operators compare policies on the live queue (you are %s)", user)
	}
	other, err := sched.PolicyByName(policy)
	if err != nil {
		return nil, invalid("%v", err)
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		// Two copies: each forecast owns its snapshot.
		return [2]*sched.Snapshot{c.snapshot(tx.c, tx.nowS, nil), c.snapshot(tx.c, tx.nowS, nil)}, nil
	})
	if err != nil {
		return nil, err
	}
	snaps := v.([2]*sched.Snapshot)
	opt := twin.ForecastOptions{SchedIntervalS: 1, HalfLifeS: int64(c.cfg.UsageHalfLife.Seconds())}
	cur, err := twin.Forecast(snaps[0], c.policy, opt)
	if err != nil {
		return nil, err
	}
	alt, err := twin.Forecast(snaps[1], other, opt)
	if err != nil {
		return nil, err
	}
	w := &WhatIf{Policy: c.policy.Name, Other: other.Name, Now: snaps[0].Now}
	var wait, otherWait float64
	for _, p := range snaps[0].Pending {
		j := WhatIfJob{ID: p.ID, User: p.User, Project: p.Project, GPUs: p.Req.GPUs(),
			StartS: startOrZero(cur[p.ID]), OtherStart: startOrZero(alt[p.ID])}
		if j.StartS != 0 {
			w.Started++
			wait += float64(max(j.StartS-w.Now, 0))
		}
		if j.OtherStart != 0 {
			w.OtherStarted++
			otherWait += float64(max(j.OtherStart-w.Now, 0))
		}
		w.Jobs = append(w.Jobs, j)
	}
	if w.Started > 0 {
		w.AvgWaitS = wait / float64(w.Started)
	}
	if w.OtherStarted > 0 {
		w.OtherAvgWaitS = otherWait / float64(w.OtherStarted)
	}
	sort.Slice(w.Jobs, func(i, k int) bool { return w.Jobs[i].ID < w.Jobs[k].ID })
	return w, nil
}
