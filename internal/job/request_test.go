package job

import (
	"errors"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

// testScript is the smallest batch script sbatch accepts.
const testScript = "#!/bin/sh\ntrue\n"

func gefion(t *testing.T) *cluster.Cluster {
	t.Helper()
	c, err := cluster.Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestResolve(t *testing.T) {
	c := gefion(t)
	nodeMem := c.Nodes[0].Model.MemoryBytes >> 20
	nodeCPUs := c.Nodes[0].Model.CPUs
	tests := []struct {
		name string
		args []string
		want Request
	}{
		{"one GPU", []string{"--gpus=1"}, Request{Nodes: 1, GPUsPerNode: 1, CPUsPerNode: 1, TimeLimitS: 3600}},
		{"PyTorch multi-node", []string{"-N", "4", "--gpus-per-node=8", "--ntasks-per-node=8", "-c", "12", "-t", "2-0"},
			Request{Nodes: 4, GPUsPerNode: 8, CPUsPerNode: nodeCPUs, MemPerNodeMB: nodeMem, WholeNodes: true, TimeLimitS: 172800}},
		{"GPUs spread over whole nodes", []string{"--gpus=16"},
			Request{Nodes: 2, GPUsPerNode: 8, CPUsPerNode: nodeCPUs, MemPerNodeMB: nodeMem, WholeNodes: true, TimeLimitS: 3600}},
		{"GPUs per task", []string{"-n", "4", "--gpus-per-task=1", "-c", "8"}, Request{Nodes: 1, GPUsPerNode: 4, CPUsPerNode: 32, TimeLimitS: 3600}},
		{"gres per node", []string{"--gres=gpu:h100:2", "--mem=64G"}, Request{Nodes: 1, GPUsPerNode: 2, CPUsPerNode: 1, MemPerNodeMB: 65536, GPUType: "h100", TimeLimitS: 3600}},
		{"exclusive takes the node", []string{"--gpus=2", "--exclusive"}, Request{Nodes: 1, GPUsPerNode: 2, CPUsPerNode: nodeCPUs, MemPerNodeMB: nodeMem, WholeNodes: true, TimeLimitS: 3600}},
		{"all of the memory", []string{"--mem=0"}, Request{Nodes: 1, CPUsPerNode: 1, MemPerNodeMB: nodeMem, TimeLimitS: 3600}},
		{"memory per CPU", []string{"-c", "4", "--mem-per-cpu=2G"}, Request{Nodes: 1, CPUsPerNode: 4, MemPerNodeMB: 8192, TimeLimitS: 3600}},
		{"memory per GPU", []string{"--gpus-per-node=2", "--mem-per-gpu=100G"}, Request{Nodes: 1, GPUsPerNode: 2, CPUsPerNode: 1, MemPerNodeMB: 204800, TimeLimitS: 3600}},
		{"switches", []string{"-N", "8", "--gpus-per-node=8", "--switches=1@2:00:00"},
			Request{Nodes: 8, GPUsPerNode: 8, CPUsPerNode: nodeCPUs, MemPerNodeMB: nodeMem, WholeNodes: true, TimeLimitS: 3600, MaxSUs: 1, MaxSUsWaitS: 7200}},
		{"whole machine", []string{"-N", "191", "--gpus-per-node=8"},
			Request{Nodes: 191, GPUsPerNode: 8, CPUsPerNode: nodeCPUs, MemPerNodeMB: nodeMem, WholeNodes: true, TimeLimitS: 3600}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Spec{Script: testScript}
			if _, _, err := ParseOptions(tc.args, &s); err != nil {
				t.Fatal(err)
			}
			got, err := Resolve(&s, c)
			if err != nil {
				t.Fatalf("Resolve(%q) error: %v", tc.args, err)
			}
			if got != tc.want {
				t.Errorf("Resolve(%q) = %+v; want %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestResolveRejects(t *testing.T) {
	c := gefion(t)
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"9 GPUs on one node", []string{"-N", "1", "--gpus-per-node=9"}, "9 GPUs per node"},
		{"more GPUs than the machine", []string{"--gpus=2000"}, "nodes"},
		{"more nodes than the machine", []string{"-N", "192"}, "at most 191"},
		{"unknown partition", []string{"-p", "nope"}, "no such partition"},
		{"over the time limit", []string{"-t", "30-0"}, "limit"},
		{"too much memory", []string{"--mem=3T"}, "--mem"},
		{"too many CPUs", []string{"-n", "1", "-c", "500"}, "CPUs per node"},
		{"unknown GPU type", []string{"--gpus=a100:1"}, "no such GPU"},
	}
	for _, tc := range tests {
		s := Spec{Script: testScript}
		if _, _, err := ParseOptions(tc.args, &s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err := Resolve(&s, c)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Resolve(%q) error = %v; want ErrInvalid mentioning %q", tc.name, tc.args, err, tc.msg)
		}
	}
}

func TestResolvePartitionFallback(t *testing.T) {
	c, err := cluster.Parse([]byte(`
name = "two"
[[nodes]]
names = "a[1-2]"
model = "dgx-h100"
su = "su1"
[[partition]]
name = "short"
default = true
nodes = "a1"
max_time = "1:00:00"
[[partition]]
name = "long"
nodes = "a[1-2]"
max_time = "7-0"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := Spec{Partitions: []string{"short", "long"}, TimeLimitS: 3 * 3600, NodesMin: 2, Script: testScript}
	r, err := Resolve(&s, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Partitions[r.Partition].Name; got != "long" {
		t.Errorf("partition = %s; want long, the first that can hold the job", got)
	}
}

func TestResolveUnlimitedTimeAndSwitches(t *testing.T) {
	c, err := cluster.Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(&Spec{GPUs: 1, TimeLimitS: Unlimited, Script: testScript}, c)
	if err != nil || r.TimeLimitS != c.Partitions[0].MaxTimeS {
		t.Errorf("Resolve(--time=UNLIMITED) = %d, %v; want the partition's maximum %d", r.TimeLimitS, err, c.Partitions[0].MaxTimeS)
	}
	// 40 nodes never fit one SU of 32: refused unless a wait time is given.
	if _, err := Resolve(&Spec{NodesMin: 40, GPUsPerNode: 8, MaxSUs: 1, Script: testScript}, c); err == nil || !strings.Contains(err.Error(), "--switches=1") {
		t.Errorf("Resolve(40 nodes, --switches=1) error = %v; want a --switches message", err)
	}
	if _, err := Resolve(&Spec{NodesMin: 40, GPUsPerNode: 8, MaxSUs: 2, Script: testScript}, c); err != nil {
		t.Errorf("Resolve(40 nodes, --switches=2) = %v; want it accepted", err)
	}
	if _, err := Resolve(&Spec{NodesMin: 40, GPUsPerNode: 8, MaxSUs: 1, MaxSUsWaitS: 3600, Script: testScript}, c); err != nil {
		t.Errorf("Resolve(40 nodes, --switches=1@1:00:00) = %v; want it accepted (it may span after the wait)", err)
	}
}
