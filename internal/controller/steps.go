package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gefion-hpc/gefion/internal/pmi"
	"maps"
	"net"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Job steps. srun asks for a step of a running job; the controller lays it
// out on the job's allocation (steplayout.go), records it durably in the
// same group commit as everything else, draws the step's I/O key and,
// once the step is committed, sends each of its nodes' agents a launch
// command in the agent's numbered step queue. The agents start the tasks
// and connect to srun themselves: the tasks' output never passes through
// here, so a step's output costs the controller nothing, and a controller
// restart does not cut a running step's I/O. The I/O key travels to srun
// in the (authenticated) API reply and to the agents in their (token
// authenticated) sync replies, and each end proves it holds it before any
// output or input flows (package agent, stepio.go).
//
// Each node's agent reports the end of the step's tasks there; the step
// ends (COMPLETED, FAILED with the highest exit code, CANCELLED) once
// every node has reported, or with its job.

// stepRec is a step as the loop holds it. What its nodes reported (their
// end, a time-out) and whether a cancel was sent live in its stored
// layout, so that a restarted controller ends a step whose nodes reported
// on both sides of the restart. Like job records, a transaction stages a
// copy; installed ones are never changed.
type stepRec struct {
	store.StepRecord
}

func (s *stepRec) clone() *stepRec {
	return &stepRec{StepRecord: *store.CloneStep(&s.StepRecord)}
}

// part returns the layout entry of a node, or nil.
func (s *stepRec) part(node string) *store.StepAlloc {
	for i := range s.Layout {
		if s.Layout[i].Node == node {
			return &s.Layout[i]
		}
	}
	return nil
}

type stepKey struct {
	job  job.ID
	step int
}

// stepState is the core's part for steps: the steps of active (and
// recently ended) jobs and each job's next step ID.
type stepState struct {
	steps map[job.ID]map[int]*stepRec
	next  map[job.ID]int
}

// stepTxn is a transaction's staged steps.
type stepTxn struct {
	steps map[stepKey]*stepRec
	order []stepKey
	next  map[job.ID]int
}

func (cr *core) stepsOf(id job.ID) map[int]*stepRec {
	if cr.stepSt.steps == nil {
		return nil
	}
	return cr.stepSt.steps[id]
}

// step returns a step as staged or installed, or nil.
func (tx *txn) step(id job.ID, n int) *stepRec {
	if s, ok := tx.stepTx.steps[stepKey{id, n}]; ok {
		return s
	}
	return tx.c.stepsOf(id)[n]
}

// editStep stages a step (a copy of an installed one, or a new one).
func (tx *txn) editStep(s *stepRec) *stepRec {
	k := stepKey{s.JobID, s.StepID}
	if cur, ok := tx.stepTx.steps[k]; ok && cur == s {
		return s
	}
	if tx.stepTx.steps == nil {
		tx.stepTx.steps = map[stepKey]*stepRec{}
	}
	if _, ok := tx.stepTx.steps[k]; !ok {
		tx.stepTx.order = append(tx.stepTx.order, k)
	}
	c := s.clone()
	tx.stepTx.steps[k] = c
	return c
}

// runningSteps lists the job's running steps, staged or installed.
func (tx *txn) runningSteps(id job.ID) []*stepRec {
	var out []*stepRec
	seen := map[int]bool{}
	for _, k := range tx.stepTx.order {
		if k.job == id {
			seen[k.step] = true
			if s := tx.stepTx.steps[k]; s.State == job.Running {
				out = append(out, s)
			}
		}
	}
	for n, s := range tx.c.stepsOf(id) {
		if !seen[n] && s.State == job.Running {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *stepRec) int { return a.StepID - b.StepID })
	return out
}

func (tx *txn) nextStep(id job.ID) int {
	if n, ok := tx.stepTx.next[id]; ok {
		return n
	}
	return tx.c.stepSt.next[id]
}

