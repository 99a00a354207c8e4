package quantum

import (
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// ApplyToSpec turns a job's --qubits request into its GPU request: the
// GPUs and whole nodes the sizing needs, one task (MPI rank) per GPU, and
// the environment CUDA-Q's backends read. A spec without qubits is left
// alone. A circuit past the machine is refused with the sizing's message.
func ApplyToSpec(s *job.Spec, c *cluster.Cluster) error {
	if s.Qubits <= 0 {
		return nil
	}
	sz, err := Size(s.Qubits, s.QPUBackend, s.QPUPrecision, c)
	if err != nil {
		return err
	}
	s.GPUs, s.GPUsPerTask = 0, 0
	if sz.Backend == BackendCPU {
		// One task per whole node, with all of its memory.
		s.GPUsPerNode = 0
		s.NodesMin, s.NodesMax = sz.Nodes, sz.Nodes
		s.NTasks, s.NTasksPerNode = sz.Tasks, 1
		s.Exclusive = true
		s.Mem, s.MemPerNodeMB, s.MemPerCPUMB, s.MemPerGPUMB = "0", -1, 0, 0
		s.Env = append(s.Env, sz.Env()...)
		return nil
	}
	s.NodesMin, s.NodesMax = sz.Nodes, sz.Nodes
	s.GPUsPerNode = sz.GPUsPerNode
	s.NTasks = sz.GPUs
	s.NTasksPerNode = sz.GPUsPerNode
	if s.NTasks == 0 {
		// tensornet and friends: one GPU, one task.
		s.NTasks, s.NTasksPerNode = 1, 1
	}
	s.Env = append(s.Env, sz.Env()...)
	return nil
}
