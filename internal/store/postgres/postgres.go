package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gefion-hpc/gefion/internal/store"
)

// readConns is the size of the read pool (Load, Jobs, Steps, the lease).
// Reads never wait for the writer, so a few connections keep API handlers
// from queueing behind one slow query.
const readConns = 4

// Errors.
var (
	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = errors.New("store: the PostgreSQL store is closed")
	// ErrUnreachable means PostgreSQL could not be reached (refused,
	// timed out, name not resolved): worth retrying, unlike a refusal by
	// the server (authentication, a missing database).
	ErrUnreachable = errors.New("PostgreSQL is unreachable")
	// ErrFenced means the commit carried an epoch that no longer holds the
	// leader lease: another controller leads. Nothing was applied.
	ErrFenced = errors.New("store: fenced: another controller holds the leader lease")
)

// Store is a store.Store in a PostgreSQL schema.
type Store struct {
	where string // the server, database and schema, for messages
	cfg   *pgx.ConnConfig
	// mu serialises commits on w, the single writer connection: the
	// controller commits one burst at a time anyway, and one connection
	// keeps every prepared statement warm.
	mu sync.Mutex
	w  *pgx.Conn
	// writerPID and writerStart identify w's server process (lease.go);
	// zero until the lease first needs them, and again when w is replaced.
	writerPID   int32
	writerStart time.Time
	// r is the pool for reads and the lease.
	r *pgxpool.Pool
	// epoch, when non-zero, is the lease epoch every commit is fenced by.
	epoch atomic.Int64

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Encoder = (*Store)(nil)
	_ store.Scanner = (*Store)(nil)
)

// Describe returns the URL with its password hidden, for messages and
// logs.
func Describe(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "the PostgreSQL URL"
	}
	return u.Redacted()
}

// Open connects to PostgreSQL at rawURL (postgres://user@host:port/db,
// with search_path=SCHEMA to use a schema other than the user's default)
// and brings the schema up to date. An unreachable server gives an error
// wrapping ErrUnreachable; a schema written by a newer gefion one wrapping
// ErrNewerSchema.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return open(ctx, rawURL, true)
}

// OpenStandby is Open for a controller that may stand by: it creates the
// schema of an empty database, but leaves an existing schema at its
// version, which the controller that leads is using, until Migrate is
// called once this one has taken the lease. Upgrades are thus run by the
// leader only, once. A schema newer than this gefion is refused as by
// Open.
func OpenStandby(ctx context.Context, rawURL string) (*Store, error) {
	return open(ctx, rawURL, false)
}

// Migrate brings the schema to this gefion's version (see OpenStandby).
func (s *Store) Migrate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	return migrate(ctx, s.w, s.where, len(migrations))
}

func open(ctx context.Context, rawURL string, upgrade bool) (*Store, error) {
	desc := Describe(rawURL)
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store URL %s: %w (give postgres://USER@HOST:PORT/DATABASE)", desc, err)
	}
	s := &Store{where: desc, cfg: cfg}
	if s.w, err = connect(ctx, cfg, desc); err != nil {
		return nil, err
	}
	// Without upgrade, only an empty schema is created (version 0 to 1);
	// later steps wait for Migrate.
	upTo := len(migrations)
	if !upgrade {
		upTo = 1
	}
	if err := migrate(ctx, s.w, desc, upTo); err != nil {
		s.w.Close(context.Background())
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		s.w.Close(context.Background())
		return nil, fmt.Errorf("store URL %s: %w", desc, err)
	}
	pcfg.MaxConns = readConns
	if s.r, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		s.w.Close(context.Background())
		return nil, fmt.Errorf("open %s: %w", desc, err)
	}
	return s, nil
}

// connect opens one connection, telling an unreachable server from one
// that refused.
func connect(ctx context.Context, cfg *pgx.ConnConfig, desc string) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return c, nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("open %s: %w (check the user, database and pg_hba.conf)", desc, err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("open %s: %w", desc, ctx.Err())
	}
	return nil, fmt.Errorf("open %s: %w: %w", desc, ErrUnreachable, err)
}

// String names the store for messages.
func (s *Store) String() string { return s.where }

// Apply commits the batch as one transaction, sent as one pipeline; when
// it returns nil the batch is durable as the server's synchronous_commit
// makes it. On any error nothing of the batch is kept, unless the
// connection broke after the commit was sent, in which case the outcome is
// unknown and the error says so.
func (s *Store) Apply(ctx context.Context, b *store.Batch) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	enc, _ := b.Encoded.(*encoded)
	if enc == nil || !enc.matches(b) {
		var err error
		if enc, err = encode(b); err != nil {
			return err
		}
	}
	q := &pgx.Batch{}
	if e := s.epoch.Load(); e != 0 {
		q.Queue(`SELECT gefion_fence($1)`, e)
	}
	if err := queueBatch(q, b, enc); err != nil {
		return err
	}
	return s.send(ctx, q)
}

// send runs q on the writer connection as one transaction (a pipeline
// ending in one Sync) and turns a failure into a store error.
func (s *Store) send(ctx context.Context, q *pgx.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.w.IsClosed() {
		// A connection lost by an earlier commit: the caller has stopped
		// trusting its memory and recovered, so start a new one.
		w, err := connect(ctx, s.cfg, s.where)
		if err != nil {
			return err
		}
		s.w, s.writerPID = w, 0
	}
	br := s.w.SendBatch(ctx, q)
	var err error
	for range q.Len() {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s.commitError(err)
	}
	return nil
}

// commitError turns a failed commit into a store error: a duplicate into
// store.ErrConflict, a missing row into store.ErrNotFound, a lost lease
// into ErrFenced.
func (s *Store) commitError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "GF001":
			return fmt.Errorf("%w (%s)", ErrFenced, pe.Message)
		case pe.Code == "GF002":
			return fmt.Errorf("%s: %w", pe.Message, store.ErrNotFound)
		case pe.Code == "23505" && pe.ConstraintName == "jobs_pkey":
			return fmt.Errorf("new job: a job with this ID exists (%s): %w", pe.Detail, store.ErrConflict)
		case pe.Code == "23505" && pe.ConstraintName == "jobs_user_idem":
			return fmt.Errorf("new job: the user already submitted a job with this idempotency key (%s): %w", pe.Detail, store.ErrConflict)
		}
		return fmt.Errorf("store %s: commit: %w; nothing was applied", s.where, err)
	}
	if s.w.IsClosed() {
		return fmt.Errorf("store %s: commit: the connection was lost (%w); the batch may or may not have been applied", s.where, err)
	}
	return fmt.Errorf("store %s: commit: %w; nothing was applied", s.where, err)
}

// Encode computes the column arrays of the batch's job records (their
// JSON parts included) ahead of Apply, which then only sends them.
func (s *Store) Encode(b *store.Batch) error {
	b.Encoded = nil
	e, err := encode(b)
	if err != nil {
		return err
	}
	b.Encoded = e
	return nil
}

// Close closes the store's connections. It is safe to call more than
// once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closeErr = s.w.Close(context.Background())
		s.r.Close()
	})
	return s.closeErr
}
