package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// stepsMigration adds job steps (version 3). A database of version 1 is
// read as before: its jobs simply have no steps.
var stepsMigration = []string{
	// The layout and argv, which only the controller and sacct read back,
	// are JSON. Steps are few per job and read per job, so the primary
	// key serves every query.
	`CREATE TABLE steps (
		job_id       INTEGER NOT NULL,
		step_id      INTEGER NOT NULL,
		name         TEXT    NOT NULL,
		state        TEXT    NOT NULL,
		node_list    TEXT    NOT NULL,
		tasks        INTEGER NOT NULL,
		layout       TEXT    NOT NULL,
		argv         TEXT    NOT NULL,
		time_limit_s INTEGER NOT NULL,
		start_s      INTEGER NOT NULL,
		end_s        INTEGER NOT NULL,
		exit_code    INTEGER NOT NULL,
		signal       TEXT    NOT NULL,
		overlap      INTEGER NOT NULL,
		exclusive    INTEGER NOT NULL,
		PRIMARY KEY (job_id, step_id)
	) STRICT, WITHOUT ROWID`,
}

const stepColumns = `job_id, step_id, name, state, node_list, tasks, layout, argv, time_limit_s, start_s, end_s, exit_code, signal, overlap, exclusive`

// upsertStepSQL inserts or replaces a step, but only of a job that exists:
// a step of an unknown job inserts nothing, which applySteps reports.
const upsertStepSQL = `INSERT INTO steps (` + stepColumns + `)
	SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15
	WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1)
	ON CONFLICT (job_id, step_id) DO UPDATE SET name = excluded.name, state = excluded.state,
		node_list = excluded.node_list, tasks = excluded.tasks, layout = excluded.layout,
		argv = excluded.argv, time_limit_s = excluded.time_limit_s, start_s = excluded.start_s,
		end_s = excluded.end_s, exit_code = excluded.exit_code, signal = excluded.signal,
		overlap = excluded.overlap, exclusive = excluded.exclusive`

// applySteps writes a batch's steps inside its transaction.
func applySteps(ctx context.Context, tx *sql.Tx, steps []store.StepRecord) error {
	if len(steps) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, upsertStepSQL)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range steps {
		r := &steps[i]
		layout, err := json.Marshal(r.Layout)
		if err != nil {
			return fmt.Errorf("step %d.%d: %w", r.JobID, r.StepID, err)
		}
		argv, err := json.Marshal(r.Argv)
		if err != nil {
			return fmt.Errorf("step %d.%d: %w", r.JobID, r.StepID, err)
		}
		res, err := st.ExecContext(ctx, int64(r.JobID), r.StepID, r.Name, string(r.State), r.NodeList, r.Tasks,
			string(layout), string(argv), r.TimeLimitS, r.StartS, r.EndS, r.ExitCode, r.Signal, r.Overlap, r.Exclusive)
		if err != nil {
			return fmt.Errorf("step %d.%d: %w", r.JobID, r.StepID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("step %d.%d: %w", r.JobID, r.StepID, err)
		} else if n == 0 {
			return fmt.Errorf("step %d.%d: its job: %w", r.JobID, r.StepID, store.ErrNotFound)
		}
	}
	return nil
}

func querySteps(ctx context.Context, q queryer, query string, args ...any) ([]store.StepRecord, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []store.StepRecord
	for rows.Next() {
		var r store.StepRecord
		var id int64
		var state string
		var layout, argv []byte
		if err := rows.Scan(&id, &r.StepID, &r.Name, &state, &r.NodeList, &r.Tasks, &layout, &argv,
			&r.TimeLimitS, &r.StartS, &r.EndS, &r.ExitCode, &r.Signal, &r.Overlap, &r.Exclusive); err != nil {
			rows.Close()
			return nil, err
		}
		r.JobID, r.State = job.ID(id), job.State(state)
		if err := json.Unmarshal(layout, &r.Layout); err != nil {
			rows.Close()
			return nil, fmt.Errorf("step %d.%d: decode layout: %w", id, r.StepID, err)
		}
		if err := json.Unmarshal(argv, &r.Argv); err != nil {
			rows.Close()
			return nil, fmt.Errorf("step %d.%d: decode argv: %w", id, r.StepID, err)
		}
		out = append(out, r)
	}
	return out, closeRows(rows)
}

// Steps returns the steps of the given jobs, ordered by job and step.
func (s *Store) Steps(ctx context.Context, ids []job.ID) ([]store.StepRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	out, err := querySteps(ctx, s.r, `SELECT `+stepColumns+` FROM steps
		WHERE job_id IN (SELECT value FROM json_each(?)) ORDER BY job_id, step_id`, string(list))
	if err != nil {
		return nil, fmt.Errorf("store %s: query steps: %w", s.path, err)
	}
	return out, nil
}

// loadSteps reads the steps of the active jobs for Load.
func loadSteps(ctx context.Context, tx *sql.Tx) ([]store.StepRecord, error) {
	return querySteps(ctx, tx, `SELECT `+stepColumns+` FROM steps
		WHERE job_id IN (SELECT id FROM jobs WHERE active = 1) ORDER BY job_id, step_id`)
}
