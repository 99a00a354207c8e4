package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/api"
)

func TestStepEnv(t *testing.T) {
	l := &api.StepLaunch{
		JobID: 42, StepID: 3, Node: "dev2", NodeIndex: 1,
		Part:  api.StepNode{Node: "dev2", Tasks: []int{1, 3}, GPUs: []int{4, 6}, TaskGPUs: [][]int{{4}, {6}}, CPUs: 2},
		Tasks: 4, StepNodeList: "dev[1-2]", StepNodes: 2, TasksPerNode: "2(x2)", JobNodeList: "dev[1-3]", JobNodes: 3,
		CPUsPerTask: 1, Name: "train", IOAddr: "10.0.0.5:40000",
		// srun's environment: its own job and step variables and GPUs
		// must give way to the task's.
		Env: []string{"PATH=/opt/bin", "SLURM_STEP_ID=9", "SLURM_PROCID=0", "CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7", "MINE=kept"},
	}
	in := EnvInput{Cluster: "gefion", WorkDir: "/work", User: JobUser{Name: "alice", UID: 1001, GID: 1001, Home: "/home/alice"}}
	want := map[string][2]string{ // variable -> (local task 0, local task 1)
		"SLURM_PROCID":              {"1", "3"},
		"SLURM_LOCALID":             {"0", "1"},
		"SLURM_NODEID":              {"1", "1"},
		"SLURM_NTASKS":              {"4", "4"},
		"SLURM_NPROCS":              {"4", "4"},
		"SLURM_STEP_ID":             {"3", "3"},
		"SLURM_STEPID":              {"3", "3"},
		"SLURM_JOB_ID":              {"42", "42"},
		"SLURM_STEP_NODELIST":       {"dev[1-2]", "dev[1-2]"},
		"SLURM_STEP_NUM_NODES":      {"2", "2"},
		"SLURM_STEP_NUM_TASKS":      {"4", "4"},
		"SLURM_STEP_TASKS_PER_NODE": {"2(x2)", "2(x2)"},
		"SLURM_TASKS_PER_NODE":      {"2(x2)", "2(x2)"},
		"SLURM_NNODES":              {"2", "2"},
		"SLURM_JOB_NODELIST":        {"dev[1-3]", "dev[1-3]"},
		"SLURM_LAUNCH_NODE_IPADDR":  {"10.0.0.5", "10.0.0.5"},
		"SLURM_SRUN_COMM_HOST":      {"10.0.0.5", "10.0.0.5"},
		"SLURMD_NODENAME":           {"dev2", "dev2"},
		"CUDA_VISIBLE_DEVICES":      {"4", "6"},
		"SLURM_STEP_GPUS":           {"4,6", "4,6"},
		"GEFION_PROCID":             {"1", "3"},
		"PATH":                      {"/opt/bin", "/opt/bin"},
		"MINE":                      {"kept", "kept"},
		"HOME":                      {"/home/alice", "/home/alice"},
	}
	for local := range 2 {
		env := map[string]string{}
		for _, kv := range StepEnv(l, local, in) {
			k, v, _ := strings.Cut(kv, "=")
			if _, dup := env[k]; dup {
				t.Errorf("task %d: %s set twice", local, k)
			}
			env[k] = v
		}
		got := map[string]string{}
		exp := map[string]string{}
		for k, v := range want {
			got[k], exp[k] = env[k], v[local]
		}
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Errorf("StepEnv for local task %d (-want +got):\n%s", local, diff)
		}
	}
	// Without per-task binding every task sees the step's GPUs on the
	// node; with none, CUDA sees none.
	l.Part.TaskGPUs = nil
	if v := envValue(StepEnv(l, 1, in), "CUDA_VISIBLE_DEVICES"); v != "4,6" {
		t.Errorf("CUDA_VISIBLE_DEVICES without binding = %q; want 4,6", v)
	}
	l.Part.GPUs = nil
	if v := envValue(StepEnv(l, 1, in), "CUDA_VISIBLE_DEVICES"); v != "" {
		t.Errorf("CUDA_VISIBLE_DEVICES without GPUs = %q; want empty", v)
	}
}
