package job

// ID identifies a job. Array tasks have their own ID and carry the array's
// in ArrayJobID.
type ID int64

// Spec is a job as the user asked for it, in Slurm's terms. Zero values mean
// "not said"; Canonicalize fills defaults and Validate reports every problem.
type Spec struct {
	Name    string `json:"name,omitempty"`
	User    string `json:"user,omitempty"`
	UID     int    `json:"uid,omitempty"`
	GID     int    `json:"gid,omitempty"`
	Account string `json:"account,omitempty"`
	// Partitions lists the partitions the job may run in, in order of
	// preference; empty means the cluster's default.
	Partitions []string `json:"partitions,omitempty"`
	QOS        string   `json:"qos,omitempty"`

	NodesMin      int    `json:"nodes_min,omitempty"`
	NodesMax      int    `json:"nodes_max,omitempty"`
	NTasks        int    `json:"ntasks,omitempty"`
	NTasksPerNode int    `json:"ntasks_per_node,omitempty"`
	CPUsPerTask   int    `json:"cpus_per_task,omitempty"`
	GPUs          int    `json:"gpus,omitempty"`
	GPUsPerNode   int    `json:"gpus_per_node,omitempty"`
	GPUsPerTask   int    `json:"gpus_per_task,omitempty"`
	GPUType       string `json:"gpu_type,omitempty"`
	// Mem is the memory request as written (--mem, --mem-per-cpu or
	// --mem-per-gpu); MemPerNodeMB, MemPerCPUMB and MemPerGPUMB hold its
	// value in MiB. MemPerNodeMB < 0 means "all of the node" (--mem=0).
	Mem          string `json:"mem,omitempty"`
	MemPerNodeMB int64  `json:"mem_per_node_mb,omitempty"`
	MemPerCPUMB  int64  `json:"mem_per_cpu_mb,omitempty"`
	MemPerGPUMB  int64  `json:"mem_per_gpu_mb,omitempty"`

	// TimeLimitS is the wall-clock limit in seconds; 0 means the
	// partition's default and Unlimited its maximum. TimeMinS is
	// --time-min.
	TimeLimitS int64 `json:"time_limit_s,omitempty"`
	TimeMinS   int64 `json:"time_min_s,omitempty"`

	Exclusive bool `json:"exclusive,omitempty"`
	// MaxSUs and MaxSUsWaitS are Slurm's --switches=count@max-time: run in
	// at most MaxSUs scalable units, waiting at most MaxSUsWaitS for that.
	MaxSUs      int   `json:"max_sus,omitempty"`
	MaxSUsWaitS int64 `json:"max_sus_wait_s,omitempty"`

	// Dependency is the --dependency expression as written.
	Dependency string `json:"dependency,omitempty"`
	// Array is the --array expression as written.
	Array   string `json:"array,omitempty"`
	Requeue *bool  `json:"requeue,omitempty"`
	// NoKill keeps the job running on its other nodes when one fails
	// (--no-kill); steps with tasks there fail.
	NoKill bool `json:"no_kill,omitempty"`
	// Signal is the --signal expression as written ([{R}{B}:]sig[@time]).
	Signal   string `json:"signal,omitempty"`
	Nice     int    `json:"nice,omitempty"`
	Hold     bool   `json:"hold,omitempty"`
	BeginS   int64  `json:"begin_s,omitempty"` // Unix seconds; 0 is now
	Comment  string `json:"comment,omitempty"`
	Output   string `json:"output,omitempty"`
	Error    string `json:"error,omitempty"`
	Input    string `json:"input,omitempty"`
	OpenMode string `json:"open_mode,omitempty"` // append or truncate
	Chdir    string `json:"chdir,omitempty"`
	// Export is --export as written (default ALL); Env is the submit-time
	// environment the job gets under it.
	Export     string   `json:"export,omitempty"`
	Env        []string `json:"env,omitempty"`
	Constraint string   `json:"constraint,omitempty"`
	MailType   string   `json:"mail_type,omitempty"`
	MailUser   string   `json:"mail_user,omitempty"`

	// Qubits sizes a quantum-simulation job: it becomes the GPU request
	// (see package quantum); QPUBackend and QPUPrecision choose the sizing.
	Qubits       int    `json:"qubits,omitempty"`
	QPUBackend   string `json:"qpu_backend,omitempty"`
	QPUPrecision string `json:"qpu_precision,omitempty"`

	// Container runs the batch script in a container image
	// (--container-image and the other Pyxis options); nil: bare.
	Container *Container `json:"container,omitempty"`

	// Script is the batch script text; Argv its arguments.
	Script     string   `json:"script,omitempty"`
	Argv       []string `json:"argv,omitempty"`
	SubmitDir  string   `json:"submit_dir,omitempty"`
	SubmitHost string   `json:"submit_host,omitempty"`
}

// Unlimited is the TimeLimitS of --time=UNLIMITED: the partition's maximum.
const Unlimited int64 = -1

// RequeueOrDefault reports whether the job is requeued after a node failure
// or preemption; Slurm's default (JobRequeue=1) is yes.
func (s *Spec) RequeueOrDefault() bool { return s.Requeue == nil || *s.Requeue }