// buildStepBatch ends the running steps of jobs this transaction ends or
// requeues (their agents kill the tasks with the job's share), then adds
// the staged steps to the batch.
func (tx *txn) buildStepBatch() {
	for _, id := range tx.updIDs {
		j := tx.jobs[id]
		if j == nil || j.State == job.Running {
			continue
		}
		for _, s := range tx.runningSteps(id) {
			e := tx.editStep(s)
			e.State, e.EndS = job.Cancelled, tx.nowS
			if j.State == job.Timeout {
				e.State = job.Timeout
			}
		}
	}
	for _, k := range tx.stepTx.order {
		tx.batch.Steps = append(tx.batch.Steps, tx.stepTx.steps[k].StepRecord)
	}
}

// installSteps makes the staged steps current. Steps of jobs that ended
// are forgotten with the job (the store keeps them).
func (cr *core) installSteps(tx *txn) {
	st := &cr.stepSt
	if st.steps == nil {
		st.steps, st.next = map[job.ID]map[int]*stepRec{}, map[job.ID]int{}
	}
	for _, k := range tx.stepTx.order {
		m := st.steps[k.job]
		if m == nil {
			m = map[int]*stepRec{}
			st.steps[k.job] = m
		}
		// Ended steps live on in the store only: a job that runs srun
		// in a loop must not grow the loop's state.
		if s := tx.stepTx.steps[k]; s.State.Final() {
			delete(m, k.step)
		} else {
			m[k.step] = s
		}
	}
	maps.Copy(st.next, tx.stepTx.next)
	for id, r := range tx.jobs {
		if r.State.Final() {
			delete(st.steps, id)
			delete(st.next, id)
		}
	}
}

// recoverSteps loads the steps of the active jobs after a restart, so
// that step IDs are never reused and running steps can still end.
func (cr *core) recoverSteps(recs []store.StepRecord) {
	cr.stepSt.steps, cr.stepSt.next = map[job.ID]map[int]*stepRec{}, map[job.ID]int{}
	for _, r := range recs {
		cr.stepSt.next[r.JobID] = max(cr.stepSt.next[r.JobID], r.StepID+1)
		if r.State.Final() {
			continue
		}
		m := cr.stepSt.steps[r.JobID]
		if m == nil {
			m = map[int]*stepRec{}
			cr.stepSt.steps[r.JobID] = m
		}
		m[r.StepID] = &stepRec{StepRecord: r}
	}
}

// CreateStep starts a step of a running job for its user (or an operator).
func (c *Controller) CreateStep(ctx context.Context, user string, id job.ID, req api.StepRequest) (*api.StepResponse, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, invalid("no program to run: give srun a command, e.g. srun hostname")
	}
	host, port, err := net.SplitHostPort(req.IOAddr)
	if err != nil || host == "" || port == "" || port == "0" {
		return nil, invalid("io_addr %q: give the host:port where srun accepts the tasks' I/O", req.IOAddr)
	}
	if req.TimeLimitS < 0 {
		return nil, invalid("-t/--time: give a positive time limit")
	}
	if req.Stdin < api.StdinAll {
		return nil, invalid("stdin %d: give a task rank, -1 for none or -2 for every task", req.Stdin)
	}
	switch req.MPI {
	case "":
		req.MPI = c.cfg.MpiDefault
	case "none", "pmi2":
	case "pmix", "pmix_v2", "pmix_v3", "pmix_v4", "pmix_v5":
		return nil, invalid("--mpi=%s is not supported: use --mpi=pmi2 (MPICH, Intel MPI and MVAPICH speak it), or Open MPI's mpirun inside the allocation", req.MPI)
	default:
		return nil, invalid("--mpi=%s: give none or pmi2", req.MPI)
	}
	if req.MPI == "none" {
		req.MPI = ""
	}
	if req.Container.IsZero() {
		req.Container = nil
	} else if err := req.Container.Validate(); err != nil {
		return nil, invalid("%v", err)
	} else if err := checkImageRef(req.Container); err != nil {
		return nil, err
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) { return c.createStep(tx, user, id, req, hex.EncodeToString(key[:])) })
	if err != nil {
		return nil, err
	}
	return v.(*api.StepResponse), nil
}

