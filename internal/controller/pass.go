package controller

import (
	"context"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// snapshot builds the core's input from the installed state.
func (c *Controller) snapshot(cr *core, now int64, extra *sched.Pending) *sched.Snapshot {
	s := &sched.Snapshot{Now: now, Cluster: cr.cluster, QOS: c.cfg.QOS, MaxJobsPerUser: c.cfg.MaxJobs}
	s.Nodes = make([]sched.NodeStatus, len(cr.nodes))
	for i, n := range cr.nodes {
		st := sched.NodeStatus{Avail: n.avail, Reason: n.reason}
		if n.session == nil || n.session.lost {
			if st.Avail == sched.Up || st.Avail == sched.Draining {
				st.Avail, st.Reason = sched.Down, "no agent"
			}
		}
		s.Nodes[i] = st
	}
	running := map[string]int{} // project -> GPU-seconds run so far this period
	s.Pending = make([]sched.Pending, 0, len(cr.jobs))
	for _, r := range cr.jobs {
		switch r.State {
		case job.Running:
			sr := sched.Running{ID: r.ID, User: r.User, Project: r.Project, QOS: r.QOS, StartS: r.StartS,
				EndS: r.StartS + limitOf(r), Preempting: r.preempting, ArrayJobID: r.ArrayJobID}
			if r.preempting {
				sr.EndS = min(sr.EndS, r.preemptEnd)
			}
			for _, a := range r.Allocs {
				if i, ok := cr.nodeByName[a.Node]; ok {
					sr.Allocs = append(sr.Allocs, sched.Alloc{Node: i, GPUs: listToMask(a.GPUs), CPUs: a.CPUs, MemMB: a.MemMB})
				}
			}
			s.Running = append(s.Running, sr)
			running[r.Project] += allocGPUs(r.Allocs) * int(max(now-r.StartS, 0))
		case job.Pending:
			s.Pending = append(s.Pending, c.pendingOf(cr, r, now))
		}
	}
	if extra != nil {
		s.Pending = append(s.Pending, *extra)
	}
	for name, p := range cr.projects {
		sp := sched.Project{Name: name, Parent: p.Parent, Shares: 1, MaxGPUs: p.MaxGPUs,
			UsageGPUS: cr.decay(p.UsageGPUS, p.UsageAtS, now)}
		if p.GrantGPUHours > 0 {
			sp.Shares = p.GrantGPUHours
			if c.cfg.OverGrantQOS == "" {
				sp.GrantGPUS = p.GrantGPUHours * 3600
				sp.UsedGPUS = p.UsedGPUSeconds + float64(running[name])
			}
		}
		s.Projects = append(s.Projects, sp)
	}
	return s
}

func limitOf(r *jobRec) int64 {
	if r.Req.TimeLimitS <= 0 {
		return sched.Never / 2
	}
	return r.Req.TimeLimitS
}

func (c *Controller) pendingOf(cr *core, r *jobRec, now int64) sched.Pending {
	if r.sp == nil {
		r.sp = &sched.Pending{ID: r.ID, Req: r.Req, User: r.User, Project: r.Project, QOS: r.QOS,
			SubmitS: r.SubmitS, EligibleS: r.EligibleS, BeginS: r.Spec.BeginS, Nice: r.Spec.Nice,
			Held: r.Spec.Hold, ArrayJobID: r.ArrayJobID, ArrayMaxRunning: r.throttle}
	}
	p := *r.sp
	if c.cfg.OverGrantQOS != "" {
		if pr := cr.projects[r.Project]; pr != nil && pr.GrantGPUHours > 0 && pr.UsedGPUSeconds >= pr.GrantGPUHours*3600 {
			p.QOS = c.cfg.OverGrantQOS
		}
	}
	if r.hasDeps {
		st := r.deps.Evaluate(job.DepContext{Now: now, ArrayTask: taskOf(r), Lookup: func(ref job.JobRef) (job.DepJob, bool) {
			return cr.lookupDep(ref)
		}})
		switch st {
		case job.DepWaiting:
			p.Deps = sched.DepWaiting
		case job.DepNever:
			p.Deps = sched.DepNeverSatisfied
		}
	}
	return p
}

func taskOf(r *jobRec) int {
	if r.ArrayJobID == 0 {
		return job.NoTask
	}
	return r.ArrayTaskID
}

// lookupDep finds how a job a dependency names is doing. For an array job
// ID without a task, the array's state is its worst task's.
func (cr *core) lookupDep(ref job.JobRef) (job.DepJob, bool) {
	find := func(id job.ID) (job.DepJob, bool) {
		if r, ok := cr.jobs[id]; ok {
			return job.DepJob{State: r.State, ExitCode: r.ExitCode, StartS: r.StartS}, true
		}
		if o, ok := cr.outcomes[id]; ok {
			return o, true
		}
		return job.DepJob{}, false
	}
	if ref.Task == job.NoTask {
		return find(ref.ID)
	}
	for _, r := range cr.jobs {
		if r.ArrayJobID == ref.ID && r.ArrayTaskID == ref.Task {
			return find(r.ID)
		}
	}
	for id, r := range cr.recent {
		if r.ArrayJobID == ref.ID && r.ArrayTaskID == ref.Task {
			return find(id)
		}
	}
	return job.DepJob{}, false
}

// schedule runs one pass and applies its plan: persist the starts, then
// tell agents.
func (c *Controller) schedule(ctx context.Context) {
	cr := c.core
	cr.dirty = false
	now := c.clk.Now()
	snap := c.snapshot(cr, now.Unix(), nil)
	snap.Scratch = &cr.scratch // the loop's own: passes never overlap
	start := time.Now()
	plan := sched.Schedule(snap, c.policy)
	c.m.passSeconds.Observe(time.Since(start).Seconds())
	cr.passes++
	cr.planAt = now.Unix()
	cr.waiting = make(map[job.ID]*waitInfo, len(plan.Waiting))
	for i := range plan.Waiting {
		cr.waiting[plan.Waiting[i].ID] = &waitInfo{w: plan.Waiting[i], position: i}
	}
	if len(plan.Starts) == 0 && len(plan.Preemptions) == 0 {
		c.m.observePlan(cr, plan)
		return
	}
	tx := cr.begin(now)
	for _, st := range plan.Starts {
		r := tx.edit(st.ID)
		r.State = job.Running
		r.StartS = tx.nowS
		c.calib.started(st.ID, tx.nowS)
		r.Reason = ""
		r.Allocs = make([]store.Alloc, 0, len(st.Allocs))
		for _, a := range st.Allocs {
			r.Allocs = append(r.Allocs, store.Alloc{Node: cr.nodes[a.Node].name, GPUs: maskToList(a.GPUs), CPUs: a.CPUs, MemMB: a.MemMB})
		}
		c.assign(tx, r)
	}
	for _, pr := range plan.Preemptions {
		r := tx.edit(pr.ID)
		r.preempting = true
		r.preemptEnd = tx.nowS + max(pr.GraceS, 1)
		r.Reason = "preempted by job " + itoa(int64(pr.By))
		if !pr.Requeue {
			r.Spec.Requeue = new(bool)
		}
		c.signalJob(tx, r, pr.Signal, pr.GraceS, r.Reason)
		c.log.Info("preempting", "job", pr.ID, "by", pr.By, "grace_s", pr.GraceS)
	}
	tx.schedule = false
	if err := c.commit(ctx, tx); err != nil {
		c.log.Error("could not commit a scheduling plan; retrying", "err", err)
		cr.dirty = true
		return
	}
	c.m.observePlan(cr, plan)
}

// assign queues the job's assignments for its nodes' agents after commit.
func (c *Controller) assign(tx *txn, r *jobRec) {
	nl := nodeList(r.Allocs)
	var arr api.ArrayInfo
	if r.ArrayJobID != 0 {
		if a, err := job.ParseArray(r.Spec.Array, 0); err == nil && len(a.Indices) > 0 {
			arr = api.ArrayInfo{Count: len(a.Indices), Min: a.Indices[0], Max: a.Indices[len(a.Indices)-1]}
		}
	}
	for i, a := range r.Allocs {
		as := api.Assignment{
			JobID: r.ID, Node: a.Node, BatchHost: i == 0, GPUs: a.GPUs, CPUs: a.CPUs, MemMB: a.MemMB,
			StartS: r.StartS, TimeLimit: r.Req.TimeLimitS, NodeList: nl, Nodes: len(r.Allocs), Spec: r.Spec,
			Restarts: r.Restarts, ArrayJob: r.ArrayJobID, ArrayTask: r.ArrayTaskID, ArrayInfo: arr,
			Partition: r.Partition, Project: r.Project,
		}
		node := a.Node
		tx.after(func() { c.core.queueAssign(node, as) })
	}
}

func (c *Controller) sendSignal(tx *txn, s api.Signal) {
	tx.after(func() { c.core.queueSignal(s.Node, s) })
}

// estimateNew runs a pass with one more pending job and returns its
// estimated start (Unix seconds; 0 if none is in view).
func (c *Controller) estimateNew(tx *txn, spec job.Spec, req job.Request, project string) int64 {
	cr := tx.c
	p := sched.Pending{ID: tx.nextID, Req: req, User: spec.User, Project: project, QOS: spec.QOS,
		SubmitS: tx.nowS, EligibleS: tx.nowS, BeginS: spec.BeginS, Nice: spec.Nice, Held: spec.Hold}
	plan := sched.Schedule(c.snapshot(cr, tx.nowS, &p), c.policy)
	for _, st := range plan.Starts {
		if st.ID == p.ID {
			return tx.nowS
		}
	}
	for _, w := range plan.Waiting {
		if w.ID == p.ID && w.EstimatedStartS != sched.Never {
			return w.EstimatedStartS
		}
	}
	return 0
}

func itoa(v int64) string {
	return formatInt(v)
}

func fmtTime(t int64) string {
	if t == 0 {
		return "-"
	}
	return time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05 UTC")
}
