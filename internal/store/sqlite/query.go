package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Load reads the recovery state from one consistent snapshot of the
// database (a read transaction), so a batch committing meanwhile is either
// wholly in it or not at all.
func (s *Store) Load(ctx context.Context) (*store.Snapshot, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store %s: load: %w", s.path, err)
	}
	defer tx.Rollback()
	snap := &store.Snapshot{RecentKeys: make(map[string]job.ID)}

	var maxID int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM jobs`).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("store %s: load: %w", s.path, err)
	}
	snap.MaxJobID = job.ID(maxID)

	snap.ActiveJobs, err = queryJobs(ctx, tx, `SELECT `+newJobScan(0).cols+` FROM jobs WHERE active = 1 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store %s: load active jobs: %w", s.path, err)
	}

	rows, err := tx.QueryContext(ctx, `SELECT user_name, idem_key, id FROM jobs
		WHERE idem_key != '' AND submit_s >= (SELECT max(submit_s) FROM jobs) - ?`, store.KeyWindowS)
	if err != nil {
		return nil, fmt.Errorf("store %s: load idempotency keys: %w", s.path, err)
	}
	for rows.Next() {
		var user, key string
		var id int64
		if err := rows.Scan(&user, &key, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store %s: load idempotency keys: %w", s.path, err)
		}
		snap.RecentKeys[store.IdemKeyOf(user, key)] = job.ID(id)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("store %s: load idempotency keys: %w", s.path, err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT name, parent, users, grant_gpu_hours, period_start_s,
		used_gpu_seconds, usage_gpus, usage_at_s, max_gpus, managers, grant_end_s FROM projects ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store %s: load projects: %w", s.path, err)
	}
	for rows.Next() {
		var p store.ProjectRecord
		var users, managers []byte
		if err := rows.Scan(&p.Name, &p.Parent, &users, &p.GrantGPUHours, &p.PeriodStartS,
			&p.UsedGPUSeconds, &p.UsageGPUS, &p.UsageAtS, &p.MaxGPUs, &managers, &p.GrantEndS); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store %s: load projects: %w", s.path, err)
		}
		if err := json.Unmarshal(users, &p.Users); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store %s: project %q: decode users: %w", s.path, p.Name, err)
		}
		if err := json.Unmarshal(managers, &p.Managers); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store %s: project %q: decode managers: %w", s.path, p.Name, err)
		}
		snap.Projects = append(snap.Projects, p)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("store %s: load projects: %w", s.path, err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT name, state, reason, since_s FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store %s: load nodes: %w", s.path, err)
	}
	for rows.Next() {
		var n store.NodeRecord
		if err := rows.Scan(&n.Name, &n.State, &n.Reason, &n.SinceS); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store %s: load nodes: %w", s.path, err)
		}
		snap.Nodes = append(snap.Nodes, n)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("store %s: load nodes: %w", s.path, err)
	}
	if snap.Steps, err = loadSteps(ctx, tx); err != nil {
		return nil, fmt.Errorf("store %s: load steps: %w", s.path, err)
	}
	return snap, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// Jobs returns the records q selects, ordered by ID, or newest (highest
// ID) first when q.Limit is set. The records come from one statement, so
// they are one consistent snapshot; their scripts, which never change once
// written, are read after (see fillScripts).
func (s *Store) Jobs(ctx context.Context, q store.JobQuery) ([]store.JobRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	query, args, err := jobsQuery(q)
	if err != nil {
		return nil, err
	}
	out, err := queryJobsSkip(ctx, s.r, q.Skip, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: query jobs: %w", s.path, err)
	}
	return out, nil
}

