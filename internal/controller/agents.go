package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// session is an agent's connection: the nodes it serves and the commands
// waiting for its next sync. Owned by the loop; wake is safe anywhere.
type session struct {
	id      string
	agentID string
	nodes   []int
	// assign and signals are the commands not yet acknowledged by the
	// agent; assignBase and signalBase are the sequence numbers of their
	// first elements.
	assign     []api.Assignment
	signals    []api.Signal
	assignBase uint64
	signalBase uint64
	wake       chan struct{}
	lastSeen   time.Time
	lost       bool
	// suspect lists jobs the controller believed running on the agent's
	// nodes that the agent did not report at registration: unless the
	// agent's first sync reports their end, they failed with the node.
	suspect map[job.ID]bool
	// steps are the step commands not yet acknowledged; stepBase is the
	// sequence number of the first.
	steps    []api.StepCommand
	stepBase uint64
	// tails are tail requests to send with the next reply (output.go).
	tails []api.TailRequest
}

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (cr *core) queueAssign(node string, a api.Assignment) {
	i, ok := cr.nodeByName[node]
	if !ok || cr.nodes[i].session == nil {
		return
	}
	s := cr.nodes[i].session
	s.assign = append(s.assign, a)
	s.poke()
}

func (cr *core) queueSignal(node string, sig api.Signal) {
	i, ok := cr.nodeByName[node]
	if !ok || cr.nodes[i].session == nil {
		return
	}
	s := cr.nodes[i].session
	s.signals = append(s.signals, sig)
	s.poke()
}

// Register opens a session for an agent and its nodes.
func (c *Controller) Register(ctx context.Context, req api.RegisterRequest) (*api.RegisterResponse, error) {
	if req.Version != api.Version {
		return nil, &api.Error{Code: api.CodeVersion, Message: fmt.Sprintf("agent speaks protocol version %d; this controller speaks %d: run the same gefion release on both", req.Version, api.Version)}
	}
	if len(req.Nodes) == 0 {
		return nil, invalid("an agent must register at least one node")
	}
	// A name that is no host name could not be named again by drain,
	// --nodelist or a host list; refuse it before anything changes.
	for _, n := range req.Nodes {
		if err := hostlist.ValidateName(n.Name); err != nil {
			return nil, invalid("agent %q: %v; rename the node on the agent", req.AgentID, err)
		}
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) { return c.register(tx, req) })
	if err != nil {
		return nil, err
	}
	return v.(*api.RegisterResponse), nil
}

func (c *Controller) register(tx *txn, req api.RegisterRequest) (*api.RegisterResponse, error) {
	cr := tx.c
	var unknown []api.NodeInventory
	for _, n := range req.Nodes {
		if _, ok := cr.nodeByName[n.Name]; !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		if !c.cfg.AcceptNewNodes {
			return nil, invalid("node %s is not in the cluster description; add it there, or run the controller with new nodes accepted", unknown[0].Name)
		}
		if err := cr.addNodes(unknown); err != nil {
			return nil, invalid("%v", err)
		}
	}
	s := &session{id: newID(), agentID: req.AgentID, wake: make(chan struct{}, 1), lastSeen: tx.now, suspect: map[job.ID]bool{},
		assignBase: 1, signalBase: 1, stepBase: 1}
	reported := map[job.ID]map[string]bool{}
	for _, r := range req.Running {
		if reported[r.JobID] == nil {
			reported[r.JobID] = map[string]bool{}
		}
		reported[r.JobID][r.Node] = true
	}
	resp := &api.RegisterResponse{Session: s.id, HeartbeatS: int(c.cfg.Heartbeat.Seconds()), LostAfterS: int(c.cfg.LostAfter.Seconds()), AckSeq: cr.agentAck[req.AgentID]}
	for _, n := range req.Nodes {
		i := cr.nodeByName[n.Name]
		s.nodes = append(s.nodes, i)
	}
	// Jobs the agent runs that the controller gave up on: kill them.
	for _, r := range req.Running {
		j := tx.job(r.JobID)
		if j == nil || j.State != job.Running || !onNode(j, r.Node) {
			resp.Kill = append(resp.Kill, r)
		}
	}
	// Jobs the controller thinks run there that the agent does not have.
	for _, j := range cr.jobs {
		if j.State != job.Running {
			continue
		}
		for _, a := range j.Allocs {
			for _, n := range req.Nodes {
				if a.Node == n.Name && !reported[j.ID][n.Name] {
					s.suspect[j.ID] = true
				}
			}
		}
	}
	inv := req.Nodes
	tx.after(func() {
		for k, i := range s.nodes {
			n := cr.nodes[i]
			if old := n.session; old != nil && old != s {
				old.nodes = slices.DeleteFunc(old.nodes, func(x int) bool { return x == i })
				if len(old.nodes) == 0 {
					old.lost = true
					old.poke()
					delete(cr.sessions, old.id)
				}
			}
			n.session = s
			n.inv = inv[k]
		}
		cr.sessions[s.id] = s
		cr.dirty = true
		c.log.Info("agent registered", "agent", req.AgentID, "nodes", len(s.nodes), "kill", len(resp.Kill), "suspect", len(s.suspect))
	})
	return resp, nil
}

