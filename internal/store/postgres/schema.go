package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations are the schema, in order: migrations[i] takes the schema from
// version i to version i+1. Never edit a step that has shipped; append a
// new one (a new table is a new step, and a new part of Apply in
// apply.go). Each step runs in one transaction together with the update
// of schema_version, so a crash leaves the schema at one version or the
// next.
var migrations = [][]string{
	// Version 1: jobs (with one copy of each batch script), steps,
	// projects, nodes, the leader lease and the functions that check a
	// batch inside its transaction.
	{
		// Scalar columns hold what queries filter on and what accounting
		// reads; the spec (less its script), request and allocation, which
		// only the controller reads back, are JSON text. active is true
		// for jobs not in a final state. A spec with its environment is a
		// few KiB, past PostgreSQL's threshold for compressing a value:
		// lz4 (PostgreSQL 14 or later, built with lz4) costs a fraction of
		// the default pglz's CPU and halves the time of a commit.
		`CREATE TABLE jobs (
			id              BIGINT PRIMARY KEY,
			array_job_id    BIGINT  NOT NULL,
			array_task_id   BIGINT  NOT NULL,
			name            TEXT    NOT NULL,
			user_name       TEXT    NOT NULL,
			project         TEXT    NOT NULL,
			partition_name  TEXT    NOT NULL,
			qos             TEXT    NOT NULL,
			state           TEXT    NOT NULL,
			active          BOOLEAN NOT NULL,
			reason          TEXT    NOT NULL,
			submit_s        BIGINT  NOT NULL,
			eligible_s      BIGINT  NOT NULL,
			start_s         BIGINT  NOT NULL,
			end_s           BIGINT  NOT NULL,
			exit_code       BIGINT  NOT NULL,
			signal          TEXT    NOT NULL,
			restarts        BIGINT  NOT NULL,
			gpu_seconds     DOUBLE PRECISION NOT NULL,
			energy_j        DOUBLE PRECISION NOT NULL,
			energy_measured BOOLEAN NOT NULL,
			idem_key        TEXT    NOT NULL,
			spec            TEXT    COMPRESSION lz4 NOT NULL,
			req             TEXT    NOT NULL,
			allocs          TEXT    NOT NULL,
			script_hash     TEXT    NOT NULL
		)`,
		// A retried submission must find the first job: keys are unique per
		// user, forever (the controller only remembers recent ones).
		`CREATE UNIQUE INDEX jobs_user_idem ON jobs (user_name, idem_key) WHERE idem_key <> ''`,
		// Active jobs (the queue, recovery) are few; accounting reads
		// finished ones by end time, state, user and project. The finished
		// jobs' indexes are partial: a job enters them once, when it
		// finishes, so submissions do not pay for them.
		`CREATE INDEX jobs_active ON jobs (id) WHERE active`,
		`CREATE INDEX jobs_submit ON jobs (submit_s)`,
		`CREATE INDEX jobs_end ON jobs (end_s) WHERE NOT active`,
		`CREATE INDEX jobs_state ON jobs (state, id) WHERE NOT active`,
		`CREATE INDEX jobs_user ON jobs (user_name, id) WHERE NOT active`,
		`CREATE INDEX jobs_project ON jobs (project, id) WHERE NOT active`,
		// The tasks of an array (up to 1001) carry the same script of up
		// to 4 MiB: rows name it by its SHA-256 (hex) and it is kept once.
		`CREATE TABLE scripts (
			hash TEXT PRIMARY KEY,
			body BYTEA COMPRESSION lz4 NOT NULL
		)`,
		`CREATE TABLE steps (
			job_id       BIGINT  NOT NULL,
			step_id      BIGINT  NOT NULL,
			name         TEXT    NOT NULL,
			state        TEXT    NOT NULL,
			node_list    TEXT    NOT NULL,
			tasks        BIGINT  NOT NULL,
			layout       TEXT    NOT NULL,
			argv         TEXT    NOT NULL,
			time_limit_s BIGINT  NOT NULL,
			start_s      BIGINT  NOT NULL,
			end_s        BIGINT  NOT NULL,
			exit_code    BIGINT  NOT NULL,
			signal       TEXT    NOT NULL,
			overlap      BOOLEAN NOT NULL,
			exclusive    BOOLEAN NOT NULL,
			PRIMARY KEY (job_id, step_id)
		)`,
		`CREATE TABLE projects (
			name             TEXT PRIMARY KEY,
			parent           TEXT    NOT NULL,
			users            TEXT    NOT NULL,
			grant_gpu_hours  DOUBLE PRECISION NOT NULL,
			period_start_s   BIGINT  NOT NULL,
			used_gpu_seconds DOUBLE PRECISION NOT NULL,
			usage_gpus       DOUBLE PRECISION NOT NULL,
			usage_at_s       BIGINT  NOT NULL,
			max_gpus         BIGINT  NOT NULL
		)`,
		`CREATE TABLE nodes (
			name    TEXT PRIMARY KEY,
			state   TEXT   NOT NULL,
			reason  TEXT   NOT NULL,
			since_s BIGINT NOT NULL
		)`,
		// The leader lease: one row. epoch only grows; expires_at is in
		// the database's clock, so the controllers' clocks need not agree.
		// writer_pid and writer_start name the leader's writer connection
		// (its server process), which a controller taking over ends: a
		// leader paused in the middle of sending a commit holds the row's
		// lock until its connection goes.
		`CREATE TABLE leader (
			id           INTEGER PRIMARY KEY CHECK (id = 1),
			epoch        BIGINT      NOT NULL,
			holder       TEXT        NOT NULL,
			addr         TEXT        NOT NULL,
			expires_at   TIMESTAMPTZ NOT NULL,
			writer_pid   INTEGER     NOT NULL,
			writer_start TIMESTAMPTZ NOT NULL
		)`,
		`INSERT INTO leader (id, epoch, holder, addr, expires_at, writer_pid, writer_start) VALUES (1, 0, '', '', '-infinity', 0, '-infinity')`,
		// gefion_fence aborts the transaction unless epoch e still holds
		// the lease. FOR SHARE makes a takeover (which updates the row)
		// wait for a commit that passed the fence, and a commit that
		// comes after a takeover read the new epoch.
		`CREATE FUNCTION gefion_fence(e BIGINT) RETURNS void LANGUAGE plpgsql AS $$
		DECLARE cur BIGINT;
		BEGIN
			SELECT epoch INTO cur FROM leader WHERE id = 1 FOR SHARE;
			IF cur IS DISTINCT FROM e THEN
				RAISE EXCEPTION 'epoch % holds the leader lease, this controller''s was %', cur, e USING ERRCODE = 'GF001';
			END IF;
		END $$`,
		// gefion_all_found aborts the transaction unless every one of want
		// is in got, naming the first missing one.
		`CREATE FUNCTION gefion_all_found(what TEXT, want TEXT[], got TEXT[]) RETURNS void LANGUAGE plpgsql AS $$
		DECLARE missing TEXT;
		BEGIN
			SELECT w INTO missing FROM unnest(want) w WHERE NOT (w = ANY (got)) LIMIT 1;
			IF missing IS NOT NULL THEN
				RAISE EXCEPTION '% %', what, missing USING ERRCODE = 'GF002';
			END IF;
		END $$`,
	},
	// Version 2: project managers, the audit trail (appended only, seq
	// numbering the records in commit order; read by time and by user)
	// and bearer tokens, kept by hash.
	{
		`ALTER TABLE projects ADD COLUMN managers TEXT NOT NULL DEFAULT '[]'`,
		`CREATE TABLE audit (
			seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			time_s    BIGINT NOT NULL,
			user_name TEXT   NOT NULL,
			via       TEXT   NOT NULL,
			action    TEXT   NOT NULL,
			target    TEXT   NOT NULL,
			outcome   TEXT   NOT NULL,
			status    BIGINT NOT NULL,
			detail    TEXT   NOT NULL
		)`,
		`CREATE INDEX audit_time ON audit (time_s)`,
		`CREATE INDEX audit_user ON audit (user_name, time_s)`,
		`CREATE TABLE tokens (
			id        TEXT PRIMARY KEY,
			user_name TEXT   NOT NULL,
			hash      TEXT   NOT NULL,
			created_s BIGINT NOT NULL,
			expires_s BIGINT NOT NULL,
			revoked_s BIGINT NOT NULL
		)`,
	},
	// Version 3: node key pins (public keys; token.go).
	{
		`CREATE TABLE node_keys (
			node       TEXT PRIMARY KEY,
			key        TEXT   NOT NULL,
			enrolled_s BIGINT NOT NULL
		)`,
	},
	// Version 4: the end of a project's grant.
	{`ALTER TABLE projects ADD COLUMN grant_end_s BIGINT NOT NULL DEFAULT 0`},
}

