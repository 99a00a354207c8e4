package api

import "github.com/gefion-hpc/gefion/internal/job"

// Job steps (srun inside an allocation):
//
//	POST /v1/jobs/{id}/steps                 StepRequest -> StepResponse
//	GET  /v1/jobs/{id}/steps                 -> []Step
//	POST /v1/jobs/{id}/steps/{step}/cancel   ?signal=NAME
//
// The controller records the step, then tells each of the step's nodes'
// agents through a StepCommand in SyncResponse.Steps (numbered, resent
// until StepAck). The agents start the tasks and connect to IOAddr, where
// srun waits; both ends prove they hold the step's IOKey (see package
// agent's stepio.go for the wire format). Step I/O never passes the
// controller.

// CodeBusy (409) answers a step request that fits the job's allocation
// but not what the job's running steps leave free: srun waits and asks
// again, as Slurm's does.
const CodeBusy = "busy"

// StdinAll as a step's Stdin gives srun's standard input to every task.
const StdinAll = -2

// Distributions of tasks over a step's nodes (srun -m).
const (
	DistBlock  = "block"
	DistCyclic = "cyclic"
)

// StepRequest asks for a step of a running job.
type StepRequest struct {
	// Tasks is -n (0: one per node, or NodesN x TasksPerNode).
	Tasks int `json:"tasks,omitempty"`
	// Nodes is -N (0: as many as the tasks need, at most the job's).
	Nodes         int    `json:"nodes,omitempty"`
	TasksPerNode  int    `json:"tasks_per_node,omitempty"`
	CPUsPerTask   int    `json:"cpus_per_task,omitempty"`
	GPUsPerTask   int    `json:"gpus_per_task,omitempty"`
	GPUs          int    `json:"gpus,omitempty"`
	GPUBind       string `json:"gpu_bind,omitempty"`
	Distribution  string `json:"distribution,omitempty"`
	NodeList      string `json:"nodelist,omitempty"`
	Exclude       string `json:"exclude,omitempty"`
	Exclusive     bool   `json:"exclusive,omitempty"`
	Overlap       bool   `json:"overlap,omitempty"`
	KillOnBadExit bool   `json:"kill_on_bad_exit,omitempty"`
	// Argv is the program and its arguments; Env the tasks' environment
	// (srun's, as --export chose); Cwd their working directory.
	Argv       []string `json:"argv"`
	Env        []string `json:"env,omitempty"`
	Cwd        string   `json:"cwd,omitempty"`
	TimeLimitS int64    `json:"time_limit_s,omitempty"`
	Name       string   `json:"name,omitempty"`
	// IOAddr is host:port where srun accepts the agents' connections.
	IOAddr string `json:"io_addr"`
	// Stdin says which task reads srun's standard input: -1 none,
	// StdinAll every task (srun -i all), else the rank (srun's default
	// is 0).
	Stdin int `json:"stdin"`
	// MPI is the wire-up the tasks get: "pmi2" (PMI-1 and PMI-2 over
	// PMI_FD, for MPICH and Intel MPI), "none", or "" for the controller's
	// MpiDefault.
	MPI string `json:"mpi,omitempty"`
	// PTY runs task 0 on a pseudo-terminal (srun --pty): an interactive
	// shell gets a terminal, job control and the window size.
	PTY bool `json:"pty,omitempty"`
	// Container runs the tasks in a container image (srun
	// --container-image and Pyxis's other options); nil: bare.
	Container *job.Container `json:"container,omitempty"`
}

// StepNode is one node's part of a step.
type StepNode struct {
	Node string `json:"node"`
	// Tasks are the global ranks that run on the node, in local order.
	Tasks []int `json:"tasks"`
	// GPUs are the node's GPUs the step uses; TaskGPUs, when GPUs are
	// bound per task, each local task's own.
	GPUs     []int   `json:"gpus,omitempty"`
	TaskGPUs [][]int `json:"task_gpus,omitempty"`
	CPUs     int     `json:"cpus,omitempty"`
}

// StepResponse answers a step request.
type StepResponse struct {
	JobID  job.ID     `json:"job_id"`
	StepID int        `json:"step_id"`
	Tasks  int        `json:"tasks"`
	Layout []StepNode `json:"layout"`
	// IOKey (hex) is the secret the agents prove they hold when they
	// connect to srun, and srun proves to them.
	IOKey string `json:"io_key"`
}

// Step is a step as the API shows it (sacct's ID.STEP lines).
type Step struct {
	JobID    job.ID    `json:"job_id"`
	StepID   int       `json:"step_id"`
	Name     string    `json:"name"`
	State    job.State `json:"state"`
	NodeList string    `json:"node_list"`
	Nodes    int       `json:"nodes"`
	Tasks    int       `json:"tasks"`
	StartS   int64     `json:"start_time"`
	EndS     int64     `json:"end_time,omitempty"`
	ElapsedS int64     `json:"elapsed_s"`
	ExitCode int       `json:"exit_code"`
	Signal   string    `json:"signal,omitempty"`
	Argv     []string  `json:"argv,omitempty"`
	// Usage is the latest sample of each of the step's nodes while it
	// runs (sstat), by node name; absent once it has ended or where no
	// node measured it.
	Usage []StepUsage `json:"usage,omitempty"`
}

