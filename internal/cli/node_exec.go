package cli

import (
	"fmt"
	"os"
	"runtime"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
)

// localNode describes this machine as one node and returns the executor
// that runs its jobs. gpus < 0 means discover (none until GPU discovery is
// available); otherwise that many declared GPUs.
//
// Until the process executor lands, jobs on the local node are virtual:
// they "run" for their declared duration (--comment duration=N) or their
// time limit, and report modelled energy.
func localNode(name string, gpus int) (api.NodeInventory, agent.Executor, error) {
	if name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		name = h
	}
	if gpus < 0 {
		gpus = 0
	}
	inv := api.NodeInventory{Name: name, SU: "su1", CPUs: runtime.NumCPU(), MemoryMB: memTotalMB(), Virtual: true}
	if inv.MemoryMB == 0 {
		inv.MemoryMB = 1024
	}
	for g := 0; g < gpus; g++ {
		inv.GPUs = append(inv.GPUs, api.GPU{Index: g, Name: cluster.H100SXM.Name, MemoryMB: cluster.H100SXM.MemoryBytes >> 20})
	}
	return inv, &agent.Virtual{GPU: cluster.H100SXM}, nil
}

// memTotalMB reads MemTotal from /proc/meminfo (0 if unknown).
func memTotalMB() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range splitLines(string(data)) {
		if n, _ := fmt.Sscanf(line, "MemTotal: %d kB", &kb); n == 1 {
			return kb >> 10
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