// ErrNewerSchema means the schema was written by a newer gefion.
var ErrNewerSchema = errors.New("database schema is newer than this gefion")

// migrate brings the schema to version upTo (at most len(migrations)), or
// leaves it where it is if it is there or past it, one transaction per
// step; a version past len(migrations) is refused either way. Each step holds a transaction-scoped advisory lock
// named after the schema, so that two controllers starting together never
// both run a step: the second waits, then reads the version the first
// wrote.
func migrate(ctx context.Context, conn *pgx.Conn, where string, upTo int) error {
	for {
		done, err := migrateStep(ctx, conn, where, upTo)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next pending migration, if any, and reports
// whether the schema is current.
func migrateStep(ctx context.Context, conn *pgx.Conn, where string, upTo int) (done bool, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", where, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('gefion-migrate ' || current_schema()))`); err != nil {
		return false, fmt.Errorf("open %s: lock for migration: %w", where, err)
	}
	// Under the lock: CREATE ... IF NOT EXISTS is not safe against a
	// concurrent CREATE of the same table.
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return false, fmt.Errorf("open %s: create schema_version: %w", where, err)
	}
	v, err := version(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("open %s: read schema version: %w", where, err)
	}
	if v > len(migrations) {
		return false, fmt.Errorf("open %s: schema version %d, but this gefion knows versions up to %d: %w; run a gefion at least as new as the one that wrote it", where, v, len(migrations), ErrNewerSchema)
	}
	if v >= upTo {
		return true, nil
	}
	for i, stmt := range migrations[v] {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return false, fmt.Errorf("open %s: migrate schema to version %d, step %d: %w", where, v+1, i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, v+1); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("open %s: commit schema version %d: %w", where, v+1, err)
	}
	return false, nil
}

// version reads the schema version; a schema without one is version 0.
func version(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
