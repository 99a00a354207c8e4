package agent

import (
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			m[k] = "DUPLICATE"
			continue
		}
		m[k] = v
	}
	return m
}

func TestJobEnv(t *testing.T) {
	a := api.Assignment{
		JobID: 1234, Node: "dgx002", BatchHost: true, GPUs: []int{2, 5}, CPUs: 16, MemMB: 4096,
		StartS: 1000, TimeLimit: 600, NodeList: "dgx[001-004]", Nodes: 4, Restarts: 2,
		ArrayJob: 1230, ArrayTask: 4, ArrayInfo: api.ArrayInfo{Count: 5, Min: 0, Max: 4},
		Partition: "batch", Project: "medicine",
		Spec: job.Spec{
			Name: "train", User: "alice", NTasksPerNode: 8, CPUsPerTask: 2, GPUsPerNode: 2,
			SubmitDir: "/home/alice/run", SubmitHost: "login1", QOS: "normal",
			Env: []string{"FOO=bar", "CUDA_VISIBLE_DEVICES=7", "SLURM_JOB_ID=1", "PATH=/opt/bin", "HOME=/home/alice"},
		},
	}
	env := JobEnv(a, EnvInput{Cluster: "gefion", WorkDir: "/home/alice/run", User: JobUser{Name: "alice", UID: 1001, GID: 100, Home: "/home/alice"}})
	m := envMap(env)
	want := map[string]string{
		"FOO": "bar", "PATH": "/opt/bin", "USER": "alice", "HOME": "/home/alice",
		"CUDA_VISIBLE_DEVICES": "2,5", "NVIDIA_VISIBLE_DEVICES": "2,5", "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
		"SLURM_JOB_ID": "1234", "SLURM_JOBID": "1234", "SLURM_JOB_NAME": "train",
		"SLURM_JOB_NODELIST": "dgx[001-004]", "SLURM_NODELIST": "dgx[001-004]",
		"SLURM_NNODES": "4", "SLURM_NTASKS": "32", "SLURM_NTASKS_PER_NODE": "8", "SLURM_TASKS_PER_NODE": "8(x4)",
		"SLURM_CPUS_PER_TASK": "2", "SLURM_CPUS_ON_NODE": "16", "SLURM_GPUS_ON_NODE": "2", "SLURM_JOB_GPUS": "2,5",
		"SLURM_GPUS_PER_NODE": "2", "SLURM_MEM_PER_NODE": "4096",
		"SLURM_SUBMIT_DIR": "/home/alice/run", "SLURM_SUBMIT_HOST": "login1",
		"SLURM_JOB_ACCOUNT": "medicine", "SLURM_JOB_PARTITION": "batch", "SLURM_JOB_QOS": "normal",
		"SLURM_ARRAY_JOB_ID": "1230", "SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "5",
		"SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "4", "SLURM_RESTART_COUNT": "2",
		"SLURM_JOB_USER": "alice", "SLURM_JOB_UID": "1001", "SLURM_JOB_GID": "100",
		"SLURM_CLUSTER_NAME": "gefion", "SLURMD_NODENAME": "dgx002", "SLURM_JOB_END_TIME": "1600",
		"GEFION_JOB_ID": "1234", "GEFION_JOB_NODELIST": "dgx[001-004]", "GEFION_ARRAY_TASK_ID": "4",
		"ENVIRONMENT": "BATCH", "PWD": "/home/alice/run",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("JobEnv: %s=%q; want %q", k, m[k], v)
		}
	}
}

func TestJobEnvWithoutGPUsHidesThem(t *testing.T) {
	a := api.Assignment{JobID: 1, Node: "n1", NodeList: "n1", Nodes: 1,
		Spec: job.Spec{Env: []string{"CUDA_VISIBLE_DEVICES=0,1"}, NTasks: 3}}
	m := envMap(JobEnv(a, EnvInput{}))
	if v, ok := m["CUDA_VISIBLE_DEVICES"]; !ok || v != "" {
		t.Errorf("CUDA_VISIBLE_DEVICES = %q (set %v); want set and empty, hiding every GPU", v, ok)
	}
	if m["NVIDIA_VISIBLE_DEVICES"] != "void" || m["SLURM_GPUS_ON_NODE"] != "0" {
		t.Errorf("NVIDIA_VISIBLE_DEVICES=%q SLURM_GPUS_ON_NODE=%q; want void and 0", m["NVIDIA_VISIBLE_DEVICES"], m["SLURM_GPUS_ON_NODE"])
	}
	if _, ok := m["SLURM_JOB_GPUS"]; ok {
		t.Error("SLURM_JOB_GPUS is set for a job without GPUs; Slurm leaves it unset")
	}
	if _, ok := m["SLURM_ARRAY_TASK_ID"]; ok {
		t.Error("SLURM_ARRAY_TASK_ID is set for a job that is not an array task")
	}
	if m["SLURM_NTASKS"] != "3" || m["SLURM_JOB_NAME"] != "sbatch" {
		t.Errorf("SLURM_NTASKS=%q SLURM_JOB_NAME=%q; want 3 and sbatch", m["SLURM_NTASKS"], m["SLURM_JOB_NAME"])
	}
	for k, v := range m {
		if v == "DUPLICATE" {
			t.Errorf("%s appears twice in the environment", k)
		}
	}
}
