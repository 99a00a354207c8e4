// Package api holds the JSON types of Gefion's HTTP API (/v1/...) and of the
// agent protocol, shared by the controller, the client package, the CLI and
// the agents. It has no logic beyond small helpers and imports only job.
//
// Errors are returned as {"error": {"code": "...", "message": "..."}} with an
// HTTP status that matches the code; the message says what to fix.
package api

import (
	"github.com/gefion-hpc/gefion/internal/job"
)

// Version is the API and agent protocol version. Version 3 added job
// steps: an agent that ignored SyncResponse.Steps would never acknowledge
// them, so the controller refuses older agents at registration.
const Version = 3

// Headers.
const (
	// HeaderUser carries the name the caller claims. gefion dev never
	// takes it as an identity (the kernel says who is calling, and a
	// different claim is refused); gefion server still trusts it until
	// user authentication exists. HeaderIdemKey makes a submission
	// idempotent. HeaderToken carries an agent's join token.
	HeaderUser    = "X-Gefion-User"
	HeaderIdemKey = "Idempotency-Key"
	HeaderToken   = "X-Gefion-Token"
)

// Error codes.
const (
	CodeInvalid      = "invalid"      // 400: the request is wrong; the message says how
	CodeNotFound     = "not_found"    // 404
	CodeForbidden    = "forbidden"    // 403: not yours, or not an operator
	CodeUnauthorized = "unauthorized" // 401: bad or missing token
	CodeConflict     = "conflict"     // 409: the state does not allow it
	CodeTooLarge     = "too_large"    // 413
	CodeUnavailable  = "unavailable"  // 503: shutting down or overloaded
	CodeInternal     = "internal"     // 500
	CodeVersion      = "version"      // 400: protocol version mismatch
	// CodeHeadTooLarge: the request's headers or URL are over their
	// bounds (431); CodeRateLimited: the caller submits faster than the
	// controller allows (429).
	CodeHeadTooLarge = "head_too_large"
	CodeRateLimited  = "rate_limited"
)

// Leader is GET /v1/leader's answer, from a controller on a shared
// store: who answered, whether it leads, and who does.
type Leader struct {
	Self       string `json:"self"`
	Leading    bool   `json:"leading"`
	Leader     string `json:"leader"`
	LeaderAddr string `json:"leader_addr"`
	Epoch      int64  `json:"epoch"`
}

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Leader is the leading controller's URL, on a standby's answer
	// (code unavailable): clients that know several controllers send
	// there instead.
	Leader string `json:"leader,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// ErrorBody wraps Error on the wire.
type ErrorBody struct {
	Error Error `json:"error"`
}

// SubmitRequest asks for one job (or one array).
type SubmitRequest struct {
	Spec job.Spec `json:"spec"`
	// TestOnly validates and estimates without submitting.
	TestOnly bool `json:"test_only,omitempty"`
}

// SubmitResponse answers a submission.
type SubmitResponse struct {
	ID job.ID `json:"id"`
	// IDs lists every job of an array (the first is ID).
	IDs []job.ID `json:"ids,omitempty"`
	// Duplicate is true when the idempotency key matched an earlier job.
	Duplicate bool `json:"duplicate,omitempty"`
	// EstimatedStart is Unix seconds; 0 if unknown.
	EstimatedStart int64       `json:"estimated_start,omitempty"`
	Request        job.Request `json:"request"`
	Warnings       []string    `json:"warnings,omitempty"`
}

// Job is a job as the API shows it.
type Job struct {
	ID          job.ID    `json:"id"`
	ArrayJobID  job.ID    `json:"array_job_id,omitempty"`
	ArrayTaskID int       `json:"array_task_id,omitempty"`
	Name        string    `json:"name"`
	User        string    `json:"user"`
	Project     string    `json:"project"`
	Partition   string    `json:"partition"`
	QOS         string    `json:"qos"`
	State       job.State `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Why         string    `json:"why,omitempty"`
	Held        bool      `json:"held,omitempty"`
	SubmitTime  int64     `json:"submit_time"`
	StartTime   int64     `json:"start_time,omitempty"`
	EndTime     int64     `json:"end_time,omitempty"`
	// EstimatedStart is the plan's estimate for a pending job (Unix s).
	EstimatedStart int64       `json:"estimated_start,omitempty"`
	TimeLimitS     int64       `json:"time_limit_s"`
	Nodes          int         `json:"nodes"`
	GPUs           int         `json:"gpus"`
	CPUs           int         `json:"cpus"`
	NodeList       string      `json:"node_list,omitempty"`
	Allocs         []Alloc     `json:"allocs,omitempty"`
	ExitCode       int         `json:"exit_code"`
	Signal         string      `json:"signal,omitempty"`
	Restarts       int         `json:"restarts,omitempty"`
	GPUSeconds     float64     `json:"gpu_seconds"`
	EnergyJ        float64     `json:"energy_j"`
	EnergyKWh      float64     `json:"energy_kwh"`
	CO2LocationG   float64     `json:"co2_location_g"`
	CO2MarketG     float64     `json:"co2_market_g"`
	Request        job.Request `json:"request"`
	Spec           *job.Spec   `json:"spec,omitempty"`
	// EligibleTime is when the job could first start (its --begin time,
	// or submission); Unix s, 0 if unknown.
	EligibleTime int64 `json:"eligible_time,omitempty"`
	// Priority is the scheduler's priority of a pending job (higher goes
	// first); 0 for other jobs.
	Priority float64 `json:"priority,omitempty"`
	// ArrayMaxRunning is the array's throttle (--array=...%N), on each of
	// its tasks; 0 is none.
	ArrayMaxRunning int `json:"array_max_running,omitempty"`
}

