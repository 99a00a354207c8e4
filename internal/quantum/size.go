package quantum

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

// Backends that Size understands, named as CUDA-Q names its GPU simulator
// targets and options.
const (
	// BackendNVIDIA is CUDA-Q's "nvidia" target: one GPU holds the whole
	// state vector.
	BackendNVIDIA = "nvidia"
	// BackendMGPU is the "nvidia" target with the "mgpu" option: the state
	// vector is split over a power-of-two number of GPUs, one MPI rank each.
	BackendMGPU = "mgpu"
	// BackendTensorNet is CUDA-Q's "tensornet" target (cuTensorNet).
	BackendTensorNet = "tensornet"
)

// Precisions of a state vector: single is complex64 (8 bytes an amplitude),
// double is complex128 (16 bytes).
const (
	Single = "single"
	Double = "double"
)

// GPUReserveFraction is the share of each GPU's memory that sizing keeps
// free for everything that is not the state vector: the CUDA context, the
// cuStateVec workspace used by gate kernels and, for mgpu, the MPI/NCCL
// buffers through which ranks exchange amplitudes when a gate acts on a
// qubit that indexes ranks. One tenth of an 80 GB H100 is 8 GB, which holds
// all of these with room to spare; the remaining 72 GB per GPU is what a
// state-vector slice may use.
const GPUReserveFraction = 0.10

// MaxQubits is the largest qubit count sizing accepts; 2^58 double-precision
// amplitudes is 2^62 bytes, the most an int64 byte count can hold with
// headroom. No machine comes near it.
const MaxQubits = 58

// Sizing is the GPU request that a quantum simulation needs.
type Sizing struct {
	Qubits    int    `json:"qubits"`
	Backend   string `json:"backend"`
	Precision string `json:"precision"`
	// GPUs is the number of GPUs (and, for mgpu, MPI ranks: one per GPU).
	GPUs int `json:"gpus"`
	// Nodes is the number of whole nodes the GPUs sit on.
	Nodes int `json:"nodes"`
	// GPUsPerNode is how many of each node's GPUs the job uses.
	GPUsPerNode int `json:"gpus_per_node"`
	// Bytes is the size of the whole state vector; 0 for tensornet, whose
	// memory is not a function of the qubit count.
	Bytes int64 `json:"bytes"`
	// PerGPUBytes is the slice of the state vector each GPU holds.
	PerGPUBytes int64 `json:"per_gpu_bytes"`
	// UsableGPUBytes is one GPU's memory less the reserve.
	UsableGPUBytes int64 `json:"usable_gpu_bytes"`
	// GPUMemoryBytes is one GPU's memory as the machine model gives it.
	GPUMemoryBytes int64 `json:"gpu_memory_bytes"`
	// MachineGPUs and MachineNodes describe the machine sized against.
	MachineGPUs  int `json:"machine_gpus"`
	MachineNodes int `json:"machine_nodes"`
	// Note explains a sizing that is not plain arithmetic (tensornet).
	Note string `json:"note,omitempty"`
	// Tasks, PerNodeBytes and UsableNodeBytes size the cpu backend (one
	// task per node, each holding PerNodeBytes of the state, of a node's
	// memory less the reserve).
	Tasks           int   `json:"tasks,omitempty"`
	PerNodeBytes    int64 `json:"per_node_bytes,omitempty"`
	UsableNodeBytes int64 `json:"usable_node_bytes,omitempty"`
}

// ErrTooLarge is wrapped by every error that says a simulation does not fit
// the machine (or the backend's one GPU).
var ErrTooLarge = errors.New("simulation does not fit")

// TooLargeError says how far past the machine (or past one GPU, for the
// nvidia backend) a state vector is.
type TooLargeError struct {
	Qubits    int
	Backend   string
	Precision string
	Bytes     int64
	// NeedGPUs and NeedNodes are what the state vector would take.
	NeedGPUs, NeedNodes int
	// HaveGPUs and HaveNodes are what the backend may use on this machine:
	// 1 for nvidia; for mgpu the machine's GPUs and nodes.
	HaveGPUs, HaveNodes int
	// MaxGPUs is the largest GPU count the backend can use here (a power
	// of two for mgpu) and MaxQubits the largest state it holds.
	MaxGPUs, MaxQubits int
	// UsableGPUBytes is one GPU's memory less the reserve.
	UsableGPUBytes int64
	Machine        string
}

