package store

import (
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
)

// StepRecord is one job step (srun inside an allocation): what it asked
// for, where its tasks ran and how it ended. A step is stored when the
// controller accepts it and again when it ends.
type StepRecord struct {
	JobID    job.ID    `json:"job_id"`
	StepID   int       `json:"step_id"`
	Name     string    `json:"name"`
	State    job.State `json:"state"`
	NodeList string    `json:"node_list"`
	Tasks    int       `json:"tasks"`
	// Layout is each node's part: its tasks, GPUs and CPUs.
	Layout     []StepAlloc `json:"layout"`
	Argv       []string    `json:"argv,omitempty"`
	TimeLimitS int64       `json:"time_limit_s,omitempty"`
	StartS     int64       `json:"start_s"`
	EndS       int64       `json:"end_s,omitempty"`
	ExitCode   int         `json:"exit_code"`
	Signal     string      `json:"signal,omitempty"`
	// Overlap says the step shares its resources with other steps
	// (srun --overlap); Exclusive that it holds them alone.
	Overlap   bool `json:"overlap,omitempty"`
	Exclusive bool `json:"exclusive,omitempty"`
}

// StepAlloc is one node's part of a step.
type StepAlloc struct {
	Node  string `json:"node"`
	Tasks []int  `json:"tasks"`
	GPUs  []int  `json:"gpus,omitempty"`
	CPUs  int    `json:"cpus,omitempty"`
	// Ended says the node reported the end of its tasks; TimedOut that
	// they reached the step's limit; Cancelled that a cancel was sent.
	Ended     bool `json:"ended,omitempty"`
	TimedOut  bool `json:"timed_out,omitempty"`
	Cancelled bool `json:"cancelled,omitempty"`
}

// CloneStep deep-copies a step record.
func CloneStep(r *StepRecord) *StepRecord {
	c := *r
	c.Argv = slices.Clone(r.Argv)
	if r.Layout != nil {
		c.Layout = make([]StepAlloc, len(r.Layout))
		for i, a := range r.Layout {
			a.Tasks = slices.Clone(a.Tasks)
			a.GPUs = slices.Clone(a.GPUs)
			c.Layout[i] = a
		}
	}
	return &c
}
