package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/clock"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Controller owns the cluster state. Create one with New, start it with
// Run, and serve its Handler.
type Controller struct {
	cfg    Config
	policy sched.Policy
	st     store.Store
	clk    clock.Clock
	log    *slog.Logger
	inbox  chan *op
	m      *metrics

	fc forecaster
	// calib widens the forecast range by how past forecasts came out.
	calib forecastCalib
	// limits is the per-user submission rate (authz.go).
	limits limiter
	// auth verifies credentials and tokens when Config.Auth is set.
	auth *authority

	// Everything below is owned by the loop goroutine.
	core *core
	pipe pipeline

	stopped  chan struct{}
	stopOnce sync.Once
}

// op is one operation run on the loop: fn stages changes in the
// transaction and returns a result, delivered after the commit. An op with
// now instead is answered at once, without a transaction: it may read and
// change only state that needs no commit (an agent session's command
// queue, which holds only commands of committed changes).
type op struct {
	fn   func(tx *txn) (any, error)
	now  func(cr *core) (any, error)
	done chan result
}

type result struct {
	v   any
	err error
}

// errPoisoned answers a burst dropped because one of its operations
// panicked.
var errPoisoned = &api.Error{Code: api.CodeInternal, Message: "internal error; nothing in this request was applied, retry"}

// errUnavailable is returned when the controller is stopping.
var errUnavailable = &api.Error{Code: api.CodeUnavailable, Message: "the controller is shutting down; retry against the new one"}

// New recovers the controller's state from the store. Run must be called
// for it to do anything.
func New(cfg Config, st store.Store, clk clock.Clock, log *slog.Logger) (*Controller, error) {
	cfg.setDefaults()
	if cfg.JoinToken == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("drawing a join token: %w", err)
		}
		cfg.JoinToken = hex.EncodeToString(b[:])
	}
	switch cfg.MpiDefault {
	case "":
		cfg.MpiDefault = "none"
	case "none", "pmi2":
	default:
		return nil, fmt.Errorf("MpiDefault %q: give none or pmi2", cfg.MpiDefault)
	}
	if cfg.SubmitRate < 0 || cfg.SubmitBurst < 0 || cfg.MaxSubmitJobs < 0 || cfg.MaxJobs < 0 {
		return nil, fmt.Errorf("abuse limits: SubmitRate %g, SubmitBurst %d, MaxSubmitJobs %d, MaxJobs %d: give 0 (no limit) or a positive number",
			cfg.SubmitRate, cfg.SubmitBurst, cfg.MaxSubmitJobs, cfg.MaxJobs)
	}
	pol, err := sched.PolicyByName(cfg.Policy)
	if err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		cfg: cfg, policy: pol, st: st, clk: clk, log: log,
		inbox:   make(chan *op, 4096),
		m:       newMetrics(),
		stopped: make(chan struct{}),
	}
	c.limits.rate, c.limits.burst = cfg.SubmitRate, float64(cfg.SubmitBurst)
	if cfg.Auth != nil {
		if c.auth, err = newAuthority(*cfg.Auth, st); err != nil {
			return nil, err
		}
	}
	snap, err := st.Load(context.Background())
	if err != nil {
		return nil, fmt.Errorf("loading state: %w", err)
	}
	c.core, err = recoverCore(&c.cfg, snap, clk.Now())
	if err != nil {
		return nil, err
	}
	c.learnRuntimes(st)
	if cfg.DefaultProject != "" {
		if _, ok := c.core.projects[cfg.DefaultProject]; !ok {
			p := store.ProjectRecord{Name: cfg.DefaultProject, Users: []string{"*"}, PeriodStartS: clk.Now().Unix()}
			if err := st.Apply(context.Background(), &store.Batch{Projects: []store.ProjectRecord{p}}); err != nil {
				return nil, fmt.Errorf("creating default project: %w", err)
			}
			c.core.projects[p.Name] = &p
		}
	}
	return c, nil
}

// JoinToken returns the token agents must present: the configured one, or
// the one New drew.
func (c *Controller) JoinToken() string { return c.cfg.JoinToken }

// Cluster returns the cluster as the controller sees it now (read on the
// loop).
func (c *Controller) Cluster(ctx context.Context) (*cluster.Cluster, error) {
	v, err := c.do(ctx, func(tx *txn) (any, error) { return tx.c.cluster, nil })
	if err != nil {
		return nil, err
	}
	return v.(*cluster.Cluster), nil
}

// do runs fn on the loop and waits for its committed result.
// The first operation of a request that carries an audit record stages
// the record in the same transaction (authz.go).
func (c *Controller) do(ctx context.Context, fn func(tx *txn) (any, error)) (any, error) {
	fn, n := c.auditWrap(ctx, fn)
	v, err := c.send(ctx, &op{fn: fn, done: make(chan result, 1)})
	if n != nil && err == errPoisoned {
		// The burst, the record with it, was dropped.
		n.staged.Store(false)
	}
	return v, err
}

