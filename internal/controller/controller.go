package controller

import (
	"context"
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

	// Everything below is owned by the loop goroutine.
	core *core

	stopped  chan struct{}
	stopOnce sync.Once
}

// op is one operation run on the loop: fn stages changes in the
// transaction and returns a result, delivered after the commit.
type op struct {
	fn   func(tx *txn) (any, error)
	done chan result
}

type result struct {
	v   any
	err error
}

// errUnavailable is returned when the controller is stopping.
var errUnavailable = &api.Error{Code: api.CodeUnavailable, Message: "the controller is shutting down; retry against the new one"}

// New recovers the controller's state from the store. Run must be called
// for it to do anything.
func New(cfg Config, st store.Store, clk clock.Clock, log *slog.Logger) (*Controller, error) {
	cfg.setDefaults()
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
	snap, err := st.Load(context.Background())
	if err != nil {
		return nil, fmt.Errorf("loading state: %w", err)
	}
	c.core, err = recoverCore(&c.cfg, snap, clk.Now())
	if err != nil {
		return nil, err
	}
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
func (c *Controller) do(ctx context.Context, fn func(tx *txn) (any, error)) (any, error) {
	o := &op{fn: fn, done: make(chan result, 1)}
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

// Run is the loop. It returns when ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stopOnce.Do(func() { close(c.stopped) })
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
		select {
		case <-ctx.Done():
			return nil
		case o := <-c.inbox:
			tx := c.core.begin(c.clk.Now())
			ops := []*op{o}
			results := []result{c.exec(tx, o)}
		burst:
			for len(ops) < c.cfg.MaxBurst {
				select {
				case o := <-c.inbox:
					ops = append(ops, o)
					results = append(results, c.exec(tx, o))
				default:
					break burst
				}
			}
			if err := c.commit(ctx, tx); err != nil {
				for i := range results {
					results[i] = result{err: err}
				}
			}
			for i, o := range ops {
				o.done <- results[i]
			}
		case <-schedAt:
			schedAt = nil
			lastPass = c.clk.Now()
			t := time.Now()
			c.schedule(ctx)
			passCost = time.Since(t)
		case <-full:
			full = c.clk.After(c.cfg.FullPassEvery)
			c.core.dirty = true
		case <-tick:
			tick = c.clk.After(time.Second)
			c.housekeeping(ctx)
		}
	}
}

// exec runs one op, turning a panic into an internal error so that one bad
// request cannot take the controller down.
func (c *Controller) exec(tx *txn, o *op) (r result) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("operation panicked", "panic", p)
			r = result{err: &api.Error{Code: api.CodeInternal, Message: "internal error; the operation was not applied"}}
			tx.poisoned = true
		}
	}()
	v, err := o.fn(tx)
	return result{v, err}
}

// commit persists the transaction, then installs it and runs its effects.
func (c *Controller) commit(ctx context.Context, tx *txn) error {
	if tx.poisoned {
		// A panicking op may have staged half a change: drop the whole
		// burst rather than commit it.
		return &api.Error{Code: api.CodeInternal, Message: "internal error; nothing in this request was applied, retry"}
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

// isOperator reports whether user may act on everything.
func (c *Controller) isOperator(user string) bool {
	if user == "root" {
		return true
	}
	for _, o := range c.cfg.Operators {
		if o == user {
			return true
		}
	}
	return false
}
