package twin

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// Defaults of Config.
const (
	// DefaultSchedIntervalS is Slurm's backfill interval (bf_interval): the
	// core runs after events, at most once per 30 virtual seconds.
	DefaultSchedIntervalS = 30
	// DefaultHalfLifeS is Slurm's PriorityDecayHalfLife default, 7 days.
	DefaultHalfLifeS = 7 * 24 * 3600
	// DefaultRepairS is how long a failed node stays down: 4 hours.
	DefaultRepairS = 4 * 3600
)

// Estimates says what the twin tells the core of a pending job's run time
// (sched.Pending.RuntimeEstimateS), as a live controller could.
type Estimates uint8

// Estimate modes.
const (
	// EstimateHistory predicts a job's run time as the mean of the same
	// user's last two completed jobs in the replay so far (Tsafrir, Etsion
	// and Feitelson, 2007), capped at the job's time limit; no history
	// means no estimate. A job's own run time is never used.
	EstimateHistory Estimates = iota
	// EstimateNone gives no estimates: policies see time limits only.
	EstimateNone
)

// FailureModel makes nodes fail at random (seeded). The zero value has no
// failures.
type FailureModel struct {
	// NodeMTBFHours is each node's mean time between failures; failures of
	// the machine form a Poisson process of rate nodes/MTBF. 0: none.
	NodeMTBFHours float64
	// RepairS is how long a failed node stays down (0: DefaultRepairS).
	RepairS int64
}

// Config is one replay's settings. The zero value is valid: the policy's
// zero value is FIFO-like, so callers set Policy from sched.PolicyByName.
type Config struct {
	Policy sched.Policy
	// SchedIntervalS is the least virtual time between two scheduling
	// passes (0: DefaultSchedIntervalS). A pass runs at the first event
	// time at least this long after the previous pass.
	SchedIntervalS int64
	// HalfLifeS is the decay half-life of project usage for fair share
	// (0: DefaultHalfLifeS).
	HalfLifeS int64
	Estimates Estimates
	Failures  FailureModel
	// Seed seeds node failures.
	Seed   uint64
	Energy EnergyModel
	// Buckets is about how many points the time series keep (0: 400).
	Buckets int
	// Progress, when set, counts jobs that have ended, for a progress bar
	// read from another goroutine.
	Progress *atomic.Int64
	// OnPass, when set, sees every snapshot before it is scheduled (tests
	// capture live states with it). It must not keep or modify it.
	OnPass func(s *sched.Snapshot)
	// NoSkip calls the core after every batch of events even when no job
	// could start (see engine.futile); the results are the same, slower.
	NoSkip bool
	// NoIndex makes every pass order the whole queue afresh instead of
	// keeping its order in a sched.PendingIndex; the results are the
	// same, slower on a deep queue.
	NoIndex bool
}

// Outcome is what happened to one job in a replay.
type Outcome struct {
	// StartS is the start of the job's last run and EndS its end; -1 when
	// the job never started or has not ended.
	StartS int64
	EndS   int64
	// FirstStartS is the start of its first run (-1 if none).
	FirstStartS int64
	// Runs counts its starts (more than one after preemption or node
	// failure).
	Runs  int
	State job.State
	// LostGPUS is GPU-seconds of runs cut short and restarted.
	LostGPUS float64
}

