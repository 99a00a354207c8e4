package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/gefion-hpc/gefion/internal/store"
)

// A batch travels as column arrays: each statement below takes one array
// per column and unnests them into rows, so that a part of a batch is one
// statement however many rows it holds. Adding a table is a migration, a
// column list here and one more queue call in queueBatch.

// column is a column's name and its PostgreSQL type.
type column struct{ name, typ string }

func names(cols []column) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = c.name
	}
	return strings.Join(s, ", ")
}

// unnest is "unnest($1::T1[], $2::T2[], ...) AS v(c1, c2, ...)".
func unnest(cols []column) string {
	p := make([]string, len(cols))
	for i, c := range cols {
		p[i] = fmt.Sprintf("$%d::%s[]", i+1, c.typ)
	}
	return "unnest(" + strings.Join(p, ", ") + ") AS v(" + names(cols) + ")"
}

// setExcluded is "c2 = excluded.c2, ..." for every column after the key's
// first keyLen.
func setFrom(cols []column, keyLen int, from string) string {
	s := make([]string, 0, len(cols)-keyLen)
	for _, c := range cols[keyLen:] {
		s = append(s, c.name+" = "+from+"."+c.name)
	}
	return strings.Join(s, ", ")
}

// jobColumns are the jobs table's columns in the order jobRows.args
// gives them. id must stay first.
var jobColumns = []column{
	{"id", "bigint"}, {"array_job_id", "bigint"}, {"array_task_id", "bigint"}, {"name", "text"},
	{"user_name", "text"}, {"project", "text"}, {"partition_name", "text"}, {"qos", "text"},
	{"state", "text"}, {"active", "boolean"}, {"reason", "text"}, {"submit_s", "bigint"},
	{"eligible_s", "bigint"}, {"start_s", "bigint"}, {"end_s", "bigint"}, {"exit_code", "bigint"},
	{"signal", "text"}, {"restarts", "bigint"}, {"gpu_seconds", "float8"}, {"energy_j", "float8"},
	{"energy_measured", "boolean"}, {"idem_key", "text"}, {"spec", "text"}, {"req", "text"},
	{"allocs", "text"}, {"script_hash", "text"},
}

var stepColumns = []column{
	{"job_id", "bigint"}, {"step_id", "bigint"}, {"name", "text"}, {"state", "text"},
	{"node_list", "text"}, {"tasks", "bigint"}, {"layout", "text"}, {"argv", "text"},
	{"time_limit_s", "bigint"}, {"start_s", "bigint"}, {"end_s", "bigint"}, {"exit_code", "bigint"},
	{"signal", "text"}, {"overlap", "boolean"}, {"exclusive", "boolean"},
}

var projectColumns = []column{
	{"name", "text"}, {"parent", "text"}, {"users", "text"}, {"grant_gpu_hours", "float8"},
	{"period_start_s", "bigint"}, {"used_gpu_seconds", "float8"}, {"usage_gpus", "float8"},
	{"usage_at_s", "bigint"}, {"max_gpus", "bigint"}, {"managers", "text"}, {"grant_end_s", "bigint"},
}

var auditColumns = []column{
	{"time_s", "bigint"}, {"user_name", "text"}, {"via", "text"}, {"action", "text"},
	{"target", "text"}, {"outcome", "text"}, {"status", "bigint"}, {"detail", "text"},
}

var nodeColumns = []column{{"name", "text"}, {"state", "text"}, {"reason", "text"}, {"since_s", "bigint"}}

// statements are the statements of a commit, in the order queueBatch
// sends them. Their text never changes, so each is prepared once per
// connection; it is built on first use, not at package initialisation,
// which every gefion command pays for.
type statements struct {
	insertScripts, insertJobs, updateJobs, upsertProjects, deleteProjects, upsertNodes, upsertSteps, insertAudit string
}

