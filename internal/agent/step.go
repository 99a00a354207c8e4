package agent

import (
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// StepExecutor is an Executor that runs job steps' tasks (srun). An
// executor without it fails every step sent to it, at once, so that srun
// does not wait for tasks that will never start.
type StepExecutor interface {
	// Step starts a step's tasks on one node, or signals them; report
	// delivers the end of the node's tasks (api.ReportStepEnd).
	Step(cmd api.StepCommand, report StepReport)
}

// StepSampler is an Executor that measures its running steps' tasks
// (sstat). The agent calls it before each heartbeat and sends what it
// returns in SyncRequest.Usage: every running step on the agent's nodes.
type StepSampler interface {
	SampleSteps() []api.StepUsage
}

// GPUSampler is an Executor that measures its nodes' GPUs (utilisation
// and power, for the web view's map and the nodes list). The agent sends
// what it returns in SyncRequest.GPUs with each heartbeat.
type GPUSampler interface {
	SampleGPUs(nodes []api.NodeInventory) []api.GPUStat
}

// StepReport queues a report and returns a channel closed once the
// controller has it (Agent.ReportDelivered).
type StepReport func(api.Report) <-chan struct{}

// step hands a step command to the executor.
func (a *Agent) step(cmd api.StepCommand) {
	if se, ok := a.Exec.(StepExecutor); ok {
		se.Step(cmd, a.ReportDelivered)
		return
	}
	if l := cmd.Launch; l != nil {
		a.Log.Warn("this node's executor runs no job steps", "job", l.JobID, "step", l.StepID, "node", l.Node)
		a.Report(api.Report{Kind: api.ReportStepEnd, JobID: l.JobID, Step: l.StepID, Node: l.Node, Restart: l.Restart,
			State: job.Failed, ExitCode: 1, Message: "node " + l.Node + " runs no job steps (a virtual node)"})
	}
}

// ReportDelivered queues a report like Report and returns a channel that
// is closed once the controller has acknowledged it (the report's effect
// is then committed). A step's node tells srun it is done only after its
// end is recorded, so that when srun exits the step is over for the
// controller too: the next srun of a script finds its resources free.
func (a *Agent) ReportDelivered(r api.Report) <-chan struct{} {
	ch := make(chan struct{})
	a.mu.Lock()
	a.seq++
	r.Seq = a.seq
	if r.TimeS == 0 {
		r.TimeS = a.now().Unix()
	}
	a.outbox = append(a.outbox, r)
	if a.delivered == nil {
		a.delivered = map[uint64]chan struct{}{}
	}
	a.delivered[r.Seq] = ch
	a.mu.Unlock()
	select {
	case a.pending <- struct{}{}:
	default:
	}
	return ch
}

// SetControllerAddr tells the executor the controller's URL as this node
// reaches it; the agent calls it when it starts. Jobs and step tasks get
// it as GEFION_ADDR (JobEnv drops the submit host's, which may name
// another address), so that srun inside a job reaches the controller.
func (p *Process) SetControllerAddr(addr string) { p.controllerAddr.Store(&addr) }

// withControllerAddr adds GEFION_ADDR to an environment that lacks it.
func (p *Process) withControllerAddr(env []string) []string {
	a := p.controllerAddr.Load()
	if a == nil || *a == "" || envValue(env, "GEFION_ADDR") != "" {
		return env
	}
	return append(env, "GEFION_ADDR="+*a)
}