// Result is a replay's outcome: per job, in time, and machine totals.
type Result struct {
	Policy   string
	Workload *Workload
	Jobs     []Outcome
	Series   Series
	// EndS is when the last job ended (the makespan, as the first job is
	// submitted at 0).
	EndS int64
	// BusyGPUS is GPU-seconds held by jobs over the whole replay, and
	// WindowBusyGPUS those within [0, Workload.SpanS] (while jobs arrive).
	BusyGPUS       float64
	WindowBusyGPUS float64
	// EnergyJ is facility energy (PUE applied); CO2LocationG and
	// CO2MarketG are its emissions, location-based and market-based.
	EnergyJ      float64
	CO2LocationG float64
	CO2MarketG   float64
	Passes       int
	// SkippedPasses counts due passes not run because no job could start.
	SkippedPasses int
	Preemptions   int
	Requeues      int
	NodeFailures  int
	// MultiNodeStarts counts starts of multi-node jobs small enough for
	// one SU, and MultiNodeOneSU those placed in one SU. MultiNodeFit
	// counts the starts at which some SU had enough wholly idle up nodes
	// for the job, and MultiNodeFitOneSU those of them placed in one SU.
	MultiNodeStarts   int
	MultiNodeOneSU    int
	MultiNodeFit      int
	MultiNodeFitOneSU int
	WallS             float64
}

// ErrConfig is a configuration a user must fix.
var ErrConfig = errors.New("twin configuration")

// Run replays the workload under cfg and returns the outcome.
func Run(w *Workload, cfg Config) (*Result, error) {
	wall := time.Now()
	e, err := newEngine(w.Cluster, cfg, len(w.Projects))
	if err != nil {
		return nil, err
	}
	for i, p := range w.Projects {
		e.projects[i] = sched.Project{Name: p.Name, Shares: p.Shares}
	}
	e.jobs = make([]simJob, len(w.Jobs))
	e.outcome = make([]Outcome, len(w.Jobs))
	users := map[string]int32{}
	for i := range w.Jobs {
		j := &w.Jobs[i]
		if j.ID != job.ID(i+1) {
			return nil, fmt.Errorf("%w: workload job %d has id %d; build workloads with Map", ErrConfig, i, j.ID)
		}
		u, ok := users[j.User]
		if !ok {
			u = int32(len(users))
			users[j.User] = u
		}
		e.jobs[i] = simJob{project: int32(j.Project), user: u, runS: j.RunS, runIdx: -1}
		e.outcome[i] = Outcome{StartS: -1, EndS: -1, FirstStartS: -1, State: job.Pending}
	}
	e.history = make([][2]int64, len(users))
	e.w = w
	e.series.init(w.SpanS, cfg.Buckets)
	e.windowEnd = w.SpanS
	e.loop()
	res := e.result()
	res.Policy = cfg.Policy.Name
	res.Workload = w
	res.WallS = time.Since(wall).Seconds()
	return res, nil
}

// simJob is the twin's state of one job.
type simJob struct {
	state   uint8
	project int32 // -1: not a known project
	user    int32
	runIdx  int32 // index in engine.run while running
	pendIdx int32 // index in engine.pend while pending
	attempt int32
	runS    int64 // true run time of a run
	endAt   int64 // when the current run ends for real
	gpus    int   // GPUs held by the current run
	deltaW  float64
	// tpl, for forecasts, is the snapshot's pending entry to requeue
	// from; workload jobs build theirs.
	tpl       *sched.Pending
	attained  float64
	eligibleS int64
	// requeue says whether a preempted run goes back to the queue.
	requeue bool
}

const (
	stFuture uint8 = iota
	stPending
	stRunning
	stDone
)

type evKind uint8

const (
	evEnd evKind = iota
	evKill
	evRepair
	evFail
)