var stmts = sync.OnceValue(func() *statements {
	return &statements{
		insertScripts: `INSERT INTO scripts (hash, body) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (hash) DO NOTHING`,
		insertJobs:    `INSERT INTO jobs (` + names(jobColumns) + `) SELECT * FROM ` + unnest(jobColumns),
		// An update of a job that does not exist aborts the transaction.
		updateJobs: `WITH u AS (UPDATE jobs SET ` + setFrom(jobColumns, 1, "v") + ` FROM ` + unnest(jobColumns) +
			` WHERE jobs.id = v.id RETURNING jobs.id)
			SELECT gefion_all_found('update of job', $1::bigint[]::text[], array(SELECT id::text FROM u))`,
		upsertProjects: `INSERT INTO projects (` + names(projectColumns) + `) SELECT * FROM ` + unnest(projectColumns) +
			` ON CONFLICT (name) DO UPDATE SET ` + setFrom(projectColumns, 1, "excluded"),
		deleteProjects: `DELETE FROM projects WHERE name = ANY ($1::text[])`,
		insertAudit:    `INSERT INTO audit (` + names(auditColumns) + `) SELECT * FROM ` + unnest(auditColumns),
		upsertNodes: `INSERT INTO nodes (` + names(nodeColumns) + `) SELECT * FROM ` + unnest(nodeColumns) +
			` ON CONFLICT (name) DO UPDATE SET ` + setFrom(nodeColumns, 1, "excluded"),
		// A step of a job that does not exist inserts nothing, which
		// aborts the transaction.
		upsertSteps: `WITH u AS (INSERT INTO steps (` + names(stepColumns) + `) SELECT * FROM ` + unnest(stepColumns) +
			` WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.id = v.job_id)
			ON CONFLICT (job_id, step_id) DO UPDATE SET ` + setFrom(stepColumns, 2, "excluded") + ` RETURNING job_id, step_id)
			SELECT gefion_all_found('step (its job)', array(SELECT j || '.' || s FROM unnest($1::bigint[], $2::bigint[]) AS x(j, s)),
				array(SELECT job_id || '.' || step_id FROM u))`,
	}
})

// jobRows are job records as column arrays, in jobColumns' order.
type jobRows struct {
	id, arrayJob, arrayTask             []int64
	name, user, project, partition, qos []string
	state                               []string
	active                              []bool
	reason                              []string
	submit, eligible, start, end, exit  []int64
	signal                              []string
	restarts                            []int64
	gpuSeconds, energy                  []float64
	measured                            []bool
	idem, spec, req, allocs, scriptHash []string
}

func (r *jobRows) args() []any {
	return []any{r.id, r.arrayJob, r.arrayTask, r.name, r.user, r.project, r.partition, r.qos,
		r.state, r.active, r.reason, r.submit, r.eligible, r.start, r.end, r.exit,
		r.signal, r.restarts, r.gpuSeconds, r.energy, r.measured, r.idem, r.spec, r.req,
		r.allocs, r.scriptHash}
}

func (r *jobRows) len() int { return len(r.id) }

// add appends one record; the script is left out of the spec and named by
// its hash, which sh notes to store.
func (r *jobRows) add(j *store.JobRecord, sh *scriptHasher) error {
	sp := j.Spec
	hash := sh.hash(sp.Script)
	sp.Script = ""
	spec, err := json.Marshal(&sp)
	if err != nil {
		return fmt.Errorf("job %d: encode spec: %w", j.ID, err)
	}
	req, err := json.Marshal(&j.Req)
	if err != nil {
		return fmt.Errorf("job %d: encode request: %w", j.ID, err)
	}
	allocs, err := json.Marshal(j.Allocs)
	if err != nil {
		return fmt.Errorf("job %d: encode allocations: %w", j.ID, err)
	}
	r.id = append(r.id, int64(j.ID))
	r.arrayJob = append(r.arrayJob, int64(j.ArrayJobID))
	r.arrayTask = append(r.arrayTask, int64(j.ArrayTaskID))
	r.name = append(r.name, j.Name)
	r.user = append(r.user, j.User)
	r.project = append(r.project, j.Project)
	r.partition = append(r.partition, j.Partition)
	r.qos = append(r.qos, j.QOS)
	r.state = append(r.state, string(j.State))
	r.active = append(r.active, !j.State.Final())
	r.reason = append(r.reason, j.Reason)
	r.submit = append(r.submit, j.SubmitS)
	r.eligible = append(r.eligible, j.EligibleS)
	r.start = append(r.start, j.StartS)
	r.end = append(r.end, j.EndS)
	r.exit = append(r.exit, int64(j.ExitCode))
	r.signal = append(r.signal, j.Signal)
	r.restarts = append(r.restarts, int64(j.Restarts))
	r.gpuSeconds = append(r.gpuSeconds, j.GPUSeconds)
	r.energy = append(r.energy, j.EnergyJ)
	r.measured = append(r.measured, j.EnergyMeasured)
	r.idem = append(r.idem, j.IdemKey)
	r.spec = append(r.spec, string(spec))
	r.req = append(r.req, string(req))
	r.allocs = append(r.allocs, string(allocs))
	r.scriptHash = append(r.scriptHash, hash)
	return nil
}

