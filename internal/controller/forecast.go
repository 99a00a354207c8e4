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
// job's predicted run time (runtime.go) and, while the queue is short
// enough for it to be quick, a stream of expected later submissions
// (arrivals.go): once with each job's median prediction, which gives the
// forecast start, and, for such a queue, forecastSamples more times with
// run times drawn from each job's history and streams of their own, whose
// spread gives the range (the second lowest and second highest of five:
// about the 20th and 80th percentiles), which forecastCalib widens to what
// past forecasts turned out to be.
//
// The stream, measured on the forecast bench (1,500 jobs and a tail of
// 500; median absolute error as a share of the wait, without and with
// it): Philly (gefion:4, load 2) seed 1 35.0% and 36.3%, seed 2 40.4% and
// 31.0%; Alibaba (skip 18, gefion:2, load 1.5) seed 1 48.9% and 40.4%,
// seed 2 48.8% and 40.7%. Taking the median of the sampled runs as the
// point instead made Philly seed 1 worse (40.1% against 36.5%).

// forecaster keeps the twin's forecasts of the live state between
// questions. A run (forecastRun) holds the twin as it stopped after the
// last question about its snapshot: a question about a job it has not yet
// started runs it on only until that job starts, and an answered one costs
// a map look-up. A run serves for forecastTTL; a question about an older
// run, or about a job submitted since, takes a new snapshot and a new run,
// stopped at that job. While questions come, a run older than
// forecastRefresh is replaced in the background by a complete one, off the
// scheduling loop and off the question's path, so that `why` and the web
// are answered from it.
type forecaster struct {
	mu         sync.Mutex
	cur        *forecastRun
	refreshing bool
	// refreshAfter is forecastRefresh unless a test sets it.
	refreshAfter time.Duration
	// building serialises the taking of new runs: concurrent questions
	// that each need one wait for the first.
	building sync.Mutex
}

// forecastRun is the twin's forecasts from one snapshot of the live
// state: the point forecast and, for a short enough queue, the sampled
// runs that give the range.
type forecastRun struct {
	at time.Time
	// mu serialises the questions that run the twins on.
	mu      sync.Mutex
	point   *twin.Forecaster
	samples []*twin.Forecaster
	// known is the diagnostic twin run with true run times
	// (Config.ForecastKnownRunS), and clair the one with true run times
	// and the true later submissions (Config.ForecastKnownArrivals); nil
	// without them.
	known, clair *twin.Forecaster
	starts       map[job.ID]forecastStart // the answers so far
	// complete: every pending job of the snapshot is in starts.
	complete bool
}

// forecastStart is one job's forecast: the start with median run times,
// and the range from sampled ones (zero when not computed), and, for the
// diagnostics of Config.ForecastKnownRunS and ForecastKnownArrivals, the
// start with true run times and with true later submissions too. Times
// are Unix seconds; 0 is "not within the horizon".
type forecastStart struct {
	point, low, high int64
	known, clair     int64
}

const (
	// forecastTTL is how long a run is used, and forecastRefresh the age
	// at which a question has it replaced in the background.
	forecastTTL     = 10 * time.Second
	forecastRefresh = 3 * time.Second
	// forecastSamples is how many sampled runs give the range, and
	// forecastRangeMaxPending the queue length above which the range is
	// not computed (each run replays the whole queue).
	forecastSamples         = 5
	forecastRangeMaxPending = 2000
	// forecastArrivalsMaxPending is the queue length above which the
	// twins expect no later submissions: at Gefion scale (10,000 pending)
	// a stream made the forecast of the last job three times slower.
	forecastArrivalsMaxPending = 2000
)

// forecastInput is what a forecast reads of the live state.
type forecastInput struct {
	snap *sched.Snapshot
	// ratios are each job's predicted used/limit ratios (sorted), the
	// recent submissions' included.
	ratios map[job.ID][]float64
	// recent are the submissions that expected arrivals are drawn from
	// (arrivals.go), oldest first.
	recent []sched.Pending
}

// forecast returns the twin's predicted start of a pending job.
func (c *Controller) forecast(ctx context.Context, id job.ID) forecastStart {
	f := &c.fc
	if r := f.fresh(); r != nil {
		if fs, ok := r.answer(id); ok {
			c.refreshForecast(r)
			return fs
		}
	}
	// No fresh run, or the job is newer than its snapshot.
	f.building.Lock()
	defer f.building.Unlock()
	if r := f.fresh(); r != nil {
		if fs, ok := r.answer(id); ok {
			return fs
		}
	}
	r, err := c.newForecastRun(ctx)
	if err != nil {
		return forecastStart{}
	}
	f.set(r)
	fs, _ := r.answer(id)
	return fs
}