type event struct {
	t       int64
	seq     uint64
	kind    evKind
	ref     int32 // job index or node
	attempt int32
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type engine struct {
	c   *cluster.Cluster
	cfg Config
	w   *Workload // nil in forecasts

	now     int64
	jobs    []simJob
	outcome []Outcome
	// frees counts releases of resources (job ends, nodes back up);
	// headsBlocked and blockedAt say the last pass found every queue head
	// blocked (no backfill) when frees was blockedAt.
	frees, blockedAt int64
	headsBlocked     bool
	head             sched.HeadShape
	idIndex          map[job.ID]int32 // nil: index is ID-1
	ids              []job.ID         // nil: ID is index+1
	next             int              // next workload job to submit
	events           eventHeap
	seq              uint64
	live             int // events in the heap other than failures
	pend             []sched.Pending
	run              []sched.Running
	runJob           []int32
	projects         []sched.Project
	projRun          []int      // GPUs each project holds
	projT            []int64    // when each project's usage was last brought up to date
	history          [][2]int64 // per user: the last two completed run times (0: none)
	nodes            []sched.NodeStatus
	upNodes          int
	rng              *rand.Rand

	stopAt    int64 // forecasts stop after this time; 0: never
	unstarted int   // forecasts: pending jobs of the snapshot not yet started
	// arrivals are a forecast's expected submissions (job indices, in
	// submit order, each past the snapshot's jobs); nextArr the next.
	arrivals []int32
	nextArr  int
	untilEnd bool  // replays of a snapshot: run to the last end, not the last start
	watch    int32 // forecasts: stop once this job has started (-1: none)
	finished bool  // the loop ran to its end, not to a watched start
	passAt   int64 // next pass time, -1: none due
	lastPass int64
	passes   int
	dirty    bool
	// cpuPending counts pending jobs that ask for no GPU (see futile).
	cpuPending int
	skipped    int
	// preemptors are the QOSes that may preempt, and preemptPending
	// counts pending jobs in them (see futile).
	preemptors     map[string]bool
	preemptPending int

	busy      int // GPUs held
	busyW     float64
	upBaseW   float64
	upIdleW   float64
	windowEnd int64
	series    Series
	acc       accum
	suMax     int
	qos       []sched.QOS        // from a forecast's snapshot
	users     []sched.UserUsage  // from a forecast's snapshot
	scratch   sched.Scratch      // buffers the core reuses pass after pass
	ix        sched.PendingIndex // the queue's order, kept between passes
	suIdle    []int              // wholly idle up nodes per SU
	nodeJobs  []int32            // allocations held on each node
	freeGPUs  []int32            // GPUs free on each node
	res       Result
	halfLife  float64
	interval  int64
	energy    energyParams
}

// accum integrates figures over virtual time.
type accum struct {
	busyGPUS, windowBusy float64
	energyJ, co2Loc      float64
}

func newEngine(c *cluster.Cluster, cfg Config, nproj int) (*engine, error) {
	if c == nil || len(c.Nodes) == 0 {
		return nil, fmt.Errorf("%w: no cluster", ErrConfig)
	}
	if cfg.SchedIntervalS < 0 || cfg.HalfLifeS < 0 {
		return nil, fmt.Errorf("%w: --sched-interval and --half-life must not be negative", ErrConfig)
	}
	if !(cfg.Failures.NodeMTBFHours >= 0) || math.IsInf(cfg.Failures.NodeMTBFHours, 0) || cfg.Failures.RepairS < 0 {
		return nil, fmt.Errorf("%w: --node-mtbf must be a finite number of hours (0: no failures) and --repair must not be negative", ErrConfig)
	}
	ep, err := cfg.Energy.params(c)
	if err != nil {
		return nil, err
	}
	e := &engine{
		c: c, cfg: cfg, passAt: -1, lastPass: math.MinInt64 / 2, watch: -1,
		projects: make([]sched.Project, nproj),
		projRun:  make([]int, nproj),
		projT:    make([]int64, nproj),
		upNodes:  len(c.Nodes),
		energy:   ep,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0xfa11)),
	}
	e.interval = cfg.SchedIntervalS
	if e.interval == 0 {
		e.interval = DefaultSchedIntervalS
	}
	hl := cfg.HalfLifeS
	if hl == 0 {
		hl = DefaultHalfLifeS
	}
	e.halfLife = float64(hl)
	e.suIdle = make([]int, len(c.SUs))
	e.nodeJobs = make([]int32, len(c.Nodes))
	e.freeGPUs = make([]int32, len(c.Nodes))
	for si, su := range c.SUs {
		e.suMax = max(e.suMax, len(su.Nodes))
		e.suIdle[si] = len(su.Nodes)
	}
	for i := range c.Nodes {
		e.freeGPUs[i] = int32(c.Nodes[i].GPUs())
		e.upBaseW += ep.baseW[i]
		e.upIdleW += ep.idleW[i] * float64(c.Nodes[i].GPUs())
	}
	if cfg.Failures.NodeMTBFHours > 0 {
		e.nodes = make([]sched.NodeStatus, len(c.Nodes))
		e.scheduleFailure()
	}
	return e, nil
}

