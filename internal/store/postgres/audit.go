package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gefion-hpc/gefion/internal/store"
)

// Audit returns the audit records q selects, oldest first. The records
// are appended with the batches that carry them (Batch.Audit).
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	const cols = `seq, time_s, user_name, via, action, target, outcome, status, detail`
	where := `WHERE time_s >= $1 AND ($2 = '' OR user_name = $2)`
	query := `SELECT ` + cols + ` FROM audit ` + where + ` ORDER BY seq`
	args := []any{q.SinceS, q.User}
	if q.Limit > 0 {
		// The newest Limit, handed back oldest first.
		query = `SELECT * FROM (SELECT ` + cols + ` FROM audit ` + where + ` ORDER BY seq DESC LIMIT $3) AS a ORDER BY seq`
		args = append(args, q.Limit)
	}
	rows, err := s.r.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: query audit: %w", s.where, err)
	}
	out := []store.AuditRecord{}
	var a store.AuditRecord
	var status int64
	_, err = pgx.ForEachRow(rows, []any{&a.Seq, &a.TimeS, &a.User, &a.Via, &a.Action, &a.Target, &a.Outcome, &status, &a.Detail}, func() error {
		a.Status = int(status)
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: query audit: %w", s.where, err)
	}
	return out, nil
}