func (c *Controller) createStep(tx *txn, user string, id job.ID, req api.StepRequest, key string) (*api.StepResponse, error) {
	j := tx.job(id)
	if j == nil {
		return nil, notFound("job %d does not exist or ended long ago", id)
	}
	if j.User != user && !c.isAdmin(user) {
		// A step runs as the job's user: only they (and admins) start one.
		return nil, notYours(id, "run steps in")
	}
	if j.State != job.Running {
		return nil, conflict("job %d is %s; steps run only inside a running job", id, j.State)
	}
	if j.cancelled {
		return nil, conflict("job %d is being cancelled; it takes no new steps", id)
	}
	if req.Stdin >= 0 && req.Tasks > 0 && req.Stdin >= req.Tasks {
		return nil, invalid("stdin goes to task %d, but the step has %d task(s)", req.Stdin, req.Tasks)
	}
	busy := map[string]*stepUse{}
	for _, s := range tx.runningSteps(id) {
		if s.Overlap {
			continue
		}
		for _, a := range s.Layout {
			u := busy[a.Node]
			if u == nil {
				u = &stepUse{gpus: map[int]bool{}}
				busy[a.Node] = u
			}
			u.cpus += a.CPUs
			// The record lists only GPUs the step asked for: a step
			// that asked for none sees them all and holds none.
			for _, g := range a.GPUs {
				u.gpus[g] = true
			}
		}
	}
	layout, tasks, err := planStep(j.Allocs, req, busy)
	if err != nil {
		if errors.Is(err, errStepBusy) {
			return nil, &api.Error{Code: api.CodeBusy, Message: fmt.Sprintf("job %d: step resources are %v", id, err)}
		}
		return nil, invalid("%v", err)
	}
	if req.Stdin >= tasks {
		return nil, invalid("stdin goes to task %d, but the step has %d task(s)", req.Stdin, tasks)
	}
	if req.Container != nil {
		names := make([]string, len(layout))
		for k, sn := range layout {
			names[k] = sn.Node
		}
		if err := tx.c.noContainers(names); err != nil {
			return nil, err
		}
	}
	n := tx.nextStep(id)
	if tx.stepTx.next == nil {
		tx.stepTx.next = map[job.ID]int{}
	}
	tx.stepTx.next[id] = n + 1
	name := req.Name
	if name == "" {
		name = path.Base(req.Argv[0])
	}
	names := make([]string, len(layout))
	rec := store.StepRecord{JobID: id, StepID: n, Name: name, State: job.Running, Tasks: tasks,
		Argv: slices.Clone(req.Argv), TimeLimitS: req.TimeLimitS, StartS: tx.nowS, Overlap: req.Overlap, Exclusive: req.Exclusive}
	for k, sn := range layout {
		names[k] = sn.Node
		a := store.StepAlloc{Node: sn.Node, Tasks: sn.Tasks, CPUs: sn.CPUs}
		if req.GPUs > 0 || req.GPUsPerTask > 0 {
			a.GPUs = sn.GPUs
		}
		rec.Layout = append(rec.Layout, a)
	}
	rec.NodeList = hostlist.CompressOrJoin(names)
	tx.editStep(&stepRec{StepRecord: rec})
	jobNames := make([]string, len(j.Allocs))
	for k, a := range j.Allocs {
		jobNames[k] = a.Node
	}
	tpn := tasksPerNodeString(layout)
	// MPI ranks read from PMI which of them share a node.
	var mapping string
	if req.MPI == "pmi2" {
		nodeOf := make([]int, tasks)
		for k, sn := range layout {
			for _, t := range sn.Tasks {
				nodeOf[t] = k
			}
		}
		mapping = pmi.Mapping(nodeOf)
	}
	for k, sn := range layout {
		l := &api.StepLaunch{
			JobID: id, StepID: n, Node: sn.Node, Restart: j.Restarts, NodeIndex: k, Part: sn,
			Tasks: tasks, StepNodeList: rec.NodeList, StepNodes: len(layout), TasksPerNode: tpn,
			JobNodeList: hostlist.CompressOrJoin(jobNames), JobNodes: len(j.Allocs),
			CPUsPerTask: req.CPUsPerTask, GPUBind: req.GPUBind, Name: name, User: j.User,
			Argv: req.Argv, Env: req.Env, Cwd: req.Cwd, TimeLimitS: req.TimeLimitS,
			IOAddr: req.IOAddr, IOKey: key, Stdin: req.Stdin, KillOnBadExit: req.KillOnBadExit,
			MPI: req.MPI, PMIMapping: mapping, PTY: req.PTY, Container: req.Container,
		}
		tx.after(func() { c.core.queueStep(l.Node, api.StepCommand{Launch: l}) })
	}
	return &api.StepResponse{JobID: id, StepID: n, Tasks: tasks, Layout: layout, IOKey: key}, nil
}

