package controller

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// A forecast runs the digital twin forward from the live state with every
// job's predicted run time (runtime.go): once with each job's median
// prediction, which gives the forecast start, and, while the queue is
// small enough for it to be quick, forecastSamples more times with run
// times drawn from each job's history, whose spread gives the range (the
// second lowest and second highest of five: about the 20th and 80th
// percentiles).

// forecaster caches the twin's start forecasts for pending jobs: a forecast
// replays the whole queue, so one serves every "why" for a few seconds.
type forecaster struct {
	mu     sync.Mutex
	at     time.Time
	starts map[job.ID]forecastStart
	// running serialises forecasts: concurrent callers wait for one.
	running sync.Mutex
}

// forecastStart is one job's forecast: the start with median run times,
// and the range from sampled ones (zero when not computed). Times are
// Unix seconds; 0 is "not within the horizon".
type forecastStart struct {
	point, low, high int64
}

const (
	// forecastTTL is how long a forecast is reused.
	forecastTTL = 10 * time.Second
	// forecastSamples is how many sampled runs give the range, and
	// forecastRangeMaxPending the queue length above which the range is
	// not computed (each run replays the whole queue).
	forecastSamples         = 5
	forecastRangeMaxPending = 2000
)

// forecastInput is what a forecast reads of the live state.
type forecastInput struct {
	snap *sched.Snapshot
	// ratios are each job's predicted used/limit ratios (sorted).
	ratios map[job.ID][]float64
}

// forecast returns the twin's predicted start of a pending job.
func (c *Controller) forecast(ctx context.Context, id job.ID) forecastStart {
	f := &c.fc
	get := func() (forecastStart, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.starts == nil || time.Since(f.at) > forecastTTL {
			return forecastStart{}, false
		}
		t, ok := f.starts[id]
		return t, ok
	}
	if t, ok := get(); ok {
		return t
	}
	f.running.Lock()
	defer f.running.Unlock()
	if t, ok := get(); ok {
		return t
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		in := &forecastInput{snap: c.snapshot(tx.c, tx.nowS, nil), ratios: map[job.ID][]float64{}}
		byUser := map[[2]string][]float64{}
		look := func(id job.ID, user, project string) {
			k := [2]string{user, project}
			r, ok := byUser[k]
			if !ok {
				r = tx.c.runtimes.ratios(user, project)
				byUser[k] = r
			}
			if r != nil {
				in.ratios[id] = r
			}
		}
		for i := range in.snap.Running {
			look(in.snap.Running[i].ID, in.snap.Running[i].User, in.snap.Running[i].Project)
		}
		for i := range in.snap.Pending {
			look(in.snap.Pending[i].ID, in.snap.Pending[i].User, in.snap.Pending[i].Project)
		}
		return in, nil
	})
	if err != nil {
		return forecastStart{}
	}
	starts, err := c.runForecasts(v.(*forecastInput))
	if err != nil {
		c.log.Warn("forecast failed", "err", err)
		return forecastStart{}
	}
	f.mu.Lock()
	f.at, f.starts = time.Now(), starts
	f.mu.Unlock()
	return starts[id]
}

// runForecasts runs the point forecast and, for a small enough queue, the
// sampled ones, off the loop (the snapshot is a copy, and the twin does
// not change it).
func (c *Controller) runForecasts(in *forecastInput) (map[job.ID]forecastStart, error) {
	s := in.snap
	type span struct{ start, limit int64 }
	running := make(map[job.ID]span, len(s.Running))
	for _, r := range s.Running {
		running[r.ID] = span{r.StartS, r.EndS - r.StartS}
	}
	limits := make(map[job.ID]int64, len(s.Pending))
	for i := range s.Pending {
		limits[s.Pending[i].ID] = s.Pending[i].Req.TimeLimitS
	}
	// quantile gives a job's run-time quantile in one run: 0.5 for the
	// point forecast, drawn for the sampled ones.
	run := func(quantile func(job.ID) float64) (map[job.ID]sched.Time, error) {
		return twin.Forecast(s, c.policy, twin.ForecastOptions{
			SchedIntervalS: 1, HalfLifeS: int64(c.cfg.UsageHalfLife.Seconds()),
			RunningEndS: func(id job.ID) (sched.Time, bool) {
				r, ok := in.ratios[id]
				sp := running[id]
				if !ok || sp.limit <= 0 {
					return 0, false
				}
				return sp.start + runFor(r, sp.limit, s.Now-sp.start, quantile(id)), true
			},
			RunS: func(id job.ID) (int64, bool) {
				r, ok := in.ratios[id]
				if !ok || limits[id] <= 0 {
					return 0, false
				}
				return runFor(r, limits[id], 0, quantile(id)), true
			},
		})
	}
	samples := 0
	if len(s.Pending) <= forecastRangeMaxPending {
		samples = forecastSamples
	}
	results := make([]map[job.ID]sched.Time, 1+samples)
	errs := make([]error, 1+samples)
	var wg sync.WaitGroup
	for k := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if k == 0 {
				results[k], errs[k] = run(func(job.ID) float64 { return 0.5 })
				return
			}
			// Each job draws its own quantile, the same whichever
			// order the twin asks in.
			seed := uint64(s.Now)*31 + uint64(k)
			results[k], errs[k] = run(func(id job.ID) float64 {
				return rand.New(rand.NewPCG(seed, uint64(id))).Float64()
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := make(map[job.ID]forecastStart, len(results[0]))
	draws := make([]int64, samples)
	for id, t := range results[0] {
		fs := forecastStart{point: startOrZero(t)}
		if samples > 0 {
			for k := range draws {
				draws[k] = startOrZero(results[k+1][id])
			}
			slices.Sort(draws)
			if draws[0] != 0 { // every sampled run started it
				fs.low, fs.high = draws[1], draws[samples-2]
			}
		}
		out[id] = fs
	}
	return out, nil
}

func startOrZero(t sched.Time) int64 {
	if t == 0 || t == sched.Never {
		return 0
	}
	return t
}