// jobsQuery builds the SELECT for q as two arms, one over active jobs and
// one over finished ones, so that each arm can use the indexes made for it
// (the finished-job indexes are partial) and its own notion of time. Lists
// (IDs, States) travel as one JSON parameter each, so that a long list
// needs no dynamic SQL and cannot exceed SQLite's limit on parameters.
func jobsQuery(q store.JobQuery) (string, []any, error) {
	var common []string
	var commonArgs []any
	if len(q.IDs) > 0 {
		ids, err := json.Marshal(q.IDs)
		if err != nil {
			return "", nil, err
		}
		common = append(common, `id IN (SELECT value FROM json_each(?))`)
		commonArgs = append(commonArgs, string(ids))
	}
	if q.User != "" {
		common = append(common, `user_name = ?`)
		commonArgs = append(commonArgs, q.User)
	}
	if q.Project != "" {
		common = append(common, `project = ?`)
		commonArgs = append(commonArgs, q.Project)
	}
	if len(q.States) > 0 {
		states, err := json.Marshal(q.States)
		if err != nil {
			return "", nil, err
		}
		common = append(common, `state IN (SELECT value FROM json_each(?))`)
		commonArgs = append(commonArgs, string(states))
	}
	// A time range, perhaps with states, is the accounting query ("what
	// ended since Monday"): the planner, which has no histogram of end
	// times, would rather scan the table in ID order than sort what the
	// end-time index finds, which is wrong for a long history. IDs, a user
	// or a project are more selective, and the planner picks their index
	// itself.
	selective := len(q.IDs) > 0 || q.User != "" || q.Project != ""
	finishedFrom := `jobs`
	if !selective && (q.SinceS != 0 || q.UntilS != 0) {
		finishedFrom = `jobs INDEXED BY jobs_end_acct`
	}
	var args []any
	arm := func(active int, from, timeCol string) string {
		where := append([]string{fmt.Sprintf(`active = %d`, active)}, common...)
		args = append(args, commonArgs...)
		// Finished jobs are timed by their end, active ones by submission.
		if q.SinceS != 0 {
			where = append(where, timeCol+` >= ?`)
			args = append(args, q.SinceS)
		}
		if q.UntilS != 0 {
			where = append(where, timeCol+` < ?`)
			args = append(args, q.UntilS)
		}
		return `SELECT ` + newJobScan(q.Skip).cols + ` FROM ` + from + ` WHERE ` + strings.Join(where, ` AND `)
	}
	query := arm(1, `jobs`, `submit_s`)
	if !q.Active {
		query += ` UNION ALL ` + arm(0, finishedFrom, `end_s`)
	}
	if q.Limit > 0 {
		query += ` ORDER BY id DESC LIMIT ?`
		args = append(args, q.Limit)
	} else {
		query += ` ORDER BY id`
	}
	return query, args, nil
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func queryJobs(ctx context.Context, db queryer, query string, args ...any) ([]store.JobRecord, error) {
	return queryJobsSkip(ctx, db, 0, query, args...)
}

func queryJobsSkip(ctx context.Context, db queryer, skip store.Parts, query string, args ...any) ([]store.JobRecord, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []store.JobRecord
	var hashes []string // per record, "" where the spec holds the script
	js := newJobScan(skip)
	for rows.Next() {
		if err := js.scan(rows); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, js.r)
		hashes = append(hashes, js.scriptHash)
	}
	if err := closeRows(rows); err != nil {
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
// first row that names them and never deleted, so a row read in one
// statement finds its script in the next. Rows from before the scripts
// table hold the script in their spec; equal ones are shared too.
func fillScripts(ctx context.Context, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, recs []store.JobRecord, hashes []string) error {
	byHash := map[string]string{}
	inline := map[string]string{}
	for i := range recs {
		r := &recs[i]
		h := hashes[i]
		if h == "" {
			if r.Spec.Script != "" {
				if v, ok := inline[r.Spec.Script]; ok {
					r.Spec.Script = v
				} else {
					inline[r.Spec.Script] = r.Spec.Script
				}
			}
			continue
		}
		body, ok := byHash[h]
		if !ok {
			if err := db.QueryRowContext(ctx, `SELECT body FROM scripts WHERE hash = ?`, h).Scan(&body); err != nil {
				return fmt.Errorf("job %d: read its script %.12s: %w", r.ID, h, err)
			}
			byHash[h] = body
		}
		r.Spec.Script = body
	}
	return nil
}

var _ store.Scanner = (*Store)(nil)

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
	query, args, err := jobsQuery(q)
	if err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store %s: query jobs: %w", s.path, err)
	}
	js := newJobScan(q.Skip)
	for rows.Next() {
		if err := js.scan(rows); err != nil {
			rows.Close()
			return fmt.Errorf("store %s: query jobs: %w", s.path, err)
		}
		if err := fn(&js.r); err != nil {
			rows.Close()
			return err
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("store %s: query jobs: %w", s.path, err)
	}
	return nil
}
