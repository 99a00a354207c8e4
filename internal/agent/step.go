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
	Step(cmd api.StepCommand, report func(api.Report))
}

// step hands a step command to the executor.
func (a *Agent) step(cmd api.StepCommand) {
	if se, ok := a.Exec.(StepExecutor); ok {
		se.Step(cmd, a.Report)
		return
	}
	if l := cmd.Launch; l != nil {
		a.Log.Warn("this node's executor runs no job steps", "job", l.JobID, "step", l.StepID, "node", l.Node)
		a.Report(api.Report{Kind: api.ReportStepEnd, JobID: l.JobID, Step: l.StepID, Node: l.Node, Restart: l.Restart,
			State: job.Failed, ExitCode: 1, Message: "node " + l.Node + " runs no job steps (a virtual node)"})
	}
}