// doNow runs fn on the loop and answers at once (see op.now).
func (c *Controller) doNow(ctx context.Context, fn func(cr *core) (any, error)) (any, error) {
	return c.send(ctx, &op{now: fn, done: make(chan result, 1)})
}

func (c *Controller) send(ctx context.Context, o *op) (any, error) {
	select {
	case c.inbox <- o:
	case <-c.stopped:
		return nil, errUnavailable
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-o.done:
		return r.v, r.err
	case <-c.stopped:
		// The op may still have been answered just before the stop.
		select {
		case r := <-o.done:
			return r.v, r.err
		default:
		}
		return nil, errUnavailable
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run is the loop. It returns nil when ctx is done, or an error when the
// store fails to commit (see landed).
//
// Operations are group-committed and pipelined: while one burst's commit
// is on its way to disk, the loop already runs the operations that arrive
// into the next transaction, which is committed as soon as the first is
// durable. A burst is installed in memory when it is handed to the
// committer, so the next one builds on it, but nothing of it is answered
// or acted on (agents told, effects run) before it is durable.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stopOnce.Do(func() { close(c.stopped) })
	p := &c.pipe
	p.work = make(chan *flight, 1)
	p.done = make(chan *flight, 1)
	committerDone := make(chan struct{})
	go c.committer(ctx, committerDone)
	defer func() {
		close(p.work)
		<-committerDone
	}()
	var schedAt <-chan time.Time
	lastPass := time.Time{}
	var passCost time.Duration
	full := c.clk.After(c.cfg.FullPassEvery)
	tick := c.clk.After(time.Second)
	c.core.dirty = true
	for {
		if c.core.dirty && schedAt == nil {
			// Passes get at most about a third of the loop's time, so
			// that a deep queue cannot starve submissions and reports.
			wait := max(c.cfg.SchedInterval, 2*passCost) - c.clk.Now().Sub(lastPass)
			schedAt = c.clk.After(max(wait, 0))
		}
		inbox := c.inbox
		if p.open != nil && len(p.open.ops) >= c.cfg.MaxBurst {
			inbox = nil // the next burst is full: wait for the committer
		}
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil
		case o := <-inbox:
			c.stage(o)
		burst:
			for p.open == nil || len(p.open.ops) < c.cfg.MaxBurst {
				select {
				case o := <-c.inbox:
					c.stage(o)
				default:
					break burst
				}
			}
			if p.flight == nil && p.open != nil {
				c.handOff()
			}
		case f := <-p.done:
			if err := c.landed(f); err != nil {
				return err
			}
			if p.open != nil {
				c.handOff()
			}
		case <-schedAt:
			if err := c.flush(); err != nil {
				return err
			}
			schedAt = nil
			lastPass = c.clk.Now()
			// The cost is read on the controller's clock, as the
			// interval is: on a clock that runs faster than real time
			// (a replay), a pass costs more of it.
			c.schedule(ctx)
			passCost = c.clk.Now().Sub(lastPass)
		case <-full:
			full = c.clk.After(c.cfg.FullPassEvery)
			c.core.dirty = true
		case <-tick:
			tick = c.clk.After(time.Second)
			if err := c.flush(); err != nil {
				return err
			}
			c.housekeeping(ctx)
		}
	}
}

// pipeline is the loop's group-commit state.
type pipeline struct {
	open   *flight      // collecting operations; not installed yet
	flight *flight      // installed and handed to the committer
	work   chan *flight // loop to committer
	done   chan *flight // committer to loop
}

// flight is one burst of operations and their transaction.
type flight struct {
	tx      *txn
	ops     []*op
	results []result
	err     error
	took    time.Duration
}

// stage runs an operation in the open transaction, opening one if needed;
// an immediate one is run and answered at once.
func (c *Controller) stage(o *op) {
	if o.now != nil {
		o.done <- c.exec(nil, o)
		return
	}
	p := &c.pipe
	if p.open == nil {
		p.open = &flight{tx: c.core.begin(c.clk.Now())}
	}
	p.open.ops = append(p.open.ops, o)
	p.open.results = append(p.open.results, c.exec(p.open.tx, o))
}

// handOff installs the open transaction and gives it to the committer,
// which must be idle. A poisoned transaction is dropped instead.
func (c *Controller) handOff() {
	p := &c.pipe
	f := p.open
	p.open = nil
	if f.tx.poisoned {
		// A panicking op may have staged half a change: drop the whole
		// burst rather than commit it.
		f.answer(errPoisoned)
		return
	}
	f.tx.buildBatch()
	if enc, ok := c.st.(store.Encoder); ok {
		// Encoding here, while the previous burst is being written,
		// takes it off the serial commit path. A failure is Apply's to
		// report: it encodes again without Encoded.
		_ = enc.Encode(&f.tx.batch)
	}
	c.core.install(f.tx)
	p.flight = f
	p.work <- f
}