func (e *engine) push(ev event) {
	e.seq++
	ev.seq = e.seq
	if ev.kind != evFail {
		e.live++
	}
	heap.Push(&e.events, ev)
}

func (e *engine) index(id job.ID) int32 {
	if e.idIndex == nil {
		return int32(id - 1)
	}
	i, ok := e.idIndex[id]
	if !ok {
		return -1
	}
	return i
}

func (e *engine) id(i int32) job.ID {
	if e.ids == nil {
		return job.ID(i + 1)
	}
	return e.ids[i]
}

// loop runs events until every job has ended or nothing more can happen,
// or until the watched job has started. It stops only between two event
// times, so a loop stopped at a watched start and called again runs on
// exactly as one that never stopped.
func (e *engine) loop() {
	for {
		if e.watch >= 0 && e.outcome[e.watch].FirstStartS >= 0 {
			return
		}
		t := int64(math.MaxInt64)
		if e.w != nil && e.next < len(e.w.Jobs) {
			t = e.w.Jobs[e.next].SubmitS
		}
		if e.nextArr < len(e.arrivals) {
			t = min(t, e.jobs[e.arrivals[e.nextArr]].eligibleS)
		}
		if e.live == 0 && e.passAt < 0 && t == math.MaxInt64 {
			// Nothing runs (a running job has a live end event), nothing
			// arrives and no pass is due: what still waits can never
			// start. Failures alone do not keep the machine going.
			break
		}
		if len(e.events) > 0 {
			t = min(t, e.events[0].t)
		}
		if e.passAt >= 0 {
			t = min(t, e.passAt)
		}
		if e.stopAt > 0 && (t > e.stopAt || e.unstarted == 0 && !e.untilEnd) {
			// A forecast is done at its horizon or once every job it
			// was asked about has started.
			break
		}
		e.advance(t)
		for len(e.events) > 0 && e.events[0].t == t {
			ev := heap.Pop(&e.events).(event)
			if ev.kind != evFail {
				e.live--
			}
			e.handle(ev)
		}
		if e.w != nil {
			for e.next < len(e.w.Jobs) && e.w.Jobs[e.next].SubmitS == t {
				e.submit(int32(e.next))
				e.next++
			}
		}
		for e.nextArr < len(e.arrivals) && e.jobs[e.arrivals[e.nextArr]].eligibleS == t {
			i := e.arrivals[e.nextArr]
			e.jobs[i].state = stPending
			e.addPending(i, e.pendingOf(i))
			e.dirty = true
			e.nextArr++
		}
		if e.dirty && e.passAt < 0 {
			e.passAt = max(t, e.lastPass+e.interval)
		}
		if e.passAt == t {
			if e.futile() {
				e.passAt, e.dirty, e.lastPass = -1, false, e.now
				e.skipped++
				continue
			}
			e.pass()
		}
	}
	e.finished = true
}

// advance moves the clock to t, integrating usage, energy and series.
func (e *engine) advance(t int64) {
	if t <= e.now {
		return
	}
	a, b := e.now, t
	busy := float64(e.busy)
	dt := float64(b - a)
	e.acc.busyGPUS += busy * dt
	if a < e.windowEnd {
		e.acc.windowBusy += busy * float64(min(b, e.windowEnd)-a)
	}
	p := (e.upBaseW + e.upIdleW + e.busyW) * e.energy.pue
	e.acc.energyJ += p * dt
	e.acc.co2Loc += e.energy.intensity.integrate(a, b) * p
	e.series.add(a, b, busy, float64(len(e.pend)))
	e.now = t
}