// queueStep queues a step command for a node's agent and wakes its sync.
func (cr *core) queueStep(node string, cmd api.StepCommand) {
	i, ok := cr.nodeByName[node]
	if !ok || cr.nodes[i].session == nil {
		return
	}
	s := cr.nodes[i].session
	if s.stepBase == 0 {
		s.stepBase = 1
	}
	s.steps = append(s.steps, cmd)
	s.poke()
}

// stepEnded applies one node's report of the end of a step's tasks.
func (c *Controller) stepEnded(tx *txn, rep api.Report) {
	s := tx.step(rep.JobID, rep.Step)
	if s == nil || s.State != job.Running {
		return
	}
	j := tx.job(rep.JobID)
	if j == nil || rep.Restart != j.Restarts {
		return
	}
	if p := s.part(rep.Node); p == nil || p.Ended {
		return
	}
	e := tx.editStep(s)
	p := e.part(rep.Node)
	p.Ended = true
	p.TimedOut = rep.State == job.Timeout
	if rep.ExitCode > e.ExitCode {
		e.ExitCode = rep.ExitCode
	}
	if rep.Signal != "" && e.Signal == "" {
		e.Signal = rep.Signal
	}
	timedOut, cancelled := false, false
	for _, a := range e.Layout {
		if !a.Ended {
			return
		}
		timedOut = timedOut || a.TimedOut
		cancelled = cancelled || a.Cancelled
	}
	e.EndS = tx.nowS
	switch {
	case timedOut:
		e.State = job.Timeout
	case cancelled:
		e.State = job.Cancelled
	case e.ExitCode == 0 && e.Signal == "":
		e.State = job.Completed
	default:
		e.State = job.Failed
	}
}

// CancelStep signals a running step's tasks on all its nodes (scancel
// ID.STEP). Without a signal it cancels the step: TERM, then KILL from
// the agent after its KillWait, and the step ends CANCELLED.
func (c *Controller) CancelStep(ctx context.Context, user string, id job.ID, step int, signal string) error {
	name := "TERM"
	if signal != "" {
		_, n, err := job.SignalNumber(signal)
		if err != nil {
			return invalid("--signal=%s: %v", signal, err)
		}
		name = n
	}
	_, err := c.do(ctx, func(tx *txn) (any, error) {
		j := tx.job(id)
		if j == nil {
			return nil, notFound("job %d does not exist or ended long ago", id)
		}
		if !c.accessOf(tx.c.projects, user).actOn(j.User, j.Project) {
			return nil, notYours(id, "cancel steps of")
		}
		s := tx.step(id, step)
		if s == nil && step < tx.nextStep(id) {
			return nil, conflict("step %d.%d already ended (see 'gefion acct -j %d')", id, step, id)
		}
		if s == nil {
			return nil, notFound("job %d has no step %d (see 'gefion acct -j %d')", id, step, id)
		}
		if s.State != job.Running {
			return nil, conflict("step %d.%d already ended (%s)", id, step, s.State)
		}
		if signal == "" {
			e := tx.editStep(s)
			for i := range e.Layout {
				e.Layout[i].Cancelled = true
			}
		}
		for _, a := range s.Layout {
			sig := &api.StepSignal{JobID: id, StepID: step, Node: a.Node, Signal: name}
			tx.after(func() { c.core.queueStep(sig.Node, api.StepCommand{Signal: sig}) })
		}
		return nil, nil
	})
	return err
}

// Steps lists the steps of a job the user may see, with their command
// lines where the user may read the job's spec.
func (c *Controller) Steps(ctx context.Context, user string, id job.ID) ([]api.Step, error) {
	j, err := c.Job(ctx, user, job.Ref{ID: id})
	if err != nil {
		return nil, err
	}
	// Every acknowledged step is in the store: read it there, off the
	// loop.
	recs, err := c.st.Steps(ctx, []job.ID{id})
	if err != nil {
		return nil, err
	}
	out := c.apiSteps(recs)
	if j.Spec == nil {
		// Job gives the spec only to those who may read it.
		for i := range out {
			out[i].Argv = nil
		}
	}
	return c.withUsage(ctx, out)
}

