package sched

import (
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// Time is Unix seconds. The core never reads a clock: Snapshot.Now is given.
type Time = int64

// Never is a start time that will not come.
const Never Time = 1<<62 - 1

// Availability is what an operator or the node's health says of a node.
// Idle, mixed and allocated are derived from what runs on an Up node.
type Availability uint8

// Node availabilities.
const (
	Up       Availability = iota
	Draining              // running jobs finish; nothing new starts
	Drained               // nothing runs; out of service
	Down                  // not responding
)

func (a Availability) String() string {
	switch a {
	case Up:
		return "up"
	case Draining:
		return "draining"
	case Drained:
		return "drained"
	case Down:
		return "down"
	}
	return "unknown"
}

// NodeStatus is a node's availability and the reason an operator or the
// health checks gave.
type NodeStatus struct {
	Avail  Availability
	Reason string
}

// Alloc is one node's share of a job: which GPUs (a bit per GPU index on the
// node), how many CPUs and how much memory.
type Alloc struct {
	Node  int    `json:"node"`
	GPUs  uint64 `json:"gpus"`
	CPUs  int    `json:"cpus"`
	MemMB int64  `json:"mem_mb"`
}

// Running is a job that holds resources.
type Running struct {
	ID      job.ID
	User    string
	Project string
	QOS     string
	Allocs  []Alloc
	StartS  Time
	// EndS is when the job will have released its resources at the latest:
	// its start plus time limit, or the end of its preemption grace time.
	EndS Time
	// Preempting marks a job already told to checkpoint and stop.
	Preempting bool
	// ArrayJobID is the array the job belongs to, or 0.
	ArrayJobID job.ID
}

// DepState is the state of a pending job's dependencies, evaluated by the
// driver, which knows how earlier jobs ended (see job.Dependencies).
type DepState uint8

// Dependency states.
const (
	DepNone    DepState = iota // no dependencies, or all satisfied
	DepWaiting                 // some may still be satisfied
	DepNeverSatisfied
)

// Pending is a job waiting to start.
type Pending struct {
	ID      job.ID
	Req     job.Request
	User    string
	Project string
	QOS     string
	SubmitS Time
	// EligibleS is when the job became eligible (its begin time, or when
	// its dependencies were satisfied); ages count from here. 0 means
	// SubmitS.
	EligibleS Time
	BeginS    Time
	Nice      int
	Held      bool
	Deps      DepState
	// ArrayJobID and ArrayMaxRunning implement --array=...%N throttles.
	ArrayJobID      job.ID
	ArrayMaxRunning int
	// RuntimeEstimateS is the driver's prediction of the job's run time
	// (for example from the user's history); 0 means use the time limit.
	// Only policies that say so use it; it never extends a time limit.
	RuntimeEstimateS int64
	// AttainedGPUS is the GPU-seconds the job already received before a
	// requeue (Tiresias-style least-attained-service policies read it).
	AttainedGPUS float64
}

// Project is an association in the fair-share tree: a project (account) or
// a group of projects. Users are leaves under their project.
type Project struct {
	Name string
	// Parent is the parent project's name, or "" for the root's children.
	Parent string
	// Shares is the project's raw share among its siblings; the controller
	// derives it from the GPU-hour grant.
	Shares float64
	// UsageGPUS is the project's decayed GPU-seconds (half-life applied by
	// the driver), its users' included, its sub-projects' not.
	UsageGPUS float64
	// GrantGPUS is the grant for the current period in GPU-seconds, and
	// UsedGPUS what was used of it; a project at or past a non-zero grant
	// waits (AssocGrpGRESMinutes).
	GrantGPUS float64
	UsedGPUS  float64
	// MaxGPUs caps the GPUs the project's running jobs may hold; 0 is none.
	MaxGPUs int
}

// UserUsage is a user's decayed usage under a project, for the user level of
// Fair Tree. Users absent here have no usage and one share.
type UserUsage struct {
	Project   string
	User      string
	Shares    float64
	UsageGPUS float64
}

// QOS is a quality of service, as in Slurm.
type QOS struct {
	Name     string
	Priority int
	// Preempt lists the QOSes whose jobs this QOS may preempt.
	Preempt []string
	// GraceS is how long a preempted job of this QOS gets between the
	// signal and the kill; Signal is the signal sent first (default
	// SIGTERM). Requeue preempted jobs rather than cancel them.
	GraceS  int64
	Signal  string
	Requeue bool
	// MaxGPUsPerUser and MaxGPUsPerProject cap running GPUs; 0 is none.
	MaxGPUsPerUser    int
	MaxGPUsPerProject int
}

// Snapshot is everything one pass reads. Schedule never modifies it.
type Snapshot struct {
	Now     Time
	Cluster *cluster.Cluster
	// Nodes has one status per cluster node; nil means all up.
	Nodes    []NodeStatus
	Running  []Running
	Pending  []Pending
	Projects []Project
	Users    []UserUsage
	QOS      []QOS
	// MaxJobsPerUser caps the running jobs of one user (Slurm's MaxJobs
	// association limit); 0 is none.
	MaxJobsPerUser int
	// StartsOnly asks for starts and preemptions only: no Waiting entries,
	// no estimates, and reservations only as far as they constrain this
	// pass's starts (the pass stops once nothing more can start). A replay
	// that reads only what starts (the twin) saves most of a pass's work on
	// a deep queue. The starts are those of a full pass.
	StartsOnly bool
	// Scratch, if set, lends the pass buffers to reuse (see Scratch).
	Scratch *Scratch
	// Index, if set, holds Pending's order from earlier passes (see
	// PendingIndex); a starts-only pass then costs about the number of
	// priority classes, not of pending jobs. The plan is the same.
	Index *PendingIndex
}

// Start is a job to start now on exactly these resources.
type Start struct {
	ID     job.ID
	Allocs []Alloc
	// EndS is the start plus the time limit.
	EndS Time
}

// Preemption asks the driver to signal a running job so that a
// higher-priority job can start; after GraceS the driver kills it and, if
// Requeue, puts it back in the queue.
type Preemption struct {
	ID      job.ID
	By      job.ID
	Signal  string
	GraceS  int64
	Requeue bool
}

// Reservation holds nodes for a pending job from StartS.
type Reservation struct {
	ID     job.ID
	StartS Time
	EndS   Time
	Nodes  []int
}

// Reason is a pending job's reason code, named as Slurm names it where
// Slurm has one.
type Reason string

// Pending reasons.
const (
	ReasonNone              Reason = "None"
	ReasonPriority          Reason = "Priority"
	ReasonResources         Reason = "Resources"
	ReasonDependency        Reason = "Dependency"
	ReasonDependencyNever   Reason = "DependencyNeverSatisfied"
	ReasonHeld              Reason = "JobHeldUser"
	ReasonBeginTime         Reason = "BeginTime"
	ReasonQOSMaxGPUsPerUser Reason = "QOSMaxGRESPerUser"
	ReasonQOSMaxGPUsPerProj Reason = "QOSMaxGRESPerAccount"
	ReasonProjectMaxGPUs    Reason = "AssocGrpGRES"
	ReasonProjectGrantUsed  Reason = "AssocGrpGRESMinutes"
	ReasonReqNodeNotAvail   Reason = "ReqNodeNotAvail"
	ReasonArrayTaskLimit    Reason = "JobArrayTaskLimit"
	ReasonAssocMaxJobs      Reason = "AssocMaxJobsLimit"
	ReasonPreempting        Reason = "Preempting"
	ReasonUnknownQOS        Reason = "InvalidQOS"
)

// Waiting explains why one job waits. Sentence turns it into words.
type Waiting struct {
	ID     job.ID `json:"id"`
	Reason Reason `json:"reason"`
	// EstimatedStartS is the plan's estimate of when the job starts, or
	// Never when nothing in view lets it start (for example a dependency).
	EstimatedStartS Time    `json:"estimated_start_s"`
	Priority        float64 `json:"priority"`
	// SU is the scalable unit the estimate is for (-1: several or none),
	// and BlockerID the running job whose end makes room (0: none).
	SU        int    `json:"su"`
	BlockerID job.ID `json:"blocker_id,omitempty"`
	// Reserved is true when the plan holds resources for the job.
	Reserved bool `json:"reserved"`
	// The shape waited for, copied from the request for the sentence.
	Nodes       int  `json:"nodes"`
	GPUsPerNode int  `json:"gpus_per_node"`
	WholeNodes  bool `json:"whole_nodes"`
	MaxSUs      int  `json:"max_sus,omitempty"`
	// Limit is the quota or throttle that holds the job, for quota reasons.
	Limit int `json:"limit,omitempty"`
}

// Plan is what a pass decided. Waiting has one entry for every pending job
// that does not start, in priority order.
type Plan struct {
	Starts       []Start
	Preemptions  []Preemption
	Reservations []Reservation
	Waiting      []Waiting
	Stats        Stats
}

// Stats counts what a pass did.
type Stats struct {
	Pending      int
	Started      int
	Backfilled   int // started behind a job with a reservation
	Reserved     int
	Preempted    int
	ShapeSkips   int // jobs skipped because an equal shape had just failed
	EstimateRuns int // distinct earliest-start computations
	// EarlyStop counts the jobs a starts-only pass did not reach because
	// nothing more could start, or could not start and could no longer
	// take a reservation. A pass over a PendingIndex passes over, unseen,
	// jobs that a pass without one would reach and skip by shape: they
	// count here, not in ShapeSkips.
	EarlyStop int
	// HeadsBlocked says a starts-only pass without backfill stopped
	// because the head of every partition's queue was blocked on
	// resources, and no head could become placeable with time alone: until
	// resources are freed, a pass will start nothing.
	HeadsBlocked bool
	// Head is the blocked head's shape when there is one partition, so
	// that a driver can tell cheaply whether freed resources could start
	// it (Nodes 0: unknown).
	Head HeadShape
}

// HeadShape is what a blocked queue head needs: Nodes nodes with
// GPUsPerNode free GPUs each, or wholly idle nodes when Whole.
type HeadShape struct {
	Nodes, GPUsPerNode int
	Whole              bool
}
