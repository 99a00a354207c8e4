// Package agent is the node agent's runtime: it registers its nodes with the
// controller, long-polls for assignments and signals, hands them to an
// Executor once each, in order (the controller resends what the agent has
// not acknowledged), and delivers the executor's reports reliably
// (numbered, resent until acknowledged, across reconnects and controller
// restarts).
//
// Executors: Virtual (nodes whose jobs "run" for the time they declare and
// report modelled energy, so that a whole machine can be exercised on one
// computer) and, for real nodes, the process executor.
//
// Job steps (srun): the controller sends step commands in their own
// numbered queue; an executor that implements StepExecutor starts the
// tasks (the process executor: process_step.go) and carries their I/O
// over one connection per node to the srun that asked, authenticated with
// the step's key (stepio.go describes the wire format). The controller is
// told how each node's tasks ended, and srun hears that the node is done
// only once the controller has that report.
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

// Tailer is an executor that can read the end of a job's output file for
// the web view (api.TailRequest), with the job user's rights. Missing says
// the file does not exist (yet).
type Tailer interface {
	Tail(a api.Assignment, max int) (text string, missing bool, err error)
}

// Agent connects an executor's nodes to a controller.
type Agent struct {
	Client *client.Client
	ID     string
	Nodes  []api.NodeInventory
	Exec   Executor
	Clock  clock.Clock
	Log    *slog.Logger
	// Enroll, when set, enrols the node key before each registration
	// (an *api.Error refusal stops Run; other errors are retried).
	Enroll func(ctx context.Context) error

	mu      sync.Mutex
	seq     uint64
	outbox  []api.Report
	pending chan struct{}
	session string
	// lostAfter is how long the controller waits for a silent agent; a
	// failed sync is retried within half of it before registering again.
	lostAfter time.Duration
	// delivered holds, by sequence number, channels closed once the
	// controller has acknowledged the report (see ReportDelivered);
	// guarded by mu.
	delivered map[uint64]chan struct{}

	// cmdMu guards assignDone and signalDone, the sequence numbers of the
	// last assignment and signal of the session handed to the executor:
	// the poller hands commands over, both sync streams acknowledge them.
	cmdMu      sync.Mutex
	assignDone uint64
	signalDone uint64
	stepDone   uint64 // the same for step commands

	// tails are answers to tail requests not yet sent; guarded by mu.
	tails []api.TailAnswer
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
	for s, ch := range a.delivered {
		if s <= seq {
			close(ch)
			delete(a.delivered, s)
		}
	}
}