// Alloc is one node's share of a job.
type Alloc struct {
	Node  string `json:"node"`
	GPUs  []int  `json:"gpus"`
	CPUs  int    `json:"cpus"`
	MemMB int64  `json:"mem_mb"`
}

// Why explains a job's wait.
type Why struct {
	ID             job.ID    `json:"id"`
	State          job.State `json:"state"`
	Reason         string    `json:"reason"`
	Sentence       string    `json:"sentence"`
	EstimatedStart int64     `json:"estimated_start,omitempty"`
	Priority       float64   `json:"priority"`
	// Forecast is the digital twin's prediction of the start (Unix s):
	// the queue run forward with every job ahead, not only the plan's
	// reservations. 0 if none is in view.
	Forecast int64 `json:"forecast_start,omitempty"`
	// ForecastLow and ForecastHigh bound the forecast (about its 20th and
	// 80th percentiles over run times drawn from the users' histories);
	// 0 when not computed (a long queue) or not all draws start it.
	ForecastLow  int64 `json:"forecast_start_low,omitempty"`
	ForecastHigh int64 `json:"forecast_start_high,omitempty"`
	Position     int   `json:"position,omitempty"`
	Pending      int   `json:"pending,omitempty"`
	// Warnings lists things an operator or the agent noticed about the job
	// (for example an allocated GPU idle for a long time).
	Warnings []string `json:"warnings,omitempty"`
}

// Node is a node as the API shows it.
type Node struct {
	Name       string   `json:"name"`
	SU         string   `json:"su"`
	State      string   `json:"state"` // idle, mixed, allocated, draining, drained, down
	Reason     string   `json:"reason,omitempty"`
	GPUs       int      `json:"gpus"`
	GPUsUsed   int      `json:"gpus_used"`
	GPUType    string   `json:"gpu_type"`
	CPUs       int      `json:"cpus"`
	CPUsUsed   int      `json:"cpus_used"`
	MemoryMB   int64    `json:"memory_mb"`
	Partitions []string `json:"partitions"`
	Jobs       []job.ID `json:"jobs,omitempty"`
	Agent      string   `json:"agent,omitempty"`
	Virtual    bool     `json:"virtual,omitempty"`
	LastSeen   int64    `json:"last_seen,omitempty"`
	// ContainerRuntime is the OCI runtime that runs container jobs on the
	// node; empty when it can run none, NoContainers then says why.
	ContainerRuntime string `json:"container_runtime,omitempty"`
	NoContainers     string `json:"no_containers,omitempty"`
	// GPUStats are the node's GPUs as last measured (utilisation, power),
	// where its agent meters them.
	GPUStats []GPUStat `json:"gpu_stats,omitempty"`
}

// NodeAction drains or resumes nodes.
type NodeAction struct {
	Nodes  string `json:"nodes"` // a host list, e.g. dgx[001-004]
	Reason string `json:"reason,omitempty"`
}