// encoded is a batch's job rows as Encode makes them, and the scripts
// they name.
type encoded struct {
	nNew, nUpd    int // the batch's lengths when encoded
	newJobs, jobs jobRows
	scripts       scriptHasher
}

func (e *encoded) matches(b *store.Batch) bool {
	return e.nNew == len(b.NewJobs) && e.nUpd == len(b.Jobs)
}

func encode(b *store.Batch) (*encoded, error) {
	e := &encoded{nNew: len(b.NewJobs), nUpd: len(b.Jobs)}
	for i := range b.NewJobs {
		if err := e.newJobs.add(&b.NewJobs[i], &e.scripts); err != nil {
			return nil, err
		}
	}
	// A job updated twice in one batch ends as its last record says, as
	// if the updates ran in order; one UPDATE can change a row only once.
	last := lastIndex(len(b.Jobs), func(i int) any { return b.Jobs[i].ID })
	for i := range b.Jobs {
		if last[i] {
			if err := e.jobs.add(&b.Jobs[i], &e.scripts); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// lastIndex marks, of n items with the given keys, the last one of each
// key.
func lastIndex(n int, key func(i int) any) []bool {
	keep := make([]bool, n)
	seen := make(map[any]bool, n)
	for i := n - 1; i >= 0; i-- {
		if k := key(i); !seen[k] {
			seen[k] = true
			keep[i] = true
		}
	}
	return keep
}

// queueBatch queues the statements of b, in the order the parts of a
// batch apply: scripts, new jobs, updated jobs, projects, deleted
// projects, nodes, steps.
func queueBatch(q *pgx.Batch, b *store.Batch, enc *encoded) error {
	st := stmts()
	if len(enc.scripts.pending) > 0 {
		hashes := make([]string, len(enc.scripts.pending))
		bodies := make([][]byte, len(enc.scripts.pending))
		for i, sc := range enc.scripts.pending {
			// Read only, while the batch is sent: no copy of up to 4 MiB.
			hashes[i], bodies[i] = sc.hash, unsafe.Slice(unsafe.StringData(sc.body), len(sc.body))
		}
		q.Queue(st.insertScripts, hashes, bodies)
	}
	if enc.newJobs.len() > 0 {
		q.Queue(st.insertJobs, enc.newJobs.args()...)
	}
	if enc.jobs.len() > 0 {
		q.Queue(st.updateJobs, enc.jobs.args()...)
	}
	if len(b.Projects) > 0 {
		last := lastIndex(len(b.Projects), func(i int) any { return b.Projects[i].Name })
		name, parent, users, managers := []string{}, []string{}, []string{}, []string{}
		grant, used, usage := []float64{}, []float64{}, []float64{}
		period, usageAt, maxGPUs, end := []int64{}, []int64{}, []int64{}, []int64{}
		for i := range b.Projects {
			if !last[i] {
				continue
			}
			p := &b.Projects[i]
			u, err := json.Marshal(p.Users)
			if err != nil {
				return fmt.Errorf("project %q: %w", p.Name, err)
			}
			m, err := json.Marshal(p.Managers)
			if err != nil {
				return fmt.Errorf("project %q: %w", p.Name, err)
			}
			if p.Managers == nil {
				m = []byte("[]")
			}
			name, parent, users = append(name, p.Name), append(parent, p.Parent), append(users, string(u))
			managers = append(managers, string(m))
			grant, period, used = append(grant, p.GrantGPUHours), append(period, p.PeriodStartS), append(used, p.UsedGPUSeconds)
			usage, usageAt, maxGPUs = append(usage, p.UsageGPUS), append(usageAt, p.UsageAtS), append(maxGPUs, int64(p.MaxGPUs))
			end = append(end, p.GrantEndS)
		}
		q.Queue(st.upsertProjects, name, parent, users, grant, period, used, usage, usageAt, maxGPUs, managers, end)
	}
	if len(b.DeleteProjects) > 0 {
		q.Queue(st.deleteProjects, b.DeleteProjects)
	}
	if len(b.Nodes) > 0 {
		last := lastIndex(len(b.Nodes), func(i int) any { return b.Nodes[i].Name })
		var name, state, reason []string
		var since []int64
		for i := range b.Nodes {
			if last[i] {
				n := &b.Nodes[i]
				name, state, reason, since = append(name, n.Name), append(state, n.State), append(reason, n.Reason), append(since, n.SinceS)
			}
		}
		q.Queue(st.upsertNodes, name, state, reason, since)
	}
	if len(b.Steps) > 0 {
		type key struct {
			j int64
			s int
		}
		last := lastIndex(len(b.Steps), func(i int) any { return key{int64(b.Steps[i].JobID), b.Steps[i].StepID} })
		var jobID, stepID, tasks, limit, start, end, exit []int64
		var name, state, nodes, layout, argv, signal []string
		var overlap, exclusive []bool
		for i := range b.Steps {
			if !last[i] {
				continue
			}
			r := &b.Steps[i]
			l, err := json.Marshal(r.Layout)
			if err != nil {
				return fmt.Errorf("step %d.%d: %w", r.JobID, r.StepID, err)
			}
			a, err := json.Marshal(r.Argv)
			if err != nil {
				return fmt.Errorf("step %d.%d: %w", r.JobID, r.StepID, err)
			}
			jobID, stepID, name, state = append(jobID, int64(r.JobID)), append(stepID, int64(r.StepID)), append(name, r.Name), append(state, string(r.State))
			nodes, tasks, layout, argv = append(nodes, r.NodeList), append(tasks, int64(r.Tasks)), append(layout, string(l)), append(argv, string(a))
			limit, start, end, exit = append(limit, r.TimeLimitS), append(start, r.StartS), append(end, r.EndS), append(exit, int64(r.ExitCode))
			signal, overlap, exclusive = append(signal, r.Signal), append(overlap, r.Overlap), append(exclusive, r.Exclusive)
		}
		q.Queue(st.upsertSteps, jobID, stepID, name, state, nodes, tasks, layout, argv, limit, start, end, exit, signal, overlap, exclusive)
	}
	if len(b.Audit) > 0 {
		n := len(b.Audit)
		timeS, status := make([]int64, n), make([]int64, n)
		user, via, action, target, outcome, detail := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i := range b.Audit {
			a := &b.Audit[i]
			timeS[i], user[i], via[i], action[i] = a.TimeS, a.User, a.Via, a.Action
			target[i], outcome[i], status[i], detail[i] = a.Target, a.Outcome, int64(a.Status), a.Detail
		}
		q.Queue(st.insertAudit, timeS, user, via, action, target, outcome, status, detail)
	}
	return nil
}

// scriptHasher names a batch's scripts by their SHA-256 and gathers the
// ones to store, each once. An array's tasks share one string, so a
// script is hashed once per batch however many tasks carry it.
type scriptHasher struct {
	known   map[scriptRef]string
	noted   map[string]bool
	pending []scriptRow
}

// scriptRef identifies a string by its bytes' address and length: strings
// are immutable, so equal refs mean equal text.
type scriptRef struct {
	p *byte
	n int
}

type scriptRow struct{ hash, body string }

// hash returns the script's hash ("" for no script), noting it to store
// the first time the batch sees it.
func (h *scriptHasher) hash(script string) string {
	if script == "" {
		return ""
	}
	ref := scriptRef{unsafe.StringData(script), len(script)}
	if v, ok := h.known[ref]; ok {
		return v
	}
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(script), len(script)))
	v := hex.EncodeToString(sum[:])
	if h.known == nil {
		h.known, h.noted = map[scriptRef]string{}, map[string]bool{}
	}
	h.known[ref] = v
	if !h.noted[v] {
		h.noted[v] = true
		h.pending = append(h.pending, scriptRow{v, script})
	}
	return v
}
