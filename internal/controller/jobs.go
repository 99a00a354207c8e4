package controller

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/quantum"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Submit validates a job, commits it and returns its ID. With an
// idempotency key, a retry returns the first job.
func (c *Controller) Submit(ctx context.Context, user, key string, req api.SubmitRequest) (*api.SubmitResponse, error) {
	if user == "" {
		return nil, &api.Error{Code: api.CodeUnauthorized, Message: "no user: send the " + api.HeaderUser + " header"}
	}
	spec := req.Spec
	spec.User = user
	if len(spec.Script) > job.MaxScriptSize {
		return nil, &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("the batch script is %d bytes; the limit is %d (keep data out of the script)", len(spec.Script), job.MaxScriptSize)}
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		resp, err := c.submit(tx, user, key, spec, req.TestOnly)
		if err == nil && !req.TestOnly {
			setAuditTarget(ctx, fmt.Sprint(resp.ID))
		}
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*api.SubmitResponse), nil
}

func (c *Controller) submit(tx *txn, user, key string, spec job.Spec, testOnly bool) (*api.SubmitResponse, error) {
	k := user + "\x00" + key
	if key != "" && !testOnly {
		if id, ok := tx.keys[k]; ok {
			return c.duplicate(tx, id), nil
		}
		if id, ok := tx.c.keys[k]; ok {
			return c.duplicate(tx, id), nil
		}
	}
	var errs []error
	project, err := c.projectFor(tx, user, spec.Account)
	if err != nil {
		errs = append(errs, err)
	}
	spec.Account = project
	if spec.QOS == "" {
		spec.QOS = c.cfg.DefaultQOS
	}
	if !c.knownQOS(spec.QOS) {
		errs = append(errs, fmt.Errorf("--qos=%s: no such QOS; choose one of %s", spec.QOS, strings.Join(c.qosNames(), ", ")))
	}
	if spec.Nice < 0 && !c.isOperator(user) {
		// As in Slurm, only privileged users raise a job's priority.
		errs = append(errs, fmt.Errorf("--nice (nice)=%d: only operators may give a negative nice; use 0 to %d", spec.Nice, job.MaxNice))
	}
	if len(tx.c.cluster.Nodes) == 0 {
		return nil, &api.Error{Code: api.CodeConflict, Message: "the cluster has no nodes yet: start an agent (gefion agent) or describe nodes in the cluster file"}
	}
	// A quantum job asks in qubits: size it on this machine first.
	if err := quantum.ApplyToSpec(&spec, tx.c.cluster); err != nil {
		return nil, invalid("--qubits=%d: %v", spec.Qubits, err)
	}
	reqShape, err := job.Resolve(&spec, tx.c.cluster)
	if err != nil {
		errs = append(errs, err)
	}
	var deps job.Dependencies
	if spec.Dependency != "" {
		deps, err = job.ParseDependency(spec.Dependency)
		if err != nil {
			errs = append(errs, fmt.Errorf("--dependency: %w", err))
		}
		for _, cnd := range deps.Conds {
			for _, ref := range cnd.Jobs {
				if ref.ID >= tx.nextID || ref.ID <= 0 {
					errs = append(errs, fmt.Errorf("--dependency: job %d does not exist", ref.ID))
				}
			}
		}
	}
	indices := []int{-1}
	throttle := 0
	if spec.Array != "" {
		a, err := job.ParseArray(spec.Array, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("--array: %w", err))
		} else {
			indices, throttle = a.Indices, a.MaxRunning
		}
	}
	if len(errs) > 0 {
		return nil, &api.Error{Code: api.CodeInvalid, Message: strings.TrimPrefix(errors.Join(errs...).Error(), "invalid job: ")}
	}
	if !spec.Container.IsZero() {
		if err := checkImageRef(spec.Container); err != nil {
			return nil, err
		}
		if err := tx.c.noContainers(nil); err != nil {
			return nil, err
		}
	}
	if spec.Name == "" {
		spec.Name = "sbatch"
	}
	if spec.TimeLimitS == 0 {
		spec.TimeLimitS = reqShape.TimeLimitS
	}
	part := tx.c.cluster.Partitions[reqShape.Partition].Name
	resp := &api.SubmitResponse{Request: reqShape}
	if testOnly {
		resp.EstimatedStart = c.estimateNew(tx, spec, reqShape, project)
		return resp, nil
	}
	if err := c.checkMaxSubmit(tx, user, len(indices)); err != nil {
		return nil, err
	}
	first := tx.nextID
	for _, ix := range indices {
		id := tx.nextID
		tx.nextID++
		r := &jobRec{JobRecord: store.JobRecord{
			ID: id, Name: spec.Name, User: user, Project: project, Partition: part, QOS: spec.QOS,
			State: job.Pending, SubmitS: tx.nowS, EligibleS: tx.nowS, Spec: spec, Req: reqShape,
		}, deps: deps, hasDeps: len(deps.Conds) > 0}
		if ix >= 0 {
			r.ArrayJobID, r.ArrayTaskID, r.throttle = first, ix, throttle
		}
		if key != "" && id == first {
			r.IdemKey = key
		}
		tx.add(r)
		if spec.Hold {
			// A held job changes no plan; its reason is known.
			cr := tx.c
			tx.after(func() {
				cr.waiting[id] = &waitInfo{w: sched.Waiting{ID: id, Reason: sched.ReasonHeld, EstimatedStartS: sched.Never}}
			})
		} else {
			tx.schedule = true
		}
		resp.IDs = append(resp.IDs, id)
	}
	resp.ID = first
	if len(resp.IDs) == 1 {
		resp.IDs = nil
	}
	if key != "" {
		if tx.keys == nil {
			tx.keys = map[string]job.ID{}
		}
		tx.keys[k] = first
	}
	c.m.submissions.Add(float64(len(indices)))
	return resp, nil
}