func onNode(j *jobRec, node string) bool {
	for _, a := range j.Allocs {
		if a.Node == node {
			return true
		}
	}
	return false
}

// addNodes grows the cluster by nodes agents registered.
func (cr *core) addNodes(inv []api.NodeInventory) error {
	old := cr.cluster
	var groups []cluster.NodeGroup
	for i := range old.Nodes {
		n := &old.Nodes[i]
		groups = append(groups, cluster.NodeGroup{Names: []string{n.Name}, Model: n.Model, SU: old.SUs[n.SU].Name})
	}
	for _, n := range inv {
		m, err := modelOf(n)
		if err != nil {
			return err
		}
		su := n.SU
		if su == "" {
			su = "su1"
		}
		groups = append(groups, cluster.NodeGroup{Names: []string{n.Name}, Model: m, SU: su})
	}
	parts := make([]cluster.Partition, len(old.Partitions))
	copy(parts, old.Partitions)
	for i := range parts {
		parts[i].Nodes = nil
	}
	if len(parts) == 0 {
		parts = nil
	}
	c, err := cluster.New(old.Name, groups, parts, nil)
	if err != nil {
		return err
	}
	cr.cluster = c
	for _, n := range inv {
		cr.nodeByName[n.Name] = len(cr.nodes)
		cr.nodes = append(cr.nodes, &nodeRec{name: n.Name})
	}
	return nil
}

// modelOf builds a node model from an agent's inventory, starting from a
// known model when the agent names one.
func modelOf(n api.NodeInventory) (*cluster.NodeModel, error) {
	var m cluster.NodeModel
	if n.Model == "dgx-h100" {
		m = cluster.DGXH100
	} else {
		m = cluster.NodeModel{Name: "custom", GPU: cluster.H100SXM}
		if len(n.GPUs) > 0 && n.GPUs[0].Name != "" {
			if g, ok := cluster.GPUModelFor(n.GPUs[0].Name); ok {
				m.GPU = g
			} else {
				// An unknown GPU: its name and memory as reported, and a
				// typical PCIe card's power for the energy model.
				m.GPU = cluster.GPUModel{Name: n.GPUs[0].Name, MemoryBytes: n.GPUs[0].MemoryMB << 20, TDPWatts: 300, IdleWatts: 30}
			}
		}
	}
	m.GPUs = len(n.GPUs)
	if n.CPUs > 0 {
		m.CPUs = n.CPUs
	}
	if n.MemoryMB > 0 {
		m.MemoryBytes = n.MemoryMB << 20
	}
	if m.CPUs <= 0 {
		return nil, fmt.Errorf("node %s reports no CPUs", n.Name)
	}
	if m.GPUs > 64 {
		return nil, fmt.Errorf("node %s reports %d GPUs; at most 64 are supported", n.Name, m.GPUs)
	}
	return &m, nil
}