// Run registers and serves until ctx is done, reconnecting with back-off
// when the controller is away.
func (a *Agent) Run(ctx context.Context) error {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	a.pending = make(chan struct{}, 1)
	// Jobs' srun must reach the controller this agent reaches.
	if s, ok := a.Exec.(interface{ SetControllerAddr(string) }); ok && a.Client != nil {
		s.SetControllerAddr(a.Client.Base)
	}
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
			if errors.As(err, &ae) && (ae.Code == api.CodeVersion || ae.Code == api.CodeUnauthorized || ae.Code == api.CodeInvalid || ae.Code == api.CodeForbidden) {
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
	// The node key is enrolled again with every session: a restarted
	// controller has forgotten it.
	if a.Enroll != nil {
		if err := a.Enroll(ctx); err != nil {
			return 0, err
		}
	}
	resp, err := a.Client.Register(ctx, api.RegisterRequest{Version: api.Version, AgentID: a.ID, Nodes: a.Nodes, Running: a.Exec.Running()})
	if err != nil {
		return 0, err
	}
	a.ack(resp.AckSeq)
	a.mu.Lock()
	a.session = resp.Session
	a.lostAfter = time.Duration(resp.LostAfterS) * time.Second
	a.mu.Unlock()
	a.cmdMu.Lock()
	a.assignDone, a.signalDone, a.stepDone = 0, 0, 0 // a new session numbers from 1
	a.cmdMu.Unlock()
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
			tails := a.tails
			a.tails = nil
			a.mu.Unlock()
			if len(out) > 0 || len(tails) > 0 {
				if !a.sync(ctx, out, -1, tails...) {
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

// sync makes one call; it returns false when the session is over. A
// negative wait sends reports only: commands come to the poller. A call
// that fails on the way (no answer) is retried for up to half the time the
// controller waits before declaring the agent lost: the commands in a lost
// reply come again, since only acknowledged ones leave the controller.
func (a *Agent) sync(ctx context.Context, reports []api.Report, wait time.Duration, tails ...api.TailAnswer) bool {
	a.mu.Lock()
	sess, lostAfter := a.session, a.lostAfter
	a.mu.Unlock()
	if lostAfter <= 0 {
		lostAfter = 10 * time.Second
	}
	started := time.Now()
	// The poller's calls carry the running steps' usage (a reports-only
	// call none, which the controller tells apart).
	var usage []api.StepUsage
	var gpus []api.GPUStat
	if ss, ok := a.Exec.(StepSampler); ok && wait >= 0 {
		usage = ss.SampleSteps()
	}
	if gs, ok := a.Exec.(GPUSampler); ok && wait >= 0 {
		gpus = gs.SampleGPUs(a.Nodes)
	}
	for {
		a.cmdMu.Lock()
		req := api.SyncRequest{Session: sess, Reports: reports, WaitMS: int(max(wait, 0).Milliseconds()),
			AssignAck: a.assignDone, SignalAck: a.signalDone, StepAck: a.stepDone, ReportsOnly: wait < 0, Usage: usage, GPUs: gpus, Tails: tails}
		a.cmdMu.Unlock()
		resp, err := a.Client.Sync(ctx, req)
		if err == nil {
			if resp.Reregister {
				return false
			}
			a.ack(resp.AckSeq)
			a.handle(resp)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var ae *api.Error
		if errors.As(err, &ae) || time.Since(started) > lostAfter/2 {
			// The controller refused the call, or has not answered for
			// long: start a new session.
			a.Log.Warn("sync failed; registering again", "err", err)
			time.Sleep(200 * time.Millisecond)
			return false
		}
		a.Log.Warn("sync failed; retrying", "err", err)
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return false
		}
	}
}

// handle hands a reply's new commands to the executor, in order, once
// each: a command resent because an earlier reply was lost, or received
// by both sync streams, is skipped.
func (a *Agent) handle(resp *api.SyncResponse) {
	a.cmdMu.Lock()
	defer a.cmdMu.Unlock()
	for k, as := range resp.Assign {
		if seq := resp.AssignFrom + uint64(k); seq > a.assignDone {
			a.Exec.Start(as, a.Report)
			a.assignDone = seq
		}
	}
	for k, sg := range resp.Signals {
		if seq := resp.SignalFrom + uint64(k); seq > a.signalDone {
			a.Exec.Signal(sg, a.Report)
			a.signalDone = seq
		}
	}
	for k, sc := range resp.Steps {
		if seq := resp.StepFrom + uint64(k); seq > a.stepDone {
			a.step(sc)
			a.stepDone = seq
		}
	}
	for _, t := range resp.Tails {
		go a.tail(t)
	}
}

// tail reads the end of a job's output file and queues the answer for the
// reporter, which sends it at once.
func (a *Agent) tail(t api.TailRequest) {
	ans := api.TailAnswer{Seq: t.Seq}
	tl, ok := a.Exec.(Tailer)
	if !ok {
		ans.Error = "node " + t.Job.Node + " keeps no output files (its jobs are simulated)"
	} else {
		text, missing, err := tl.Tail(t.Job, min(max(t.Max, 0), api.MaxTail))
		ans.Text, ans.Missing = text, missing
		if err != nil {
			ans.Error = err.Error()
		}
	}
	a.mu.Lock()
	a.tails = append(a.tails, ans)
	a.mu.Unlock()
	select {
	case a.pending <- struct{}{}:
	default:
	}
}