func (c *Controller) duplicate(tx *txn, id job.ID) *api.SubmitResponse {
	r := &api.SubmitResponse{ID: id, Duplicate: true}
	if j := tx.job(id); j != nil {
		r.Request = j.Req
	}
	return r
}

// projectFor returns the project a user's job is charged to.
func (c *Controller) projectFor(tx *txn, user, account string) (string, error) {
	if account != "" {
		p := tx.project(account)
		if p == nil {
			return "", fmt.Errorf("--account=%s: no such project; %s", account, c.memberHint(tx, user))
		}
		if !member(p, user) && !c.isOperator(user) {
			return "", fmt.Errorf("--account=%s: you (%s) are not a member; an operator adds you with 'gefion project add-user %s %s'", account, user, account, user)
		}
		return account, nil
	}
	mine := c.projectsOf(tx, user)
	if len(mine) > 0 {
		return mine[0], nil
	}
	if c.cfg.DefaultProject != "" && tx.project(c.cfg.DefaultProject) != nil {
		return c.cfg.DefaultProject, nil
	}
	return "", fmt.Errorf("you (%s) belong to no project: ask an operator to add you ('gefion project add-user PROJECT %s')", user, user)
}

func (c *Controller) memberHint(tx *txn, user string) string {
	mine := c.projectsOf(tx, user)
	if len(mine) == 0 {
		return "you belong to no project"
	}
	return "your projects are " + strings.Join(mine, ", ")
}

