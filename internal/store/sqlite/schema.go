package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// applicationID marks a SQLite file as a gefion store ("GFN1"), so that
// pointing --data-dir at some other program's database fails clearly.
const applicationID = 0x47464e31

// migrations are the schema, in order: migrations[i] takes the database
// from version i to version i+1. Never edit a step that has shipped; append
// a new one. Each step runs in one transaction together with the update of
// schema_version, so a crash leaves the database at one version or the next.
var migrations = [][]string{
	// Version 1: jobs, projects, nodes.
	{
		// Scalar columns hold what queries filter on and what accounting
		// reads; the request and allocation, which only the controller
		// reads back, are JSON. active is 1 for jobs not in a final state.
		`CREATE TABLE jobs (
			id              INTEGER PRIMARY KEY,
			array_job_id    INTEGER NOT NULL,
			array_task_id   INTEGER NOT NULL,
			name            TEXT    NOT NULL,
			user_name       TEXT    NOT NULL,
			project         TEXT    NOT NULL,
			partition_name  TEXT    NOT NULL,
			qos             TEXT    NOT NULL,
			state           TEXT    NOT NULL,
			active          INTEGER NOT NULL,
			reason          TEXT    NOT NULL,
			submit_s        INTEGER NOT NULL,
			eligible_s      INTEGER NOT NULL,
			start_s         INTEGER NOT NULL,
			end_s           INTEGER NOT NULL,
			exit_code       INTEGER NOT NULL,
			signal          TEXT    NOT NULL,
			restarts        INTEGER NOT NULL,
			gpu_seconds     REAL    NOT NULL,
			energy_j        REAL    NOT NULL,
			energy_measured INTEGER NOT NULL,
			idem_key        TEXT    NOT NULL,
			spec            TEXT    NOT NULL,
			req             TEXT    NOT NULL,
			allocs          TEXT    NOT NULL
		) STRICT`,
		// A retried submission must find the first job: keys are unique per
		// user, forever (the controller only remembers recent ones).
		`CREATE UNIQUE INDEX jobs_user_idem ON jobs (user_name, idem_key) WHERE idem_key != ''`,
		// Active jobs (the queue, recovery) are few; they are read through
		// this index and filtered. Its keys, like the table's and
		// jobs_submit's, grow at the right edge, so a submission burst
		// dirties only the last page of each.
		`CREATE INDEX jobs_active ON jobs (id) WHERE active = 1`,
		// The newest submission bounds the idempotency-key window.
		`CREATE INDEX jobs_submit ON jobs (submit_s)`,
		// Accounting reads finished jobs by end time, state, user and
		// project. These indexes are partial: a job enters them once, when
		// it finishes, so submissions, whose users and projects scatter
		// over the whole index, do not pay for them (queries read active
		// and finished jobs as two arms, see jobsQuery).
		`CREATE INDEX jobs_end ON jobs (end_s) WHERE active = 0`,
		`CREATE INDEX jobs_state ON jobs (state, id) WHERE active = 0`,
		`CREATE INDEX jobs_user ON jobs (user_name, id) WHERE active = 0`,
		`CREATE INDEX jobs_project ON jobs (project, id) WHERE active = 0`,
		`CREATE TABLE projects (
			name             TEXT PRIMARY KEY,
			parent           TEXT    NOT NULL,
			users            TEXT    NOT NULL,
			grant_gpu_hours  REAL    NOT NULL,
			period_start_s   INTEGER NOT NULL,
			used_gpu_seconds REAL    NOT NULL,
			usage_gpus       REAL    NOT NULL,
			usage_at_s       INTEGER NOT NULL,
			max_gpus         INTEGER NOT NULL
		) STRICT`,
		`CREATE TABLE nodes (
			name    TEXT PRIMARY KEY,
			state   TEXT    NOT NULL,
			reason  TEXT    NOT NULL,
			since_s INTEGER NOT NULL
		) STRICT`,
		fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
	},
	// Version 2: one copy of each batch script. The tasks of an array (up
	// to 1001) carry the same script of up to 4 MiB; kept in every row's
	// spec, and written again with each change of state, one submission
	// could cost gigabytes. Rows now name their script by its SHA-256
	// (hex) and keep it out of their spec. Rows written before keep the
	// script in their spec (script_hash '') and are read as they are; each
	// moves its script here the next time it is written.
	{
		`CREATE TABLE scripts (
			hash TEXT PRIMARY KEY,
			body TEXT NOT NULL
		) STRICT`,
		`ALTER TABLE jobs ADD COLUMN script_hash TEXT NOT NULL DEFAULT ''`,
	},
	// Version 3: job steps (step.go).
	stepsMigration,
	// Version 4: accounting lists read from an index alone.
	acctMigration,
	// Version 5: project managers and the audit trail (audit.go).
	auditMigration,
	// Version 6: bearer tokens (token.go).
	tokensMigration,
	// Version 7: node key pins (token.go).
	nodeKeysMigration,
	// Version 8: the end of a project's grant.
	{`ALTER TABLE projects ADD COLUMN grant_end_s INTEGER NOT NULL DEFAULT 0`},
}

