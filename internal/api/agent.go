package api

import "github.com/gefion-hpc/gefion/internal/job"

// The agent protocol: an agent registers the nodes it runs (one for a real
// node agent, many for a virtual-node agent), then calls Sync in a loop.
// Sync carries the agent's reports and long-polls for commands; a sync is
// also the heartbeat. Reports are acknowledged by sequence number: the agent
// resends every report above the controller's AckSeq, so none is lost when
// either side restarts. Commands are numbered too, per session: the
// controller resends every command above the agent's AssignAck and
// SignalAck, so a lost reply loses none, and the agent acts on each once.
//
//	POST /v1/agent/register  RegisterRequest -> RegisterResponse
//	POST /v1/agent/sync      SyncRequest     -> SyncResponse

// GPU is one GPU of a node's inventory.
type GPU struct {
	Index    int    `json:"index"`
	UUID     string `json:"uuid,omitempty"`
	Name     string `json:"name"`
	MemoryMB int64  `json:"memory_mb"`
	// Peers lists the indexes of GPUs reachable over NVLink.
	Peers []int `json:"peers,omitempty"`
}

// NodeInventory is what an agent reports of one node.
type NodeInventory struct {
	Name     string `json:"name"`
	SU       string `json:"su,omitempty"`
	CPUs     int    `json:"cpus"`
	MemoryMB int64  `json:"memory_mb"`
	GPUs     []GPU  `json:"gpus"`
	// Model names a known node model (dgx-h100) for figures the agent
	// cannot measure (peak FLOPS, power); empty for custom nodes.
	Model   string `json:"model,omitempty"`
	Virtual bool   `json:"virtual,omitempty"`
	Cgroups bool   `json:"cgroups,omitempty"`
	// ContainerRuntime names the OCI runtime that runs container jobs on
	// the node ("runc 1.1.5"); empty when it can run none, and then
	// NoContainers says what is missing. An agent that sends neither
	// (an older one) runs no containers.
	ContainerRuntime string `json:"container_runtime,omitempty"`
	NoContainers     string `json:"no_containers,omitempty"`
}

// RunningOnNode is a job an agent has running when it registers.
type RunningOnNode struct {
	JobID job.ID `json:"job_id"`
	Node  string `json:"node"`
}

// RegisterRequest opens an agent session.
type RegisterRequest struct {
	Version int             `json:"version"`
	AgentID string          `json:"agent_id"`
	Nodes   []NodeInventory `json:"nodes"`
	Running []RunningOnNode `json:"running,omitempty"`
}

// RegisterResponse accepts the agent.
type RegisterResponse struct {
	Session string `json:"session"`
	// HeartbeatS is how often the agent must sync at least; the controller
	// declares its nodes down after LostAfterS without one.
	HeartbeatS int `json:"heartbeat_s"`
	LostAfterS int `json:"lost_after_s"`
	// Kill lists jobs the agent reported running that the controller has
	// given up on (requeued or failed while the agent was away).
	Kill []RunningOnNode `json:"kill,omitempty"`
	// AckSeq is the last report sequence number the controller has.
	AckSeq uint64 `json:"ack_seq"`
}

// Report kinds.
const (
	ReportStart  = "start"
	ReportEnd    = "end"
	ReportHealth = "health"
	ReportIdle   = "idle_gpu"
)

// Report is one event from an agent.
type Report struct {
	Seq   uint64 `json:"seq"`
	Kind  string `json:"kind"`
	JobID job.ID `json:"job_id,omitempty"`
	Node  string `json:"node"`
	TimeS int64  `json:"time_s"`
	// Restart is the run of the job the report is about (the
	// assignment's Restarts): reports of an earlier run of a requeued job
	// are told apart and ignored.
	Restart int `json:"restart,omitempty"`
	// End: how the batch step ended. NODE_FAIL says the node could not
	// run this share (for example an earlier run still ending there).
	State    job.State `json:"state,omitempty"`
	ExitCode int       `json:"exit_code"`
	Signal   string    `json:"signal,omitempty"`
	// EnergyJ is the job's GPU energy on this node; Measured says whether
	// it came from counters (NVML) or a model.
	EnergyJ  float64   `json:"energy_j,omitempty"`
	Measured bool      `json:"measured,omitempty"`
	GPUUtil  float64   `json:"gpu_util,omitempty"` // average percent
	GPUMemMB int64     `json:"gpu_mem_mb,omitempty"`
	PerGPUJ  []float64 `json:"per_gpu_j,omitempty"`
	// Health: Drain asks the controller to drain the node with Message
	// as the reason (an XID error, an uncorrectable ECC error).
	// End: Message says why the job failed when the agent could not
	// start it ("chdir /x: no such file or directory"); the controller
	// keeps it as the job's reason. It is optional: without it (an older
	// agent, or a script that ran and failed) the job simply has none.
	Drain   bool   `json:"drain,omitempty"`
	Message string `json:"message,omitempty"`
	GPU     int    `json:"gpu,omitempty"`
	// Step names the step of a ReportStepEnd.
	Step int `json:"step,omitempty"`
}

