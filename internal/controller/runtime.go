package controller

import (
	"context"
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Forecasts run the queue forward with predicted run times, not with the
// limits users write: users ask for limits several times longer than their
// jobs run, so a forecast that assumes every job runs to its limit (as
// Slurm's squeue --start does) is late by that factor. The prediction
// follows the literature on backfill estimates (Tsafrir, Etsion and
// Feitelson, "Backfilling using system-generated predictions rather than
// user runtime estimates", IEEE TPDS 2007): a user's next job is like their
// recent ones. Here "like" is the ratio of the time used to the limit asked
// of their last jobs, which carries over between jobs of different limits.
// A user with too little history borrows their project's, then everyone's;
// with none, the limit stands.
//
// The scheduler itself still orders and reserves by the limits users
// write: a reservation made from a prediction that turns out short would
// be broken by the job it trusted, and limits are what users are held to.

// ratioHistory is how many recent jobs a user's (or project's) prediction
// rests on; minHistory how many it needs before it is used.
const (
	ratioHistory = 16
	minHistory   = 3
)

// ratioRing keeps the most recent used/limit ratios.
type ratioRing struct {
	r [ratioHistory]float64
	n int // ratios ever added
}

func (g *ratioRing) add(x float64) {
	g.r[g.n%ratioHistory] = x
	g.n++
}

// values returns the ratios held, oldest first order not kept.
func (g *ratioRing) values() []float64 {
	return slices.Clone(g.r[:min(g.n, ratioHistory)])
}

// runtimeModel learns run times from finished jobs.
type runtimeModel struct {
	byUser    map[string]*ratioRing
	byProject map[string]*ratioRing
	all       ratioRing
}

// observe records a finished job that ran: usedS of its limit limitS.
func (m *runtimeModel) observe(user, project string, limitS, usedS int64) {
	if limitS <= 0 || usedS < 0 {
		return
	}
	x := min(float64(usedS)/float64(limitS), 1)
	if m.byUser == nil {
		m.byUser, m.byProject = map[string]*ratioRing{}, map[string]*ratioRing{}
	}
	for _, k := range []struct {
		m   map[string]*ratioRing
		key string
	}{{m.byUser, user}, {m.byProject, project}} {
		g := k.m[k.key]
		if g == nil {
			g = &ratioRing{}
			k.m[k.key] = g
		}
		g.add(x)
	}
	m.all.add(x)
}

// observeJob records a job that reached a final state, if it ran.
func (m *runtimeModel) observeJob(r *store.JobRecord) {
	if r.StartS > 0 && r.EndS >= r.StartS {
		m.observe(r.User, r.Project, r.Req.TimeLimitS, r.EndS-r.StartS)
	}
}

// ratios returns the sorted used/limit ratios that describe a user's next
// job: the user's own, else the project's, else everyone's; nil when
// none has enough history.
func (m *runtimeModel) ratios(user, project string) []float64 {
	for _, g := range []*ratioRing{m.byUser[user], m.byProject[project], &m.all} {
		if g != nil && g.n >= minHistory {
			v := g.values()
			slices.Sort(v)
			return v
		}
	}
	return nil
}

// runFor predicts the run time of a job with limit limitS from sorted
// ratios, at quantile q (0.5 is the median), given that it has already
// run elapsedS: ratios it has outlived no longer apply, and a job past
// every one of them is expected to run to its limit.
func runFor(ratios []float64, limitS, elapsedS int64, q float64) int64 {
	if len(ratios) == 0 || limitS <= 0 {
		return limitS
	}
	past := float64(elapsedS) / float64(limitS)
	i := 0
	for i < len(ratios) && ratios[i] <= past {
		i++
	}
	left := ratios[i:]
	if len(left) == 0 {
		return limitS
	}
	x := left[min(int(q*float64(len(left))), len(left)-1)]
	return max(int64(x*float64(limitS)), elapsedS+1, 1)
}

// learnedJobs is how many of the newest finished jobs a starting controller
// learns run times from.
const learnedJobs = 5000

// learnRuntimes reads the newest finished jobs from the store into the
// runtime model, oldest first, so that forecasts after a restart rest on
// the same history. It is best effort: without it, forecasts fall back
// to the limits until jobs finish.
func (c *Controller) learnRuntimes(st store.Store) {
	recs, err := st.Jobs(context.Background(), store.JobQuery{States: []job.State{job.Completed, job.Failed, job.Cancelled, job.Timeout, job.NodeFail, job.Preempted, job.OutOfMem}, Limit: learnedJobs})
	if err != nil {
		c.log.Warn("cannot read finished jobs for run-time predictions", "err", err)
		return
	}
	for i := len(recs) - 1; i >= 0; i-- {
		c.core.runtimes.observeJob(&recs[i])
	}
}
