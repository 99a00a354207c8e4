package controller

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Large lists.
//
// GET /v1/jobs and GET /v1/acct serve squeue and sacct, which on a busy
// centre list 100,000 jobs and print two or three fields of each. Three
// things keep such a list cheap:
//
//   - The caller names the fields it prints (fields=id,state,start_time)
//     and the jobs it wants (state=, user=, ids=, partition=, account=,
//     name=, qos=, since=, until=); the controller filters and answers
//     with a compact table (see api.Table), one header row and an array of
//     values per job. Without fields= the answer is the array of whole
//     Job objects that older clients read.
//   - The loop, which every submission waits on, is held only to pick the
//     matching records and copy a pointer and the plan's few values for
//     each (installed records are never changed in place, see jobRec);
//     sorting, converting and encoding happen on the request's goroutine,
//     and the table is written to the connection as it is encoded.
//   - Accounting reads from the store only the columns the fields need
//     (store.JobQuery.Skip), and sums the totals only when asked
//     (totals=1).

// ListQuery selects the jobs of a list. Empty lists select everything.
type ListQuery struct {
	// All asks for every job the caller may see (authz.go); without it
	// a list holds the caller's own jobs.
	All bool
	// ActiveOnly leaves out the recently finished jobs (GET /v1/jobs).
	ActiveOnly bool
	States     []job.State
	Users      []string
	Projects   []string
	Partitions []string
	Names      []string
	QOS        []string
	// IDs selects jobs by ID; an array's ID selects all its tasks.
	IDs []job.ID
	// SinceS and UntilS select finished jobs by their end and active
	// ones by their submission, as store.JobQuery does: [SinceS, UntilS).
	SinceS, UntilS int64
}

// match reports whether r passes every filter.
func (q *ListQuery) match(r *store.JobRecord) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if !in(q.Users, r.User) || !in(q.Projects, r.Project) || !in(q.Partitions, r.Partition) ||
		!in(q.Names, r.Name) || !in(q.QOS, r.QOS) {
		return false
	}
	if len(q.States) > 0 && !slices.Contains(q.States, r.State) {
		return false
	}
	if len(q.IDs) > 0 && !slices.Contains(q.IDs, r.ID) && (r.ArrayJobID == 0 || !slices.Contains(q.IDs, r.ArrayJobID)) {
		return false
	}
	t := r.SubmitS
	if r.State.Final() {
		t = r.EndS
	}
	return (q.SinceS == 0 || t >= q.SinceS) && (q.UntilS == 0 || t < q.UntilS)
}

// matchJob is match for a job of the old list.
func (q *ListQuery) matchJob(j *api.Job) bool {
	r := store.JobRecord{ID: j.ID, ArrayJobID: j.ArrayJobID, User: j.User, Project: j.Project, Partition: j.Partition,
		Name: j.Name, QOS: j.QOS, State: j.State, SubmitS: j.SubmitTime, EndS: j.EndTime}
	return q.match(&r)
}

// listEntry is one job of a list as the loop hands it out: the installed
// record, which is never changed in place, and what the last plan said of
// it, copied.
//
// Accounting rows read from the store have no installed record: they come
// as s, a listRec, a third of a record's size.
type listEntry struct {
	r        *jobRec
	s        *listRec
	planned  bool // the last plan placed or explained this pending job
	reason   string
	priority float64
	estimate int64
	why      string
}

// listRec is the part of a job record that a list prints.
type listRec struct {
	ID, ArrayJobID                      job.ID
	ArrayTaskID                         int
	Name, User, Project, Partition, QOS string
	State                               job.State
	Reason                              string
	Hold                                bool
	Array                               string
	SubmitS, EligibleS, StartS, EndS    int64
	Req                                 job.Request
	Allocs                              []store.Alloc
	ExitCode                            int
	Signal                              string
	Restarts                            int
	GPUSeconds, EnergyJ                 float64
}

