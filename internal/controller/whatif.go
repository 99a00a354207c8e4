package controller

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"

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

// maxWhatIfJobs bounds the live queue (running and pending jobs) that
// WhatIfReport replays: a replay of 10,000 pending jobs on 191 busy nodes
// takes about 3 s on one core (BenchmarkReplayGefionScale), and the report
// replays once per policy.
var maxWhatIfJobs = 5000 // a variable so that tests can lower it

// WhatIfReport writes the twin's HTML report (as `gefion sim --report`
// writes it) of the live queue replayed from now to the end of every job
// under the running policy and under each named one. Only operators may:
// the report covers every user's jobs.
func (c *Controller) WhatIfReport(ctx context.Context, user string, policies []string, w io.Writer) error {
	if !c.isOperator(user) {
		return forbidden("only operators compare policies on the live queue (you are %s)", user)
	}
	if len(policies) == 0 {
		return invalid("name a policy to compare with %s (policy=...); choose one of %s", c.policy.Name, strings.Join(sched.PolicyNames(), ", "))
	}
	ps := []sched.Policy{c.policy}
	for _, name := range policies {
		p, err := sched.PolicyByName(name)
		if err != nil {
			return invalid("%v", err)
		}
		if !slices.ContainsFunc(ps, func(q sched.Policy) bool { return q.Name == p.Name }) {
			ps = append(ps, p)
		}
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		return c.snapshot(tx.c, tx.nowS, nil), nil
	})
	if err != nil {
		return err
	}
	snap := v.(*sched.Snapshot)
	if n := len(snap.Running) + len(snap.Pending); n > maxWhatIfJobs {
		return &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf(
			"the live queue holds %d jobs (%d running, %d pending); the report replays at most %d, to answer within seconds: compare on the What if page's table, or replay a trace with gefion sim --report",
			n, len(snap.Running), len(snap.Pending), maxWhatIfJobs)}
	}
	opt := twin.ForecastOptions{SchedIntervalS: 1, HalfLifeS: int64(c.cfg.UsageHalfLife.Seconds())}
	runs := make([]twin.ReportRun, 0, len(ps))
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Replay leaves the snapshot as it was: each policy starts from
		// the same state.
		res, err := twin.Replay(snap, p, opt)
		if err != nil {
			return err
		}
		runs = append(runs, twin.ReportRun{Result: res, Metrics: twin.Summarize(res)})
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	info := twin.ReportInfo{
		Title:   "Gefion digital twin: the live queue under " + strings.Join(names, ", "),
		Trace:   "the live queue at " + time.Unix(snap.Now, 0).UTC().Format(time.RFC3339),
		Cluster: snap.Cluster.Name,
		Notes: []string{
			fmt.Sprintf("%d pending jobs replayed from now under each policy (%s running), behind the %d running ones, which end at their time limits; nothing more is submitted.",
				len(snap.Pending), c.policy.Name, len(snap.Running)),
			"Waits and completion times count from each job's submission; pending jobs run for their runtime estimates or time limits; utilisation, energy and the series include the running jobs; virtual time 0 is now.",
		},
	}
	return twin.WriteReport(w, info, runs)
}
