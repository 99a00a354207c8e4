package cluster

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/hostlist"
)

// Node is one machine: an NVLink domain of GPUs.
type Node struct {
	Name  string     `json:"name"`
	Index int        `json:"index"`
	SU    int        `json:"su"` // index into Cluster.SUs
	Model *NodeModel `json:"-"`
	// Partitions lists indexes into Cluster.Partitions.
	Partitions []int `json:"-"`
}

// GPUs returns the node's GPU count.
func (n *Node) GPUs() int { return n.Model.GPUs }

// SU is a scalable unit: nodes one leaf hop apart on every rail.
type SU struct {
	Name  string `json:"name"`
	Nodes []int  `json:"nodes"`
}

// Partition is a named set of nodes jobs ask for, as in Slurm.
type Partition struct {
	Name    string `json:"name"`
	Nodes   []int  `json:"nodes"`
	Default bool   `json:"default"`
	// MaxTimeS is the longest time limit a job may ask for; 0 is unlimited.
	MaxTimeS int64 `json:"max_time_s"`
	// DefaultTimeS is given to jobs that ask for no time limit.
	DefaultTimeS int64 `json:"default_time_s"`
}

// Cluster is a whole machine. Build one with Preset, Load or New; its nodes
// are ordered and their Index is their position.
type Cluster struct {
	Name       string      `json:"name"`
	Nodes      []Node      `json:"nodes"`
	SUs        []SU        `json:"scalable_units"`
	Partitions []Partition `json:"partitions"`
}

// Default times used when a cluster file or preset says nothing.
const (
	DefaultMaxTimeS     = 7 * 24 * 3600
	DefaultDefaultTimeS = 3600
)

// DefaultPartition returns the index of the partition jobs get when they name
// none.
func (c *Cluster) DefaultPartition() int {
	for i, p := range c.Partitions {
		if p.Default {
			return i
		}
	}
	return 0
}

// PartitionIndex returns the index of the named partition.
func (c *Cluster) PartitionIndex(name string) (int, bool) {
	for i, p := range c.Partitions {
		if p.Name == name {
			return i, true
		}
	}
	return -1, false
}

// NodeIndex returns the index of the named node.
func (c *Cluster) NodeIndex(name string) (int, bool) {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return i, true
		}
	}
	return -1, false
}

// TotalGPUs returns the number of GPUs in the cluster.
func (c *Cluster) TotalGPUs() int {
	n := 0
	for i := range c.Nodes {
		n += c.Nodes[i].Model.GPUs
	}
	return n
}

// MaxGPUsPerNode returns the largest GPU count of any node.
func (c *Cluster) MaxGPUsPerNode() int {
	m := 0
	for i := range c.Nodes {
		m = max(m, c.Nodes[i].Model.GPUs)
	}
	return m
}