func (l *listRec) set(r *store.JobRecord) {
	*l = listRec{ID: r.ID, ArrayJobID: r.ArrayJobID, ArrayTaskID: r.ArrayTaskID, Name: r.Name, User: r.User,
		Project: r.Project, Partition: r.Partition, QOS: r.QOS, State: r.State, Reason: r.Reason, Hold: r.Spec.Hold,
		Array: r.Spec.Array, SubmitS: r.SubmitS, EligibleS: r.EligibleS, StartS: r.StartS, EndS: r.EndS, Req: r.Req,
		Allocs: r.Allocs, ExitCode: r.ExitCode, Signal: r.Signal, Restarts: r.Restarts, GPUSeconds: r.GPUSeconds, EnergyJ: r.EnergyJ}
}

// jobTable is a list answered as a table; the handler streams it.
type jobTable struct {
	t       *api.Table
	entries []listEntry
	planAt  int64
	live    bool // running jobs' GPU-seconds count up to planAt
	totals  *api.AcctTotal
	c       *Controller
	scratch listRec // fill's copy of an installed record
}

// JobTable lists the jobs q selects that user may see (their own, or with
// q.All every job they may see, see authz.go), with the fields of t.
func (c *Controller) JobTable(ctx context.Context, user string, q ListQuery, t *api.Table) (*jobTable, error) {
	wantWhy := t.Has("why")
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		cr := tx.c
		a := c.accessOf(cr.projects, user)
		n := len(cr.jobs)
		if !q.ActiveOnly {
			n += len(cr.recent)
		}
		out := &jobTable{t: t, planAt: cr.planAt, live: true, c: c, entries: make([]listEntry, 0, n)}
		add := func(r *jobRec) {
			if (r.User == user || q.All && a.seeJob(r.User, r.Project)) && q.match(&r.JobRecord) {
				out.entries = append(out.entries, c.listEntry(cr, r, wantWhy))
			}
		}
		for _, r := range cr.jobs {
			add(r)
		}
		if !q.ActiveOnly {
			for _, r := range cr.recent {
				add(r)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	out := v.(*jobTable)
	sort.Slice(out.entries, func(i, j int) bool { return out.entries[i].r.ID < out.entries[j].r.ID })
	return out, nil
}

// listEntry copies what the plan says of a pending job; on the loop.
func (c *Controller) listEntry(cr *core, r *jobRec, wantWhy bool) listEntry {
	e := listEntry{r: r}
	if r.State != job.Pending {
		return e
	}
	if wi := cr.waiting[r.ID]; wi != nil {
		e.planned = true
		e.reason, e.priority = string(wi.w.Reason), wi.w.Priority
		if wi.w.EstimatedStartS != sched.Never {
			e.estimate = wi.w.EstimatedStartS
		}
		if wantWhy {
			e.why = wi.w.Sentence(cr.cluster, cr.planAt, nil)
		}
	}
	return e
}

// fill sets j to entry e as apiJob would, leaving out the spec, and the
// node list and shares unless the table carries them. It runs off the
// loop: it reads only e, which no one changes.
func (t *jobTable) fill(j *api.Job, e *listEntry) {
	r := e.s
	if r == nil {
		r = &t.scratch
		r.set(&e.r.JobRecord)
	}
	*j = api.Job{
		ID: r.ID, ArrayJobID: r.ArrayJobID, ArrayTaskID: r.ArrayTaskID, Name: r.Name, User: r.User,
		Project: r.Project, Partition: r.Partition, QOS: r.QOS, State: r.State, Reason: r.Reason,
		Held: r.Hold, SubmitTime: r.SubmitS, StartTime: r.StartS, EndTime: r.EndS,
		TimeLimitS: r.Req.TimeLimitS, Nodes: r.Req.Nodes, GPUs: r.Req.GPUs(), CPUs: r.Req.CPUsPerNode * r.Req.Nodes,
		ExitCode: r.ExitCode, Signal: r.Signal, Restarts: r.Restarts, GPUSeconds: r.GPUSeconds,
		EnergyJ: r.EnergyJ, Request: r.Req, EligibleTime: r.EligibleS,
	}
	if r.ArrayJobID != 0 {
		j.ArrayMaxRunning = arrayThrottle(r.Array)
	}
	if r.Req.WholeNodes {
		if n := allocGPUs(r.Allocs); n > 0 {
			j.GPUs = n
		}
	}
	if r.State == job.Running && t.live {
		j.GPUSeconds += float64(allocGPUs(r.Allocs)) * float64(max(t.planAt-r.StartS, 0))
	}
	j.EnergyKWh = r.EnergyJ / 3.6e6
	j.CO2LocationG = j.EnergyKWh * t.c.cfg.CarbonGPerKWh
	j.CO2MarketG = j.EnergyKWh * t.c.cfg.MarketGPerKWh
	if t.t.Has("allocs") {
		for _, a := range r.Allocs {
			aa := api.Alloc(a)
			if aa.GPUs == nil {
				aa.GPUs = []int{}
			}
			j.Allocs = append(j.Allocs, aa)
		}
	}
	if t.t.Has("node_list") {
		j.NodeList = nodeList(r.Allocs)
	}
	if r.State == job.Pending && t.live {
		if e.planned {
			j.Reason, j.Priority, j.EstimatedStart, j.Why = e.reason, e.priority, e.estimate, e.why
		}
		if r.Hold {
			j.Reason = string(sched.ReasonHeld)
		}
	}
}

// stream writes the table to w as it encodes it, 64 KiB at a time.
func (t *jobTable) stream(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	buf := t.t.AppendHead(make([]byte, 0, 64<<10))
	var j api.Job
	for i := range t.entries {
		t.fill(&j, &t.entries[i])
		buf = t.t.AppendRow(buf, &j, i == 0)
		if len(buf) >= 60<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = t.t.AppendTail(buf, t.totals)
	_, err := w.Write(buf)
	return err
}

// AcctTable reads accounting as a table: the records q selects from the
// store, with running jobs as the loop sees them now, and the totals when
// withTotals. Users read the jobs they may see (authz.go): by default
// their own, and those of the users and projects they name.
func (c *Controller) AcctTable(ctx context.Context, user string, q ListQuery, t *api.Table, withTotals bool) (*jobTable, error) {
	a, err := c.access(ctx, user)
	if err != nil {
		return nil, err
	}
	if len(q.Users) == 0 && len(q.Projects) == 0 && !a.operator {
		q.Users = []string{user}
	}
	// Rows the caller may not see are left out as they are read, unless
	// the query selects only the caller's own.
	private := !a.operator && !(len(q.Users) == 1 && q.Users[0] == user)
	sq := store.JobQuery{States: q.States, IDs: q.IDs, SinceS: q.SinceS, UntilS: q.UntilS}
	if len(q.Users) == 1 {
		sq.User = q.Users[0]
	}
	if len(q.Projects) == 1 {
		sq.Project = q.Projects[0]
	}
	// IDs select an array's tasks by the array's ID here, as in the job
	// list; the store selects by a record's own ID, so ask it for the
	// window and filter.
	if len(q.IDs) > 0 && q.SinceS == 0 && q.UntilS == 0 {
		sq.IDs = expandArrayIDs(q.IDs)
	} else if len(q.IDs) > 0 {
		sq.IDs = nil
	}
	sq.Skip = skipFor(t, withTotals, &q)
	// Matching rows are kept as listRecs, in slabs, so that 100,000 rows
	// are neither whole records nor one slice grown by copying.
	if private {
		sq.Skip &^= store.SkipUser | store.SkipProject
	}
	var (
		slab   []listRec
		recs   []*listRec
		active []int // indexes in recs of jobs active in the store
	)
	keep := func(r *store.JobRecord) error {
		if !q.match(r) || private && !a.seeJob(r.User, r.Project) {
			return nil
		}
		if len(slab) == cap(slab) {
			slab = make([]listRec, 0, 4096)
		}
		slab = append(slab, listRec{})
		l := &slab[len(slab)-1]
		l.set(r)
		if !r.State.Final() {
			active = append(active, len(recs))
		}
		recs = append(recs, l)
		return nil
	}
	if sc, ok := c.st.(store.Scanner); ok {
		err = sc.ScanJobs(ctx, sq, keep)
	} else {
		var all []store.JobRecord
		all, err = c.st.Jobs(ctx, sq)
		for i := 0; err == nil && i < len(all); i++ {
			err = keep(&all[i])
		}
	}
	if err != nil {
		return nil, err
	}
	wantWhy := t.Has("why")
	// Records of active jobs change in memory; take the live ones. Finished
	// records in the store are final, so the loop looks up only the few
	// active ones.
	type overlay struct {
		planAt int64
		live   []listEntry // by active; r nil where the job left memory
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		o := &overlay{planAt: tx.c.planAt, live: make([]listEntry, len(active))}
		for k, i := range active {
			r := tx.c.jobs[recs[i].ID]
			if r == nil {
				r = tx.c.recent[recs[i].ID]
			}
			if r != nil {
				o.live[k] = c.listEntry(tx.c, r, wantWhy)
			}
		}
		return o, nil
	})
	if err != nil {
		return nil, err
	}
	o := v.(*overlay)
	out := &jobTable{t: t, planAt: o.planAt, live: true, c: c, entries: make([]listEntry, len(recs))}
	for i, l := range recs {
		out.entries[i] = listEntry{s: l}
	}
	for k, i := range active {
		if o.live[k].r != nil {
			out.entries[i] = o.live[k]
		}
	}
	if withTotals {
		out.totals = &api.AcctTotal{}
		var j api.Job
		for i := range out.entries {
			out.fill(&j, &out.entries[i])
			out.totals.Jobs++
			out.totals.GPUHours += j.GPUSeconds / 3600
			out.totals.EnergyKWh += j.EnergyKWh
			out.totals.CO2LocationKg += j.CO2LocationG / 1000
			out.totals.CO2MarketKg += j.CO2MarketG / 1000
		}
	}
	return out, nil
}

// expandArrayIDs adds to IDs the IDs an array's tasks may have: an
// array's tasks take consecutive IDs from the array's.
func expandArrayIDs(ids []job.ID) []job.ID {
	out := slices.Clone(ids)
	for _, id := range ids {
		for i := 1; i < job.DefaultMaxArraySize; i++ {
			out = append(out, id+job.ID(i))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fieldNeeds is, for each field a table can carry, the parts of a store
// record that fill reads to set it. A field not named here reads the
// whole record.
var fieldNeeds = map[string]store.Parts{
	"id": 0, "array_job_id": 0, "array_task_id": 0, "state": 0, "submit_time": 0, "end_time": 0,
	// From the loop's plan, for jobs it holds.
	"why": 0, "estimated_start": 0, "priority": 0,
	"array_max_running": store.SkipSpec,
	"held":              store.SkipSpec,
	"name":              store.SkipName,
	"user":              store.SkipUser,
	"project":           store.SkipProject,
	"partition":         store.SkipPartition,
	"qos":               store.SkipQOS,
	// A held pending job's reason is Held, which its spec says; but the
	// reason of a job active in the store comes from the loop's record
	// (AcctTable), so store rows need no spec for it.
	"reason":        store.SkipReason,
	"eligible_time": store.SkipEligible,
	"start_time":    store.SkipStart,
	"time_limit_s":  store.SkipRequest,
	"nodes":         store.SkipRequest,
	"cpus":          store.SkipRequest,
	// Whole-node jobs count the GPUs of their shares.
	"gpus":      store.SkipRequest | store.SkipAllocs,
	"node_list": store.SkipAllocs,
	"allocs":    store.SkipAllocs,
	"exit_code": store.SkipExit,
	"signal":    store.SkipExit,
	"restarts":  store.SkipRestarts,
	// Running jobs' GPU-seconds count up from their start on their GPUs.
	"gpu_seconds":             store.SkipUsage | store.SkipAllocs | store.SkipStart,
	"energy_j":                store.SkipUsage,
	"energy_kwh":              store.SkipUsage,
	"co2_location_g":          store.SkipUsage,
	"co2_market_g":            store.SkipUsage,
	"request.nodes":           store.SkipRequest,
	"request.gpus_per_node":   store.SkipRequest,
	"request.cpus_per_node":   store.SkipRequest,
	"request.mem_per_node_mb": store.SkipRequest,
	"request.gpu_type":        store.SkipRequest,
	"request.time_limit_s":    store.SkipRequest,
}

// skipFor is what a table's fields, the totals and q's filters (which
// match reads) let the store leave out.
func skipFor(t *api.Table, withTotals bool, q *ListQuery) store.Parts {
	var need store.Parts
	for _, f := range t.Fields() {
		n, ok := fieldNeeds[f]
		if !ok {
			return 0
		}
		need |= n
	}
	if withTotals {
		need |= fieldNeeds["gpu_seconds"] | fieldNeeds["energy_kwh"]
	}
	for _, f := range []struct {
		on   bool
		part store.Parts
	}{{len(q.Users) > 0, store.SkipUser}, {len(q.Projects) > 0, store.SkipProject}, {len(q.Partitions) > 0, store.SkipPartition},
		{len(q.Names) > 0, store.SkipName}, {len(q.QOS) > 0, store.SkipQOS}} {
		if f.on {
			need |= f.part
		}
	}
	return store.SkipAll &^ need
}

// parseList reads a list request's fields= and filters. fields is nil
// when the request names none (the old answer is wanted).
func parseList(v url.Values) (ListQuery, *api.Table, error) {
	q := ListQuery{All: v.Get("all") == "1", ActiveOnly: v.Get("active") == "1"}
	var t *api.Table
	if f := v.Get("fields"); f != "" {
		var err error
		if t, err = api.NewTable(strings.Split(f, ",")); err != nil {
			return q, nil, invalid("fields=%s: %v", f, err)
		}
	}
	list := func(key string) []string {
		var out []string
		for _, s := range v[key] {
			for _, f := range strings.Split(s, ",") {
				if f = strings.TrimSpace(f); f != "" {
					out = append(out, f)
				}
			}
		}
		return out
	}
	q.Users, q.Partitions, q.Names, q.QOS = list("user"), list("partition"), list("name"), list("qos")
	q.Projects = append(list("account"), list("project")...)
	for _, s := range list("state") {
		st, ok := parseState(s)
		if !ok {
			return q, nil, invalid("state=%s: not a job state; use PENDING (PD), RUNNING (R), COMPLETING (CG), COMPLETED (CD), FAILED (F), CANCELLED (CA), TIMEOUT (TO), NODE_FAIL (NF), PREEMPTED (PR) or OUT_OF_MEMORY (OOM)", s)
		}
		q.States = append(q.States, st)
	}
	for _, s := range list("ids") {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return q, nil, invalid("ids: %q is not a job ID", s)
		}
		q.IDs = append(q.IDs, job.ID(id))
	}
	for _, b := range []struct {
		key string
		to  *int64
	}{{"since", &q.SinceS}, {"until", &q.UntilS}} {
		if s := v.Get(b.key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return q, nil, invalid("%s=%q: give Unix seconds", b.key, s)
			}
			*b.to = n
		}
	}
	return q, t, nil
}

// parseState reads a state's name or squeue's code, in any case.
func parseState(s string) (job.State, bool) {
	s = strings.ToUpper(s)
	if s == "CANCELED" {
		return job.Cancelled, true
	}
	for _, st := range []job.State{job.Pending, job.Running, job.Completing, job.Completed, job.Failed, job.Cancelled,
		job.Timeout, job.NodeFail, job.Preempted, job.OutOfMem} {
		if s == string(st) || s == st.Short() {
			return st, true
		}
	}
	return "", false
}