// usageTo brings project p's decayed usage up to now. With r GPUs held
// since the last update dt ago, usage decays by 2^(-dt/H) and gains the
// decayed integral r * H/ln 2 * (1 - 2^(-dt/H)).
func (e *engine) usageTo(p int32) {
	if p < 0 {
		return
	}
	dt := float64(e.now - e.projT[p])
	if dt <= 0 {
		return
	}
	d := math.Exp2(-dt / e.halfLife)
	pr := &e.projects[p]
	pr.UsageGPUS = pr.UsageGPUS*d + float64(e.projRun[p])*e.halfLife/math.Ln2*(1-d)
	e.projT[p] = e.now
}

func (e *engine) handle(ev event) {
	switch ev.kind {
	case evEnd:
		j := &e.jobs[ev.ref]
		if j.state == stRunning && j.attempt == ev.attempt {
			e.finish(ev.ref, job.Completed)
		}
	case evKill:
		j := &e.jobs[ev.ref]
		if j.state == stRunning && j.attempt == ev.attempt {
			e.cut(ev.ref, j.requeue)
		}
	case evFail:
		e.failNode()
		e.scheduleFailure()
	case evRepair:
		n := int(ev.ref)
		if e.nodes[n].Avail == sched.Down {
			e.nodes[n] = sched.NodeStatus{Avail: sched.Up}
			e.nodeUp(n, true)
			e.dirty = true
		}
	}
}

// submit puts workload job i in the queue.
func (e *engine) submit(i int32) {
	j := &e.jobs[i]
	wj := &e.w.Jobs[i]
	j.state = stPending
	j.eligibleS = wj.SubmitS
	e.addPending(i, e.pendingOf(i))
	e.dirty = true
}

func (e *engine) addPending(i int32, p sched.Pending) {
	if p.Req.GPUs() == 0 {
		e.cpuPending++
	}
	if e.preemptors[p.QOS] {
		e.preemptPending++
	}
	e.jobs[i].pendIdx = int32(len(e.pend))
	e.pend = append(e.pend, p)
	e.ix.Append(&e.pend[len(e.pend)-1])
}

// unpend takes job i out of the queue, moving the last entry into its
// place: the core's order does not depend on the snapshot's.
func (e *engine) unpend(i int32) {
	k := e.jobs[i].pendIdx
	last := int32(len(e.pend) - 1)
	if e.pend[k].Req.GPUs() == 0 {
		e.cpuPending--
	}
	if e.preemptors[e.pend[k].QOS] {
		e.preemptPending--
	}
	if k != last {
		e.pend[k] = e.pend[last]
		e.jobs[e.index(e.pend[k].ID)].pendIdx = k
	}
	e.pend[last] = sched.Pending{}
	e.pend = e.pend[:last]
	e.jobs[i].pendIdx = -1
	e.ix.SwapRemove(int(k))
}

// pendingOf is the core's view of a pending job.
func (e *engine) pendingOf(i int32) sched.Pending {
	j := &e.jobs[i]
	if j.tpl != nil {
		p := *j.tpl
		p.EligibleS = j.eligibleS
		p.AttainedGPUS = j.attained
		return p
	}
	wj := &e.w.Jobs[i]
	p := sched.Pending{
		ID: wj.ID, Req: wj.Req, User: wj.User,
		Project: e.w.Projects[wj.Project].Name,
		SubmitS: wj.SubmitS, EligibleS: j.eligibleS,
		AttainedGPUS: j.attained,
	}
	if e.cfg.Estimates == EstimateHistory {
		h := e.history[j.user]
		if h[0] > 0 {
			est := h[0]
			if h[1] > 0 {
				est = (h[0] + h[1] + 1) / 2
			}
			p.RuntimeEstimateS = min(est, wj.Req.TimeLimitS)
		}
	}
	return p
}

