// Package store persists the controller's state behind one small interface:
// job records (with their accounting), projects and operator node states.
// The controller is the only writer; it commits a Batch before it replies
// to a user or tells an agent anything (DESIGN.md rule 3).
//
// Implementations: Memory (tests and benchmarks, not durable), SQLite
// (the embedded default, durable, WAL) and PostgreSQL (production, shared
// by controllers that lead in turn); all pass one conformance suite
// (storetest).
//
// Only the controller and tools that read accounting import this package.
package store

import (
	"context"
	"errors"

	"github.com/gefion-hpc/gefion/internal/job"
)

// Alloc is one node's share of a job, by node name and GPU indexes, so that
// records stay readable when the cluster description changes.
type Alloc struct {
	Node  string `json:"node"`
	GPUs  []int  `json:"gpus"`
	CPUs  int    `json:"cpus"`
	MemMB int64  `json:"mem_mb"`
}

// JobRecord is everything kept about one job: the request, its state and,
// once it ran, its accounting.
type JobRecord struct {
	ID          job.ID      `json:"id"`
	ArrayJobID  job.ID      `json:"array_job_id,omitempty"`
	ArrayTaskID int         `json:"array_task_id,omitempty"`
	Name        string      `json:"name"`
	User        string      `json:"user"`
	Project     string      `json:"project"`
	Partition   string      `json:"partition"`
	QOS         string      `json:"qos"`
	State       job.State   `json:"state"`
	Reason      string      `json:"reason,omitempty"`
	SubmitS     int64       `json:"submit_s"`
	EligibleS   int64       `json:"eligible_s,omitempty"`
	StartS      int64       `json:"start_s,omitempty"`
	EndS        int64       `json:"end_s,omitempty"`
	Spec        job.Spec    `json:"spec"`
	Req         job.Request `json:"req"`
	Allocs      []Alloc     `json:"allocs,omitempty"`
	ExitCode    int         `json:"exit_code"`
	Signal      string      `json:"signal,omitempty"`
	Restarts    int         `json:"restarts,omitempty"`
	// GPUSeconds is allocated GPUs x elapsed seconds, summed over runs.
	GPUSeconds float64 `json:"gpu_seconds,omitempty"`
	// EnergyJ is the measured (or, on virtual nodes, modelled) energy of
	// the job's GPUs in joules; EnergyMeasured says which.
	EnergyJ        float64 `json:"energy_j,omitempty"`
	EnergyMeasured bool    `json:"energy_measured,omitempty"`
	// IdemKey is the client's idempotency key: a retried submission with the
	// same user and key returns the first job instead of a second one.
	IdemKey string `json:"idem_key,omitempty"`
}

// ProjectRecord is a project (Slurm account) with its members and grant.
type ProjectRecord struct {
	Name   string   `json:"name"`
	Parent string   `json:"parent,omitempty"`
	Users  []string `json:"users"`
	// GrantGPUHours is the GPU-hours granted per period; 0 is no grant
	// limit. PeriodStartS is when the current period began.
	GrantGPUHours float64 `json:"grant_gpu_hours"`
	PeriodStartS  int64   `json:"period_start_s"`
	// GrantEndS is when the grant ends, as the allocation committee set
	// it; 0 is not said. The grant runs from PeriodStartS to GrantEndS,
	// which the web view's burn-down draws.
	GrantEndS int64 `json:"grant_end_s,omitempty"`
	// UsedGPUSeconds is this period's use; UsageGPUS the decayed usage that
	// feeds fair share, as of UsageAtS.
	UsedGPUSeconds float64 `json:"used_gpu_seconds"`
	UsageGPUS      float64 `json:"usage_gpus"`
	UsageAtS       int64   `json:"usage_at_s"`
	MaxGPUs        int     `json:"max_gpus,omitempty"`
	// Managers are the project's managers (Slurm's coordinators): they
	// add and remove its users, see, hold and cancel its jobs and read
	// its usage.
	Managers []string `json:"managers,omitempty"`
}

