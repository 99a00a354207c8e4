package quantum

import (
	"fmt"
	"math/bits"
	"strconv"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

// BackendCPU is Gefion's own simulator with the state vector split over a
// power-of-two number of whole nodes' memory, one task per node
// ("gefion quantum run --nodes N", dist.go): the mgpu layout on CPUs.
const BackendCPU = "cpu"

// CPUReserveFraction is the share of each node's memory that sizing keeps
// free for everything that is not the state slice: the operating system,
// the exchange buffers, and a second slice for the circuits whose shots
// branch at mid-circuit measurements when the slice is small.
const CPUReserveFraction = 0.25

// CPUTooLargeError says how far past the machine's memory a state vector
// split over nodes is.
type CPUTooLargeError struct {
	Qubits    int
	Precision string
	Bytes     int64
	// NeedNodes is what the state would take, HaveNodes the machine's
	// nodes, MaxNodes the largest power of two of them and MaxQubits the
	// largest state they hold.
	NeedNodes, HaveNodes, MaxNodes, MaxQubits int
	UsableNodeBytes                           int64
	Machine                                   string
}

func (e *CPUTooLargeError) Error() string {
	return fmt.Sprintf("%d qubits in %s precision need a %s state vector: %d nodes at %s usable each, but %s has %d nodes (the cpu backend uses a power of two, at most %d here); the largest state it holds is %d qubits in %s precision",
		e.Qubits, e.Precision, HumanBytes(e.Bytes), e.NeedNodes, HumanBytes(e.UsableNodeBytes), e.Machine, e.HaveNodes, e.MaxNodes, e.MaxQubits, e.Precision)
}

// Unwrap lets errors.Is(err, ErrTooLarge) match.
func (e *CPUTooLargeError) Unwrap() error { return ErrTooLarge }

// sizeCPU sizes the cpu backend: the fewest nodes N, a power of two, whose
// memory less the reserve each holds 1/N of the state. Node memory is the
// smallest among the cluster's nodes.
func sizeCPU(qubits int, ab int64, precision string, c *cluster.Cluster) (Sizing, error) {
	mem := int64(0)
	nodes := 0
	for i := range c.Nodes {
		m := c.Nodes[i].Model
		if m == nil || m.MemoryBytes <= 0 {
			continue
		}
		if nodes == 0 || m.MemoryBytes < mem {
			mem = m.MemoryBytes
		}
		nodes++
	}
	if nodes == 0 {
		return Sizing{}, fmt.Errorf("cluster %s declares no node memory: the cpu backend sizes against it", c.Name)
	}
	usable := int64(float64(mem) * (1 - CPUReserveFraction))
	bytes := int64(1) << qubits * ab
	need := ceilPow2(ceilDiv(bytes, usable))
	maxN := 1 << (bits.Len(uint(nodes)) - 1)
	if need > maxN {
		return Sizing{}, &CPUTooLargeError{Qubits: qubits, Precision: canonPrecision(precision), Bytes: bytes,
			NeedNodes: need, HaveNodes: nodes, MaxNodes: maxN,
			MaxQubits: bits.Len64(uint64(usable/ab)*uint64(maxN)) - 1, UsableNodeBytes: usable, Machine: c.Name}
	}
	return Sizing{
		Qubits: qubits, Backend: BackendCPU, Precision: canonPrecision(precision),
		Nodes: need, Tasks: need, Bytes: bytes, PerNodeBytes: bytes / int64(need),
		UsableNodeBytes: usable, MachineNodes: nodes,
	}, nil
}

// cpuEnv is Env for the cpu backend: GEFION_QUANTUM_NODES is the --nodes
// that "gefion quantum run" takes by default in the job.
func (s Sizing) cpuEnv() []string {
	return []string{
		"GEFION_QPU_QUBITS=" + strconv.Itoa(s.Qubits),
		"GEFION_QPU_BACKEND=" + s.Backend,
		"GEFION_QPU_PRECISION=" + s.Precision,
		"GEFION_QUANTUM_NODES=" + strconv.Itoa(s.Nodes),
		"GEFION_MPI_RANKS=" + strconv.Itoa(s.Tasks),
		"GEFION_MPI_RANKS_PER_NODE=1",
	}
}