// Project is a project (account) with its grant and usage.
type Project struct {
	Name          string   `json:"name"`
	Parent        string   `json:"parent,omitempty"`
	Users         []string `json:"users"`
	GrantGPUHours float64  `json:"grant_gpu_hours"`
	UsedGPUHours  float64  `json:"used_gpu_hours"`
	// UsedOfGrant is used/grant (0 when there is no grant).
	UsedOfGrant float64 `json:"used_of_grant"`
	PeriodStart int64   `json:"period_start"`
	// GrantEnd is when the grant ends (Unix seconds), 0 when not said:
	// the grant runs from PeriodStart to GrantEnd.
	GrantEnd       int64   `json:"grant_end,omitempty"`
	FairShareUsage float64 `json:"fairshare_usage_gpu_hours"`
	RunningGPUs    int     `json:"running_gpus"`
	PendingJobs    int     `json:"pending_jobs"`
	EnergyKWh      float64 `json:"energy_kwh"`
	MaxGPUs        int     `json:"max_gpus,omitempty"`
	// Managers may add and remove the project's users, see, hold and
	// cancel its jobs and read its usage. Users and Managers are shown
	// only to the project's members and managers, operators and admins.
	Managers []string `json:"managers,omitempty"`
}

// ProjectReport is a project's use over its grant's period and the last
// days (GET /v1/projects/{name}/report): the burn-down, the use per day and
// per user, and where the project stands in fair share. Its members, its
// managers and operators may read it; the per-user rows hold only the
// reader's own unless the reader manages the project or is an operator.
type ProjectReport struct {
	Project Project `json:"project"`
	// AtS is when the report was made (Unix seconds).
	AtS int64 `json:"at_s"`
	// Days are the project's use per calendar day (UTC), from the
	// period's start (or DaysBack days ago, whichever is earlier, and at
	// most MaxReportDays) to today. A job counts on the day it ended; a
	// running job on today.
	Days []ProjectDay `json:"days"`
	// Users are the use per user over the same days, as far as the reader
	// may see it; Total is the whole project's.
	Users []ProjectUse `json:"users"`
	Total ProjectUse   `json:"total"`
	// AllUsers says Users holds every user's row (the reader manages the
	// project or is an operator).
	AllUsers bool `json:"all_users"`
	// RatePerDay is the GPU-hours used per day over the last 7 days (or
	// the period so far, if shorter); RunsOut when the grant is used up at
	// that rate (Unix seconds; 0 when there is no grant or no use, and
	// the time it ran out, or now, when it is used up).
	RatePerDay float64 `json:"rate_gpu_hours_per_day"`
	RunsOut    int64   `json:"runs_out,omitempty"`
	// FairShare is the project's standing in the Fair Tree.
	FairShare FairShareStanding `json:"fair_share"`
}

// MaxReportDays bounds the days a project report covers.
const MaxReportDays = 800

// ProjectDay is a project's use on one day; CumGPUHours is its use from the
// grant's period start to the end of this day (0 before it). A running
// job counts its use so far on today, which the grant is charged with only
// when the job ends: today's figure may run ahead of the grant's.
type ProjectDay struct {
	Day           string  `json:"day"` // YYYY-MM-DD, UTC
	StartS        int64   `json:"start_s"`
	Jobs          int     `json:"jobs"`
	GPUHours      float64 `json:"gpu_hours"`
	CumGPUHours   float64 `json:"cum_gpu_hours"`
	EnergyKWh     float64 `json:"energy_kwh"`
	CO2LocationKg float64 `json:"co2_location_kg"`
	CO2MarketKg   float64 `json:"co2_market_kg"`
}

// ProjectUse is one user's (or the whole project's) use over a report.
type ProjectUse struct {
	User          string  `json:"user,omitempty"`
	Jobs          int     `json:"jobs"`
	GPUHours      float64 `json:"gpu_hours"`
	EnergyKWh     float64 `json:"energy_kwh"`
	CO2LocationKg float64 `json:"co2_location_kg"`
	CO2MarketKg   float64 `json:"co2_market_kg"`
}

// FairShareStanding is where a project stands in the Fair Tree among its
// siblings, as the scheduler ranks it, and why, in a sentence.
type FairShareStanding struct {
	// Factor is the normalised fair-share factor (0..1) of the project's
	// jobs; Weight the policy's fair-share weight it is multiplied by.
	Factor float64 `json:"factor"`
	Weight float64 `json:"weight"`
	// ShareFrac and UsageFrac are the project's shares and decayed usage
	// over its siblings'; Level their quotient (above 1: less used than
	// its share), -1 for infinite (no usage).
	ShareFrac float64 `json:"share_fraction"`
	UsageFrac float64 `json:"usage_fraction"`
	Level     float64 `json:"level_fair_share"`
	// HalfLifeS is the usage decay's half-life.
	HalfLifeS int64 `json:"half_life_s"`
	// Above are the sibling projects whose jobs rank above this one's.
	Above []string `json:"above,omitempty"`
	// Users says how the project's users rank among themselves.
	Users string `json:"users"`
	Why   string `json:"why"`
}

