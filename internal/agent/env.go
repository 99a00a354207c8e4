package agent

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// JobUser is the account a job runs as on the node.
type JobUser struct {
	Name string
	UID  int
	GID  int
	Home string
	// Groups are the user's supplementary group IDs.
	Groups []uint32
}

// EnvInput is what a job's environment is made from besides its assignment.
type EnvInput struct {
	// Cluster is the cluster's name (SLURM_CLUSTER_NAME).
	Cluster string
	// WorkDir is the directory the batch script starts in.
	WorkDir string
	User    JobUser
}

// noArrayTask is what Slurm prints for %a and the array task of a job that
// is not an array task (NO_VAL - 1).
const noArrayTask = "4294967294"

// JobEnv returns the environment of a job's batch script, as Slurm's
// slurmd builds it: the submit-time environment the job's --export kept
// (already in Spec.Env), then the variables that describe the job, which
// win over same-named ones from the submit host. Every SLURM_ variable has
// a GEFION_ twin for scripts written for Gefion.
//
// CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES name exactly the
// assigned GPUs by their NVML index (with CUDA_DEVICE_ORDER=PCI_BUS_ID, so
// CUDA numbers them as NVML does); a job without GPUs gets an empty
// CUDA_VISIBLE_DEVICES, which hides every GPU from CUDA, rather than
// inheriting the submit host's value.
func JobEnv(a api.Assignment, in EnvInput) []string {
	s := &a.Spec
	env := newEnvList(s.Env)
	// Variables the submit host had that describe another job or another
	// allocation must not leak into this one.
	env.dropPrefix("SLURM_", "GEFION_")
	env.drop("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES")

	// Login variables: kept from the submit host under --export=ALL, else
	// filled in for the job's user as a login would.
	env.setDefault("PATH", "/usr/local/bin:/usr/bin:/bin")
	if in.User.Name != "" {
		env.setDefault("USER", in.User.Name)
		env.setDefault("LOGNAME", in.User.Name)
	}
	if in.User.Home != "" {
		env.setDefault("HOME", in.User.Home)
	}
	env.set("ENVIRONMENT", "BATCH")
	env.set("HOSTNAME", a.Node)
	env.set("PWD", in.WorkDir)

	gpus := make([]string, len(a.GPUs))
	for i, g := range a.GPUs {
		gpus[i] = strconv.Itoa(g)
	}
	gpuList := strings.Join(gpus, ",")
	env.set("CUDA_VISIBLE_DEVICES", gpuList)
	if len(gpus) > 0 {
		env.set("NVIDIA_VISIBLE_DEVICES", gpuList)
	} else {
		env.set("NVIDIA_VISIBLE_DEVICES", "void")
	}
	env.setDefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")

	nodes := max(a.Nodes, 1)
	ntasks := s.NTasks
	switch {
	case ntasks > 0:
	case s.NTasksPerNode > 0:
		ntasks = s.NTasksPerNode * nodes
	default:
		ntasks = nodes
	}
	perNode := s.NTasksPerNode
	if perNode == 0 && ntasks%nodes == 0 {
		perNode = ntasks / nodes
	}
	id := strconv.FormatInt(int64(a.JobID), 10)
	name := s.Name
	if name == "" {
		name = "sbatch"
	}

	var sl []kv
	add := func(k, v string) { sl = append(sl, kv{k, v}) }
	add("JOB_ID", id)
	add("JOBID", id)
	add("JOB_NAME", name)
	add("JOB_NODELIST", a.NodeList)
	add("NODELIST", a.NodeList)
	add("NNODES", strconv.Itoa(nodes))
	add("JOB_NUM_NODES", strconv.Itoa(nodes))
	add("NTASKS", strconv.Itoa(ntasks))
	add("NPROCS", strconv.Itoa(ntasks))
	if perNode > 0 {
		add("NTASKS_PER_NODE", strconv.Itoa(perNode))
		add("TASKS_PER_NODE", tasksPerNode(perNode, nodes))
	}
	if s.CPUsPerTask > 0 {
		add("CPUS_PER_TASK", strconv.Itoa(s.CPUsPerTask))
	}
	if a.CPUs > 0 {
		add("CPUS_ON_NODE", strconv.Itoa(a.CPUs))
		add("JOB_CPUS_PER_NODE", strconv.Itoa(a.CPUs))
	}
	if a.MemMB > 0 {
		add("MEM_PER_NODE", strconv.FormatInt(a.MemMB, 10))
	}
	add("GPUS_ON_NODE", strconv.Itoa(len(a.GPUs)))
	if len(a.GPUs) > 0 {
		add("JOB_GPUS", gpuList)
		add("STEP_GPUS", gpuList)
	}
	if s.GPUsPerNode > 0 {
		add("GPUS_PER_NODE", strconv.Itoa(s.GPUsPerNode))
	}
	if s.GPUs > 0 {
		add("GPUS", strconv.Itoa(s.GPUs))
	}
	if s.GPUsPerTask > 0 {
		add("GPUS_PER_TASK", strconv.Itoa(s.GPUsPerTask))
	}
	add("SUBMIT_DIR", s.SubmitDir)
	add("SUBMIT_HOST", s.SubmitHost)
	account := s.Account
	if account == "" {
		account = a.Project
	}
	add("JOB_ACCOUNT", account)
	add("JOB_PARTITION", a.Partition)
	if s.QOS != "" {
		add("JOB_QOS", s.QOS)
	}
	if a.ArrayJob != 0 {
		add("ARRAY_JOB_ID", strconv.FormatInt(int64(a.ArrayJob), 10))
		add("ARRAY_TASK_ID", strconv.Itoa(a.ArrayTask))
		if a.ArrayInfo.Count > 0 {
			add("ARRAY_TASK_COUNT", strconv.Itoa(a.ArrayInfo.Count))
			add("ARRAY_TASK_MIN", strconv.Itoa(a.ArrayInfo.Min))
			add("ARRAY_TASK_MAX", strconv.Itoa(a.ArrayInfo.Max))
		}
	}
	add("RESTART_COUNT", strconv.Itoa(a.Restarts))
	add("JOB_USER", in.User.Name)
	add("JOB_UID", strconv.Itoa(in.User.UID))
	add("JOB_GID", strconv.Itoa(in.User.GID))
	add("CLUSTER_NAME", in.Cluster)
	add("NODEID", "0")
	add("PROCID", "0")
	add("LOCALID", "0")
	if a.StartS > 0 {
		add("JOB_START_TIME", strconv.FormatInt(a.StartS, 10))
		if a.TimeLimit > 0 {
			add("JOB_END_TIME", strconv.FormatInt(a.StartS+a.TimeLimit, 10))
		}
	}
	export := s.Export
	if export == "" {
		export = "ALL"
	}
	add("EXPORT_ENV", export)
	add("GET_USER_ENV", "0")
	for _, v := range sl {
		env.set("SLURM_"+v.k, v.v)
		env.set("GEFION_"+v.k, v.v)
	}
	env.set("SLURMD_NODENAME", a.Node)
	env.set("GEFION_NODENAME", a.Node)
	return env.list()
}

