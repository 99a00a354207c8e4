package api

import "github.com/gefion-hpc/gefion/internal/job"

// Priority factors of pending jobs (sprio):
//
//	GET /v1/priority   -> PriorityList
//
// The factors are the scheduling core's own (sched.PriorityFactors), at
// the time of the controller's last scheduling pass: the terms the queue
// was ordered by, so that a job's Priority here is its priority in the
// job list.

// PriorityWeights are the weights of the controller's policy. ShortJob
// and Slowdown are Gefion's own terms; the rest are Slurm's
// priority/multifactor weights.
type PriorityWeights struct {
	Age       float64 `json:"age"`
	FairShare float64 `json:"fair_share"`
	JobSize   float64 `json:"job_size"`
	Partition float64 `json:"partition"`
	QOS       float64 `json:"qos"`
	ShortJob  float64 `json:"short_job"`
	Slowdown  float64 `json:"slowdown"`
}

// PriorityFactors are a job's weighted priority terms (weight x factor)
// and, under Norm, the factors themselves, each in [0, 1]. Priority is
// the sum of the weighted terms less Nice.
type PriorityFactors struct {
	Age       float64 `json:"age"`
	FairShare float64 `json:"fair_share"`
	JobSize   float64 `json:"job_size"`
	Partition float64 `json:"partition"`
	QOS       float64 `json:"qos"`
	ShortJob  float64 `json:"short_job"`
	Slowdown  float64 `json:"slowdown"`
	Nice      int     `json:"nice"`
	// Norm holds the factors before their weights (Nice is left 0).
	Norm *PriorityFactors `json:"norm,omitempty"`
}

// JobPriority is one pending job's priority and its factors.
type JobPriority struct {
	JobID       job.ID          `json:"job_id"`
	ArrayJobID  job.ID          `json:"array_job_id,omitempty"`
	ArrayTaskID int             `json:"array_task_id,omitempty"`
	User        string          `json:"user"`
	Project     string          `json:"project"`
	Partition   string          `json:"partition"`
	QOS         string          `json:"qos,omitempty"`
	Priority    float64         `json:"priority"`
	Factors     PriorityFactors `json:"factors"`
}

// PriorityList answers GET /v1/priority. Jobs are the pending jobs that
// are not held, by ID; empty under a policy without factors (fifo), which
// Policy names.
type PriorityList struct {
	Policy  string          `json:"policy"`
	AtS     int64           `json:"at_s"`
	Weights PriorityWeights `json:"weights"`
	Jobs    []JobPriority   `json:"jobs"`
}