func (e *TooLargeError) Error() string {
	if e.Backend == BackendNVIDIA {
		return fmt.Sprintf("%d qubits in %s precision need a %s state vector, more than one GPU holds (%s usable); it would need %d GPUs: use --backend mgpu, or at most %d qubits on one GPU",
			e.Qubits, e.Precision, HumanBytes(e.Bytes), HumanBytes(e.UsableGPUBytes), e.NeedGPUs, e.MaxQubits)
	}
	return fmt.Sprintf("%d qubits in %s precision need a %s state vector: %d GPUs on %d nodes, but %s has %d GPUs on %d nodes (mgpu uses a power of two, at most %d GPUs here); the largest state it holds is %d qubits in %s precision",
		e.Qubits, e.Precision, HumanBytes(e.Bytes), e.NeedGPUs, e.NeedNodes, e.Machine, e.HaveGPUs, e.HaveNodes, e.MaxGPUs, e.MaxQubits, e.Precision)
}

// Unwrap lets errors.Is(err, ErrTooLarge) match.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// AmplitudeBytes returns the bytes of one amplitude in the given precision
// ("" means single, CUDA-Q's default).
func AmplitudeBytes(precision string) (int64, error) {
	switch precision {
	case "", Single, "fp32":
		return 8, nil
	case Double, "fp64":
		return 16, nil
	}
	return 0, fmt.Errorf("unknown precision %q: use single (complex64, CUDA-Q fp32) or double (complex128, fp64)", precision)
}

func canonPrecision(p string) string {
	switch p {
	case "", Single, "fp32":
		return Single
	}
	return Double
}

// Size turns a qubit count into the GPU request for a CUDA-Q simulator
// backend on cluster c.
//
// nvidia: one GPU; the state vector (2^qubits amplitudes of 8 or 16 bytes)
// must fit one GPU's memory less the reserve (GPUReserveFraction).
//
// mgpu: the fewest GPUs g, a power of two as CUDA-Q requires of its MPI
// ranks, such that each rank's slice (state vector / g) fits; up to the
// GPUs of one node the job takes g GPUs of one node, beyond that whole nodes
// (g / gpus-per-node of them, also a power of two). A state that fits one
// GPU gets one.
//
// tensornet: a tensor-network contraction's memory depends on the circuit's
// structure (its contraction width), not on its qubit count, so no byte
// count is given; the job gets one GPU, and cuTensorNet's own slicing keeps
// the contraction within it. Users who want contraction slices spread over
// more GPUs ask for GPUs directly.
//
// Per-GPU memory is the smallest GPU memory among the cluster's GPU nodes,
// so a mixed cluster is sized for its weakest GPU.
func Size(qubits int, backend, precision string, c *cluster.Cluster) (Sizing, error) {
	if qubits < 1 || qubits > MaxQubits {
		return Sizing{}, fmt.Errorf("qubits %d out of range: give 1 to %d", qubits, MaxQubits)
	}
	ab, err := AmplitudeBytes(precision)
	if err != nil {
		return Sizing{}, err
	}
	if backend == "" {
		backend = BackendNVIDIA
	}
	if backend == BackendCPU {
		return sizeCPU(qubits, ab, precision, c)
	}
	gpuMem, perNode, totalGPUs, gpuNodes := machineGPUs(c)
	if totalGPUs == 0 {
		return Sizing{}, fmt.Errorf("cluster %s has no GPUs: quantum simulation backends need GPU nodes", c.Name)
	}
	usable := int64(float64(gpuMem) * (1 - GPUReserveFraction))
	s := Sizing{
		Qubits: qubits, Backend: backend, Precision: canonPrecision(precision),
		UsableGPUBytes: usable, GPUMemoryBytes: gpuMem,
		MachineGPUs: totalGPUs, MachineNodes: gpuNodes,
	}
	bytes := int64(1) << qubits * ab
	switch backend {
	case BackendTensorNet:
		s.GPUs, s.Nodes, s.GPUsPerNode = 1, 1, 1
		s.PerGPUBytes = usable
		s.Note = "tensor-network memory depends on the circuit's contraction width, not its qubit count: sized as one GPU, within which cuTensorNet slices the contraction; ask for more GPUs to spread slices over MPI ranks"
		return s, nil
	case BackendNVIDIA, BackendMGPU:
	default:
		return Sizing{}, fmt.Errorf("unknown backend %q: use nvidia (one GPU), mgpu (state vector over many GPUs), tensornet, or cpu (state vector over many nodes' memory)", backend)
	}
	s.Bytes = bytes
	need := ceilPow2(ceilDiv(bytes, usable))
	needNodes := nodesFor(need, perNode)
	// The largest power-of-two GPU count this machine can give mgpu, as
	// whole nodes past one node.
	maxG := 1
	for g := 2; g <= totalGPUs && nodesFor(g, perNode) <= gpuNodes; g *= 2 {
		maxG = g
	}
	maxQ := func(g int) int {
		return bits.Len64(uint64(usable/ab)*uint64(g)) - 1
	}
	switch {
	case backend == BackendNVIDIA && need > 1:
		return Sizing{}, &TooLargeError{Qubits: qubits, Backend: backend, Precision: s.Precision, Bytes: bytes,
			NeedGPUs: need, NeedNodes: needNodes, HaveGPUs: 1, HaveNodes: 1, MaxGPUs: 1, MaxQubits: maxQ(1), UsableGPUBytes: usable, Machine: c.Name}
	case need > maxG:
		return Sizing{}, &TooLargeError{Qubits: qubits, Backend: backend, Precision: s.Precision, Bytes: bytes,
			NeedGPUs: need, NeedNodes: needNodes, HaveGPUs: totalGPUs, HaveNodes: gpuNodes, MaxGPUs: maxG, MaxQubits: maxQ(maxG), UsableGPUBytes: usable, Machine: c.Name}
	}
	s.GPUs = need
	s.Nodes = needNodes
	s.GPUsPerNode = need / needNodes
	s.PerGPUBytes = bytes / int64(need)
	return s, nil
}