// Sync processes an agent's reports and returns its commands, waiting up to
// req.WaitMS for some.
func (c *Controller) Sync(ctx context.Context, req api.SyncRequest) (*api.SyncResponse, error) {
	var v any
	var err error
	if len(req.Reports) == 0 {
		// A heartbeat changes nothing durable (unless the session still
		// has suspects, see syncReports): no need to wait for a commit.
		v, err = c.doNow(ctx, func(cr *core) (any, error) {
			s := cr.sessions[req.Session]
			if s == nil || s.lost || len(s.suspect) > 0 {
				return nil, nil
			}
			s.lastSeen = c.clk.Now()
			c.noteUsage(cr, s, &req)
			c.noteGPUs(cr, s, &req)
			noteTails(cr, s, &req)
			return s, nil
		})
	}
	if s, _ := v.(*session); s == nil && err == nil {
		v, err = c.do(ctx, func(tx *txn) (any, error) { return c.syncReports(tx, req) })
	}
	if err != nil {
		return nil, err
	}
	s, _ := v.(*session)
	if s == nil {
		return &api.SyncResponse{Reregister: true}, nil
	}
	wait := time.Duration(req.WaitMS) * time.Millisecond
	deadline := time.NewTimer(min(wait, c.cfg.Heartbeat))
	defer deadline.Stop()
	for {
		resp, err := c.takeCommands(ctx, s, req)
		if err != nil {
			return nil, err
		}
		if resp.Reregister || len(resp.Assign) > 0 || len(resp.Signals) > 0 || len(resp.Steps) > 0 || len(resp.Tails) > 0 || wait <= 0 {
			return resp, nil
		}
		select {
		case <-s.wake:
		case <-deadline.C:
			wait = 0
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Controller) takeCommands(ctx context.Context, s *session, req api.SyncRequest) (*api.SyncResponse, error) {
	// Commands are queued only once what they carry out is committed,
	// and taking them changes nothing durable: no need to wait for a
	// commit.
	v, err := c.doNow(ctx, func(cr *core) (any, error) {
		if s.lost {
			return &api.SyncResponse{Reregister: true}, nil
		}
		// Commands leave the queue when the agent acknowledges them, not
		// when they are sent: a reply lost on the way is sent again.
		s.assign = ackedOff(s.assign, &s.assignBase, req.AssignAck)
		s.signals = ackedOff(s.signals, &s.signalBase, req.SignalAck)
		s.steps = ackedOff(s.steps, &s.stepBase, req.StepAck)
		r := &api.SyncResponse{AckSeq: cr.agentAck[s.agentID]}
		if req.ReportsOnly {
			return r, nil
		}
		r.Assign, r.Signals = slices.Clone(s.assign), slices.Clone(s.signals)
		if len(r.Assign) > 0 {
			r.AssignFrom = s.assignBase
		}
		if len(r.Signals) > 0 {
			r.SignalFrom = s.signalBase
		}
		if len(s.steps) > 0 {
			r.Steps, r.StepFrom = slices.Clone(s.steps), s.stepBase
		}
		// Tail requests go once: a lost one is asked again.
		r.Tails, s.tails = s.tails, nil
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*api.SyncResponse), nil
}

// ackedOff drops from a command queue whose first element has sequence
// number *base the commands up to ack.
func ackedOff[T any](q []T, base *uint64, ack uint64) []T {
	if ack < *base {
		return q
	}
	n := min(ack-*base+1, uint64(len(q)))
	*base += n
	return q[n:]
}

// syncReports stages the reports' effects and returns the session, or nil
// if the agent must register again.
func (c *Controller) syncReports(tx *txn, req api.SyncRequest) (*session, error) {
	cr := tx.c
	s := cr.sessions[req.Session]
	if s == nil || s.lost {
		return nil, nil
	}
	s.lastSeen = tx.now
	c.noteUsage(cr, s, &req)
	c.noteGPUs(cr, s, &req)
	noteTails(cr, s, &req)
	ack := cr.agentAck[s.agentID]
	maxSeq := ack
	reported := map[job.ID]bool{}
	for _, rep := range req.Reports {
		if rep.Seq != 0 && rep.Seq <= ack {
			continue // already applied before
		}
		maxSeq = max(maxSeq, rep.Seq)
		if i, ok := cr.nodeByName[rep.Node]; !ok || !slices.Contains(s.nodes, i) {
			c.log.Warn("ignoring a report for a node this agent does not serve", "agent", s.agentID, "node", rep.Node)
			continue
		}
		if rep.Kind == api.ReportEnd {
			reported[rep.JobID] = true
		}
		c.applyReport(tx, s, rep)
	}
	// After the first sync, jobs still suspect died with the agent. The
	// list is cleared once the transaction is committed.
	if len(s.suspect) > 0 {
		for id := range s.suspect {
			if reported[id] {
				continue
			}
			if j := tx.job(id); j != nil && j.State == job.Running {
				c.nodeFailed(tx, j, "", "its node's agent restarted without it")
			}
		}
		tx.after(func() { s.suspect = nil })
	}
	agent := s.agentID
	tx.after(func() { cr.agentAck[agent] = max(cr.agentAck[agent], maxSeq) })
	return s, nil
}

func (c *Controller) applyReport(tx *txn, s *session, rep api.Report) {
	switch rep.Kind {
	case api.ReportEnd:
		j := tx.job(rep.JobID)
		if j == nil {
			return
		}
		if rep.Restart != j.Restarts {
			// The end of an earlier run of a requeued job: its energy
			// was that run's, and it says nothing of this one.
			return
		}
		if rep.State == job.NodeFail && j.State == job.Running && onNode(j, rep.Node) {
			c.nodeFailed(tx, j, rep.Node, rep.Message)
			return
		}
		batch := len(j.Allocs) > 0 && j.Allocs[0].Node == rep.Node
		if j.State != job.Running || !batch {
			// A node's share of a multi-node job, or a late report:
			// only its energy counts.
			if rep.EnergyJ > 0 && onNode(j, rep.Node) {
				e := tx.edit(j.ID)
				e.EnergyJ += rep.EnergyJ
				e.EnergyMeasured = e.EnergyMeasured || rep.Measured
			}
			return
		}
		c.finish(tx, j, rep)
	case api.ReportStepEnd:
		c.stepEnded(tx, rep)
	case api.ReportHealth:
		i, ok := tx.c.nodeByName[rep.Node]
		if !ok || !rep.Drain {
			return
		}
		c.drainNode(tx, i, "health: "+rep.Message, true)
	case api.ReportIdle:
		if j := tx.job(rep.JobID); j != nil && j.State == job.Running {
			msg := fmt.Sprintf("GPU %d on %s has been idle: %s", rep.GPU, rep.Node, rep.Message)
			e := tx.edit(j.ID)
			if !slices.Contains(e.warnings, msg) {
				e.warnings = append(slices.Clone(e.warnings), msg)
			}
			if c.cfg.CancelIdleGPUJobs && !e.cancelled {
				e.cancelled = true
				e.Reason = "cancelled by policy: " + msg
				c.signalJob(tx, e, "TERM", int64(c.cfg.KillWait.Seconds()), e.Reason)
				c.log.Info("cancelling a job with an idle GPU", "job", e.ID, "gpu", rep.GPU, "node", rep.Node)
			}
		}
	}
}

// finish ends a running job from its batch host's report.
func (c *Controller) finish(tx *txn, j *jobRec, rep api.Report) {
	e := tx.edit(j.ID)
	end := tx.nowS
	elapsed := max(end-e.StartS, 0)
	gs := float64(allocGPUs(e.Allocs)) * float64(elapsed)
	e.GPUSeconds += gs
	e.EnergyJ += rep.EnergyJ
	e.EnergyMeasured = e.EnergyMeasured || rep.Measured
	if rep.EnergyJ == 0 && !rep.Measured {
		// No counters on the node: model the GPUs at their TDP, as the
		// twin does, and keep EnergyMeasured false so acct says so.
		e.EnergyJ += c.modelledEnergy(tx.c, e.Allocs, elapsed)
	}
	e.ExitCode, e.Signal = rep.ExitCode, rep.Signal
	c.charge(tx, e.Project, gs)
	others := e.Allocs[1:]
	for _, a := range others {
		c.sendSignal(tx, api.Signal{JobID: e.ID, Node: a.Node, Release: true, Reason: "the job ended"})
	}
	switch {
	case e.cancelled: // a cancel wins over a requeue
		e.State = job.Cancelled
	case e.preempting && e.Spec.RequeueOrDefault():
		c.requeue(tx, e, "requeued after preemption")
		return
	case e.preempting:
		e.State = job.Preempted
	case rep.State != "" && rep.State.Final():
		e.State = rep.State
		if rep.Message != "" {
			// Why the job could not start: the only place the user
			// learns it (why, acct, scontrol show job).
			e.Reason = clipReason(rep.Message)
		}
	case rep.ExitCode == 0 && rep.Signal == "":
		e.State = job.Completed
	default:
		e.State = job.Failed
	}
	e.EndS = end
}

// maxReasonBytes bounds a reason an agent reports, which is stored with the
// job and printed: a path and an error fit many times over.
const maxReasonBytes = 1024

// clipReason cuts s to maxReasonBytes at a character boundary.
func clipReason(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	n := maxReasonBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// modelledEnergy is the energy of the allocated GPUs at their TDP.
func (c *Controller) modelledEnergy(cr *core, allocs []store.Alloc, elapsed int64) float64 {
	var j float64
	for _, a := range allocs {
		if i, ok := cr.nodeByName[a.Node]; ok {
			j += float64(len(a.GPUs)) * cr.cluster.Nodes[i].Model.GPU.TDPWatts * float64(elapsed)
		}
	}
	return j
}

// requeue puts a job that held resources back in the queue.
func (c *Controller) requeue(tx *txn, e *jobRec, why string) {
	e.State = job.Pending
	e.Restarts++
	e.Allocs = nil
	e.StartS = 0
	e.EligibleS = tx.nowS
	e.preempting, e.cancelled = false, false
	e.Reason = why
}

// charge adds GPU-seconds to a project's period use and decayed usage.
func (c *Controller) charge(tx *txn, project string, gs float64) {
	if tx.project(project) == nil || gs == 0 {
		return
	}
	p := tx.editProject(project)
	p.UsedGPUSeconds += gs
	p.UsageGPUS = tx.c.decay(p.UsageGPUS, p.UsageAtS, tx.nowS) + gs
	p.UsageAtS = tx.nowS
}

// nodeFailed ends a running job whose node was lost: requeued if it may be,
// else NODE_FAIL; its other nodes are released. Its running steps end
// too: NODE_FAIL where they had tasks on the lost node (every step where
// the node is not known), CANCELLED elsewhere, as Slurm records them.
func (c *Controller) nodeFailed(tx *txn, j *jobRec, node, why string) {
	// --no-kill keeps the job on its other nodes, unless the lost one ran
	// its batch script (Slurm's rule).
	if j.Spec.NoKill && node != "" && len(j.Allocs) > 1 && j.Allocs[0].Node != node && !j.cancelled {
		c.dropNode(tx, j, node, why)
		return
	}
	for _, s := range tx.runningSteps(j.ID) {
		st := job.Cancelled
		if node == "" || s.part(node) != nil {
			st = job.NodeFail
		}
		e := tx.editStep(s)
		e.State, e.EndS = st, tx.nowS
	}
	e := tx.edit(j.ID)
	gs := float64(allocGPUs(e.Allocs)) * float64(max(tx.nowS-e.StartS, 0))
	e.GPUSeconds += gs
	c.charge(tx, e.Project, gs)
	for _, a := range e.Allocs {
		c.sendSignal(tx, api.Signal{JobID: e.ID, Node: a.Node, Signal: "KILL", Release: true, Reason: why})
	}
	switch {
	case e.cancelled:
		e.State, e.EndS = job.Cancelled, tx.nowS
		return
	case e.Spec.RequeueOrDefault():
		c.requeue(tx, e, "requeued: "+why)
		return
	}
	e.State, e.EndS, e.Reason = job.NodeFail, tx.nowS, why
}

// dropNode keeps a --no-kill job running without a lost node: the node's
// share is charged up to now and released, and the steps with tasks there
// fail NODE_FAIL, their tasks on the other nodes killed, as Slurm does.
// Later steps run on the nodes the job has left.
func (c *Controller) dropNode(tx *txn, j *jobRec, node, why string) {
	for _, s := range tx.runningSteps(j.ID) {
		if s.part(node) == nil {
			continue
		}
		e := tx.editStep(s)
		e.State, e.EndS = job.NodeFail, tx.nowS
		for _, a := range e.Layout {
			if a.Node != node {
				sig := &api.StepSignal{JobID: j.ID, StepID: e.StepID, Node: a.Node, Signal: "KILL"}
				tx.after(func() { c.core.queueStep(sig.Node, api.StepCommand{Signal: sig}) })
			}
		}
	}
	e := tx.edit(j.ID)
	i := slices.IndexFunc(e.Allocs, func(a store.Alloc) bool { return a.Node == node })
	if i < 0 {
		return
	}
	gs := float64(len(e.Allocs[i].GPUs)) * float64(max(tx.nowS-e.StartS, 0))
	e.GPUSeconds += gs
	c.charge(tx, e.Project, gs)
	c.sendSignal(tx, api.Signal{JobID: e.ID, Node: node, Signal: "KILL", Release: true, Reason: why})
	e.Allocs = slices.Delete(slices.Clone(e.Allocs), i, i+1)
	c.log.Warn("job keeps running without a failed node (--no-kill)", "job", e.ID, "node", node, "why", why)
}

// housekeeping declares silent agents lost.
func (c *Controller) housekeeping(ctx context.Context) {
	cr := c.core
	now := c.clk.Now()
	var lost []*session
	for _, s := range cr.sessions {
		if !s.lost && now.Sub(s.lastSeen) > c.cfg.LostAfter {
			lost = append(lost, s)
		}
	}
	if len(lost) == 0 {
		return
	}
	tx := cr.begin(now)
	for _, s := range lost {
		for _, i := range s.nodes {
			name := cr.nodes[i].name
			for _, j := range cr.jobs {
				if j.State == job.Running && onNode(j, name) {
					if cur := tx.job(j.ID); cur.State == job.Running {
						c.nodeFailed(tx, cur, name, "node "+name+" stopped responding")
					}
				}
			}
		}
	}
	if err := c.commit(ctx, tx); err != nil {
		c.log.Error("could not record lost agents; will retry", "err", err)
		return
	}
	for _, s := range lost {
		s.lost = true
		s.poke()
		for _, i := range s.nodes {
			if cr.nodes[i].session == s {
				cr.nodes[i].session = nil
			}
		}
		delete(cr.sessions, s.id)
		c.log.Warn("agent lost", "agent", s.agentID, "nodes", len(s.nodes))
	}
	cr.dirty = true
}

// drainNode marks a node draining; with requeue, its requeueable jobs are
// stopped and requeued (a health failure), else they finish.
func (c *Controller) drainNode(tx *txn, i int, reason string, requeue bool) {
	n := tx.editNode(i)
	if n.avail == sched.Up {
		n.avail = sched.Draining
	}
	n.reason, n.since = reason, tx.nowS
	if !requeue {
		return
	}
	for _, j := range tx.c.jobs {
		if j.State == job.Running && onNode(j, n.name) && j.Spec.RequeueOrDefault() {
			cur := tx.job(j.ID)
			if cur.State == job.Running {
				c.nodeFailed(tx, cur, n.name, reason)
			}
		}
	}
}
