package sqlite

import (
	"context"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gefion-hpc/gefion/internal/store"
)

// tokensMigration keeps bearer tokens by hash: the text is never stored.
var tokensMigration = []string{
	`CREATE TABLE tokens (
		id        TEXT PRIMARY KEY,
		user_name TEXT    NOT NULL,
		hash      TEXT    NOT NULL,
		created_s INTEGER NOT NULL,
		expires_s INTEGER NOT NULL,
		revoked_s INTEGER NOT NULL
	) STRICT`,
}

var _ store.TokenStore = (*Store)(nil)

// PutToken implements store.TokenStore.
func (s *Store) PutToken(ctx context.Context, t *store.TokenRecord) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tokens (id, user_name, hash, created_s, expires_s, revoked_s) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.User, t.Hash, t.CreatedS, t.ExpiresS, t.RevokedS)
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return fmt.Errorf("token %s: %w", t.ID, store.ErrConflict)
	}
	return err
}

// Tokens implements store.TokenStore.
func (s *Store) Tokens(ctx context.Context) ([]store.TokenRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, user_name, hash, created_s, expires_s, revoked_s FROM tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TokenRecord
	for rows.Next() {
		var t store.TokenRecord
		if err := rows.Scan(&t.ID, &t.User, &t.Hash, &t.CreatedS, &t.ExpiresS, &t.RevokedS); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements store.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, id string, atS int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET revoked_s = CASE WHEN revoked_s = 0 THEN ? ELSE revoked_s END WHERE id = ?`, atS, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("token %s: %w", id, store.ErrNotFound)
	}
	return nil
}