// maxStepsQuery bounds the jobs of one StepsOf call.
const maxStepsQuery = 10000

// StepsOf lists the steps of many jobs at once (sacct's step lines), those
// of jobs the caller may see (authz.go), with command lines where the
// caller may read the job's spec. Jobs that do not exist or that the
// caller may not see are left out, as sacct leaves them out.
func (c *Controller) StepsOf(ctx context.Context, user string, ids []job.ID) ([]api.Step, error) {
	if len(ids) > maxStepsQuery {
		return nil, invalid("%d job IDs in one steps query; ask for at most %d at a time", len(ids), maxStepsQuery)
	}
	if len(ids) == 0 {
		return []api.Step{}, nil
	}
	a, err := c.access(ctx, user)
	if err != nil {
		return nil, err
	}
	spec := map[job.ID]bool{}
	if !a.admin {
		jobs, err := c.st.Jobs(ctx, store.JobQuery{IDs: ids, Skip: store.SkipAll &^ (store.SkipUser | store.SkipProject)})
		if err != nil {
			return nil, err
		}
		ids = ids[:0:0]
		for _, j := range jobs {
			if a.seeJob(j.User, j.Project) {
				ids = append(ids, j.ID)
				spec[j.ID] = a.seeSpec(j.User, j.Project)
			}
		}
		if len(ids) == 0 {
			return []api.Step{}, nil
		}
	}
	recs, err := c.st.Steps(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := c.apiSteps(recs)
	if !a.admin {
		for i := range out {
			if !spec[out[i].JobID] {
				out[i].Argv = nil
			}
		}
	}
	return out, nil
}

// apiSteps is the API's view of step records; a step still running has
// run until now.
func (c *Controller) apiSteps(recs []store.StepRecord) []api.Step {
	now := c.clk.Now().Unix()
	out := make([]api.Step, 0, len(recs))
	for _, r := range recs {
		nodes := len(r.Layout)
		s := api.Step{JobID: r.JobID, StepID: r.StepID, Name: r.Name, State: r.State, NodeList: r.NodeList, Nodes: nodes,
			Tasks: r.Tasks, StartS: r.StartS, EndS: r.EndS, ExitCode: r.ExitCode, Signal: r.Signal, Argv: r.Argv}
		end := r.EndS
		if !r.State.Final() {
			end = now
		}
		s.ElapsedS = max(end-r.StartS, 0)
		out = append(out, s)
	}
	return out
}

func (c *Controller) hStepsOf(r *http.Request, user string) (any, error) {
	var ids []job.ID
	if s := r.URL.Query().Get("ids"); s != "" {
		for _, f := range strings.Split(s, ",") {
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil || id <= 0 {
				return nil, invalid("ids: %q is not a job ID", f)
			}
			ids = append(ids, job.ID(id))
		}
	}
	return c.StepsOf(r.Context(), user, ids)
}

func pathStep(r *http.Request) (int, error) {
	s := r.PathValue("step")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, invalid("step ID %q is not a number", s)
	}
	return n, nil
}

func (c *Controller) hCreateStep(r *http.Request, user string) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	var req api.StepRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return c.CreateStep(r.Context(), user, id, req)
}

func (c *Controller) hSteps(r *http.Request, user string) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return c.Steps(r.Context(), user, id)
}

func (c *Controller) hCancelStep(r *http.Request, user string) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	n, err := pathStep(r)
	if err != nil {
		return nil, err
	}
	return nil, c.CancelStep(r.Context(), user, id, n, r.URL.Query().Get("signal"))
}

// pathID reads a plain job ID from the path: steps belong to one job (an
// array task has a job ID of its own, SLURM_JOB_ID in its environment).
func pathID(r *http.Request) (job.ID, error) {
	ref, err := pathRef(r)
	if err != nil {
		return 0, err
	}
	if ref.Tasks != nil {
		return 0, invalid("job steps belong to one job: give its job ID (SLURM_JOB_ID), not %s", ref)
	}
	return ref.ID, nil
}