// acctMigration replaces the indexes of finished jobs by end time and by
// user with two that also hold the columns lists print and filter on (see
// acctIndexColumns): sacct over a day of 100,000 jobs then reads one
// index alone, and never the table's rows, which hold each job's spec,
// request and shares. The user index leads with the user and then the end
// time, so that a user's accounting window is one range of it, however
// long the user's history. A job enters both once, when it finishes; each
// is about as large as those columns of the table.
var acctMigration = []string{
	`CREATE INDEX jobs_end_acct ON jobs (end_s, ` + acctIndexColumns + `) WHERE active = 0`,
	`CREATE INDEX jobs_user_acct ON jobs (user_name, end_s, ` + acctIndexColumns + `) WHERE active = 0`,
	`DROP INDEX jobs_end`,
	`DROP INDEX jobs_user`,
}

// acctIndexColumns are the columns the accounting indexes hold after their
// keys: those
// that order, select and time a record (see jobCols) and those that lists
// most often print or filter on. A query that needs no others reads the
// index alone. sacct's State prints the reason too.
const acctIndexColumns = `id, array_job_id, array_task_id, state, reason, submit_s, start_s, exit_code, signal,
	user_name, project, partition_name, name, qos`

// ErrNewerSchema means the database was written by a newer gefion.
var ErrNewerSchema = errors.New("database schema is newer than this gefion")

// checkApplication fails unless the file is new or a gefion store. A file
// with user tables and no application ID is refused too: it is some other
// program's database, not an empty one.
func checkApplication(ctx context.Context, db *sql.DB, path string) error {
	var appID int64
	if err := db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return fmt.Errorf("open %s: %w (is it a SQLite database?)", path, err)
	}
	if appID != 0 && appID != applicationID {
		return fmt.Errorf("open %s: not a gefion database (SQLite application_id %#x); choose another data directory", path, appID)
	}
	if appID == 0 {
		var foreign int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name != 'schema_version' AND name NOT LIKE 'sqlite_%'`).Scan(&foreign)
		if err != nil {
			return fmt.Errorf("open %s: %w (is it a SQLite database?)", path, err)
		}
		if foreign > 0 {
			return fmt.Errorf("open %s: not a gefion database (it has tables of its own); choose another data directory", path)
		}
	}
	return nil
}

// migrate brings the database to the newest version, len(migrations),
// one transaction per step.
// The writer connection begins IMMEDIATE transactions, so two processes
// opening the same new database cannot both run a step: the second waits,
// then reads the version the first wrote.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("open %s: create schema_version: %w", path, err)
	}
	for {
		done, err := migrateStep(ctx, db, path)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next pending migration, if any, and reports
// whether the schema is current.
func migrateStep(ctx context.Context, db *sql.DB, path string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer tx.Rollback()
	v, err := version(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("open %s: read schema version: %w", path, err)
	}
	if v > len(migrations) {
		return false, fmt.Errorf("open %s: schema version %d, but this gefion knows versions up to %d: %w; run a gefion at least as new as the one that wrote it", path, v, len(migrations), ErrNewerSchema)
	}
	if v == len(migrations) {
		return true, nil
	}
	for i, stmt := range migrations[v] {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("open %s: migrate schema to version %d, step %d: %w", path, v+1, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v+1); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("open %s: commit schema version %d: %w", path, v+1, err)
	}
	return false, nil
}

// version reads the schema version; a database without one is version 0.
func version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
