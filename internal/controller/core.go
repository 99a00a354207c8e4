package controller

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// jobRec is a job's stored record plus what the loop derives from it.
// Records are never changed in place once installed: a transaction stages
// a copy, so a failed commit leaves the installed one as it was.
type jobRec struct {
	store.JobRecord
	deps     job.Dependencies
	hasDeps  bool
	throttle int // array %N
	// Preempting is set when the job was told to checkpoint and stop;
	// preemptEnd is when its grace time ends.
	preempting bool
	preemptEnd int64
	cancelled  bool     // a cancel was sent to its agents
	warnings   []string // e.g. idle GPUs reported by the agent
	finishedAt time.Time
	// sp caches the job as the scheduling core sees it while pending;
	// a staged copy drops it.
	sp *sched.Pending
}

func (r *jobRec) clone() *jobRec {
	c := *r
	c.sp = nil
	return &c
}

func (r *jobRec) gpus() int { return r.Req.GPUs() }

// nodeRec is a node: its place in the cluster, what the operator said, and
// the agent session serving it.
type nodeRec struct {
	name    string
	avail   sched.Availability // operator state: Up, Draining or Drained
	reason  string
	since   int64
	session *session
	inv     api.NodeInventory
}

type core struct {
	// tails are the web view's tail requests waiting for an agent's
	// answer, by sequence number (output.go).
	tails   map[uint64]*tailWait
	tailSeq uint64

	cfg     *Config
	cluster *cluster.Cluster
	jobs    map[job.ID]*jobRec // active: pending or running
	recent  map[job.ID]*jobRec // finished in the last RecentKeep
	recentQ []job.ID
	// outcomes remembers how every job finished since the controller
	// started, for dependencies; older ones are read from the store.
	outcomes map[job.ID]job.DepJob
	nextID   job.ID
	// runtimes learns how long jobs run relative to their limits, for
	// forecasts (runtime.go).
	runtimes runtimeModel
	// arrivals are the recent submissions that forecasts draw the next
	// ones from (arrivals.go).
	arrivals   arrivalHistory
	keys       map[string]job.ID
	projects   map[string]*store.ProjectRecord
	nodes      []*nodeRec
	nodeByName map[string]int
	sessions   map[string]*session
	agentAck   map[string]uint64

	// The last plan's answers for pending jobs.
	waiting map[job.ID]*waitInfo
	planAt  int64
	dirty   bool
	passes  int
	scratch sched.Scratch
	// stepSt holds the steps of active jobs (steps.go).
	stepSt stepState
	// usage is the latest measure of the running steps, by node (a
	// gauge for sstat, never stored; stepusage.go).
	usage map[string][]api.StepUsage
	// gpuStats is the latest measure of each node's GPUs (a gauge for the
	// nodes list and the web's map, never stored).
	gpuStats map[string][]api.GPUStat
	// userActive counts each user's active jobs, for MaxSubmitJobs; kept
	// only when that limit is set.
	userActive map[string]int
}

type waitInfo struct {
	w        sched.Waiting
	position int
}

func recoverCore(cfg *Config, snap *store.Snapshot, now time.Time) (*core, error) {
	c := &core{
		cfg: cfg, cluster: cfg.Cluster,
		jobs: map[job.ID]*jobRec{}, recent: map[job.ID]*jobRec{}, outcomes: map[job.ID]job.DepJob{},
		nextID: snap.MaxJobID + 1, keys: map[string]job.ID{}, projects: map[string]*store.ProjectRecord{},
		nodeByName: map[string]int{}, sessions: map[string]*session{}, agentAck: map[string]uint64{},
		waiting: map[job.ID]*waitInfo{},
	}
	if c.nextID < 1 {
		c.nextID = 1
	}
	if c.cluster == nil {
		c.cluster = &cluster.Cluster{Name: "local", Partitions: []cluster.Partition{{Name: "gpu", Default: true, MaxTimeS: cluster.DefaultMaxTimeS, DefaultTimeS: cluster.DefaultDefaultTimeS}}}
	}
	for i := range c.cluster.Nodes {
		c.nodes = append(c.nodes, &nodeRec{name: c.cluster.Nodes[i].Name})
		c.nodeByName[c.cluster.Nodes[i].Name] = i
	}
	for k, v := range snap.RecentKeys {
		c.keys[k] = v
	}
	for i := range snap.Projects {
		p := snap.Projects[i]
		c.projects[p.Name] = &p
	}
	for _, n := range snap.Nodes {
		if i, ok := c.nodeByName[n.Name]; ok {
			c.nodes[i].avail, c.nodes[i].reason, c.nodes[i].since = availOf(n.State), n.Reason, n.SinceS
		}
	}
	for _, r := range snap.ActiveJobs {
		rec := &jobRec{JobRecord: r}
		if err := rec.parse(); err != nil {
			return nil, fmt.Errorf("job %d in the store: %w", r.ID, err)
		}
		c.jobs[r.ID] = rec
	}
	if cfg.MaxSubmitJobs > 0 {
		c.userActive = map[string]int{}
		for _, r := range c.jobs {
			c.userActive[r.User]++
		}
	}
	c.recoverSteps(snap.Steps)
	return c, nil
}

