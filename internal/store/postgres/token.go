package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gefion-hpc/gefion/internal/store"
)

var _ store.TokenStore = (*Store)(nil)

// PutToken implements store.TokenStore. Like a commit, it is fenced by
// the lease: a deposed leader issues no tokens.
func (s *Store) PutToken(ctx context.Context, t *store.TokenRecord) error {
	err := s.exec(ctx, `INSERT INTO tokens (id, user_name, hash, created_s, expires_s, revoked_s) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.User, t.Hash, t.CreatedS, t.ExpiresS, t.RevokedS)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("token %s: %w", t.ID, store.ErrConflict)
	}
	return err
}

// Tokens implements store.TokenStore.
func (s *Store) Tokens(ctx context.Context) ([]store.TokenRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.r.Query(ctx, `SELECT id, user_name, hash, created_s, expires_s, revoked_s FROM tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store %s: query tokens: %w", s.where, err)
	}
	var out []store.TokenRecord
	var t store.TokenRecord
	_, err = pgx.ForEachRow(rows, []any{&t.ID, &t.User, &t.Hash, &t.CreatedS, &t.ExpiresS, &t.RevokedS}, func() error {
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: query tokens: %w", s.where, err)
	}
	return out, nil
}

// RevokeToken implements store.TokenStore; revoking twice keeps the
// first time.
func (s *Store) RevokeToken(ctx context.Context, id string, atS int64) error {
	err := s.exec(ctx, `WITH u AS (UPDATE tokens SET revoked_s = CASE WHEN revoked_s = 0 THEN $1 ELSE revoked_s END WHERE id = $2 RETURNING id)
		SELECT gefion_all_found('token', ARRAY[$2::text], array(SELECT id FROM u))`, atS, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("token %s: %w", id, store.ErrNotFound)
	}
	return err
}

// exec runs one statement on the writer connection, fenced by the lease
// epoch as commits are.
func (s *Store) exec(ctx context.Context, sql string, args ...any) error {
	if s.closed.Load() {
		return ErrClosed
	}
	q := &pgx.Batch{}
	if e := s.epoch.Load(); e != 0 {
		q.Queue(`SELECT gefion_fence($1)`, e)
	}
	q.Queue(sql, args...)
	return s.send(ctx, q)
}

var _ store.NodeKeyStore = (*Store)(nil)

// PutNodeKeys implements store.NodeKeyStore, fenced by the lease.
func (s *Store) PutNodeKeys(ctx context.Context, recs []store.NodeKeyRecord) error {
	if len(recs) == 0 {
		return nil
	}
	node, key, at := make([]string, len(recs)), make([]string, len(recs)), make([]int64, len(recs))
	for i, r := range recs {
		node[i], key[i], at[i] = r.Node, r.Key, r.EnrolledS
	}
	return s.exec(ctx, `INSERT INTO node_keys (node, key, enrolled_s) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
		ON CONFLICT (node) DO UPDATE SET key = excluded.key, enrolled_s = excluded.enrolled_s`, node, key, at)
}

// NodeKeys implements store.NodeKeyStore.
func (s *Store) NodeKeys(ctx context.Context) ([]store.NodeKeyRecord, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.r.Query(ctx, `SELECT node, key, enrolled_s FROM node_keys ORDER BY node`)
	if err != nil {
		return nil, fmt.Errorf("store %s: query node keys: %w", s.where, err)
	}
	var out []store.NodeKeyRecord
	var r store.NodeKeyRecord
	_, err = pgx.ForEachRow(rows, []any{&r.Node, &r.Key, &r.EnrolledS}, func() error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: query node keys: %w", s.where, err)
	}
	return out, nil
}

// DeleteNodeKey implements store.NodeKeyStore, fenced by the lease.
func (s *Store) DeleteNodeKey(ctx context.Context, node string) error {
	err := s.exec(ctx, `WITH d AS (DELETE FROM node_keys WHERE node = $1 RETURNING node)
		SELECT gefion_all_found('node key of', ARRAY[$1::text], array(SELECT node FROM d))`, node)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("node %s: %w", node, store.ErrNotFound)
	}
	return err
}
