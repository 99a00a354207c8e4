package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gefion-hpc/gefion/internal/store"
)

// auditMigration adds project managers and the audit trail. Audit rows
// are only ever appended; seq is SQLite's rowid, so they are numbered in
// the order they were committed. Operators read the trail by time and by
// user.
var auditMigration = []string{
	`ALTER TABLE projects ADD COLUMN managers TEXT NOT NULL DEFAULT '[]'`,
	`CREATE TABLE audit (
		seq       INTEGER PRIMARY KEY,
		time_s    INTEGER NOT NULL,
		user_name TEXT    NOT NULL,
		via       TEXT    NOT NULL,
		action    TEXT    NOT NULL,
		target    TEXT    NOT NULL,
		outcome   TEXT    NOT NULL,
		status    INTEGER NOT NULL,
		detail    TEXT    NOT NULL
	) STRICT`,
	`CREATE INDEX audit_time ON audit (time_s)`,
	`CREATE INDEX audit_user ON audit (user_name, time_s)`,
}

// applyAudit appends the batch's audit records in its transaction.
func applyAudit(ctx context.Context, tx *sql.Tx, recs []store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO audit (time_s, user_name, via, action, target, outcome, status, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range recs {
		a := &recs[i]
		if _, err := st.ExecContext(ctx, a.TimeS, a.User, a.Via, a.Action, a.Target, a.Outcome, a.Status, a.Detail); err != nil {
			return fmt.Errorf("audit record: %w", err)
		}
	}
	return nil
}

// Audit returns the audit records q selects, oldest first.
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	where := `WHERE time_s >= ?1 AND (?2 = '' OR user_name = ?2)`
	query := `SELECT seq, time_s, user_name, via, action, target, outcome, status, detail FROM audit ` + where + ` ORDER BY seq`
	args := []any{q.SinceS, q.User}
	if q.Limit > 0 {
		// The newest Limit, handed back oldest first.
		query = `SELECT * FROM (SELECT seq, time_s, user_name, via, action, target, outcome, status, detail FROM audit ` +
			where + ` ORDER BY seq DESC LIMIT ?3) ORDER BY seq`
		args = append(args, q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: query audit: %w", s.path, err)
	}
	defer rows.Close()
	out := []store.AuditRecord{}
	for rows.Next() {
		var a store.AuditRecord
		if err := rows.Scan(&a.Seq, &a.TimeS, &a.User, &a.Via, &a.Action, &a.Target, &a.Outcome, &a.Status, &a.Detail); err != nil {
			return nil, fmt.Errorf("store %s: query audit: %w", s.path, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: query audit: %w", s.path, err)
	}
	return out, nil
}