func (c *Controller) projectsOf(tx *txn, user string) []string {
	var out []string
	for name := range tx.c.projects {
		if p := tx.project(name); p != nil && slices.Contains(p.Users, user) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func member(p *store.ProjectRecord, user string) bool {
	return slices.Contains(p.Users, user) || slices.Contains(p.Users, "*")
}

func (c *Controller) knownQOS(name string) bool {
	for _, q := range c.cfg.QOS {
		if q.Name == name {
			return true
		}
	}
	return false
}

func (c *Controller) qosNames() []string {
	var out []string
	for _, q := range c.cfg.QOS {
		out = append(out, q.Name)
	}
	return out
}

// Cancel cancels jobs: a job ID cancels the job (every task of an array),
// ID_TASK one array task. Running jobs get SIGTERM and, after KillWait,
// SIGKILL; they end as CANCELLED. With a signal, as scancel -s, running
// jobs only get that signal (pending jobs are left alone).
func (c *Controller) Cancel(ctx context.Context, user string, refs []job.Ref, signal string) ([]job.ID, error) {
	if signal != "" {
		if _, name, err := job.SignalNumber(signal); err != nil {
			return nil, invalid("--signal=%s: %v", signal, err)
		} else {
			signal = name
		}
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		targets, err := c.resolveRefs(tx, refs)
		if err != nil {
			return nil, err
		}
		a := c.accessOf(tx.c.projects, user)
		for _, r := range targets {
			if !a.actOn(r.User, r.Project) {
				return nil, notYours(r.ID, "cancel")
			}
		}
		done := []job.ID{}
		for _, r := range targets {
			if r.State.Final() {
				if len(targets) == 1 {
					return nil, conflict("job %d already ended (%s)", r.ID, r.State)
				}
				continue
			}
			e := tx.edit(r.ID)
			done = append(done, r.ID)
			switch e.State {
			case job.Pending:
				e.State, e.EndS, e.Reason = job.Cancelled, tx.nowS, "cancelled by "+user
			case job.Running:
				if signal != "" {
					// scancel -s: deliver the signal only; the job goes on.
					c.signalJob(tx, e, signal, 0, "signal from "+user)
					continue
				}
				// A repeated cancel sends TERM again, in case the first
				// was lost with its agent.
				e.cancelled = true
				e.Reason = "cancelled by " + user
				c.signalJob(tx, e, "TERM", int64(c.cfg.KillWait.Seconds()), e.Reason)
			}
		}
		return done, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]job.ID), nil
}

func signalOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// signalJob sends a signal to every node of a running job after commit.
func (c *Controller) signalJob(tx *txn, r *jobRec, sig string, grace int64, reason string) {
	for _, a := range r.Allocs {
		s := api.Signal{JobID: r.ID, Node: a.Node, Signal: sig, GraceS: grace, Reason: reason}
		c.sendSignal(tx, s)
	}
}

// Hold holds (or releases) pending jobs, named as Cancel names them. A
// single job that is not pending is a conflict; among several (an array),
// those that are not pending are left alone.
func (c *Controller) Hold(ctx context.Context, user string, refs []job.Ref, hold bool) error {
	_, err := c.do(ctx, func(tx *txn) (any, error) {
		targets, err := c.resolveRefs(tx, refs)
		if err != nil {
			return nil, err
		}
		var pending []job.ID
		a := c.accessOf(tx.c.projects, user)
		for _, r := range targets {
			if !a.actOn(r.User, r.Project) {
				return nil, notYours(r.ID, "hold or release")
			}
			if r.State == job.Pending {
				pending = append(pending, r.ID)
			}
		}
		if len(pending) == 0 {
			r := targets[0]
			if len(targets) == 1 {
				return nil, conflict("job %d is %s; only pending jobs can be held or released", r.ID, r.State)
			}
			return nil, conflict("none of the %d jobs named is pending; only pending jobs can be held or released", len(targets))
		}
		for _, id := range pending {
			tx.edit(id).Spec.Hold = hold
		}
		return nil, nil
	})
	return err
}

// resolveRefs returns the in-memory records that refs name, each once:
// a job ID names the job and, when it is an array, all its tasks; ID_TASK
// names that task of array ID. A name that matches nothing is an error
// and nothing is returned, so that no command acts on part of a request.
func (c *Controller) resolveRefs(tx *txn, refs []job.Ref) ([]*jobRec, error) {
	var out []*jobRec
	seen := map[job.ID]bool{}
	add := func(r *jobRec) {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	for _, ref := range refs {
		if ref.Tasks == nil {
			r := tx.job(ref.ID)
			// An array's ID names all its tasks, even once the task that
			// shares the array's ID has left memory.
			tasks := c.arrayTasks(tx, ref.ID)
			if r == nil && len(tasks) == 0 {
				return nil, notFound("job %d does not exist or ended long ago (see 'gefion acct -j %d')", ref.ID, ref.ID)
			}
			if r != nil {
				add(r)
			}
			for _, t := range tasks {
				add(t)
			}
			continue
		}
		tasks := c.arrayTasks(tx, ref.ID)
		if len(tasks) == 0 {
			if r := tx.job(ref.ID); r != nil && r.ArrayJobID == 0 {
				return nil, notFound("job %d is not an array job, so it has no task %s: name it as %d", ref.ID, job.FormatIndices(ref.Tasks), ref.ID)
			}
			return nil, notFound("array job %d does not exist or ended long ago (see 'gefion acct -j %d')", ref.ID, ref.ID)
		}
		byTask := make(map[int]*jobRec, len(tasks))
		have := make([]int, 0, len(tasks))
		for _, t := range tasks {
			byTask[t.ArrayTaskID] = t
			have = append(have, t.ArrayTaskID)
		}
		var missing []int
		for _, ix := range ref.Tasks {
			if t := byTask[ix]; t != nil {
				add(t)
			} else {
				missing = append(missing, ix)
			}
		}
		if len(missing) > 0 {
			slices.Sort(have)
			return nil, notFound("array job %d has no task %s; its tasks are %d_[%s]", ref.ID, job.FormatIndices(missing), ref.ID, job.FormatIndices(have))
		}
	}
	return out, nil
}

// arrayTasks returns the tasks of array id that are in memory (active or
// recently finished), by task index.
func (c *Controller) arrayTasks(tx *txn, id job.ID) []*jobRec {
	var out []*jobRec
	for _, m := range []map[job.ID]*jobRec{tx.c.jobs, tx.c.recent} {
		for _, r := range m {
			if r.ArrayJobID == id {
				out = append(out, tx.job(r.ID))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ArrayTaskID < out[j].ArrayTaskID })
	return out
}

// Jobs lists the active and recently finished jobs of the user, or with
// all=true every job the user may see (authz.go).
func (c *Controller) Jobs(ctx context.Context, user string, all bool) ([]api.Job, error) {
	return c.ListJobs(ctx, user, all, false)
}

// ListJobs is Jobs, optionally without the recently finished ones.
func (c *Controller) ListJobs(ctx context.Context, user string, all, activeOnly bool) ([]api.Job, error) {
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		a := c.accessOf(tx.c.projects, user)
		// An empty list is [], not null: clients index it unchecked.
		out := []api.Job{}
		add := func(r *jobRec) {
			if r.User == user || all && a.seeJob(r.User, r.Project) {
				out = append(out, c.apiJob(tx.c, r, false))
			}
		}
		for _, r := range tx.c.jobs {
			add(r)
		}
		if !activeOnly {
			for _, r := range tx.c.recent {
				add(r)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]api.Job), nil
}

// Job returns one job (ID) or array task (ID_TASK), from memory or the
// store, with its spec exactly when the user may read it (authz.go).
func (c *Controller) Job(ctx context.Context, user string, ref job.Ref) (*api.Job, error) {
	if len(ref.Tasks) > 1 {
		return nil, invalid("%s names %d tasks; show one job (ID) or one task (ID_TASK) at a time", ref, len(ref.Tasks))
	}
	id := ref.ID
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		r, err := c.oneRef(tx, ref)
		if r == nil {
			return nil, err
		}
		a := c.accessOf(tx.c.projects, user)
		if !a.seeJob(r.User, r.Project) {
			return nil, notYours(r.ID, "read")
		}
		j := c.apiJob(tx.c, r, a.seeSpec(r.User, r.Project))
		return &j, nil
	})
	if err != nil {
		return nil, err
	}
	if j, _ := v.(*api.Job); j != nil {
		return j, nil
	}
	q := store.JobQuery{IDs: []job.ID{id}}
	if ref.Tasks != nil {
		// An array's tasks take consecutive IDs from the array's.
		q.IDs = q.IDs[:0]
		for i := range job.DefaultMaxArraySize {
			q.IDs = append(q.IDs, id+job.ID(i))
		}
	}
	recs, err := c.st.Jobs(ctx, q)
	if err != nil {
		return nil, err
	}
	if ref.Tasks != nil {
		recs = slices.DeleteFunc(recs, func(r store.JobRecord) bool {
			return r.ArrayJobID != id || r.ArrayTaskID != ref.Tasks[0]
		})
	}
	if len(recs) == 0 {
		if ref.Tasks != nil {
			return nil, notFound("job %s does not exist: array job %d has no task %d", ref, id, ref.Tasks[0])
		}
		return nil, notFound("job %d does not exist", id)
	}
	a, err := c.access(ctx, user)
	if err != nil {
		return nil, err
	}
	if !a.seeJob(recs[0].User, recs[0].Project) {
		return nil, notYours(id, "read")
	}
	j := c.apiJob(nil, &jobRec{JobRecord: recs[0]}, a.seeSpec(recs[0].User, recs[0].Project))
	return &j, nil
}

// Why explains why a job (ID) or array task (ID_TASK) waits and when it
// should start.
func (c *Controller) Why(ctx context.Context, user string, ref job.Ref) (*api.Why, error) {
	if len(ref.Tasks) > 1 {
		return nil, invalid("%s names %d tasks; ask about one job (ID) or one task (ID_TASK) at a time", ref, len(ref.Tasks))
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		r, err := c.oneRef(tx, ref)
		if r == nil {
			if err == nil {
				err = notFound("job %s does not exist or ended long ago (see 'gefion acct -j %d')", ref, ref.ID)
			}
			return nil, err
		}
		id := r.ID
		if !c.accessOf(tx.c.projects, user).seeJob(r.User, r.Project) {
			return nil, notYours(id, "ask about")
		}
		w := &api.Why{ID: id, State: r.State, Warnings: r.warnings, Pending: len(tx.c.waiting)}
		switch {
		case r.State == job.Running:
			w.Reason = "None"
			w.Sentence = fmt.Sprintf("running since %s on %s", fmtTime(r.StartS), nodeList(r.Allocs))
			if r.preempting {
				w.Sentence += "; being preempted (checkpoint signal sent)"
			}
		case r.State.Final():
			w.Reason = string(r.State)
			w.Sentence = fmt.Sprintf("ended %s (%s, exit code %d)", fmtTime(r.EndS), r.State, r.ExitCode)
			if r.Reason != "" {
				// Why it ended so: a launch failure, a cancel, a node.
				w.Reason = r.Reason
				w.Sentence += ": " + r.Reason
			}
		default:
			wi := tx.c.waiting[id]
			if wi == nil {
				w.Reason = "None"
				w.Sentence = "just submitted; the next scheduling pass (within a second) places it"
				return w, nil
			}
			w.Reason = string(wi.w.Reason)
			w.Sentence = wi.w.Sentence(tx.c.cluster, tx.c.planAt, nil)
			w.Priority = wi.w.Priority
			w.Position = wi.position + 1
			if wi.w.EstimatedStartS != sched.Never {
				w.EstimatedStart = wi.w.EstimatedStartS
			}
		}
		return w, nil
	})
	if err != nil {
		return nil, err
	}
	w := v.(*api.Why)
	if w.State == job.Pending && w.Reason != string(sched.ReasonHeld) {
		fs := c.forecast(ctx, w.ID)
		if now := c.clk.Now().Unix(); fs.point != 0 {
			c.calib.gave(w.ID, now, fs.point)
			fs = c.calib.widen(fs, now)
		}
		w.Forecast, w.ForecastLow, w.ForecastHigh = fs.point, fs.low, fs.high
	}
	return w, nil
}