// futile reports that a due pass cannot start or preempt anything, so the
// core need not be called: no pending job is of a QOS that may preempt,
// every pending job asks for a GPU, and no up node has as many GPUs free as the smallest single-node
// job asks for, nor are as many nodes idle as the smallest whole-node job
// asks for. Every start needs one of those, so the pass would start nothing
// whatever its priorities and reservations, and the twin applies nothing
// else of a plan (reservations and estimates are recomputed by the next
// pass). The pass still counts as run for the scheduling interval.
func (e *engine) futile() bool {
	if e.cfg.NoSkip || e.preemptPending > 0 || e.cpuPending > 0 {
		return false
	}
	// Without backfill, a pass that found every queue's head blocked is
	// followed by futile ones until something is freed.
	if e.headsBlocked && (e.frees == e.blockedAt || !e.headMayFit()) {
		return true
	}
	gpus, whole := e.ix.SmallestAsks()
	idle := 0
	for _, k := range e.suIdle {
		idle += k
	}
	if idle >= whole {
		return false
	}
	for n, f := range e.freeGPUs {
		if int(f) >= gpus && (e.nodes == nil || e.nodes[n].Avail == sched.Up) {
			return false
		}
	}
	return true
}

// headMayFit says whether as many nodes as the blocked head needs have
// its GPUs free (or are idle, for a whole-node job): without that, no
// placement exists. True when the head's shape is unknown.
func (e *engine) headMayFit() bool {
	h := e.head
	if h.Nodes <= 0 {
		return true
	}
	if h.Whole {
		idle := 0
		for _, k := range e.suIdle {
			idle += k
		}
		return idle >= h.Nodes
	}
	fit := 0
	for n, f := range e.freeGPUs {
		if int(f) >= h.GPUsPerNode && (e.nodes == nil || e.nodes[n].Avail == sched.Up) {
			if fit++; fit >= h.Nodes {
				return true
			}
		}
	}
	return false
}

// pass runs the scheduling core and applies its plan.
func (e *engine) pass() {
	e.passAt = -1
	e.lastPass = e.now
	e.dirty = false
	e.passes++
	for p := range e.projects {
		e.usageTo(int32(p))
	}
	snap := sched.Snapshot{
		Now: e.now, Cluster: e.c, Nodes: e.nodes,
		Running: e.run, Pending: e.pend, Projects: e.projects,
		QOS: e.qos, Users: e.users, StartsOnly: true, Scratch: &e.scratch,
	}
	if !e.cfg.NoIndex {
		snap.Index = &e.ix
	}
	if e.cfg.OnPass != nil {
		e.cfg.OnPass(&snap)
	}
	plan := sched.Schedule(&snap, e.cfg.Policy)
	e.headsBlocked, e.blockedAt, e.head = plan.Stats.HeadsBlocked, e.frees, plan.Stats.Head
	for k := range plan.Starts {
		e.start(&plan.Starts[k])
	}
	for k := range plan.Preemptions {
		e.preempt(&plan.Preemptions[k])
	}
}