// committer writes handed-off bursts to the store, one at a time, in order.
// A commit is not cancelled by shutdown: it takes milliseconds, and its
// operations are then answered truthfully.
func (c *Controller) committer(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	ctx = context.WithoutCancel(ctx)
	for f := range c.pipe.work {
		if !f.tx.batch.Empty() {
			start := time.Now()
			f.err = c.st.Apply(ctx, &f.tx.batch)
			f.took = time.Since(start)
		}
		c.pipe.done <- f
	}
}

// landed finishes a burst the committer is done with: on success its
// effects run and its operations are answered. A failed commit leaves
// memory ahead of the store (the burst was installed, and the open one
// built on it), so the controller answers both bursts with an error (none
// of it was applied) and stops: a restart recovers the last committed
// state, which holds everything ever acknowledged.
func (c *Controller) landed(f *flight) error {
	p := &c.pipe
	p.flight = nil
	if f.err != nil {
		c.log.Error("store commit failed; stopping, a restart recovers every acknowledged change", "err", f.err)
		e := &api.Error{Code: api.CodeUnavailable, Message: "could not store the change (" + f.err.Error() + "); nothing was applied, retry once the controller is back"}
		f.answer(e)
		if p.open != nil {
			p.open.answer(e)
			p.open = nil
		}
		return fmt.Errorf("store commit failed: %w", f.err)
	}
	if f.took > 0 {
		c.m.commitSeconds.Observe(f.took.Seconds())
	}
	for _, fn := range f.tx.effects {
		fn()
	}
	for i, o := range f.ops {
		o.done <- f.results[i]
	}
	return nil
}

// answer fails every operation of a burst with err.
func (f *flight) answer(err error) {
	for _, o := range f.ops {
		o.done <- result{err: err}
	}
}

// flush waits until every staged operation is durable and answered, so
// that the loop may work on the committed state directly (a pass,
// housekeeping).
func (c *Controller) flush() error {
	p := &c.pipe
	for p.flight != nil || p.open != nil {
		if p.flight == nil {
			c.handOff()
			continue
		}
		if err := c.landed(<-p.done); err != nil {
			return err
		}
	}
	return nil
}

// shutdown answers what is staged: the burst being committed once it is
// durable, the open one with errUnavailable (it was never installed).
func (c *Controller) shutdown() {
	p := &c.pipe
	if p.open != nil {
		p.open.answer(errUnavailable)
		p.open = nil
	}
	if p.flight != nil {
		_ = c.landed(<-p.done)
	}
}

// exec runs one op, turning a panic into an internal error so that one bad
// request cannot take the controller down. An immediate op (op.now) runs
// without a transaction; tx is nil for it.
func (c *Controller) exec(tx *txn, o *op) (r result) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("operation panicked", "panic", p)
			r = result{err: &api.Error{Code: api.CodeInternal, Message: "internal error; the operation was not applied"}}
			if tx != nil {
				tx.poisoned = true
			}
		}
	}()
	if o.now != nil {
		v, err := o.now(c.core)
		return result{v, err}
	}
	v, err := o.fn(tx)
	return result{v, err}
}

// commit persists the transaction, then installs it and runs its effects:
// the loop's own work (passes, housekeeping), after a flush.
func (c *Controller) commit(ctx context.Context, tx *txn) error {
	if tx.poisoned {
		// A panicking op may have staged half a change: drop the whole
		// burst rather than commit it.
		return errPoisoned
	}
	tx.buildBatch()
	if !tx.batch.Empty() {
		start := time.Now()
		if err := c.st.Apply(ctx, &tx.batch); err != nil {
			c.log.Error("store commit failed; nothing applied", "err", err)
			return &api.Error{Code: api.CodeUnavailable, Message: "could not store the change (" + err.Error() + "); nothing was applied, retry"}
		}
		c.m.commitSeconds.Observe(time.Since(start).Seconds())
	}
	c.core.install(tx)
	for _, f := range tx.effects {
		f()
	}
	return nil
}

func notFound(format string, a ...any) error {
	return &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf(format, a...)}
}

func invalid(format string, a ...any) error {
	return &api.Error{Code: api.CodeInvalid, Message: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) error {
	return &api.Error{Code: api.CodeForbidden, Message: fmt.Sprintf(format, a...)}
}

func conflict(format string, a ...any) error {
	return &api.Error{Code: api.CodeConflict, Message: fmt.Sprintf(format, a...)}
}
