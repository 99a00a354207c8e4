package controller

import (
	"math/rand/v2"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// A forecast that assumes nothing more is submitted is early whenever the
// policy lets later jobs overtake (under Gefion's policy, every job with a
// shorter limit, and any that has waited long against its length): on the
// forecast bench, known later submissions take the twin's median error
// from 26-38% of the wait to 1-3% (with true run times). So the forecast
// twins also run the jobs they expect to be submitted: a Poisson stream at
// arrivalRateScale of the rate of the newest submissions, each a draw of
// one of them (its shape, user, project and limit), running for its
// predicted run time. Each twin draws its own stream, so the range spans
// the arrivals too.
//
// The stream runs at half the recent rate. Forecasts are asked for at
// submissions, which come most often in bursts, so the rate seen at a
// submission overstates the rate to come (bursts end). Replaying a Philly
// slice in the twin alone, with true run times, the median error was 35%
// of the wait with no arrivals, 16.5-18.5% at half the rate of the last
// 100 submissions or of the last hour's, 16.4-20.8% at three quarters,
// 39% replaying the last day's submissions as they came; live, see
// forecast.go.

const (
	// arrivalHistoryLen is how many recent submissions are kept, and
	// arrivalSample how many of the newest the stream's rate and mix are
	// drawn from, none older than arrivalMaxAgeS. Fewer than minArrivals
	// give no stream: too little to tell a rate from.
	arrivalHistoryLen = 128
	arrivalSample     = 100
	arrivalMaxAgeS    = 86400
	minArrivals       = 8
	// arrivalRateScale is the share of the recent rate the stream keeps;
	// the rate is taken over at least arrivalMinSpanS, so that a burst
	// of a hundred submissions in a minute (an array, a script) is not
	// expected to go on at that pace.
	arrivalRateScale = 0.5
	arrivalMinSpanS  = 3600
	// arrivalHorizonS is how far after now expected arrivals reach, and
	// maxArrivals how many a stream holds at most.
	arrivalHorizonS = 3 * 86400
	maxArrivals     = 2000
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

// recent returns the newest arrivalSample submissions of the last
// arrivalMaxAgeS before now, oldest first.
func (h *arrivalHistory) recent(now int64) []sched.Pending {
	held := min(h.n, arrivalSample)
	out := make([]sched.Pending, 0, held)
	for k := h.n - held; k < h.n; k++ {
		if p := h.r[k%arrivalHistoryLen]; p.SubmitS > now-arrivalMaxAgeS && p.SubmitS <= now {
			out = append(out, p)
		}
	}
	return out
}

// expectedArrivals draws a stream of submissions after now from recent
// ones (oldest first): a Poisson process at arrivalRateScale of their rate
// (their count over the span from the oldest to now, at least
// arrivalMinSpanS), each a uniform draw of one of them, up to
// arrivalHorizonS or maxArrivals. stream picks the draw; runS predicts a
// submission's run time.
func expectedArrivals(recent []sched.Pending, now int64, stream uint64, runS func(p *sched.Pending) int64) []twin.Arrival {
	if len(recent) < minArrivals {
		return nil
	}
	span := float64(max(now-recent[0].SubmitS, arrivalMinSpanS))
	meanGap := span / (float64(len(recent)) * arrivalRateScale)
	rng := rand.New(rand.NewPCG(stream, uint64(now)))
	var out []twin.Arrival
	at := float64(now)
	for len(out) < maxArrivals {
		at += rng.ExpFloat64() * meanGap
		if at > float64(now+arrivalHorizonS) {
			break
		}
		p := recent[rng.IntN(len(recent))]
		run := runS(&p)
		p.ID = arrivalIDBase + job.ID(len(out))
		// Seconds are whole: arrivals in one second keep their order.
		p.SubmitS, p.EligibleS = max(int64(at), now+1), 0
		out = append(out, twin.Arrival{Job: p, RunS: run})
	}
	return out
}