// NodeRecord is what an operator said of a node: drained, with a reason.
type NodeRecord struct {
	Name   string `json:"name"`
	State  string `json:"state"` // "up", "draining", "drained" or "down"
	Reason string `json:"reason,omitempty"`
	SinceS int64  `json:"since_s"`
}

// Batch is one atomic change: every part commits or none does.
type Batch struct {
	// NewJobs are inserted; an ID or a (User, IdemKey) that exists fails the
	// whole batch with ErrConflict.
	NewJobs []JobRecord
	// Jobs replace the records with their IDs (ErrNotFound if absent).
	Jobs     []JobRecord
	Projects []ProjectRecord // upserted by name
	Nodes    []NodeRecord    // upserted by name
	// DeleteProjects removes projects by name.
	DeleteProjects []string
	// Steps are upserted by (JobID, StepID); their job must exist.
	Steps []StepRecord
	// Audit are appended to the audit trail; the store numbers them.
	Audit []AuditRecord
	// Encoded is set by an Encoder's Encode: the batch's records in the
	// store's own form, made ahead of Apply. Other code leaves it alone,
	// and a batch changed after Encode must be encoded again (or have
	// Encoded cleared).
	Encoded any
}

// Encoder is a Store that can encode a batch before Apply, on another
// goroutine, so that its commits, which are serial, do less work.
type Encoder interface {
	Encode(b *Batch) error
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return len(b.NewJobs) == 0 && len(b.Jobs) == 0 && len(b.Projects) == 0 && len(b.Nodes) == 0 && len(b.DeleteProjects) == 0 && len(b.Steps) == 0 && len(b.Audit) == 0
}

// AuditRecord is one request that changed, or tried to change, the state,
// or that was refused: who sent it, what vouched for them, what it asked
// and how it ended.
type AuditRecord struct {
	// Seq numbers the trail, increasing; the store assigns it.
	Seq   int64 `json:"seq"`
	TimeS int64 `json:"time_s"`
	// User is the caller as identified ("" when identification failed);
	// Via is what vouched for the user ("peer uid 1000", "stated", or
	// for a failed identification the caller's address).
	User string `json:"user"`
	Via  string `json:"via"`
	// Action is the request's method and route ("POST /v1/jobs/{id}/hold");
	// Target what it named (a job ID, a host list, a project).
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	// Outcome is "ok" or the API error code of the answer; Status the
	// HTTP status; Detail the error's message.
	Outcome string `json:"outcome"`
	Status  int    `json:"status"`
	Detail  string `json:"detail,omitempty"`
}

// AuditQuery selects audit records. Zero fields select everything.
type AuditQuery struct {
	// SinceS selects records at or after SinceS (Unix seconds).
	SinceS int64
	User   string
	// Limit keeps the newest Limit records; 0 is no cap.
	Limit int
}

// JobQuery selects job records. Zero fields select everything.
type JobQuery struct {
	// Active selects jobs that are not in a final state.
	Active  bool
	IDs     []job.ID
	User    string
	Project string
	States  []job.State
	// SinceS selects jobs that ended (or, if active, were submitted) at or
	// after SinceS; UntilS before it.
	SinceS int64
	UntilS int64
	// Limit caps the result (newest first when set); 0 is no cap.
	Limit int
	// Skip names parts of each record the reader does not need: Jobs
	// leaves them zero. A list of 100,000 jobs that prints IDs and states
	// then costs no decoding of specs, requests and node shares, which
	// are most of a record's bytes.
	Skip Parts
}

// Parts are the parts of a job record a query may skip: the bulky ones
// (spec, request, node shares) and the scalar fields a list may not
// print. The ID, array job ID, task ID, state, submission and end time are
// always read: they order, select and time a record.
type Parts uint32