// parse derives dependencies and throttles from the spec.
func (r *jobRec) parse() error {
	if r.Spec.Dependency != "" {
		d, err := job.ParseDependency(r.Spec.Dependency)
		if err != nil {
			return err
		}
		r.deps, r.hasDeps = d, len(d.Conds) > 0
	}
	if r.Spec.Array != "" && r.ArrayJobID != 0 {
		a, err := job.ParseArray(r.Spec.Array, 0)
		if err == nil {
			r.throttle = a.MaxRunning
		}
	}
	return nil
}

func availOf(s string) sched.Availability {
	switch s {
	case "draining":
		return sched.Draining
	case "drained":
		return sched.Drained
	case "down":
		return sched.Down
	}
	return sched.Up
}

// txn stages the changes of a burst of operations.
type txn struct {
	c        *core
	now      time.Time
	nowS     int64
	jobs     map[job.ID]*jobRec
	newIDs   []job.ID
	updIDs   []job.ID
	projects map[string]*store.ProjectRecord
	delProj  []string
	nodes    map[int]*nodeRec
	keys     map[string]job.ID
	nextID   job.ID
	effects  []func()
	stepTx   stepTxn
	batch    store.Batch
	poisoned bool
	// schedule asks for a pass after this commit.
	schedule bool
	// audit are the audit records of the burst's requests (authz.go).
	audit []store.AuditRecord
	// submitted counts the jobs staged per user, for MaxSubmitJobs.
	submitted map[string]int
}

func (c *core) begin(now time.Time) *txn {
	return &txn{c: c, now: now, nowS: now.Unix(), nextID: c.nextID}
}

// job returns the job as staged or installed, or nil.
func (tx *txn) job(id job.ID) *jobRec {
	if r, ok := tx.jobs[id]; ok {
		return r
	}
	if r, ok := tx.c.jobs[id]; ok {
		return r
	}
	return tx.c.recent[id]
}

// edit returns a staged copy of an existing job to change.
func (tx *txn) edit(id job.ID) *jobRec {
	if r, ok := tx.jobs[id]; ok {
		return r
	}
	r := tx.job(id)
	if r == nil {
		return nil
	}
	r = r.clone()
	if tx.jobs == nil {
		tx.jobs = map[job.ID]*jobRec{}
	}
	tx.jobs[id] = r
	tx.updIDs = append(tx.updIDs, id)
	tx.schedule = true
	return r
}

// add stages a new job.
func (tx *txn) add(r *jobRec) {
	if tx.jobs == nil {
		tx.jobs = map[job.ID]*jobRec{}
	}
	tx.jobs[r.ID] = r
	tx.newIDs = append(tx.newIDs, r.ID)
}

func (tx *txn) project(name string) *store.ProjectRecord {
	if p, ok := tx.projects[name]; ok {
		return p
	}
	return tx.c.projects[name]
}

func (tx *txn) editProject(name string) *store.ProjectRecord {
	if p, ok := tx.projects[name]; ok {
		return p
	}
	p := &store.ProjectRecord{Name: name, PeriodStartS: tx.nowS}
	if old := tx.c.projects[name]; old != nil {
		cp := *old
		cp.Users = slices.Clone(old.Users)
		p = &cp
	}
	if tx.projects == nil {
		tx.projects = map[string]*store.ProjectRecord{}
	}
	tx.projects[name] = p
	tx.schedule = true
	return p
}