// SyncRequest is an agent's heartbeat with its reports.
type SyncRequest struct {
	Session string   `json:"session"`
	Reports []Report `json:"reports,omitempty"`
	// WaitMS is how long the controller may hold the call open waiting
	// for commands.
	WaitMS int `json:"wait_ms"`
	// AssignAck and SignalAck are the sequence numbers of the last
	// assignment and signal of this session the agent has acted on: the
	// controller resends every command after them, so that one lost
	// reply loses nothing.
	AssignAck uint64 `json:"assign_ack,omitempty"`
	SignalAck uint64 `json:"signal_ack,omitempty"`
	// StepAck acknowledges step commands the same way.
	StepAck uint64 `json:"step_ack,omitempty"`
	// ReportsOnly asks for no commands in the reply: the agent's
	// long-polling call takes them.
	ReportsOnly bool `json:"reports_only,omitempty"`
	// Usage is the latest sample of the running steps on the agent's
	// nodes (see StepUsage). It is optional: an agent that sends none
	// leaves sstat's fields empty, so it needs no new protocol version.
	Usage []StepUsage `json:"usage,omitempty"`
	// GPUs is the latest measure of every GPU of the agent's nodes that
	// the node meters (see GPUStat); optional like Usage.
	GPUs []GPUStat `json:"gpus,omitempty"`
	// Tails answer the tail requests of earlier replies (see
	// TailRequest); optional: an agent that sends none leaves the web
	// view's live output empty.
	Tails []TailAnswer `json:"tails,omitempty"`
}

// TailRequest asks an agent for the end of a job's output file, for the
// web view's live tail. The controller never reads its users' files: the
// node that runs (or ran) the batch script reads the file with the job
// user's rights and answers in its next sync. Requests are not durable:
// one lost with a reply is asked again by the page's next refresh.
type TailRequest struct {
	// Seq numbers the request; the answer carries it back.
	Seq uint64 `json:"seq"`
	// Job names the job and the parts of its spec that name its output
	// file (Node, the batch host; the spec's user, output, error, name,
	// working and submission directories): no script, no environment.
	Job Assignment `json:"job"`
	// Max is how many bytes from the file's end to send at most.
	Max int `json:"max"`
}

// TailAnswer is an agent's answer to a TailRequest: the end of the file,
// or why it could not be read.
type TailAnswer struct {
	Seq   uint64 `json:"seq"`
	Text  string `json:"text,omitempty"`
	Error string `json:"error,omitempty"`
	// Missing says the file does not exist (yet).
	Missing bool `json:"missing,omitempty"`
}

// Output is the end of a job's output file (GET /v1/jobs/{id}/output), as
// the node that ran its batch script read it.
type Output struct {
	JobID job.ID `json:"job_id"`
	Node  string `json:"node"`
	Text  string `json:"text"`
}

// MaxTail bounds the output an agent sends for one tail request.
const MaxTail = 64 << 10

// GPUStat is one GPU's latest measure: utilisation (the share of the last
// sample period in which a kernel ran) and power draw, each nil where the
// node does not meter it, and the device memory in use. Virtual nodes
// report the model's figures: full utilisation and TDP for an allocated
// GPU, none and idle power for a free one.
type GPUStat struct {
	Node      string   `json:"node"`
	Index     int      `json:"index"`
	UtilPct   *float64 `json:"util_pct,omitempty"`
	PowerW    *float64 `json:"power_w,omitempty"`
	MemUsedMB int64    `json:"mem_used_mb,omitempty"`
}

// Assignment tells an agent to start its part of a job on one node.
type Assignment struct {
	JobID job.ID `json:"job_id"`
	Node  string `json:"node"`
	// BatchHost is true on the node that runs the batch script (the first
	// node, as in Slurm); the other nodes hold resources for job steps.
	BatchHost bool      `json:"batch_host"`
	GPUs      []int     `json:"gpus"`
	CPUs      int       `json:"cpus"`
	MemMB     int64     `json:"mem_mb"`
	StartS    int64     `json:"start_s"`
	TimeLimit int64     `json:"time_limit_s"`
	NodeList  string    `json:"node_list"`
	Nodes     int       `json:"nodes"`
	Spec      job.Spec  `json:"spec"`
	Restarts  int       `json:"restarts"`
	ArrayJob  job.ID    `json:"array_job_id,omitempty"`
	ArrayTask int       `json:"array_task_id,omitempty"`
	ArrayInfo ArrayInfo `json:"array,omitempty"`
	Partition string    `json:"partition"`
	Project   string    `json:"project"`
}

// ArrayInfo is what an array task's environment describes of its array.
type ArrayInfo struct {
	Count int `json:"count,omitempty"`
	Min   int `json:"min,omitempty"`
	Max   int `json:"max,omitempty"`
}

// Signal tells an agent to signal or stop a job on a node.
type Signal struct {
	JobID job.ID `json:"job_id"`
	Node  string `json:"node"`
	// Signal is sent first (TERM by default); after GraceS the job is
	// killed. Release means the job already ended elsewhere: free the
	// node's share without reporting an end.
	Signal  string `json:"signal,omitempty"`
	GraceS  int64  `json:"grace_s"`
	Reason  string `json:"reason,omitempty"`
	Release bool   `json:"release,omitempty"`
}

// SyncResponse carries commands for the agent.
type SyncResponse struct {
	AckSeq  uint64       `json:"ack_seq"`
	Assign  []Assignment `json:"assign,omitempty"`
	Signals []Signal     `json:"signals,omitempty"`
	// AssignFrom and SignalFrom are the sequence numbers of Assign[0]
	// and Signals[0] (a session's commands are numbered from 1). A
	// command may come again until acknowledged: the agent skips those
	// it has acted on.
	AssignFrom uint64 `json:"assign_from,omitempty"`
	SignalFrom uint64 `json:"signal_from,omitempty"`
	// Steps are step launches and signals, numbered from StepFrom like
	// the other commands.
	Steps    []StepCommand `json:"steps,omitempty"`
	StepFrom uint64        `json:"step_from,omitempty"`
	// Reregister asks the agent to register again (the controller
	// restarted or declared it lost).
	Reregister bool `json:"reregister,omitempty"`
	// Tails ask for the ends of output files (see TailRequest); they
	// are sent once, never resent.
	Tails []TailRequest `json:"tails,omitempty"`
}