// GPUTypes returns the distinct GPU model names, sorted.
func (c *Cluster) GPUTypes() []string {
	seen := map[string]bool{}
	for i := range c.Nodes {
		seen[c.Nodes[i].Model.GPU.Name] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Validate checks that the cluster is well formed: every node in exactly one
// SU, names unique and valid host names (hostlist.ValidateName),
// partitions referring to real nodes.
func (c *Cluster) Validate() error {
	var errs []error
	if len(c.Nodes) == 0 {
		errs = append(errs, errors.New("cluster has no nodes: describe at least one [[nodes]] group"))
	}
	names := make(map[string]bool, len(c.Nodes))
	// One bad name is enough to say what to fix; a group of a thousand
	// would otherwise repeat the rule a thousand times.
	badNames := 0
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if n.Index != i {
			errs = append(errs, fmt.Errorf("node %s: index %d, want %d", n.Name, n.Index, i))
		}
		if names[n.Name] {
			errs = append(errs, fmt.Errorf("node %s is described twice: give each node one name", n.Name))
		}
		names[n.Name] = true
		if err := hostlist.ValidateName(n.Name); err != nil {
			if badNames == 0 {
				errs = append(errs, err)
			}
			badNames++
		}
		if n.Model == nil || n.Model.GPUs < 0 || n.Model.CPUs <= 0 {
			errs = append(errs, fmt.Errorf("node %s: model needs cpus > 0 and gpus >= 0", n.Name))
		}
		if n.SU < 0 || n.SU >= len(c.SUs) {
			errs = append(errs, fmt.Errorf("node %s: scalable unit %d does not exist", n.Name, n.SU))
		}
	}
	if badNames > 1 {
		errs = append(errs, fmt.Errorf("%d more node names break the same rule", badNames-1))
	}
	if len(c.Partitions) == 0 {
		errs = append(errs, errors.New("cluster has no partitions"))
	}
	defaults := 0
	for _, p := range c.Partitions {
		if p.Default {
			defaults++
		}
		for _, ni := range p.Nodes {
			if ni < 0 || ni >= len(c.Nodes) {
				errs = append(errs, fmt.Errorf("partition %s: node index %d out of range", p.Name, ni))
			}
		}
	}
	if defaults > 1 {
		errs = append(errs, errors.New("more than one partition is marked default: mark one"))
	}
	return errors.Join(errs...)
}

// Info is the inventory and capacity math of a cluster.
type Info struct {
	Name                string         `json:"name"`
	Nodes               int            `json:"nodes"`
	GPUs                int            `json:"gpus"`
	CPUs                int            `json:"cpus"`
	MemoryBytes         int64          `json:"memory_bytes"`
	GPUMemoryBytes      int64          `json:"gpu_memory_bytes"`
	ScalableUnits       int            `json:"scalable_units"`
	NodesPerSU          []int          `json:"nodes_per_su"`
	Partitions          []string       `json:"partitions"`
	GPUTypes            map[string]int `json:"gpu_types"`
	PeakFP8SparseEF     float64        `json:"peak_fp8_sparse_eflops"`
	PeakFP8DenseEF      float64        `json:"peak_fp8_dense_eflops"`
	PeakBF16DenseEF     float64        `json:"peak_bf16_dense_eflops"`
	PeakFP64TensorPF    float64        `json:"peak_fp64_tensor_pflops"`
	MaxPowerKW          float64        `json:"max_power_kw"`
	GPUTDPTotalKW       float64        `json:"gpu_tdp_total_kw"`
	RailBandwidthTbps   float64        `json:"rail_bandwidth_tbps"`
	HBMBandwidthPBs     float64        `json:"hbm_bandwidth_pbs"`
	LargestOneSUJobGPUs int            `json:"largest_one_su_job_gpus"`
}

// Info computes the inventory and capacity figures from the per-GPU and
// per-node models; nothing here is written down as a total.
func (c *Cluster) Info() Info {
	inf := Info{Name: c.Name, Nodes: len(c.Nodes), ScalableUnits: len(c.SUs), GPUTypes: map[string]int{}}
	var fp8s, fp8d, bf16, fp64t, watts, tdp, rail, hbm float64
	for i := range c.Nodes {
		m := c.Nodes[i].Model
		g := float64(m.GPUs)
		inf.GPUs += m.GPUs
		inf.CPUs += m.CPUs
		inf.MemoryBytes += m.MemoryBytes
		inf.GPUMemoryBytes += int64(m.GPUs) * m.GPU.MemoryBytes
		if m.GPUs > 0 {
			inf.GPUTypes[m.GPU.Name] += m.GPUs
		}
		fp8s += g * m.GPU.SparseTFLOPS[FP8]
		fp8d += g * m.GPU.DenseTFLOPS[FP8]
		bf16 += g * m.GPU.DenseTFLOPS[BF16]
		fp64t += g * m.GPU.DenseTFLOPS[FP64Tensor]
		watts += m.MaxWatts
		tdp += g * m.GPU.TDPWatts
		rail += float64(m.Rails) * m.RailGbps
		hbm += g * m.GPU.BandwidthTB
	}
	for _, su := range c.SUs {
		inf.NodesPerSU = append(inf.NodesPerSU, len(su.Nodes))
		gpus := 0
		for _, ni := range su.Nodes {
			gpus += c.Nodes[ni].Model.GPUs
		}
		inf.LargestOneSUJobGPUs = max(inf.LargestOneSUJobGPUs, gpus)
	}
	for _, p := range c.Partitions {
		inf.Partitions = append(inf.Partitions, p.Name)
	}
	// TFLOPS -> EFLOPS is 1e6; round to the two decimals the figures are
	// quoted with, as the peak is only known to that precision.
	inf.PeakFP8SparseEF = round2(fp8s / 1e6)
	inf.PeakFP8DenseEF = round2(fp8d / 1e6)
	inf.PeakBF16DenseEF = round2(bf16 / 1e6)
	inf.PeakFP64TensorPF = round2(fp64t / 1e3)
	inf.MaxPowerKW = round2(watts / 1e3)
	inf.GPUTDPTotalKW = round2(tdp / 1e3)
	inf.RailBandwidthTbps = round2(rail / 1e3)
	inf.HBMBandwidthPBs = round2(hbm / 1e3)
	return inf
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// NodeGroup is a run of nodes of one model in one SU, used to build clusters.
type NodeGroup struct {
	Names      []string
	Model      *NodeModel
	SU         string
	Partitions []string
}

// New builds a cluster from node groups and partitions. SUs are created in
// the order first named; a group with no SU gets an SU of its own name
// "su<k>". Partitions with no nodes listed take every node.
func New(name string, groups []NodeGroup, parts []Partition, partNodes map[string][]string) (*Cluster, error) {
	c := &Cluster{Name: name}
	suIndex := map[string]int{}
	for gi, g := range groups {
		suName := g.SU
		if suName == "" {
			suName = fmt.Sprintf("su%d", gi+1)
		}
		si, ok := suIndex[suName]
		if !ok {
			si = len(c.SUs)
			suIndex[suName] = si
			c.SUs = append(c.SUs, SU{Name: suName})
		}
		for _, nn := range g.Names {
			idx := len(c.Nodes)
			c.Nodes = append(c.Nodes, Node{Name: nn, Index: idx, SU: si, Model: g.Model})
			c.SUs[si].Nodes = append(c.SUs[si].Nodes, idx)
		}
	}
	if len(parts) == 0 {
		parts = []Partition{{Name: "gpu", Default: true}}
	}
	byName := map[string]int{}
	for i := range c.Nodes {
		byName[c.Nodes[i].Name] = i
	}
	for pi := range parts {
		p := &parts[pi]
		if p.MaxTimeS == 0 {
			p.MaxTimeS = DefaultMaxTimeS
		}
		if p.DefaultTimeS == 0 {
			p.DefaultTimeS = min(DefaultDefaultTimeS, p.MaxTimeS)
		}
		p.Nodes = nil
		names, listed := partNodes[p.Name]
		switch {
		case listed:
			for _, nn := range names {
				ni, ok := byName[nn]
				if !ok {
					return nil, fmt.Errorf("partition %s names node %s, which no node group describes", p.Name, nn)
				}
				p.Nodes = append(p.Nodes, ni)
			}
		default:
			for i := range c.Nodes {
				p.Nodes = append(p.Nodes, i)
			}
		}
		sort.Ints(p.Nodes)
	}
	if len(parts) == 1 {
		parts[0].Default = true
	}
	c.Partitions = parts
	for pi, p := range parts {
		for _, ni := range p.Nodes {
			c.Nodes[ni].Partitions = append(c.Nodes[ni].Partitions, pi)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// PresetNames lists the built-in presets.
func PresetNames() []string { return []string{"dgx-h100", "gefion"} }

// Preset returns a built-in cluster. "gefion[:N]" with N>0 scales the SU
// layout to N nodes for tests and benchmarks (32 nodes per SU after the
// first, which has 31).
func Preset(name string) (*Cluster, error) {
	switch {
	case name == "dgx-h100":
		return New("dgx-h100", []NodeGroup{{Names: []string{"dgx001"}, Model: &DGXH100, SU: "su1"}}, nil, nil)
	case name == "gefion":
		return SuperPOD("gefion", 191, &DGXH100)
	case strings.HasPrefix(name, "gefion:"):
		n, err := strconv.Atoi(strings.TrimPrefix(name, "gefion:"))
		if err != nil || n <= 0 || n > 100000 {
			return nil, fmt.Errorf("preset %q: give gefion:N with N nodes between 1 and 100000", name)
		}
		return SuperPOD(fmt.Sprintf("gefion-%d", n), n, &DGXH100)
	}
	return nil, fmt.Errorf("unknown preset %q: choose one of %s, or describe the machine with --config", name, strings.Join(PresetNames(), ", "))
}

// SuperPOD builds a DGX SuperPOD-style cluster of n nodes: SU 1 has 31 nodes
// (its 32nd slot holds the fabric manager), later SUs 32, as in NVIDIA's DGX
// SuperPOD reference architecture. Node names are dgx001, dgx002, ...
func SuperPOD(name string, n int, model *NodeModel) (*Cluster, error) {
	if n <= 0 {
		return nil, fmt.Errorf("a SuperPOD needs at least one node, got %d", n)
	}
	width := max(3, len(fmt.Sprint(n)))
	var groups []NodeGroup
	for start, su := 0, 1; start < n; su++ {
		size := 32
		if su == 1 {
			size = 31
		}
		end := min(n, start+size)
		names := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			names = append(names, fmt.Sprintf("dgx%0*d", width, i+1))
		}
		groups = append(groups, NodeGroup{Names: names, Model: model, SU: fmt.Sprintf("su%d", su)})
		start = end
	}
	return New(name, groups, nil, nil)
}