func (tx *txn) node(i int) *nodeRec {
	if n, ok := tx.nodes[i]; ok {
		return n
	}
	return tx.c.nodes[i]
}

func (tx *txn) editNode(i int) *nodeRec {
	if n, ok := tx.nodes[i]; ok {
		return n
	}
	n := *tx.c.nodes[i]
	if tx.nodes == nil {
		tx.nodes = map[int]*nodeRec{}
	}
	tx.nodes[i] = &n
	tx.schedule = true
	return &n
}

// after registers an effect to run once the transaction is committed.
func (tx *txn) after(f func()) { tx.effects = append(tx.effects, f) }

// buildBatch turns the staged changes into a store batch.
func (tx *txn) buildBatch() {
	b := &tx.batch
	tx.buildStepBatch()
	if len(tx.newIDs) > 0 {
		b.NewJobs = make([]store.JobRecord, 0, len(tx.newIDs))
	}
	for _, id := range tx.newIDs {
		b.NewJobs = append(b.NewJobs, tx.jobs[id].JobRecord)
	}
	seen := map[job.ID]bool{}
	for _, id := range tx.updIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		b.Jobs = append(b.Jobs, tx.jobs[id].JobRecord)
	}
	names := make([]string, 0, len(tx.projects))
	for n := range tx.projects {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.Projects = append(b.Projects, *tx.projects[n])
	}
	b.DeleteProjects = tx.delProj
	b.Audit = tx.audit
	idx := make([]int, 0, len(tx.nodes))
	for i := range tx.nodes {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		n := tx.nodes[i]
		state := "up"
		switch n.avail {
		case sched.Draining:
			state = "draining"
		case sched.Drained:
			state = "drained"
		}
		b.Nodes = append(b.Nodes, store.NodeRecord{Name: n.name, State: state, Reason: n.reason, SinceS: n.since})
	}
}

// install makes the committed transaction the current state.
func (c *core) install(tx *txn) {
	for id, r := range tx.jobs {
		if c.userActive != nil {
			_, was := c.jobs[id]
			switch {
			case was && r.State.Final():
				c.userActive[r.User]--
			case !was && !r.State.Final():
				c.userActive[r.User]++
			}
		}
		if r.State.Final() {
			delete(c.jobs, id)
			if r.finishedAt.IsZero() {
				r.finishedAt = tx.now
			}
			if _, ok := c.recent[id]; !ok {
				c.recentQ = append(c.recentQ, id)
				c.runtimes.observeJob(&r.JobRecord)
			}
			c.recent[id] = r
			c.outcomes[id] = job.DepJob{State: r.State, ExitCode: r.ExitCode, StartS: r.StartS}
			delete(c.waiting, id)
			continue
		}
		c.jobs[id] = r
	}
	for _, id := range tx.newIDs {
		// Held jobs and jobs that wait for others or for a begin time
		// say little about when the next jobs come.
		if r := tx.jobs[id]; r != nil && !r.Spec.Hold && !r.hasDeps && r.Spec.BeginS <= r.SubmitS {
			c.arrivals.add(sched.Pending{ID: r.ID, Req: r.Req, User: r.User, Project: r.Project, QOS: r.QOS, SubmitS: r.SubmitS, Nice: r.Spec.Nice})
		}
	}
	for k, v := range tx.keys {
		c.keys[k] = v
	}
	for n, p := range tx.projects {
		c.projects[n] = p
	}
	for _, n := range tx.delProj {
		delete(c.projects, n)
	}
	for i, n := range tx.nodes {
		c.nodes[i] = n
	}
	c.nextID = tx.nextID
	c.installSteps(tx)
	if tx.schedule {
		c.dirty = true
	}
	// Forget finished jobs past RecentKeep.
	cut := 0
	for cut < len(c.recentQ) {
		r := c.recent[c.recentQ[cut]]
		if r != nil && tx.now.Sub(r.finishedAt) < c.cfg.RecentKeep {
			break
		}
		delete(c.recent, c.recentQ[cut])
		cut++
	}
	c.recentQ = c.recentQ[cut:]
}

// decay returns usage decayed from at to now with the configured half-life.
func (c *core) decay(usage float64, at, now int64) float64 {
	if usage == 0 || now <= at {
		return usage
	}
	h := c.cfg.UsageHalfLife.Seconds()
	return usage * math.Exp2(-float64(now-at)/h)
}