// tasksPerNode formats SLURM_TASKS_PER_NODE: "4(x2)" for 4 tasks on each
// of 2 nodes.
func tasksPerNode(perNode, nodes int) string {
	if nodes == 1 {
		return strconv.Itoa(perNode)
	}
	return strconv.Itoa(perNode) + "(x" + strconv.Itoa(nodes) + ")"
}

type kv struct{ k, v string }

// envList is an ordered environment where a later set replaces an earlier
// value in place.
type envList struct {
	keys []string
	vals map[string]string
}

func newEnvList(base []string) *envList {
	e := &envList{vals: map[string]string{}}
	for _, s := range base {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			continue
		}
		e.set(k, v)
	}
	return e
}

func (e *envList) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

func (e *envList) setDefault(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.set(k, v)
	}
}

func (e *envList) drop(keys ...string) {
	for _, k := range keys {
		delete(e.vals, k)
	}
	e.keys = slices.DeleteFunc(e.keys, func(k string) bool { _, ok := e.vals[k]; return !ok })
}

func (e *envList) dropPrefix(prefixes ...string) {
	for _, k := range e.keys {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				delete(e.vals, k)
			}
		}
	}
	e.keys = slices.DeleteFunc(e.keys, func(k string) bool { _, ok := e.vals[k]; return !ok })
}

func (e *envList) list() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}
