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

// nodeKeysMigration keeps node key pins (public keys).
var nodeKeysMigration = []string{
	`CREATE TABLE node_keys (
		node       TEXT PRIMARY KEY,
		key        TEXT    NOT NULL,
		enrolled_s INTEGER NOT NULL
	) STRICT`,
}

var _ store.NodeKeyStore = (*Store)(nil)

// PutNodeKeys implements store.NodeKeyStore.
func (s *Store) PutNodeKeys(ctx context.Context, recs []store.NodeKeyRecord) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, r := range recs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO node_keys (node, key, enrolled_s) VALUES (?, ?, ?)
			ON CONFLICT (node) DO UPDATE SET key = excluded.key, enrolled_s = excluded.enrolled_s`, r.Node, r.Key, r.EnrolledS); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// NodeKeys implements store.NodeKeyStore.
func (s *Store) NodeKeys(ctx context.Context) ([]store.NodeKeyRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT node, key, enrolled_s FROM node_keys ORDER BY node`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.NodeKeyRecord
	for rows.Next() {
		var r store.NodeKeyRecord
		if err := rows.Scan(&r.Node, &r.Key, &r.EnrolledS); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteNodeKey implements store.NodeKeyStore.
func (s *Store) DeleteNodeKey(ctx context.Context, node string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM node_keys WHERE node = ?`, node)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("node %s: %w", node, store.ErrNotFound)
	}
	return nil
}