// start applies one start of a plan.
func (e *engine) start(st *sched.Start) {
	i := e.index(st.ID)
	if i < 0 || e.jobs[i].state != stPending {
		return
	}
	j := &e.jobs[i]
	o := &e.outcome[i]
	e.unpend(i)
	j.state = stRunning
	j.attempt++
	o.Runs++
	o.StartS = e.now
	if o.FirstStartS < 0 {
		o.FirstStartS = e.now
		if len(e.arrivals) == 0 || i < e.arrivals[0] {
			e.unstarted--
		}
	}
	o.State = job.Running
	gpus := 0
	var dw float64
	su, oneSU := -1, true
	for _, a := range st.Allocs {
		n := bits.OnesCount64(a.GPUs)
		gpus += n
		dw += float64(n) * e.energy.deltaW[a.Node]
		s := e.c.Nodes[a.Node].SU
		if su >= 0 && s != su {
			oneSU = false
		}
		su = s
	}
	if n := len(st.Allocs); n > 1 && n <= e.suMax {
		e.res.MultiNodeStarts++
		if oneSU {
			e.res.MultiNodeOneSU++
		}
		if slices.ContainsFunc(e.suIdle, func(idle int) bool { return idle >= n }) {
			e.res.MultiNodeFit++
			if oneSU {
				e.res.MultiNodeFitOneSU++
			}
		}
	}
	for _, a := range st.Allocs {
		e.nodeHold(a, 1)
	}
	j.gpus, j.deltaW = gpus, dw
	e.busy += gpus
	e.busyW += dw
	e.usageTo(j.project)
	if j.project >= 0 {
		e.projRun[j.project] += gpus
	}
	j.endAt = e.now + j.runS
	r := sched.Running{ID: st.ID, Allocs: st.Allocs, StartS: e.now, EndS: st.EndS}
	if j.tpl != nil {
		r.User, r.Project, r.QOS, r.ArrayJobID = j.tpl.User, j.tpl.Project, j.tpl.QOS, j.tpl.ArrayJobID
	} else {
		wj := &e.w.Jobs[i]
		r.User, r.Project = wj.User, e.w.Projects[wj.Project].Name
	}
	e.addRunning(i, r)
	e.push(event{t: j.endAt, kind: evEnd, ref: i, attempt: j.attempt})
}

func (e *engine) addRunning(i int32, r sched.Running) {
	e.jobs[i].runIdx = int32(len(e.run))
	e.run = append(e.run, r)
	e.runJob = append(e.runJob, i)
}

// release frees job i's resources.
func (e *engine) release(i int32) {
	j := &e.jobs[i]
	k := j.runIdx
	last := int32(len(e.run) - 1)
	for _, a := range e.run[k].Allocs {
		e.nodeHold(a, -1)
	}
	if k != last {
		e.run[k] = e.run[last]
		e.runJob[k] = e.runJob[last]
		e.jobs[e.runJob[k]].runIdx = k
	}
	e.run[last] = sched.Running{}
	e.run = e.run[:last]
	e.runJob = e.runJob[:last]
	j.runIdx = -1
	e.busy -= j.gpus
	e.busyW -= j.deltaW
	e.usageTo(j.project)
	if j.project >= 0 {
		e.projRun[j.project] -= j.gpus
	}
	e.dirty = true
}

// finish ends job i's run for good in state st.
func (e *engine) finish(i int32, st job.State) {
	j := &e.jobs[i]
	e.release(i)
	j.state = stDone
	e.outcome[i].EndS = e.now
	e.outcome[i].State = st
	if st == job.Completed && e.history != nil {
		h := &e.history[j.user]
		h[1], h[0] = h[0], j.runS
	}
	if e.cfg.Progress != nil {
		e.cfg.Progress.Add(1)
	}
}

// cut ends job i's current run early; requeue puts it back in the queue to
// run again from the start (no checkpoint is assumed).
func (e *engine) cut(i int32, requeue bool) {
	j := &e.jobs[i]
	ran := float64(e.now - e.outcome[i].StartS)
	held := float64(j.gpus) * ran
	if !requeue {
		e.finish(i, job.Preempted)
		return
	}
	e.release(i)
	e.outcome[i].LostGPUS += held
	j.attained += held
	j.state = stPending
	j.eligibleS = e.now
	e.outcome[i].State = job.Pending
	e.res.Requeues++
	e.addPending(i, e.pendingOf(i))
}

// preempt applies one preemption: the job is signalled now and killed after
// its grace time unless it ends first.
func (e *engine) preempt(p *sched.Preemption) {
	i := e.index(p.ID)
	if i < 0 || e.jobs[i].state != stRunning {
		return
	}
	j := &e.jobs[i]
	r := &e.run[j.runIdx]
	if r.Preempting {
		return
	}
	e.res.Preemptions++
	if p.GraceS <= 0 {
		e.cut(i, p.Requeue)
		return
	}
	r.Preempting = true
	r.EndS = e.now + p.GraceS
	j.requeue = p.Requeue
	e.push(event{t: e.now + p.GraceS, kind: evKill, ref: i, attempt: j.attempt})
}