// oneRef finds the in-memory record of a job ID or of one array task.
// It returns nil and no error for a job ID that is not in memory (the
// caller may look in the store), and an error for a task that does not
// exist.
func (c *Controller) oneRef(tx *txn, ref job.Ref) (*jobRec, error) {
	if ref.Tasks == nil {
		return tx.job(ref.ID), nil
	}
	rs, err := c.resolveRefs(tx, []job.Ref{ref})
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
			// Perhaps it ended long ago and is only in the store.
			return nil, nil
		}
		return nil, err
	}
	return rs[0], nil
}

// apiJob converts a record; c may be nil for records read from the store.
func (c *Controller) apiJob(cr *core, r *jobRec, withSpec bool) api.Job {
	j := api.Job{
		ID: r.ID, ArrayJobID: r.ArrayJobID, ArrayTaskID: r.ArrayTaskID, Name: r.Name, User: r.User,
		Project: r.Project, Partition: r.Partition, QOS: r.QOS, State: r.State, Reason: r.Reason,
		Held: r.Spec.Hold, SubmitTime: r.SubmitS, StartTime: r.StartS, EndTime: r.EndS,
		TimeLimitS: r.Req.TimeLimitS, Nodes: r.Req.Nodes, GPUs: r.Req.GPUs(), CPUs: r.Req.CPUsPerNode * r.Req.Nodes,
		ExitCode: r.ExitCode, Signal: r.Signal, Restarts: r.Restarts, GPUSeconds: r.GPUSeconds,
		EnergyJ: r.EnergyJ, Request: r.Req, EligibleTime: r.EligibleS,
	}
	if r.ArrayJobID != 0 {
		j.ArrayMaxRunning = arrayThrottle(r.Spec.Array)
	}
	if r.Req.WholeNodes {
		j.GPUs = 0
		for _, a := range r.Allocs {
			j.GPUs += len(a.GPUs)
		}
		if j.GPUs == 0 {
			j.GPUs = r.Req.GPUs()
		}
	}
	if r.State == job.Running && cr != nil {
		now := cr.planAt
		j.GPUSeconds += float64(allocGPUs(r.Allocs)) * float64(max(now-r.StartS, 0))
	}
	j.EnergyKWh = r.EnergyJ / 3.6e6
	j.CO2LocationG = j.EnergyKWh * c.cfg.CarbonGPerKWh
	j.CO2MarketG = j.EnergyKWh * c.cfg.MarketGPerKWh
	for _, a := range r.Allocs {
		aa := api.Alloc(a)
		if aa.GPUs == nil {
			aa.GPUs = []int{} // a CPU-only share lists no GPUs, not null
		}
		j.Allocs = append(j.Allocs, aa)
	}
	j.NodeList = nodeList(r.Allocs)
	if cr != nil && r.State == job.Pending {
		if wi := cr.waiting[r.ID]; wi != nil {
			j.Reason = string(wi.w.Reason)
			j.Priority = wi.w.Priority
			if wi.w.EstimatedStartS != sched.Never {
				j.EstimatedStart = wi.w.EstimatedStartS
			}
			j.Why = wi.w.Sentence(cr.cluster, cr.planAt, nil)
		}
		if r.Spec.Hold {
			j.Reason = string(sched.ReasonHeld)
		}
	}
	if withSpec {
		s := r.Spec
		j.Spec = &s
	}
	return j
}

func allocGPUs(as []store.Alloc) int {
	n := 0
	for _, a := range as {
		n += len(a.GPUs)
	}
	return n
}

func nodeList(as []store.Alloc) string {
	names := make([]string, 0, len(as))
	for _, a := range as {
		names = append(names, a.Node)
	}
	s, err := hostlist.Compress(names)
	if err != nil {
		// Every node name was checked when its node joined the cluster;
		// should one slip through, a plain list still names the nodes.
		return strings.Join(names, ",")
	}
	return s
}

// maskToList turns a GPU bitmask into indexes.
func maskToList(m uint64) []int {
	out := make([]int, 0, bits.OnesCount64(m))
	for m != 0 {
		b := bits.TrailingZeros64(m)
		out = append(out, b)
		m &^= 1 << uint(b)
	}
	return out
}

func listToMask(l []int) uint64 {
	var m uint64
	for _, g := range l {
		if g >= 0 && g < 64 {
			m |= 1 << uint(g)
		}
	}
	return m
}
