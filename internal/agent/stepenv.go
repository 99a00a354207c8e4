package agent

import (
	"net"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// StepEnv returns the environment of one task of a step, as Slurm's
// slurmstepd builds it: srun's environment (as its --export chose, in
// l.Env), then the variables that describe the step and the task, which
// win. local is the task's index on this node (SLURM_LOCALID). Every
// SLURM_ variable set here has a GEFION_ twin, as in JobEnv.
//
// CUDA_VISIBLE_DEVICES names exactly the task's GPUs when they are bound
// per task (--gpus-per-task, --gpu-bind), else the step's GPUs on the
// node; none is an empty value, which hides every GPU from CUDA.
func StepEnv(l *api.StepLaunch, local int, in EnvInput) []string {
	env := newEnvList(l.Env)
	// srun's own step variables (from an enclosing step) must not leak.
	env.drop("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES")
	env.setDefault("PATH", "/usr/local/bin:/usr/bin:/bin")
	if in.User.Name != "" {
		env.setDefault("USER", in.User.Name)
		env.setDefault("LOGNAME", in.User.Name)
	}
	if in.User.Home != "" {
		env.setDefault("HOME", in.User.Home)
	}
	if in.WorkDir != "" {
		env.set("PWD", in.WorkDir)
	}

	gpus := l.Part.GPUs
	if local < len(l.Part.TaskGPUs) {
		gpus = l.Part.TaskGPUs[local]
	}
	gpuList := intList(gpus)
	env.set("CUDA_VISIBLE_DEVICES", gpuList)
	if len(gpus) > 0 {
		env.set("NVIDIA_VISIBLE_DEVICES", gpuList)
	} else {
		env.set("NVIDIA_VISIBLE_DEVICES", "void")
	}
	env.setDefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")

	rank := 0
	if local < len(l.Part.Tasks) {
		rank = l.Part.Tasks[local]
	}
	host, port, _ := net.SplitHostPort(l.IOAddr)
	id := strconv.FormatInt(int64(l.JobID), 10)
	step := strconv.Itoa(l.StepID)
	var sl []kv
	add := func(k, v string) { sl = append(sl, kv{k, v}) }
	add("JOB_ID", id)
	add("JOBID", id)
	add("STEP_ID", step)
	add("STEPID", step)
	add("PROCID", strconv.Itoa(rank))
	add("LOCALID", strconv.Itoa(local))
	add("NODEID", strconv.Itoa(l.NodeIndex))
	add("NTASKS", strconv.Itoa(l.Tasks))
	add("NPROCS", strconv.Itoa(l.Tasks))
	add("NNODES", strconv.Itoa(l.StepNodes))
	add("STEP_NUM_NODES", strconv.Itoa(l.StepNodes))
	add("STEP_NUM_TASKS", strconv.Itoa(l.Tasks))
	add("STEP_NODELIST", l.StepNodeList)
	add("NODELIST", l.StepNodeList)
	add("STEP_TASKS_PER_NODE", l.TasksPerNode)
	add("TASKS_PER_NODE", l.TasksPerNode)
	add("JOB_NODELIST", l.JobNodeList)
	add("JOB_NUM_NODES", strconv.Itoa(l.JobNodes))
	add("LAUNCH_NODE_IPADDR", host)
	add("SRUN_COMM_HOST", host)
	add("SRUN_COMM_PORT", port)
	add("GPUS_ON_NODE", strconv.Itoa(len(l.Part.GPUs)))
	if len(l.Part.GPUs) > 0 {
		add("STEP_GPUS", intList(l.Part.GPUs))
	}
	if l.CPUsPerTask > 0 {
		add("CPUS_PER_TASK", strconv.Itoa(l.CPUsPerTask))
	}
	if l.Part.CPUs > 0 {
		add("CPUS_ON_NODE", strconv.Itoa(l.Part.CPUs))
	}
	if l.Name != "" {
		add("STEP_NAME", l.Name)
	}
	if in.Cluster != "" {
		add("CLUSTER_NAME", in.Cluster)
	}
	if in.User.Name != "" {
		add("JOB_USER", in.User.Name)
		add("JOB_UID", strconv.Itoa(in.User.UID))
		add("JOB_GID", strconv.Itoa(in.User.GID))
	}
	for _, v := range sl {
		env.set("SLURM_"+v.k, v.v)
		env.set("GEFION_"+v.k, v.v)
	}
	env.set("SLURMD_NODENAME", l.Node)
	env.set("GEFION_NODENAME", l.Node)
	return env.list()
}

func intList(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// envValue is the value of k in env (the last one set), or "".
func envValue(env []string, k string) string {
	v := ""
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, k+"="); ok {
			v = rest
		}
	}
	return v
}
