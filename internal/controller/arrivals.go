package controller

import (
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// A forecast that assumes nothing more is submitted is early whenever the
// policy lets later jobs overtake (under Gefion's policy, every job with a
// shorter limit): measured with every run time known, such forecasts were
// early for 99% of the jobs that waited on a Philly slice. So the forecast
// twin also runs the jobs it expects to be submitted: the submissions of
// the last arrivalWindowS, replayed after now as they came (the same
// shapes, users, projects, limits and spacing, shifted by whole windows),
// each running for its predicted run time. Replaying the machine's own
// recent history keeps its rate, mix and daily rhythm without a fitted
// model.

const (
	// arrivalHistoryLen is how many recent submissions are kept, and
	// arrivalWindowS the span of them that is replayed: a day, so that a
	// day's rhythm repeats. A shorter history is replayed over its own
	// span once it holds minArrivals.
	arrivalHistoryLen = 4096
	arrivalWindowS    = 86400
	minArrivals       = 8
	// arrivalHorizonS is how far after now expected arrivals reach, and
	// maxArrivals the most a forecast takes: each costs the twin as much
	// as a pending job, and arrivals far ahead matter only to jobs that
	// wait that long.
	arrivalHorizonS = 86400
	maxArrivals     = 2048
	// arrivalIDBase numbers the expected arrivals far above any real
	// job ID, so that they never answer for one.
	arrivalIDBase job.ID = 1 << 40
)

// arrivalHistory keeps the most recent submissions, as the core saw them.
type arrivalHistory struct {
	r [arrivalHistoryLen]sched.Pending
	n int // submissions ever added
}

// add records a submission; they come in submit order.
func (h *arrivalHistory) add(p sched.Pending) {
	h.r[h.n%arrivalHistoryLen] = p
	h.n++
}

// recent returns the submissions of the last arrivalWindowS before now
// (or all that are held, if they span less), oldest first.
func (h *arrivalHistory) recent(now int64) []sched.Pending {
	held := min(h.n, arrivalHistoryLen)
	out := make([]sched.Pending, 0, held)
	for k := h.n - held; k < h.n; k++ {
		if p := h.r[k%arrivalHistoryLen]; p.SubmitS > now-arrivalWindowS && p.SubmitS <= now {
			out = append(out, p)
		}
	}
	return out
}

// expectedArrivals replays recent submissions (oldest first) after now:
// each comes again one period later, and again, until the horizon, where
// the period is the window, or the span of the history while that is
// shorter. runS predicts a submission's run time. Fewer than minArrivals
// give none: too little to tell a rate from.
func expectedArrivals(recent []sched.Pending, now int64, runS func(p *sched.Pending) int64) []twin.Arrival {
	if len(recent) < minArrivals {
		return nil
	}
	period := int64(arrivalWindowS)
	if span := now - recent[0].SubmitS; span < period {
		period = max(span, 1)
	}
	var out []twin.Arrival
	for k := int64(1); ; k++ {
		for i := range recent {
			p := recent[i]
			at := p.SubmitS + k*period
			if at <= now {
				continue
			}
			if at > now+arrivalHorizonS || len(out) == maxArrivals {
				return out
			}
			run := runS(&p)
			p.ID = arrivalIDBase + job.ID(len(out))
			p.SubmitS, p.EligibleS = at, 0
			out = append(out, twin.Arrival{Job: p, RunS: run})
		}
	}
}