// DiagnosticForecast returns the starts (Unix seconds) that the twin
// forecasts for pending job id, from the same snapshot as the forecast
// that why gives, with the true run times of Config.ForecastKnownRunS
// (knownRuns) and with the true later submissions of
// ForecastKnownArrivals too (knownAll); 0 without that diagnostic, for a
// job not pending, or beyond the horizon. It is for load tools that score
// forecasts.
func (c *Controller) DiagnosticForecast(ctx context.Context, id job.ID) (knownRuns, knownAll int64) {
	if c.cfg.ForecastKnownRunS == nil {
		return 0, 0
	}
	fs := c.forecast(ctx, id)
	return fs.known, fs.clair
}

// fresh returns the current run if it is young enough to answer from.
func (f *forecaster) fresh() *forecastRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil || time.Since(f.cur.at) > forecastTTL {
		return nil
	}
	return f.cur
}

// set makes r the current run unless a newer one is.
func (f *forecaster) set(r *forecastRun) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil || !f.cur.at.After(r.at) {
		f.cur = r
	}
}

// refreshForecast replaces run r, once it is older than forecastRefresh,
// by a complete run of a new snapshot, in the background; one at a time.
func (c *Controller) refreshForecast(r *forecastRun) {
	f := &c.fc
	f.mu.Lock()
	after := f.refreshAfter
	if after == 0 {
		after = forecastRefresh
	}
	if f.refreshing || f.cur != r || time.Since(r.at) < after {
		f.mu.Unlock()
		return
	}
	f.refreshing = true
	f.mu.Unlock()
	go func() {
		defer func() {
			f.mu.Lock()
			f.refreshing = false
			f.mu.Unlock()
		}()
		nr, err := c.newForecastRun(context.Background())
		if err != nil {
			return // the controller is stopping, or the next question says why
		}
		nr.all()
		f.set(nr)
	}()
}

// newForecastRun takes a snapshot of the live state on the loop and sets
// the twins up at it; they run only when asked.
func (c *Controller) newForecastRun(ctx context.Context) (*forecastRun, error) {
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		in := &forecastInput{snap: c.snapshot(tx.c, tx.nowS, nil), ratios: map[job.ID][]float64{}}
		type key struct {
			user, project string
			limitS        int64
		}
		byUser := map[key][]float64{}
		look := func(id job.ID, user, project string, limitS int64) {
			k := key{user, project, limitS}
			r, ok := byUser[k]
			if !ok {
				r = tx.c.runtimes.ratios(user, project, limitS)
				byUser[k] = r
			}
			if r != nil {
				in.ratios[id] = r
			}
		}
		for i := range in.snap.Running {
			r := &in.snap.Running[i]
			look(r.ID, r.User, r.Project, r.EndS-r.StartS)
		}
		for i := range in.snap.Pending {
			p := &in.snap.Pending[i]
			look(p.ID, p.User, p.Project, p.Req.TimeLimitS)
		}
		in.recent = tx.c.arrivals.recent(tx.nowS)
		for i := range in.recent {
			p := &in.recent[i]
			look(p.ID, p.User, p.Project, p.Req.TimeLimitS)
		}
		return in, nil
	})
	if err != nil {
		return nil, err
	}
	at := time.Now()
	r, err := c.forecastTwins(v.(*forecastInput))
	if err != nil {
		c.log.Warn("forecast failed", "err", err)
		return nil, err
	}
	r.at = at
	return r, nil
}

// answer returns job id's forecast, running the twins on as far as it
// needs; ok is false when the job was not pending in the run's snapshot.
func (r *forecastRun) answer(id job.ID) (forecastStart, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fs, ok := r.starts[id]; ok {
		return fs, true
	}
	if r.complete {
		return forecastStart{}, false
	}
	results := make([]sched.Time, r.twins())
	oks := make([]bool, len(results))
	r.each(func(k int, f *twin.Forecaster) { results[k], oks[k] = f.Start(id) })
	if !oks[0] {
		return forecastStart{}, false
	}
	fs := r.combine(results)
	r.starts[id] = fs
	return fs, true
}

// all runs the twins to their ends and records every job's forecast.
func (r *forecastRun) all() {
	r.mu.Lock()
	defer r.mu.Unlock()
	maps := make([]map[job.ID]sched.Time, r.twins())
	r.each(func(k int, f *twin.Forecaster) { maps[k] = f.All() })
	results := make([]sched.Time, len(maps))
	for id, t := range maps[0] {
		results[0] = t
		for k := 1; k < len(maps); k++ {
			results[k] = maps[k][id]
		}
		r.starts[id] = r.combine(results)
	}
	r.complete = true
}

// diagnostics returns the diagnostic twins the run holds, in order.
func (r *forecastRun) diagnostics() []*twin.Forecaster {
	var d []*twin.Forecaster
	for _, f := range []*twin.Forecaster{r.known, r.clair} {
		if f != nil {
			d = append(d, f)
		}
	}
	return d
}

// twins is how many twins the run holds: the point one, the sampled
// ones and the diagnostic ones.
func (r *forecastRun) twins() int {
	return 1 + len(r.samples) + len(r.diagnostics())
}

