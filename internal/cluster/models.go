package cluster

import "strings"

// Precision names a numeric format for peak-throughput figures.
type Precision string

// Precisions with published peak figures.
const (
	FP8        Precision = "fp8"
	BF16       Precision = "bf16"
	TF32       Precision = "tf32"
	FP64Tensor Precision = "fp64_tensor"
	FP64       Precision = "fp64"
)

// GPUModel describes one kind of GPU.
type GPUModel struct {
	Name        string  `json:"name" toml:"name"`
	MemoryBytes int64   `json:"memory_bytes" toml:"memory_bytes"`
	BandwidthTB float64 `json:"memory_bandwidth_tbs" toml:"memory_bandwidth_tbs"`
	// DenseTFLOPS is the peak without structured sparsity, by precision.
	DenseTFLOPS map[Precision]float64 `json:"dense_tflops" toml:"dense_tflops"`
	// SparseTFLOPS is the peak with 2:4 structured sparsity where the GPU
	// has it (FP8, BF16, TF32 on Hopper); absent precisions have none.
	SparseTFLOPS map[Precision]float64 `json:"sparse_tflops" toml:"sparse_tflops"`
	TDPWatts     float64               `json:"tdp_w" toml:"tdp_w"`
	// IdleWatts is the draw of an idle GPU, for the energy model.
	IdleWatts float64 `json:"idle_w" toml:"idle_w"`
}

// NodeModel describes one kind of node.
type NodeModel struct {
	Name        string   `json:"name" toml:"name"`
	GPUs        int      `json:"gpus" toml:"gpus"`
	GPU         GPUModel `json:"gpu" toml:"-"`
	GPUName     string   `json:"-" toml:"gpu"`
	CPUs        int      `json:"cpus" toml:"cpus"`
	MemoryBytes int64    `json:"memory_bytes" toml:"memory_bytes"`
	// NVLinkGBs is the NVLink bandwidth per GPU inside the node.
	NVLinkGBs float64 `json:"nvlink_gbs" toml:"nvlink_gbs"`
	// Rails is the number of compute-fabric ports, one per GPU on a DGX.
	Rails    int     `json:"rails" toml:"rails"`
	RailGbps float64 `json:"rail_gbps" toml:"rail_gbps"`
	// MaxWatts is the node's maximum draw; BaseWatts is what the node draws
	// besides its GPUs when idle (CPUs, memory, NICs, switches, fans).
	MaxWatts  float64 `json:"max_w" toml:"max_w"`
	BaseWatts float64 `json:"base_w" toml:"base_w"`
}

// H100SXM is the NVIDIA H100 SXM5 80 GB. Figures from NVIDIA's H100 data
// sheet (SXM form factor): dense / with sparsity.
var H100SXM = GPUModel{
	Name:        "H100-SXM5-80GB",
	MemoryBytes: 80 * 1000 * 1000 * 1000,
	BandwidthTB: 3.35,
	DenseTFLOPS: map[Precision]float64{
		FP8: 1979, BF16: 989, TF32: 495, FP64Tensor: 67, FP64: 34,
	},
	SparseTFLOPS: map[Precision]float64{
		FP8: 3958, BF16: 1979, TF32: 989,
	},
	TDPWatts: 700,
	// About 70 W is the idle draw nvidia-smi commonly reports for an H100
	// SXM with no context; measured counters replace it on real nodes.
	IdleWatts: 70,
}

// DGXH100 is the NVIDIA DGX H100 system, from its user guide and the DGX
// SuperPOD reference architecture.
var DGXH100 = NodeModel{
	Name:        "dgx-h100",
	GPUs:        8,
	GPU:         H100SXM,
	GPUName:     H100SXM.Name,
	CPUs:        112, // 2 x 56-core Xeon Platinum 8480C
	MemoryBytes: 2 << 40,
	NVLinkGBs:   900,
	Rails:       8,
	RailGbps:    400,
	MaxWatts:    10200,
	// Non-GPU draw at idle: an estimate (CPUs, 2 TB DRAM, NVSwitches, NICs
	// and fans); the maximum budget beyond the GPUs is 10.2 kW - 8 x 700 W.
	BaseWatts: 1500,
}

// GPUModelFor returns the known model of a GPU as a driver names it
// ("NVIDIA H100 80GB HBM3" from NVML) or as cluster files do.
func GPUModelFor(name string) (GPUModel, bool) {
	if g, ok := gpuModels()[name]; ok {
		return g, true
	}
	n := strings.ToUpper(name)
	if strings.Contains(n, "H100") && (strings.Contains(n, "HBM3") || strings.Contains(n, "SXM")) {
		g := H100SXM
		return g, true
	}
	return GPUModel{}, false
}

// gpuModels and nodeModels are the known GPU and node models, by name, for
// cluster files. Functions rather than package maps, which would be built
// at package initialisation in every gefion command; each call returns a
// new map that the caller may extend.
func gpuModels() map[string]GPUModel {
	return map[string]GPUModel{"H100-SXM5-80GB": H100SXM, "h100": H100SXM}
}

func nodeModels() map[string]NodeModel { return map[string]NodeModel{"dgx-h100": DGXH100} }