func (e *engine) scheduleFailure() {
	if e.cfg.Failures.NodeMTBFHours <= 0 {
		return
	}
	mean := e.cfg.Failures.NodeMTBFHours * 3600 / float64(len(e.c.Nodes))
	f := math.Ceil(e.rng.ExpFloat64() * mean)
	if f > maxSpanS {
		// Past any replay's end; converting it to int64 could wrap to a
		// failure every second.
		return
	}
	e.push(event{t: e.now + max(int64(f), 1), kind: evFail})
}

// failNode takes a random up node down; jobs on it are requeued, as Slurm
// requeues jobs after a node failure.
func (e *engine) failNode() {
	if e.upNodes == 0 {
		return
	}
	k := e.rng.IntN(e.upNodes)
	n := -1
	for i := range e.nodes {
		if e.nodes[i].Avail == sched.Up {
			if k == 0 {
				n = i
				break
			}
			k--
		}
	}
	e.res.NodeFailures++
	e.nodes[n] = sched.NodeStatus{Avail: sched.Down, Reason: "simulated failure"}
	e.nodeUp(n, false)
	var victims []int32
	for k := range e.run {
		for _, a := range e.run[k].Allocs {
			if a.Node == n {
				victims = append(victims, e.runJob[k])
				break
			}
		}
	}
	for _, i := range victims {
		e.cut(i, true)
	}
	repair := e.cfg.Failures.RepairS
	if repair == 0 {
		repair = DefaultRepairS
	}
	e.push(event{t: e.now + repair, kind: evRepair, ref: int32(n)})
	e.dirty = true
}

// nodeHold takes (d = 1) or gives back (d = -1) allocation a, keeping
// each node's free GPUs and the count of wholly idle up nodes per SU.
func (e *engine) nodeHold(a sched.Alloc, d int) {
	n := a.Node
	if d < 0 {
		e.frees++
	}
	e.freeGPUs[n] -= int32(d * bits.OnesCount64(a.GPUs))
	before := e.nodeJobs[n]
	e.nodeJobs[n] += int32(d)
	if e.nodes != nil && e.nodes[n].Avail != sched.Up {
		return
	}
	su := e.c.Nodes[n].SU
	switch {
	case before == 0 && d > 0:
		e.suIdle[su]--
	case before > 0 && e.nodeJobs[n] == 0:
		e.suIdle[su]++
	}
}

func (e *engine) nodeUp(n int, up bool) {
	if up {
		e.frees++
	}
	if e.nodeJobs[n] == 0 {
		if up {
			e.suIdle[e.c.Nodes[n].SU]++
		} else {
			e.suIdle[e.c.Nodes[n].SU]--
		}
	}
	g := float64(e.c.Nodes[n].GPUs())
	s := 1.0
	if !up {
		s = -1
		e.upNodes--
	} else {
		e.upNodes++
	}
	e.upBaseW += s * e.energy.baseW[n]
	e.upIdleW += s * e.energy.idleW[n] * g
}

func (e *engine) result() *Result {
	r := &e.res
	r.Jobs = e.outcome
	r.Passes = e.passes
	r.SkippedPasses = e.skipped
	r.EndS = e.now
	r.BusyGPUS = e.acc.busyGPUS
	r.WindowBusyGPUS = e.acc.windowBusy
	r.EnergyJ = e.acc.energyJ
	r.CO2LocationG = e.acc.co2Loc / 3.6e6
	r.CO2MarketG = e.acc.energyJ / 3.6e6 * e.energy.marketG
	e.series.finish(e.now)
	r.Series = e.series
	return r
}