// ProjectChange creates or changes a project. Admins may change every
// part; a project's managers only its users.
type ProjectChange struct {
	Name           string   `json:"name"`
	Parent         string   `json:"parent,omitempty"`
	AddUsers       []string `json:"add_users,omitempty"`
	RemoveUsers    []string `json:"remove_users,omitempty"`
	AddManagers    []string `json:"add_managers,omitempty"`
	RemoveManagers []string `json:"remove_managers,omitempty"`
	GrantGPUHours  *float64 `json:"grant_gpu_hours,omitempty"`
	// GrantEnd sets when the grant ends (Unix seconds; 0 clears it). It
	// must come after the period's start: now, when a grant is given with
	// it.
	GrantEnd *int64 `json:"grant_end,omitempty"`
	MaxGPUs  *int   `json:"max_gpus,omitempty"`
}

// AuditRecord is one entry of the audit trail (GET /v1/audit): a request
// that changed, or tried to change, the state, or one refused for who sent
// it.
type AuditRecord struct {
	Seq     int64  `json:"seq"`
	TimeS   int64  `json:"time_s"`
	User    string `json:"user"`
	Via     string `json:"via"`
	Action  string `json:"action"`
	Target  string `json:"target,omitempty"`
	Outcome string `json:"outcome"`
	Status  int    `json:"status"`
	Detail  string `json:"detail,omitempty"`
}

// Acct is the accounting of finished (and running) jobs with totals.
type Acct struct {
	Jobs   []Job     `json:"jobs"`
	Totals AcctTotal `json:"totals"`
}

// AcctTotal sums accounting over the selected jobs.
type AcctTotal struct {
	Jobs          int     `json:"jobs"`
	GPUHours      float64 `json:"gpu_hours"`
	EnergyKWh     float64 `json:"energy_kwh"`
	CO2LocationKg float64 `json:"co2_location_kg"`
	CO2MarketKg   float64 `json:"co2_market_kg"`
}

// Config is the part of the controller's configuration that Slurm's
// commands show (scontrol show config and show partition, sacctmgr show
// qos), so that scripts which read those settings get Gefion's values.
type Config struct {
	ClusterName string          `json:"cluster_name"`
	Partitions  []PartitionInfo `json:"partitions"`
	QOS         []QOSInfo       `json:"qos"`
	DefaultQOS  string          `json:"default_qos"`
	// Policy is the scheduling policy's name.
	Policy string `json:"policy"`
	// KillWaitS is the time between SIGTERM and SIGKILL (Slurm's
	// KillWait); MinJobAgeS how long a finished job stays in the
	// controller's memory (Slurm's MinJobAge).
	KillWaitS  int64 `json:"kill_wait_s"`
	MinJobAgeS int64 `json:"min_job_age_s"`
	// SchedIntervalMS is the least time between scheduling passes;
	// FullPassS forces one at least that often.
	SchedIntervalMS int64 `json:"sched_interval_ms"`
	FullPassS       int64 `json:"full_pass_s"`
	// HeartbeatS is how often agents report; LostAfterS when a silent one
	// is taken as down (Slurm's SlurmdTimeout).
	HeartbeatS int64 `json:"heartbeat_s"`
	LostAfterS int64 `json:"lost_after_s"`
	// UsageHalfLifeS is Slurm's PriorityDecayHalfLife.
	UsageHalfLifeS int64 `json:"usage_half_life_s"`
	// MaxArraySize bounds array task indexes (Slurm's MaxArraySize).
	MaxArraySize int `json:"max_array_size"`
	// MpiDefault is the MPI wire-up of steps whose srun names none.
	MpiDefault string `json:"mpi_default"`
}

// PartitionInfo is a partition with its limits and size.
type PartitionInfo struct {
	Name         string `json:"name"`
	Nodes        string `json:"nodes"` // a host list
	Default      bool   `json:"default"`
	MaxTimeS     int64  `json:"max_time_s"` // 0 is unlimited
	DefaultTimeS int64  `json:"default_time_s"`
	TotalNodes   int    `json:"total_nodes"`
	TotalCPUs    int    `json:"total_cpus"`
	TotalGPUs    int    `json:"total_gpus"`
	TotalMemMB   int64  `json:"total_mem_mb"`
}

// QOSInfo is a quality of service.
type QOSInfo struct {
	Name              string   `json:"name"`
	Priority          int      `json:"priority"`
	Preempt           []string `json:"preempt,omitempty"`
	GraceS            int64    `json:"grace_s,omitempty"`
	Requeue           bool     `json:"requeue,omitempty"`
	MaxGPUsPerUser    int      `json:"max_gpus_per_user,omitempty"`
	MaxGPUsPerProject int      `json:"max_gpus_per_project,omitempty"`
}
