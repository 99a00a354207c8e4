package controller

import (
	"net/http"
	"time"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// Config configures a controller. The zero value is valid: an empty cluster
// that accepts the nodes agents register, the default policy and the
// defaults below.
type Config struct {
	// Cluster is the machine; nil starts empty and, with AcceptNewNodes,
	// grows as agents register nodes.
	Cluster *cluster.Cluster
	// AcceptNewNodes lets agents register nodes the cluster does not
	// describe (gefion dev, virtual nodes). Default true when Cluster is nil.
	AcceptNewNodes bool
	// Policy names the scheduling policy (sched.PolicyByName).
	Policy string
	// SchedInterval is the least time between two scheduling passes
	// (default 10 ms); FullPassEvery forces one even without events
	// (default 5 s), for begin times, ageing and fresher estimates.
	SchedInterval time.Duration
	FullPassEvery time.Duration
	// Heartbeat is how often agents sync at least (default 5 s); an agent
	// silent for LostAfter (default 30 s) is lost: its nodes go down.
	Heartbeat time.Duration
	LostAfter time.Duration
	// JoinToken authenticates agents: registration and sync need it, on
	// every address. Empty makes New draw a random one (see
	// Controller.JoinToken), for callers that start their own agents.
	JoinToken string
	// Identify says who sent an API request. It must rest on something the
	// caller cannot forge (gefion dev uses the kernel's word on the peer
	// socket's owner) and return an *api.Error for a refusal. Nil takes the
	// name the client states in the X-Gefion-User header: only for a
	// controller whose users are trusted until user authentication exists.
	Identify func(r *http.Request) (Identity, error)
	// Auth, when set, admits only requests with a node credential or a
	// bearer token (auth.go); Identify is then not asked.
	Auth *AuthConfig
	// MpiDefault is the MPI wire-up of steps whose srun names none
	// (Slurm's MpiDefault): "none" (the default) or "pmi2".
	MpiDefault string
	// Operators see every job whole but for its script, environment and
	// paths, hold and cancel every job, and drain and resume nodes; they
	// read the audit trail. "root" is always one. Admins may do what
	// operators do and also change projects, grants and project managers
	// and read every job's script; "root" is always one, and nil makes
	// every operator an admin (a site run by one team). See authz.go.
	Operators []string
	Admins    []string
	// Abuse limits, per user; zero values set none. SubmitRate is the
	// submissions per second one user may make on average, in bursts of
	// up to SubmitBurst (default: a second's worth, at least 1).
	// MaxSubmitJobs caps a user's jobs pending or running at once, past
	// which submissions are refused (Slurm's MaxSubmitJobs); MaxJobs caps
	// their running jobs, past which jobs wait (Slurm's MaxJobs).
	SubmitRate    float64
	SubmitBurst   int
	MaxSubmitJobs int
	MaxJobs       int
	// DefaultProject receives jobs of users who name no project and belong
	// to none; created open to everyone when set and absent.
	DefaultProject string
	// OverGrantQOS, when set, runs the jobs of a project past its grant in
	// that (preemptible) QOS instead of holding them.
	OverGrantQOS string
	// QOS lists the qualities of service; nil gives normal, high (may
	// preempt scavenger) and scavenger (preemptible, requeued).
	QOS []sched.QOS
	// DefaultQOS is given to jobs that name none (default "normal").
	DefaultQOS string
	// UsageHalfLife decays usage for fair share (Slurm's
	// PriorityDecayHalfLife; default 7 days).
	UsageHalfLife time.Duration
	// CarbonGPerKWh is the location-based grid intensity (default 100,
	// about Denmark's 2023 average); MarketGPerKWh the market-based one
	// (default 0: a 100% renewable supply contract).
	CarbonGPerKWh float64
	MarketGPerKWh float64
	// KillWait is the time between SIGTERM and SIGKILL on cancel and at
	// the time limit (Slurm's KillWait; default 30 s).
	KillWait time.Duration
	// CancelIdleGPUJobs cancels a job when its agent reports one of its
	// GPUs idle for the agent's idle time (GEFION_IDLE_AFTER, 30 min by
	// default); otherwise the owner and operators are only told (why,
	// nodes).
	CancelIdleGPUJobs bool
	// MaxBurst caps the operations in one group commit (default 2048).
	MaxBurst int
	// RecentKeep is how long finished jobs stay in memory for queue, why
	// and dependency answers (default 10 min); older ones are read from
	// the store.
	RecentKeep time.Duration
	// ForecastKnownRunS, when set, is a diagnostic for load tools that know
	// every job's true run time (gefion bench forecast): each forecast run
	// then also runs the twin with the run times it returns, for running
	// and pending jobs alike, beside the forecast from predicted run times
	// (KnownRuntimeForecast reads it). It is a bound on what run-time
	// prediction can gain, never an answer for users; nil (the default)
	// runs no such twin.
	ForecastKnownRunS func(id job.ID) (int64, bool)
	// ForecastKnownArrivals, with ForecastKnownRunS, is the further
	// diagnostic of a load tool that also knows what will be submitted:
	// given a snapshot's time (Unix seconds) it returns the jobs to be
	// submitted after it, with their true run times, and each forecast run
	// also runs the twin with those arrivals. What error that twin keeps
	// is the live controller's timing and the twin's model, not the
	// forecast's inputs.
	ForecastKnownArrivals func(now int64) []twin.Arrival
}

func (c *Config) setDefaults() {
	if c.Cluster == nil {
		c.AcceptNewNodes = true
	}
	if c.SchedInterval == 0 {
		c.SchedInterval = 10 * time.Millisecond
	}
	if c.FullPassEvery == 0 {
		c.FullPassEvery = 5 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 5 * time.Second
	}
	if c.LostAfter == 0 {
		c.LostAfter = 30 * time.Second
	}
	if c.QOS == nil {
		c.QOS = []sched.QOS{
			{Name: "normal", Priority: 10},
			{Name: "high", Priority: 100, Preempt: []string{"scavenger"}},
			{Name: "scavenger", Priority: 0, GraceS: 120, Signal: "TERM", Requeue: true},
		}
	}
	if c.DefaultQOS == "" {
		c.DefaultQOS = "normal"
	}
	if c.UsageHalfLife == 0 {
		c.UsageHalfLife = 7 * 24 * time.Hour
	}
	if c.CarbonGPerKWh == 0 {
		c.CarbonGPerKWh = 100
	}
	if c.KillWait == 0 {
		c.KillWait = 30 * time.Second
	}
	if c.MaxBurst == 0 {
		c.MaxBurst = 2048
	}
	if c.SubmitRate > 0 && c.SubmitBurst <= 0 {
		c.SubmitBurst = max(int(c.SubmitRate), 1)
	}
	if c.RecentKeep == 0 {
		c.RecentKeep = 10 * time.Minute
	}
}