// The parts: the spec (with the batch script), the resolved request and
// the node shares (Allocs); then scalar fields, one part each, but for
// SkipExit (exit code and signal) and SkipUsage (GPU-seconds and energy).
const (
	SkipSpec Parts = 1 << iota
	SkipRequest
	SkipAllocs
	SkipName
	SkipUser
	SkipProject
	SkipPartition
	SkipQOS
	SkipReason
	SkipEligible
	SkipStart
	SkipExit
	SkipRestarts
	SkipUsage
	SkipIdemKey

	// SkipAll is every part a query may skip.
	SkipAll = SkipIdemKey<<1 - 1
)

// Strip zeroes the parts of r that p names.
func (p Parts) Strip(r *JobRecord) {
	if p&SkipSpec != 0 {
		r.Spec = job.Spec{}
	}
	if p&SkipRequest != 0 {
		r.Req = job.Request{}
	}
	if p&SkipAllocs != 0 {
		r.Allocs = nil
	}
	for _, s := range []struct {
		part Parts
		zero func(r *JobRecord)
	}{
		{SkipName, func(r *JobRecord) { r.Name = "" }},
		{SkipUser, func(r *JobRecord) { r.User = "" }},
		{SkipProject, func(r *JobRecord) { r.Project = "" }},
		{SkipPartition, func(r *JobRecord) { r.Partition = "" }},
		{SkipQOS, func(r *JobRecord) { r.QOS = "" }},
		{SkipReason, func(r *JobRecord) { r.Reason = "" }},
		{SkipEligible, func(r *JobRecord) { r.EligibleS = 0 }},
		{SkipStart, func(r *JobRecord) { r.StartS = 0 }},
		{SkipExit, func(r *JobRecord) { r.ExitCode, r.Signal = 0, "" }},
		{SkipRestarts, func(r *JobRecord) { r.Restarts = 0 }},
		{SkipUsage, func(r *JobRecord) { r.GPUSeconds, r.EnergyJ, r.EnergyMeasured = 0, 0, false }},
		{SkipIdemKey, func(r *JobRecord) { r.IdemKey = "" }},
	} {
		if p&s.part != 0 {
			s.zero(r)
		}
	}
}

// Snapshot is what a controller needs to recover after a restart.
type Snapshot struct {
	ActiveJobs []JobRecord
	Projects   []ProjectRecord
	Nodes      []NodeRecord
	// MaxJobID is the largest job ID ever stored, finished jobs included,
	// so IDs are never reused.
	MaxJobID job.ID
	// RecentKeys maps user + "\x00" + idempotency key to the job ID for jobs
	// submitted in the last KeyWindowS seconds before the newest submission.
	RecentKeys map[string]job.ID
	// Steps are the steps of the active jobs, ordered by job and step.
	Steps []StepRecord
}

// KeyWindowS is how long idempotency keys are remembered across restarts.
const KeyWindowS = 24 * 3600

// Store is the persistence interface. Implementations are safe for use by
// one writer and concurrent readers.
type Store interface {
	// Apply commits the batch durably and atomically.
	Apply(ctx context.Context, b *Batch) error
	// Load returns the state to recover from.
	Load(ctx context.Context) (*Snapshot, error)
	// Jobs returns the records the query selects, ordered by ID (or newest
	// first when Limit is set).
	Jobs(ctx context.Context, q JobQuery) ([]JobRecord, error)
	// Steps returns the steps of the given jobs, ordered by job and step.
	Steps(ctx context.Context, ids []job.ID) ([]StepRecord, error)
	// Audit returns the audit records the query selects, oldest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
	Close() error
}

// Scanner is a Store that hands out a query's records one at a time
// instead of in one slice: accounting over 100,000 jobs then never holds
// 100,000 whole records (about a kilobyte each) at once. fn may keep
// nothing of the record it is given but copies; an error from fn stops
// the scan and is returned.
type Scanner interface {
	ScanJobs(ctx context.Context, q JobQuery, fn func(r *JobRecord) error) error
}

// Errors.
var (
	ErrConflict = errors.New("store: conflict: a job with that ID or idempotency key exists")
	ErrNotFound = errors.New("store: not found")
)
