// Package agent is the node agent's runtime: it registers its nodes with the
// controller, long-polls for assignments and signals, hands them to an
// Executor, and delivers the executor's reports reliably (numbered, resent
// until acknowledged, across reconnects and controller restarts).
//
// Executors: Virtual (nodes whose jobs "run" for the time they declare and
// report modelled energy, so that a whole machine can be exercised on one
// computer) and, for real nodes, the process executor.
//
// Imported by the CLI's agent and dev commands.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/clock"
)

// Executor runs jobs' shares on the agent's nodes.
type Executor interface {
	// Start begins a job's share on one node; report delivers its events.
	Start(a api.Assignment, report func(api.Report))
	// Signal signals, stops or releases a job's share on one node.
	Signal(s api.Signal, report func(api.Report))
	// Running lists the shares that have not ended.
	Running() []api.RunningOnNode
}

// Agent connects an executor's nodes to a controller.
type Agent struct {
	Client *client.Client
	ID     string
	Nodes  []api.NodeInventory
	Exec   Executor
	Clock  clock.Clock
	Log    *slog.Logger

	mu      sync.Mutex
	seq     uint64
	outbox  []api.Report
	pending chan struct{}
	session string
}

// Report queues a report for delivery.
func (a *Agent) Report(r api.Report) {
	a.mu.Lock()
	a.seq++
	r.Seq = a.seq
	if r.TimeS == 0 {
		r.TimeS = a.now().Unix()
	}
	a.outbox = append(a.outbox, r)
	a.mu.Unlock()
	select {
	case a.pending <- struct{}{}:
	default:
	}
}

func (a *Agent) now() time.Time {
	if a.Clock == nil {
		return time.Now()
	}
	return a.Clock.Now()
}

func (a *Agent) ack(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := 0
	for k < len(a.outbox) && a.outbox[k].Seq <= seq {
		k++
	}
	a.outbox = a.outbox[k:]
}

// Run registers and serves until ctx is done, reconnecting with back-off
// when the controller is away.
func (a *Agent) Run(ctx context.Context) error {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	a.pending = make(chan struct{}, 1)
	// Executors that watch their hardware (GPU faults) start at once, so
	// that a node with no job yet is watched too.
	if w, ok := a.Exec.(interface {
		Watch(context.Context, func(api.Report))
	}); ok {
		w.Watch(ctx, a.Report)
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		hb, err := a.register(ctx)
		if err != nil {
			var ae *api.Error
			if errors.As(err, &ae) && (ae.Code == api.CodeVersion || ae.Code == api.CodeUnauthorized || ae.Code == api.CodeInvalid) {
				return err // retrying cannot help
			}
			a.Log.Warn("cannot register; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		a.serve(ctx, hb)
	}
	return nil
}

func (a *Agent) register(ctx context.Context) (time.Duration, error) {
	resp, err := a.Client.Register(ctx, api.RegisterRequest{Version: api.Version, AgentID: a.ID, Nodes: a.Nodes, Running: a.Exec.Running()})
	if err != nil {
		return 0, err
	}
	a.ack(resp.AckSeq)
	a.mu.Lock()
	a.session = resp.Session
	a.mu.Unlock()
	for _, k := range resp.Kill {
		a.Exec.Signal(api.Signal{JobID: k.JobID, Node: k.Node, Signal: "KILL", Release: true, Reason: "the controller gave up on this job"}, a.Report)
	}
	hb := time.Duration(resp.HeartbeatS) * time.Second
	if hb <= 0 {
		hb = 5 * time.Second
	}
	a.Log.Info("registered", "session", resp.Session, "nodes", len(a.Nodes))
	return hb, nil
}

// serve runs the poller and the reporter until the session ends.
func (a *Agent) serve(ctx context.Context, hb time.Duration) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // poller: waits for commands, doubles as the heartbeat
		defer wg.Done()
		defer cancel()
		for ctx.Err() == nil {
			if !a.sync(ctx, nil, hb/2) {
				return
			}
		}
	}()
	go func() { // reporter: sends reports as soon as they exist
		defer wg.Done()
		defer cancel()
		for {
			a.mu.Lock()
			out := append([]api.Report(nil), a.outbox...)
			a.mu.Unlock()
			if len(out) > 0 {
				if !a.sync(ctx, out, 0) {
					return
				}
				continue
			}
			select {
			case <-a.pending:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
}

// sync makes one call; it returns false when the session is over.
func (a *Agent) sync(ctx context.Context, reports []api.Report, wait time.Duration) bool {
	a.mu.Lock()
	sess := a.session
	a.mu.Unlock()
	resp, err := a.Client.Sync(ctx, api.SyncRequest{Session: sess, Reports: reports, WaitMS: int(wait.Milliseconds())})
	if err != nil {
		if ctx.Err() == nil {
			a.Log.Warn("sync failed; registering again", "err", err)
			time.Sleep(200 * time.Millisecond)
		}
		return false
	}
	if resp.Reregister {
		return false
	}
	a.ack(resp.AckSeq)
	for _, as := range resp.Assign {
		a.Exec.Start(as, a.Report)
	}
	for _, s := range resp.Signals {
		a.Exec.Signal(s, a.Report)
	}
	return true
}