// each runs fn on the point twin (k 0), every sampled one (k 1 to
// len(samples)) and the diagnostic ones (after), in parallel.
func (r *forecastRun) each(fn func(k int, f *twin.Forecaster)) {
	var wg sync.WaitGroup
	diag := r.diagnostics()
	for k := range r.twins() {
		f := r.point
		if k > len(r.samples) {
			f = diag[k-1-len(r.samples)]
		} else if k > 0 {
			f = r.samples[k-1]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(k, f)
		}()
	}
	wg.Wait()
}

// combine makes one job's forecast of its point start, sampled starts
// and known-run-time start, in each's order.
func (r *forecastRun) combine(results []sched.Time) forecastStart {
	fs := forecastStart{point: startOrZero(results[0])}
	if r.clair != nil {
		fs.clair = startOrZero(results[len(results)-1])
		results = results[:len(results)-1]
	}
	if r.known != nil {
		fs.known = startOrZero(results[len(results)-1])
		results = results[:len(results)-1]
	}
	samples := len(results) - 1
	if samples > 0 {
		draws := make([]int64, samples)
		for k := range draws {
			draws[k] = startOrZero(results[k+1])
		}
		slices.Sort(draws)
		if draws[0] != 0 { // every sampled run started it
			fs.low, fs.high = draws[1], draws[samples-2]
		}
	}
	return fs
}

// runForecasts runs the point forecast and, for a small enough queue, the
// sampled ones, off the loop (the snapshot is a copy, and the twin does
// not change it), to their ends.
func (c *Controller) runForecasts(in *forecastInput) (map[job.ID]forecastStart, error) {
	r, err := c.forecastTwins(in)
	if err != nil {
		return nil, err
	}
	r.all()
	return r.starts, nil
}

// forecastTwins sets up the point twin and, for a small enough queue, the
// sampled ones at the snapshot; they run when asked (forecastRun).
func (c *Controller) forecastTwins(in *forecastInput) (*forecastRun, error) {
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
	// arrivals is a stream of expected submissions, each running for its
	// predicted run time at its quantile; none for a long queue, where
	// they would cost more than the 100 ms a forecast may take.
	arrivals := func(stream uint64, quantile func(job.ID) float64) []twin.Arrival {
		if len(s.Pending) > forecastArrivalsMaxPending {
			return nil
		}
		a := expectedArrivals(in.recent, s.Now, stream, func(p *sched.Pending) int64 {
			return runFor(in.ratios[p.ID], p.Req.TimeLimitS, 0, quantile(p.ID))
		})
		for k := range a {
			if a[k].Job.QOS == "" {
				a[k].Job.QOS = c.cfg.DefaultQOS
			}
		}
		return a
	}
	// quantile gives a job's run-time quantile in one run: 0.5 for the
	// point forecast, drawn for the sampled ones; each run has a stream
	// of its own.
	var stream uint64
	run := func(quantile func(job.ID) float64) (*twin.Forecaster, error) {
		stream++
		return twin.NewForecaster(s, c.policy, twin.ForecastOptions{
			Arrivals:       arrivals(stream, quantile),
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
	fr := &forecastRun{starts: make(map[job.ID]forecastStart), samples: make([]*twin.Forecaster, samples)}
	var err error
	if fr.point, err = run(func(job.ID) float64 { return 0.5 }); err != nil {
		return nil, err
	}
	for k := range fr.samples {
		// Each job draws its own quantile, the same whichever order
		// the twin asks in.
		seed := uint64(s.Now)*31 + uint64(k+1)
		if fr.samples[k], err = run(func(id job.ID) float64 {
			return rand.New(rand.NewPCG(seed, uint64(id))).Float64()
		}); err != nil {
			return nil, err
		}
	}
	if known := c.cfg.ForecastKnownRunS; known != nil {
		// The point twin with the true run times: running jobs end at
		// their start plus theirs, pending ones run for theirs; the
		// expected arrivals, not jobs yet, run for their predicted ones.
		opt := twin.ForecastOptions{
			Arrivals:       arrivals(1, func(job.ID) float64 { return 0.5 }),
			SchedIntervalS: 1, HalfLifeS: int64(c.cfg.UsageHalfLife.Seconds()),
			RunningEndS: func(id job.ID) (sched.Time, bool) {
				run, ok := known(id)
				if !ok {
					return 0, false
				}
				return running[id].start + run, true
			},
			RunS: known,
		}
		if fr.known, err = twin.NewForecaster(s, c.policy, opt); err != nil {
			return nil, err
		}
		if later := c.cfg.ForecastKnownArrivals; later != nil {
			// And with the jobs that will be submitted after the
			// snapshot, as they will be, instead of expected ones.
			opt.Arrivals = later(s.Now)
			for k := range opt.Arrivals {
				if opt.Arrivals[k].Job.QOS == "" {
					opt.Arrivals[k].Job.QOS = c.cfg.DefaultQOS
				}
			}
			if fr.clair, err = twin.NewForecaster(s, c.policy, opt); err != nil {
				return nil, err
			}
		}
	}
	return fr, nil
}

func startOrZero(t sched.Time) int64 {
	if t == 0 || t == sched.Never {
		return 0
	}
	return t
}
