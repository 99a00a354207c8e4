//go:build !linux

package agent

import (
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

type stepKey struct{}

type pstep struct{}

type usageCache struct{}

// Step fails a step's launch: tasks run on Linux only.
func (p *Process) Step(cmd api.StepCommand, report StepReport) {
	if l := cmd.Launch; l != nil {
		report(api.Report{Kind: api.ReportStepEnd, JobID: l.JobID, Step: l.StepID, Node: l.Node, Restart: l.Restart,
			State: job.Failed, ExitCode: 1, Message: "the process executor runs steps on Linux only"})
	}
}

func (p *Process) endSteps(share) {}

// SampleSteps measures nothing: tasks run on Linux only.
func (p *Process) SampleSteps() []api.StepUsage { return nil }
