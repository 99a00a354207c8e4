package twin

import (
	"fmt"
	"math/bits"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// ForecastOptions tune Forecast. The zero value runs the core as the twin
// does by default, ends running jobs at their EndS, runs each pending job
// for its RuntimeEstimateS (or its time limit) and looks a year ahead.
type ForecastOptions struct {
	// SchedIntervalS and HalfLifeS are as in Config.
	SchedIntervalS int64
	HalfLifeS      int64
	// RunningEndS, when set and ok, says when a running job really ends
	// (a better guess than its EndS, the start plus the time limit).
	RunningEndS func(id job.ID) (sched.Time, bool)
	// RunS, when set and ok, says how long a pending job runs once
	// started; otherwise it runs for its RuntimeEstimateS when > 0 (capped
	// at the time limit), else for its time limit.
	RunS func(id job.ID) (int64, bool)
	// HorizonS is how far past Now to look (0: 366 days); jobs not started
	// by then are forecast to start at sched.Never.
	HorizonS int64
	// Arrivals are jobs the forecast expects to be submitted after the
	// snapshot, in SubmitS order, each after Now and with an ID that no
	// job of the snapshot has. They queue and run as the snapshot's jobs
	// do, so that a forecast sees the later jobs that the policy lets
	// overtake; they get no forecast of their own.
	Arrivals []Arrival
}

// Arrival is a job a forecast expects to be submitted at Job.SubmitS; once
// started it runs for RunS (its time limit when RunS <= 0).
type Arrival struct {
	Job  sched.Pending
	RunS int64
}

// Forecast predicts when each pending job of a live snapshot starts if
// nothing more is submitted than opt.Arrivals: it runs the twin forward from the snapshot,
// scheduling with the same core and policy as the controller, with running
// jobs ending at their expected ends and started jobs running for their
// expected run times. Jobs that do not start within the horizon get
// sched.Never. The snapshot is not modified.
func Forecast(s *sched.Snapshot, p sched.Policy, opt ForecastOptions) (map[job.ID]sched.Time, error) {
	f, err := NewForecaster(s, p, opt)
	if err != nil {
		return nil, err
	}
	return f.All(), nil
}

// A Forecaster answers Forecast's question one job at a time: it runs the
// twin forward from the snapshot only until the job asked about has
// started (or the horizon), and keeps the twin where it stopped, so that
// the next question goes on from there. Every answer is the one Forecast
// gives: the twin's run is the same however often it stops. A
// Forecaster is not safe for concurrent use.
type Forecaster struct {
	e *engine
	// pending is the snapshot's pending jobs' IDs, in its order, and
	// from the engine index of the first.
	pending []job.ID
	from    int32
}

// NewForecaster sets the twin up at the snapshot, as Forecast does; it
// keeps no reference to the snapshot's slices but the cluster's.
func NewForecaster(s *sched.Snapshot, p sched.Policy, opt ForecastOptions) (*Forecaster, error) {
	e, err := forecastEngine(s, p, opt)
	if err != nil {
		return nil, err
	}
	f := &Forecaster{e: e, pending: make([]job.ID, len(s.Pending)), from: int32(len(s.Running))}
	for k := range s.Pending {
		f.pending[k] = s.Pending[k].ID
	}
	return f, nil
}

// Start returns when pending job id starts (sched.Never: not within the
// horizon), running the twin as far as that needs; ok is false when the
// job was not pending in the snapshot.
func (f *Forecaster) Start(id job.ID) (t sched.Time, ok bool) {
	e := f.e
	i, ok := e.idIndex[id]
	if !ok || i < f.from || int(i-f.from) >= len(f.pending) {
		return 0, false // unknown, running in the snapshot, or an arrival
	}
	if e.outcome[i].FirstStartS < 0 {
		e.watch = i
		e.loop()
		e.watch = -1
	}
	return f.startOf(i), true
}

// All runs the twin to the end and returns every pending job's start.
func (f *Forecaster) All() map[job.ID]sched.Time {
	f.e.loop()
	out := make(map[job.ID]sched.Time, len(f.pending))
	for _, id := range f.pending {
		out[id] = f.startOf(f.e.idIndex[id])
	}
	return out
}

// Started returns the starts known so far without running the twin: the
// jobs started before where it stopped.
func (f *Forecaster) Started() map[job.ID]sched.Time {
	out := map[job.ID]sched.Time{}
	for _, id := range f.pending {
		if i := f.e.idIndex[id]; f.e.outcome[i].FirstStartS >= 0 {
			out[id] = f.startOf(i)
		}
	}
	return out
}

// Done says whether the twin has run to its end: every start is known.
func (f *Forecaster) Done() bool { return f.e.finished }

func (f *Forecaster) startOf(i int32) sched.Time {
	st := f.e.outcome[i].FirstStartS
	if st < 0 || st > f.e.stopAt {
		st = sched.Never
	}
	return st
}

// forecastEngine sets up the twin at a live snapshot's state: its running
// jobs hold their nodes until their expected ends and its pending jobs wait
// with their expected run times. Forecast and Replay run it forward.
func forecastEngine(s *sched.Snapshot, p sched.Policy, opt ForecastOptions) (*engine, error) {
	if s == nil || s.Cluster == nil {
		return nil, fmt.Errorf("%w: forecast needs a snapshot with a cluster", ErrConfig)
	}
	e, err := newEngine(s.Cluster, Config{Policy: p, SchedIntervalS: opt.SchedIntervalS, HalfLifeS: opt.HalfLifeS}, len(s.Projects))
	if err != nil {
		return nil, err
	}
	copy(e.projects, s.Projects)
	projIdx := make(map[string]int32, len(s.Projects))
	for i := range s.Projects {
		projIdx[s.Projects[i].Name] = int32(i)
		e.projT[i] = s.Now
	}
	if s.Nodes != nil {
		e.nodes = append([]sched.NodeStatus(nil), s.Nodes...)
		for n := range e.nodes {
			if e.nodes[n].Avail != sched.Up {
				e.suIdle[s.Cluster.Nodes[n].SU]--
			}
		}
	}
	e.now = s.Now
	e.series.init(0, 1)
	horizon := opt.HorizonS
	if horizon <= 0 {
		horizon = 366 * 86400
	}
	e.stopAt = s.Now + horizon
	// QOS and user usage are carried as they are: the forecast looks
	// ahead over a span where their changes matter little.
	e.qos, e.users = s.QOS, s.Users
	for _, q := range s.QOS {
		if len(q.Preempt) > 0 {
			if e.preemptors == nil {
				e.preemptors = map[string]bool{}
			}
			e.preemptors[q.Name] = true
		}
	}
	n := len(s.Running) + len(s.Pending)
	e.jobs = make([]simJob, 0, n)
	e.outcome = make([]Outcome, 0, n)
	e.idIndex = make(map[job.ID]int32, n)
	e.ids = make([]job.ID, 0, n)
	e.pend = make([]sched.Pending, 0, len(s.Pending))
	e.run = make([]sched.Running, 0, 2*len(s.Running)+16)
	e.runJob = make([]int32, 0, 2*len(s.Running)+16)
	proj := func(name string) int32 {
		if i, ok := projIdx[name]; ok {
			return i
		}
		return -1
	}
	for k := range s.Running {
		r := s.Running[k]
		i := int32(len(e.jobs))
		end := r.EndS
		if opt.RunningEndS != nil {
			if t, ok := opt.RunningEndS(r.ID); ok {
				end = t
			}
		}
		end = max(end, s.Now)
		gpus := 0
		var dw float64
		for _, a := range r.Allocs {
			g := bits.OnesCount64(a.GPUs)
			gpus += g
			dw += float64(g) * e.energy.deltaW[a.Node]
		}
		tpl := requestOf(&r)
		e.jobs = append(e.jobs, simJob{state: stRunning, project: proj(r.Project), gpus: gpus, deltaW: dw, attempt: 1, endAt: end, tpl: &tpl, runS: r.EndS - r.StartS})
		e.outcome = append(e.outcome, Outcome{StartS: r.StartS, FirstStartS: r.StartS, EndS: -1, Runs: 1, State: job.Running})
		e.idIndex[r.ID] = i
		e.ids = append(e.ids, r.ID)
		e.busy += gpus
		e.busyW += dw
		if pi := proj(r.Project); pi >= 0 {
			e.projRun[pi] += gpus
		}
		e.addRunning(i, r)
		for _, a := range r.Allocs {
			e.nodeHold(a, 1)
		}
		e.push(event{t: end, kind: evEnd, ref: i, attempt: 1})
	}
	for k := range s.Pending {
		pd := s.Pending[k]
		i := int32(len(e.jobs))
		run := pd.Req.TimeLimitS
		if pd.RuntimeEstimateS > 0 && (run <= 0 || pd.RuntimeEstimateS < run) {
			run = pd.RuntimeEstimateS
		}
		if opt.RunS != nil {
			if v, ok := opt.RunS(pd.ID); ok {
				run = v
			}
		}
		if run <= 0 {
			run = horizon // no limit and no estimate: it holds its nodes
		}
		elig := pd.EligibleS
		if elig == 0 {
			elig = pd.SubmitS
		}
		e.jobs = append(e.jobs, simJob{state: stPending, project: proj(pd.Project), runS: run, runIdx: -1, tpl: &s.Pending[k], eligibleS: elig, attained: pd.AttainedGPUS})
		e.outcome = append(e.outcome, Outcome{StartS: -1, FirstStartS: -1, EndS: -1, State: job.Pending})
		e.idIndex[pd.ID] = i
		e.ids = append(e.ids, pd.ID)
		e.addPending(i, pd)
	}
	if len(opt.Arrivals) > 0 {
		e.arrivals = make([]int32, 0, len(opt.Arrivals))
		last := s.Now
		for k := range opt.Arrivals {
			a := &opt.Arrivals[k]
			if a.Job.SubmitS < last || a.Job.SubmitS <= s.Now {
				return nil, fmt.Errorf("%w: arrival %d (job %d) at %d: arrivals must come after the snapshot (%d), in submit order", ErrConfig, k, a.Job.ID, a.Job.SubmitS, s.Now)
			}
			last = a.Job.SubmitS
			if _, dup := e.idIndex[a.Job.ID]; dup {
				return nil, fmt.Errorf("%w: arrival %d has ID %d, which the snapshot or an earlier arrival has", ErrConfig, k, a.Job.ID)
			}
			i := int32(len(e.jobs))
			run := a.RunS
			if run <= 0 {
				run = a.Job.Req.TimeLimitS
			}
			if run <= 0 {
				run = horizon
			}
			tpl := a.Job
			tpl.EligibleS = 0
			e.jobs = append(e.jobs, simJob{state: stFuture, project: proj(tpl.Project), runS: run, runIdx: -1, pendIdx: -1, tpl: &tpl, eligibleS: tpl.SubmitS})
			e.outcome = append(e.outcome, Outcome{StartS: -1, FirstStartS: -1, EndS: -1, State: job.Pending})
			e.idIndex[tpl.ID] = i
			e.ids = append(e.ids, tpl.ID)
			e.arrivals = append(e.arrivals, i)
		}
	}
	// The controller asks for a forecast with the live state: the first
	// pass is now.
	e.passAt = s.Now
	e.unstarted = len(s.Pending)
	return e, nil
}

// requestOf rebuilds a running job's pending entry from its allocation, so
// that a forecast can requeue it after a preemption.
func requestOf(r *sched.Running) sched.Pending {
	req := job.Request{Nodes: len(r.Allocs), WholeNodes: len(r.Allocs) > 1, TimeLimitS: r.EndS - r.StartS}
	if len(r.Allocs) > 0 {
		a := r.Allocs[0]
		req.GPUsPerNode, req.CPUsPerNode, req.MemPerNodeMB = bits.OnesCount64(a.GPUs), a.CPUs, a.MemMB
	}
	return sched.Pending{ID: r.ID, Req: req, User: r.User, Project: r.Project, QOS: r.QOS, SubmitS: r.StartS, ArrayJobID: r.ArrayJobID}
}
