package cluster

import (
	"errors"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"

	"github.com/gefion-hpc/gefion/internal/hostlist"
)

// File is the TOML description of a cluster. Example:
//
//	name = "mypod"
//
//	[[gpu_model]]            # optional: built-ins are "H100-SXM5-80GB" (alias "h100")
//	name = "L40S"
//	memory_bytes = 48_000_000_000
//	tdp_w = 350
//	dense_tflops = { fp8 = 733, bf16 = 362 }
//
//	[[node_model]]           # optional: built-in is "dgx-h100"
//	name = "l40s-node"
//	gpus = 4
//	gpu = "L40S"
//	cpus = 64
//	memory_bytes = 512_000_000_000
//
//	[[nodes]]
//	names = "dgx[001-031]"
//	model = "dgx-h100"
//	su = "su1"
//
//	[[partition]]
//	name = "gpu"
//	default = true
//	nodes = "dgx[001-031]"   # empty: every node
//	max_time = "2-00:00:00"
type File struct {
	Name       string          `toml:"name"`
	GPUModels  []GPUModel      `toml:"gpu_model"`
	NodeModels []NodeModel     `toml:"node_model"`
	Nodes      []fileNodes     `toml:"nodes"`
	Partitions []filePartition `toml:"partition"`
}

type fileNodes struct {
	Names string `toml:"names"`
	Model string `toml:"model"`
	SU    string `toml:"su"`
}

type filePartition struct {
	Name        string `toml:"name"`
	Default     bool   `toml:"default"`
	Nodes       string `toml:"nodes"`
	MaxTime     string `toml:"max_time"`
	DefaultTime string `toml:"default_time"`
}

// Load reads a cluster description file.
func Load(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading cluster file: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseDuration is set by the job package's Slurm time parser at init so
// that cluster files accept the same time formats as #SBATCH --time without
// an import cycle. It returns seconds.
var ParseDuration = func(s string) (int64, error) {
	return 0, errors.New("time formats are not available")
}

// Parse builds a cluster from the TOML text of a cluster file.
func Parse(data []byte) (*Cluster, error) {
	var f File
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("not a valid cluster file: %w", err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return nil, fmt.Errorf("unknown key %q: check its spelling against the documented keys", un[0].String())
	}
	gpus := map[string]GPUModel{}
	for k, v := range gpuModels() {
		gpus[k] = v
	}
	for _, g := range f.GPUModels {
		if g.Name == "" {
			return nil, errors.New("a [[gpu_model]] has no name")
		}
		gpus[g.Name] = g
	}
	nodes := map[string]*NodeModel{}
	for k, v := range nodeModels() {
		v := v
		nodes[k] = &v
	}
	for _, nm := range f.NodeModels {
		nm := nm
		if nm.Name == "" {
			return nil, errors.New("a [[node_model]] has no name")
		}
		g, ok := gpus[nm.GPUName]
		if nm.GPUs > 0 && !ok {
			return nil, fmt.Errorf("node model %s: unknown gpu %q; define it in a [[gpu_model]]", nm.Name, nm.GPUName)
		}
		nm.GPU = g
		if nm.CPUs <= 0 {
			return nil, fmt.Errorf("node model %s: set cpus to the node's core count", nm.Name)
		}
		if nm.MaxWatts == 0 {
			nm.MaxWatts = float64(nm.GPUs)*g.TDPWatts + 1000
		}
		nodes[nm.Name] = &nm
	}
	var groups []NodeGroup
	for i, n := range f.Nodes {
		names, err := hostlist.Expand(n.Names)
		if err != nil {
			return nil, fmt.Errorf("[[nodes]] %d: %w", i+1, err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("[[nodes]] %d: names is empty: give a host list such as dgx[001-032]", i+1)
		}
		model := n.Model
		if model == "" {
			model = "dgx-h100"
		}
		m, ok := nodes[model]
		if !ok {
			return nil, fmt.Errorf("[[nodes]] %d: unknown model %q; define it in a [[node_model]]", i+1, model)
		}
		groups = append(groups, NodeGroup{Names: names, Model: m, SU: n.SU})
	}
	var parts []Partition
	partNodes := map[string][]string{}
	for _, p := range f.Partitions {
		if p.Name == "" {
			return nil, errors.New("a [[partition]] has no name")
		}
		part := Partition{Name: p.Name, Default: p.Default}
		if p.MaxTime != "" {
			if part.MaxTimeS, err = ParseDuration(p.MaxTime); err != nil {
				return nil, fmt.Errorf("partition %s: max_time: %w", p.Name, err)
			}
		}
		if p.DefaultTime != "" {
			if part.DefaultTimeS, err = ParseDuration(p.DefaultTime); err != nil {
				return nil, fmt.Errorf("partition %s: default_time: %w", p.Name, err)
			}
		}
		if p.Nodes != "" {
			names, err := hostlist.Expand(p.Nodes)
			if err != nil {
				return nil, fmt.Errorf("partition %s: %w", p.Name, err)
			}
			partNodes[p.Name] = names
		}
		parts = append(parts, part)
	}
	name := f.Name
	if name == "" {
		name = "cluster"
	}
	return New(name, groups, parts, partNodes)
}