// machineGPUs returns the smallest per-GPU memory, the GPUs per node of the
// GPU nodes (the largest count, as jobs take whole nodes of the common
// model), the total GPUs and the number of nodes with GPUs.
func machineGPUs(c *cluster.Cluster) (mem int64, perNode, total, nodes int) {
	mem = math.MaxInt64
	for i := range c.Nodes {
		m := c.Nodes[i].Model
		if m == nil || m.GPUs == 0 {
			continue
		}
		mem = min(mem, m.GPU.MemoryBytes)
		perNode = max(perNode, m.GPUs)
		total += m.GPUs
		nodes++
	}
	if nodes == 0 {
		mem = 0
	}
	return mem, perNode, total, nodes
}

func nodesFor(gpus, perNode int) int {
	if gpus <= perNode {
		return 1
	}
	return ceilDivInt(gpus, perNode)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func ceilDivInt(a, b int) int { return (a + b - 1) / b }

// ceilPow2 returns the smallest power of two >= n (n >= 1), saturating at
// 2^62 so that absurd requests still compare as "too many".
func ceilPow2(n int64) int {
	if n <= 1 {
		return 1
	}
	l := bits.Len64(uint64(n - 1))
	if l > 62 {
		l = 62
	}
	return 1 << l
}

// Env returns the environment a job's processes need to run the sized
// simulation on CUDA-Q: the target and its options (GEFION_CUDAQ_TARGET and
// GEFION_CUDAQ_TARGET_OPTION, for scripts to pass as --target and
// --target-option), the MPI rank layout, and for mgpu the variables CUDA-Q's
// multi-GPU backend reads: CUDAQ_MGPU_P2P_DEVICE_BITS (log2 of the GPUs that
// reach each other over NVLink, here one node's) and CUDAQ_GPU_FABRIC=NVL.
// Each entry is KEY=VALUE, as os/exec wants.
func (s Sizing) Env() []string {
	if s.Backend == BackendCPU {
		return s.cpuEnv()
	}
	opt := "fp32"
	if s.Precision == Double {
		opt = "fp64"
	}
	target := "nvidia"
	if s.Backend == BackendTensorNet {
		target = "tensornet"
	}
	if s.Backend == BackendMGPU {
		opt = "mgpu," + opt
	}
	env := []string{
		"GEFION_QPU_QUBITS=" + strconv.Itoa(s.Qubits),
		"GEFION_QPU_BACKEND=" + s.Backend,
		"GEFION_QPU_PRECISION=" + s.Precision,
		"GEFION_CUDAQ_TARGET=" + target,
		"GEFION_CUDAQ_TARGET_OPTION=" + opt,
		"GEFION_MPI_RANKS=" + strconv.Itoa(s.GPUs),
		"GEFION_MPI_RANKS_PER_NODE=" + strconv.Itoa(s.GPUsPerNode),
	}
	if s.Backend == BackendMGPU && s.GPUs > 1 {
		p2p := bits.Len(uint(s.GPUsPerNode)) - 1
		env = append(env,
			"CUDAQ_MGPU_P2P_DEVICE_BITS="+strconv.Itoa(p2p),
			"CUDAQ_GPU_FABRIC=NVL",
		)
	}
	return env
}

// HumanBytes writes a byte count in decimal units (1.2 TB), as memory sizes
// of GPUs are quoted.
func HumanBytes(b int64) string {
	f := float64(b)
	switch {
	case f >= 1e15:
		return fmt.Sprintf("%.1f PB", f/1e15)
	case f >= 1e12:
		return fmt.Sprintf("%.1f TB", f/1e12)
	case f >= 1e9:
		return fmt.Sprintf("%.1f GB", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.1f MB", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1f kB", f/1e3)
	}
	return fmt.Sprintf("%d B", b)
}
