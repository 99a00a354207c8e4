package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leader is who holds the leader lease, as the leader row says.
type Leader struct {
	// Epoch grows by one at each takeover; 0 means no controller ever led.
	Epoch  int64
	Holder string // the controller's name
	Addr   string // where it serves its API
	// Live reports whether the lease had not expired when read.
	Live bool
}

// Acquire takes the leader lease for ttl if it is free (never held, or
// expired by the database's clock), as holder serving at addr, and from
// then on fences every Apply of this store by the new epoch. It reports
// false, with the current leader, when another controller holds the lease.
// A takeover waits for a commit that already passed the fence, so the new
// leader's Load sees it.
func (s *Store) Acquire(ctx context.Context, holder, addr string, ttl time.Duration) (Leader, bool, error) {
	if s.closed.Load() {
		return Leader{}, false, ErrClosed
	}
	// The lease's lock waits for a commit in flight; a commit the lapsed
	// leader stopped sending half-way would hold it for ever, so its
	// writer connection is ended first (its transaction rolls back).
	if _, err := s.r.Exec(ctx, `SELECT pg_terminate_backend(a.pid) FROM leader l JOIN pg_stat_activity a
		ON a.pid = l.writer_pid AND a.backend_start = l.writer_start
		WHERE l.id = 1 AND l.expires_at < now() AND a.pid <> pg_backend_pid()`); err != nil {
		return Leader{}, false, fmt.Errorf("store %s: end the lapsed leader's connection: %w", s.where, err)
	}
	pid, start, err := s.writerID(ctx)
	if err != nil {
		return Leader{}, false, err
	}
	var epoch int64
	err = s.r.QueryRow(ctx, `UPDATE leader SET epoch = epoch + 1, holder = $1, addr = $2,
			expires_at = now() + $3 * interval '1 microsecond', writer_pid = $4, writer_start = $5
		WHERE id = 1 AND expires_at < now() RETURNING epoch`, holder, addr, ttl.Microseconds(), pid, start).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		l, err := s.Leader(ctx)
		return l, false, err
	}
	if err != nil {
		return Leader{}, false, fmt.Errorf("store %s: take the leader lease: %w", s.where, err)
	}
	s.epoch.Store(epoch)
	return Leader{Epoch: epoch, Holder: holder, Addr: addr, Live: true}, true, nil
}

// Renew extends the lease this store holds by ttl from now (the database's
// clock). It fails with ErrFenced once another controller has taken the
// lease: the caller must stop leading.
func (s *Store) Renew(ctx context.Context, ttl time.Duration) error {
	if s.closed.Load() {
		return ErrClosed
	}
	e := s.epoch.Load()
	if e == 0 {
		return fmt.Errorf("store %s: renew: this controller holds no lease", s.where)
	}
	pid, start, err := s.writerID(ctx)
	if err != nil {
		return err
	}
	tag, err := s.r.Exec(ctx, `UPDATE leader SET expires_at = now() + $2 * interval '1 microsecond',
			writer_pid = $3, writer_start = $4
		WHERE id = 1 AND epoch = $1`, e, ttl.Microseconds(), pid, start)
	if err != nil {
		return fmt.Errorf("store %s: renew the leader lease: %w", s.where, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("renew epoch %d: %w", e, ErrFenced)
	}
	return nil
}

// writerID returns the server process of the writer connection and when
// it started, which identify it in pg_stat_activity.
func (s *Store) writerID(ctx context.Context) (int32, time.Time, error) {
	if !s.mu.TryLock() {
		// A commit is in flight on the writer: its identity was recorded
		// when it connected.
		return s.writerPID, s.writerStart, nil
	}
	defer s.mu.Unlock()
	if s.writerPID == 0 || s.w.IsClosed() {
		if s.w.IsClosed() {
			w, err := connect(ctx, s.cfg, s.where)
			if err != nil {
				return 0, time.Time{}, err
			}
			s.w = w
		}
		if err := s.w.QueryRow(ctx, `SELECT pg_backend_pid(), backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&s.writerPID, &s.writerStart); err != nil {
			return 0, time.Time{}, fmt.Errorf("store %s: identify the writer connection: %w", s.where, err)
		}
	}
	return s.writerPID, s.writerStart, nil
}

// Release gives up the lease this store holds, so that a standby takes
// over at once rather than after the lease lapses. Later commits are
// refused as a deposed leader's would be.
func (s *Store) Release(ctx context.Context) error {
	e := s.epoch.Load()
	if e == 0 || s.closed.Load() {
		return nil
	}
	_, err := s.r.Exec(ctx, `UPDATE leader SET expires_at = '-infinity' WHERE id = 1 AND epoch = $1`, e)
	return err
}

// Epoch returns the epoch this store fences its commits by (0: none).
func (s *Store) Epoch() int64 { return s.epoch.Load() }

// Leader reads who holds the lease.
func (s *Store) Leader(ctx context.Context) (Leader, error) {
	if s.closed.Load() {
		return Leader{}, ErrClosed
	}
	var l Leader
	err := s.r.QueryRow(ctx, `SELECT epoch, holder, addr, expires_at > now() FROM leader WHERE id = 1`).Scan(&l.Epoch, &l.Holder, &l.Addr, &l.Live)
	if err != nil {
		return Leader{}, fmt.Errorf("store %s: read the leader lease: %w", s.where, err)
	}
	return l, nil
}
