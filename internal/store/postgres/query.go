package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Load reads the recovery state from one consistent snapshot (a
// repeatable-read transaction), so a batch committing meanwhile is either
// wholly in it or not at all.
func (s *Store) Load(ctx context.Context) (*store.Snapshot, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	tx, err := s.r.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store %s: load: %w", s.where, err)
	}
	defer tx.Rollback(context.Background())
	snap := &store.Snapshot{RecentKeys: make(map[string]job.ID)}

	var maxID int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM jobs`).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("store %s: load: %w", s.where, err)
	}
	snap.MaxJobID = job.ID(maxID)

	if snap.ActiveJobs, err = queryJobs(ctx, tx, 0, `SELECT `+newJobScan(0).cols+` FROM jobs WHERE active ORDER BY id`); err != nil {
		return nil, fmt.Errorf("store %s: load active jobs: %w", s.where, err)
	}

	rows, err := tx.Query(ctx, `SELECT user_name, idem_key, id FROM jobs
		WHERE idem_key <> '' AND submit_s >= (SELECT max(submit_s) FROM jobs) - $1`, int64(store.KeyWindowS))
	if err != nil {
		return nil, fmt.Errorf("store %s: load idempotency keys: %w", s.where, err)
	}
	var user, key string
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&user, &key, &id}, func() error {
		snap.RecentKeys[store.IdemKeyOf(user, key)] = job.ID(id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: load idempotency keys: %w", s.where, err)
	}

	rows, err = tx.Query(ctx, `SELECT `+names(projectColumns)+` FROM projects ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store %s: load projects: %w", s.where, err)
	}
	var p store.ProjectRecord
	var users, managers []byte
	_, err = pgx.ForEachRow(rows, []any{&p.Name, &p.Parent, &users, &p.GrantGPUHours, &p.PeriodStartS,
		&p.UsedGPUSeconds, &p.UsageGPUS, &p.UsageAtS, &p.MaxGPUs, &managers, &p.GrantEndS}, func() error {
		c := p
		c.Users, c.Managers = nil, nil
		if err := json.Unmarshal(users, &c.Users); err != nil {
			return fmt.Errorf("project %q: decode users: %w", p.Name, err)
		}
		if err := json.Unmarshal(managers, &c.Managers); err != nil {
			return fmt.Errorf("project %q: decode managers: %w", p.Name, err)
		}
		if len(c.Managers) == 0 {
			c.Managers = nil
		}
		snap.Projects = append(snap.Projects, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: load projects: %w", s.where, err)
	}

	rows, err = tx.Query(ctx, `SELECT `+names(nodeColumns)+` FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store %s: load nodes: %w", s.where, err)
	}
	var n store.NodeRecord
	_, err = pgx.ForEachRow(rows, []any{&n.Name, &n.State, &n.Reason, &n.SinceS}, func() error {
		snap.Nodes = append(snap.Nodes, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: load nodes: %w", s.where, err)
	}
	if snap.Steps, err = querySteps(ctx, tx, `SELECT `+names(stepColumns)+` FROM steps
		WHERE job_id IN (SELECT id FROM jobs WHERE active) ORDER BY job_id, step_id`); err != nil {
		return nil, fmt.Errorf("store %s: load steps: %w", s.where, err)
	}
	return snap, nil
}

// Jobs returns the records q selects, ordered by ID, or newest (highest
// ID) first when q.Limit is set, from one statement; their scripts, which
// never change once written, are read after (see fillScripts).
func (s *Store) Jobs(ctx context.Context, q store.JobQuery) ([]store.JobRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	query, args := jobsQuery(q)
	out, err := queryJobs(ctx, s.r, q.Skip, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: query jobs: %w", s.where, err)
	}
	return out, nil
}

// jobsQuery builds the SELECT for q as two arms, one over active jobs and
// one over finished ones, so that each arm can use the indexes made for it
// (the finished-job indexes are partial) and its own notion of time.
func jobsQuery(q store.JobQuery) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var common []string
	if len(q.IDs) > 0 {
		ids := make([]int64, len(q.IDs))
		for i, id := range q.IDs {
			ids[i] = int64(id)
		}
		common = append(common, `id = ANY (`+arg(ids)+`::bigint[])`)
	}
	if q.User != "" {
		common = append(common, `user_name = `+arg(q.User))
	}
	if q.Project != "" {
		common = append(common, `project = `+arg(q.Project))
	}
	if len(q.States) > 0 {
		states := make([]string, len(q.States))
		for i, st := range q.States {
			states[i] = string(st)
		}
		common = append(common, `state = ANY (`+arg(states)+`::text[])`)
	}
	cols := newJobScan(q.Skip).cols
	arm := func(active, timeCol string) string {
		where := append([]string{active}, common...)
		// Finished jobs are timed by their end, active ones by submission.
		if q.SinceS != 0 {
			where = append(where, timeCol+` >= `+arg(q.SinceS))
		}
		if q.UntilS != 0 {
			where = append(where, timeCol+` < `+arg(q.UntilS))
		}
		return `SELECT ` + cols + ` FROM jobs WHERE ` + strings.Join(where, ` AND `)
	}
	query := arm(`active`, `submit_s`)
	if !q.Active {
		query += ` UNION ALL ` + arm(`NOT active`, `end_s`)
	}
	if q.Limit > 0 {
		query += ` ORDER BY id DESC LIMIT ` + arg(int64(q.Limit))
	} else {
		query += ` ORDER BY id`
	}
	return query, args
}

func queryJobs(ctx context.Context, db querier, skip store.Parts, query string, args ...any) ([]store.JobRecord, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.JobRecord
	var hashes []string // per record, "" where there is no script
	js := newJobScan(skip)
	for rows.Next() {
		if err := js.scan(rows); err != nil {
			return nil, err
		}
		out = append(out, js.r)
		hashes = append(hashes, js.scriptHash)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := fillScripts(ctx, db, out, hashes); err != nil {
		return nil, err
	}
	return out, nil
}

// fillScripts sets each record's script, read once per distinct script,
// so that the tasks of an array share one string in memory as they share
// one row on disk. Scripts are written in the same transaction as the
// first row that names them and never deleted.
func fillScripts(ctx context.Context, db querier, recs []store.JobRecord, hashes []string) error {
	var want []string
	seen := map[string]bool{}
	for _, h := range hashes {
		if h != "" && !seen[h] {
			seen[h] = true
			want = append(want, h)
		}
	}
	if len(want) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT hash, body FROM scripts WHERE hash = ANY ($1::text[])`, want)
	if err != nil {
		return fmt.Errorf("read scripts: %w", err)
	}
	byHash := make(map[string]string, len(want))
	var h string
	var body []byte
	if _, err := pgx.ForEachRow(rows, []any{&h, &body}, func() error {
		byHash[h] = string(body)
		return nil
	}); err != nil {
		return fmt.Errorf("read scripts: %w", err)
	}
	for i := range recs {
		if hashes[i] == "" {
			continue
		}
		body, ok := byHash[hashes[i]]
		if !ok {
			return fmt.Errorf("job %d: its script %.12s is missing", recs[i].ID, hashes[i])
		}
		recs[i].Spec.Script = body
	}
	return nil
}

// ScanJobs hands out the records of Jobs one at a time, from one
// statement, reusing one record. A query that reads specs takes Jobs' path
// (scripts are filled in after the rows are read).
func (s *Store) ScanJobs(ctx context.Context, q store.JobQuery, fn func(r *store.JobRecord) error) error {
	if q.Skip&store.SkipSpec == 0 {
		recs, err := s.Jobs(ctx, q)
		if err != nil {
			return err
		}
		for i := range recs {
			if err := fn(&recs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if s.closed.Load() {
		return ErrClosed
	}
	query, args := jobsQuery(q)
	rows, err := s.r.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store %s: query jobs: %w", s.where, err)
	}
	defer rows.Close()
	js := newJobScan(q.Skip)
	for rows.Next() {
		if err := js.scan(rows); err != nil {
			return fmt.Errorf("store %s: query jobs: %w", s.where, err)
		}
		if err := fn(&js.r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store %s: query jobs: %w", s.where, err)
	}
	return nil
}

// jobCol is a column of the jobs table, the part of a record that holds
// it (0 for the columns every query reads) and where a jobScan puts it.
type jobCol struct {
	name string
	part store.Parts
	dest func(js *jobScan) any
}

// jobCols are the columns a query may read. A query reads only those its
// Skip leaves in.
var jobCols = []jobCol{
	{"id", 0, func(js *jobScan) any { return &js.id }},
	{"array_job_id", 0, func(js *jobScan) any { return &js.arrayID }},
	{"array_task_id", 0, func(js *jobScan) any { return &js.r.ArrayTaskID }},
	{"name", store.SkipName, func(js *jobScan) any { return &js.r.Name }},
	{"user_name", store.SkipUser, func(js *jobScan) any { return &js.r.User }},
	{"project", store.SkipProject, func(js *jobScan) any { return &js.r.Project }},
	{"partition_name", store.SkipPartition, func(js *jobScan) any { return &js.r.Partition }},
	{"qos", store.SkipQOS, func(js *jobScan) any { return &js.r.QOS }},
	{"state", 0, func(js *jobScan) any { return &js.state }},
	{"reason", store.SkipReason, func(js *jobScan) any { return &js.r.Reason }},
	{"submit_s", 0, func(js *jobScan) any { return &js.r.SubmitS }},
	{"eligible_s", store.SkipEligible, func(js *jobScan) any { return &js.r.EligibleS }},
	{"start_s", store.SkipStart, func(js *jobScan) any { return &js.r.StartS }},
	{"end_s", 0, func(js *jobScan) any { return &js.r.EndS }},
	{"exit_code", store.SkipExit, func(js *jobScan) any { return &js.r.ExitCode }},
	{"signal", store.SkipExit, func(js *jobScan) any { return &js.r.Signal }},
	{"restarts", store.SkipRestarts, func(js *jobScan) any { return &js.r.Restarts }},
	{"gpu_seconds", store.SkipUsage, func(js *jobScan) any { return &js.r.GPUSeconds }},
	{"energy_j", store.SkipUsage, func(js *jobScan) any { return &js.r.EnergyJ }},
	{"energy_measured", store.SkipUsage, func(js *jobScan) any { return &js.r.EnergyMeasured }},
	{"idem_key", store.SkipIdemKey, func(js *jobScan) any { return &js.r.IdemKey }},
	{"spec", store.SkipSpec, func(js *jobScan) any { return &js.spec }},
	{"req", store.SkipRequest, func(js *jobScan) any { return &js.req }},
	{"allocs", store.SkipAllocs, func(js *jobScan) any { return &js.allocs }},
	{"script_hash", store.SkipSpec, func(js *jobScan) any { return &js.scriptHash }},
}

// jobScan reads rows of the columns a Skip leaves in into one record,
// which each row overwrites.
type jobScan struct {
	skip              store.Parts
	cols              string // the SELECT list
	dest              []any
	r                 store.JobRecord
	id, arrayID       int64
	state             string
	spec, req, allocs []byte
	scriptHash        string
}

func newJobScan(skip store.Parts) *jobScan {
	js := &jobScan{skip: skip}
	var names []string
	for _, c := range jobCols {
		if c.part == 0 || skip&c.part == 0 {
			names = append(names, c.name)
			js.dest = append(js.dest, c.dest(js))
		}
	}
	js.cols = strings.Join(names, ", ")
	return js
}

// scan reads one row into js.r, leaving the skipped parts zero, and the
// row's script hash into js.scriptHash.
func (js *jobScan) scan(rows pgx.Rows) error {
	js.r = store.JobRecord{}
	js.scriptHash = ""
	if err := rows.Scan(js.dest...); err != nil {
		return err
	}
	r := &js.r
	r.ID, r.ArrayJobID, r.State = job.ID(js.id), job.ID(js.arrayID), job.State(js.state)
	if js.skip&store.SkipSpec == 0 {
		if err := json.Unmarshal(js.spec, &r.Spec); err != nil {
			return fmt.Errorf("job %d: decode spec: %w", js.id, err)
		}
	}
	if js.skip&store.SkipRequest == 0 {
		if err := json.Unmarshal(js.req, &r.Req); err != nil {
			return fmt.Errorf("job %d: decode request: %w", js.id, err)
		}
	}
	if js.skip&store.SkipAllocs == 0 {
		if err := json.Unmarshal(js.allocs, &r.Allocs); err != nil {
			return fmt.Errorf("job %d: decode allocations: %w", js.id, err)
		}
	}
	return nil
}

// Steps returns the steps of the given jobs, ordered by job and step.
func (s *Store) Steps(ctx context.Context, ids []job.ID) ([]store.StepRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if len(ids) == 0 {
		return nil, nil
	}
	list := make([]int64, len(ids))
	for i, id := range ids {
		list[i] = int64(id)
	}
	out, err := querySteps(ctx, s.r, `SELECT `+names(stepColumns)+` FROM steps
		WHERE job_id = ANY ($1::bigint[]) ORDER BY job_id, step_id`, list)
	if err != nil {
		return nil, fmt.Errorf("store %s: query steps: %w", s.where, err)
	}
	return out, nil
}

func querySteps(ctx context.Context, q querier, query string, args ...any) ([]store.StepRecord, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []store.StepRecord
	var r store.StepRecord
	var id int64
	var state string
	var layout, argv []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &r.StepID, &r.Name, &state, &r.NodeList, &r.Tasks, &layout, &argv,
		&r.TimeLimitS, &r.StartS, &r.EndS, &r.ExitCode, &r.Signal, &r.Overlap, &r.Exclusive}, func() error {
		c := r
		c.JobID, c.State, c.Layout, c.Argv = job.ID(id), job.State(state), nil, nil
		if err := json.Unmarshal(layout, &c.Layout); err != nil {
			return fmt.Errorf("step %d.%d: decode layout: %w", id, r.StepID, err)
		}
		if err := json.Unmarshal(argv, &c.Argv); err != nil {
			return fmt.Errorf("step %d.%d: decode argv: %w", id, r.StepID, err)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}