// StepLaunch tells an agent to start a step's tasks on one node.
type StepLaunch struct {
	JobID   job.ID `json:"job_id"`
	StepID  int    `json:"step_id"`
	Node    string `json:"node"`
	Restart int    `json:"restart,omitempty"`
	// NodeIndex is the node's place in the step (SLURM_NODEID).
	NodeIndex int      `json:"node_index"`
	Part      StepNode `json:"part"`
	// The step's shape, for the tasks' environment.
	Tasks         int      `json:"tasks"`
	StepNodeList  string   `json:"step_node_list"`
	StepNodes     int      `json:"step_nodes"`
	TasksPerNode  string   `json:"tasks_per_node"`
	JobNodeList   string   `json:"job_node_list"`
	JobNodes      int      `json:"job_nodes"`
	CPUsPerTask   int      `json:"cpus_per_task,omitempty"`
	GPUBind       string   `json:"gpu_bind,omitempty"`
	Name          string   `json:"name,omitempty"`
	User          string   `json:"user"`
	Argv          []string `json:"argv"`
	Env           []string `json:"env,omitempty"`
	Cwd           string   `json:"cwd,omitempty"`
	TimeLimitS    int64    `json:"time_limit_s,omitempty"`
	IOAddr        string   `json:"io_addr"`
	IOKey         string   `json:"io_key"`
	Stdin         int      `json:"stdin"`
	KillOnBadExit bool     `json:"kill_on_bad_exit,omitempty"`
	// MPI is "pmi2" when the node serves PMI to its tasks; PMIMapping is
	// then PMI_process_mapping, which ranks share a node.
	MPI        string `json:"mpi,omitempty"`
	PMIMapping string `json:"pmi_mapping,omitempty"`
	// PTY runs task 0 on a pseudo-terminal.
	PTY bool `json:"pty,omitempty"`
	// Container runs the tasks in a container image; nil: bare.
	Container *job.Container `json:"container,omitempty"`
}

// StepCommand is one step command for an agent: a launch or a signal.
type StepCommand struct {
	Launch *StepLaunch `json:"launch,omitempty"`
	// Signal signals a step's tasks on Node (KILL ends them).
	Signal *StepSignal `json:"signal,omitempty"`
}

// StepSignal signals a step's tasks on one node.
type StepSignal struct {
	JobID  job.ID `json:"job_id"`
	StepID int    `json:"step_id"`
	Node   string `json:"node"`
	Signal string `json:"signal"`
}

// ReportStepEnd is an agent's report that a step's tasks on one node
// ended: Report.Step names it, ExitCode is the highest task exit code and
// Signal the signal of a task it killed (if no task exited non-zero).
const ReportStepEnd = "step_end"

// StepUsage is what an agent measured of a running step's tasks on one
// node (sstat): the agent samples each task's processes (the task and
// everything it started) from /proc at every heartbeat and sends the
// latest sample of each running step in SyncRequest.Usage. It is a
// gauge, kept by the controller in memory until the step ends, not a
// record. An agent that measures nothing (a virtual node, an older
// agent) sends none, and sstat's fields stay empty.
type StepUsage struct {
	JobID  job.ID `json:"job_id"`
	StepID int    `json:"step_id"`
	Node   string `json:"node"`
	// TimeS is when the sample was taken (Unix seconds).
	TimeS int64       `json:"time_s"`
	Tasks []TaskUsage `json:"tasks"`
	// GPUUtil is the average utilisation (percent) of the step's GPUs on
	// the node; nil where the node cannot measure it (no NVML, declared
	// GPUs) or the step has no GPU.
	GPUUtil *float64 `json:"gpu_util,omitempty"`
	// GPUMemMB is the device memory in use on the step's GPUs.
	GPUMemMB int64 `json:"gpu_mem_mb,omitempty"`
}

// TaskUsage is one task's sample: memory in KiB (resident and virtual,
// now and the most seen), CPU time (user + system, of the task's live
// processes and the children they waited for) in seconds, and page faults
// (major).
type TaskUsage struct {
	Rank        int     `json:"rank"`
	RSSKB       int64   `json:"rss_kb"`
	MaxRSSKB    int64   `json:"max_rss_kb"`
	VMSizeKB    int64   `json:"vmsize_kb"`
	MaxVMSizeKB int64   `json:"max_vmsize_kb"`
	CPUS        float64 `json:"cpu_s"`
	Pages       int64   `json:"pages"`
}
