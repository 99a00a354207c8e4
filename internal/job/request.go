package job

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

// Request is the resolved shape of a job: what the scheduler places. A job
// runs on Nodes nodes with GPUsPerNode GPUs, CPUsPerNode CPUs and
// MemPerNodeMB MiB on each. Multi-node and --exclusive jobs take whole nodes.
type Request struct {
	Nodes        int    `json:"nodes"`
	GPUsPerNode  int    `json:"gpus_per_node"`
	CPUsPerNode  int    `json:"cpus_per_node"`
	MemPerNodeMB int64  `json:"mem_per_node_mb"`
	WholeNodes   bool   `json:"whole_nodes"`
	GPUType      string `json:"gpu_type,omitempty"`
	// Partition is the index of the partition in the cluster.
	Partition  int   `json:"partition"`
	TimeLimitS int64 `json:"time_limit_s"`
	// MaxSUs limits the job to that many scalable units for up to
	// MaxSUsWaitS seconds after it became eligible; 0 is no limit.
	MaxSUs      int   `json:"max_sus,omitempty"`
	MaxSUsWaitS int64 `json:"max_sus_wait_s,omitempty"`
}

// GPUs returns the total GPUs the job uses.
func (r Request) GPUs() int { return r.Nodes * r.GPUsPerNode }

// ErrInvalid marks a job the cluster can never run as asked; the message says
// what to change.
var ErrInvalid = errors.New("invalid job")

// Resolve checks a spec (Validate) and then against a cluster, and returns
// the shape to place. It is the one check for every path a job comes in by:
// the controller's API and sbatch --test-only. Every problem is reported
// at once, each naming the option and what to do.
// The first partition in the spec's list that can hold the job is chosen.
func Resolve(s *Spec, c *cluster.Cluster) (Request, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if err := s.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Request{}, invalid(errs)
	}

	parts := s.Partitions
	if len(parts) == 0 {
		parts = []string{c.Partitions[c.DefaultPartition()].Name}
	}
	var firstErr error
	for _, pn := range parts {
		pi, ok := c.PartitionIndex(pn)
		if !ok {
			names := make([]string, len(c.Partitions))
			for i, p := range c.Partitions {
				names[i] = p.Name
			}
			bad("--partition=%s: no such partition; choose one of %s", pn, strings.Join(names, ", "))
			continue
		}
		r, err := resolveIn(s, c, pi)
		if err == nil {
			return r, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		errs = append(errs, firstErr)
	}
	return Request{}, invalid(errs)
}

func invalid(errs []error) error {
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// resolveIn resolves the spec in partition pi.
func resolveIn(s *Spec, c *cluster.Cluster, pi int) (Request, error) {
	p := &c.Partitions[pi]
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	// The node shape is that of the partition's largest node of the asked
	// GPU type; clusters mix node types rarely and by partition.
	var model *cluster.NodeModel
	eligible := 0
	for _, ni := range p.Nodes {
		m := c.Nodes[ni].Model
		if s.GPUType != "" && !gpuTypeMatches(m.GPU.Name, s.GPUType) {
			continue
		}
		eligible++
		if model == nil || m.GPUs > model.GPUs {
			model = m
		}
	}
	if model == nil {
		if s.GPUType != "" {
			return Request{}, fmt.Errorf("--gpus type %q: partition %s has no such GPU; it has %s", s.GPUType, p.Name, strings.Join(c.GPUTypes(), ", "))
		}
		return Request{}, fmt.Errorf("partition %s has no nodes", p.Name)
	}
	nodeGPUs, nodeCPUs := model.GPUs, model.CPUs

	ntasks := max(s.NTasks, 1)
	if s.NTasks == 0 && s.NTasksPerNode > 0 && s.NodesMin > 0 {
		ntasks = s.NTasksPerNode * s.NodesMin
	}
	cpt := max(s.CPUsPerTask, 1)

	nodes := s.NodesMin
	gpn := 0
	total := 0
	switch {
	case s.GPUsPerNode > 0:
		gpn = s.GPUsPerNode
		if nodes == 0 {
			nodes = 1
			if s.GPUs > 0 {
				nodes = ceilDiv(s.GPUs, gpn)
			}
		}
	case s.GPUsPerTask > 0:
		total = s.GPUsPerTask * ntasks
	case s.GPUs > 0:
		total = s.GPUs
	}
	if total > 0 {
		if nodes == 0 {
			nodes = ceilDiv(total, max(nodeGPUs, 1))
		}
		gpn = ceilDiv(total, nodes)
	}
	if nodes == 0 {
		nodes = 1
		if s.NTasksPerNode > 0 && s.NTasks > s.NTasksPerNode {
			nodes = ceilDiv(s.NTasks, s.NTasksPerNode)
		} else if ntasks*cpt > nodeCPUs {
			nodes = ceilDiv(ntasks*cpt, nodeCPUs)
		}
	}
	tpn := ceilDiv(ntasks, nodes)
	if s.NTasksPerNode > 0 {
		tpn = max(tpn, s.NTasksPerNode)
	}
	cpn := tpn * cpt

	if gpn > nodeGPUs {
		bad("asks for %d GPUs per node, but nodes in partition %s have %d: use --nodes=%d --gpus-per-node=%d or fewer GPUs",
			gpn, p.Name, nodeGPUs, ceilDiv(gpn*nodes, max(nodeGPUs, 1)), nodeGPUs)
	}
	if nodes > eligible {
		bad("asks for %d nodes, but partition %s has %d%s: ask for at most %d", nodes, p.Name, eligible, typeNote(s.GPUType), eligible)
	}
	if cpn > nodeCPUs {
		bad("asks for %d CPUs per node (%d tasks x %d CPUs per task), but nodes have %d: lower --cpus-per-task or --ntasks-per-node, or add nodes",
			cpn, tpn, cpt, nodeCPUs)
	}
	memMB := s.MemPerNodeMB
	switch {
	case s.MemPerCPUMB > 0:
		memMB = s.MemPerCPUMB * int64(cpn)
	case s.MemPerGPUMB > 0:
		memMB = s.MemPerGPUMB * int64(max(gpn, 1))
	}
	nodeMemMB := model.MemoryBytes >> 20
	if memMB < 0 {
		memMB = nodeMemMB
	}
	if memMB > nodeMemMB {
		bad("--mem: asks for %d MiB per node, but nodes have %d MiB", memMB, nodeMemMB)
	}
	limit := s.TimeLimitS
	switch limit {
	case 0:
		limit = p.DefaultTimeS
	case Unlimited:
		limit = p.MaxTimeS // 0: the partition has no limit either
	}
	if s.MaxSUs > 0 && s.MaxSUsWaitS == 0 && nodes > 1 {
		// --switches=N with no wait limit must be satisfiable at all.
		perSU := map[int]int{}
		for _, ni := range p.Nodes {
			if s.GPUType == "" || gpuTypeMatches(c.Nodes[ni].Model.GPU.Name, s.GPUType) {
				perSU[c.Nodes[ni].SU]++
			}
		}
		sizes := make([]int, 0, len(perSU))
		for _, n := range perSU {
			sizes = append(sizes, n)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(sizes)))
		fit := 0
		for i := 0; i < len(sizes) && i < s.MaxSUs; i++ {
			fit += sizes[i]
		}
		if fit < nodes {
			bad("--switches=%d: %d nodes do not fit in %d scalable unit(s) of partition %s (at most %d nodes); allow more units or a wait time (--switches=%d@1:00:00)",
				s.MaxSUs, nodes, s.MaxSUs, p.Name, fit, s.MaxSUs)
		}
	}
	if p.MaxTimeS > 0 && limit > p.MaxTimeS {
		bad("--time=%s is over partition %s's limit of %s: ask for at most that", FormatTime(limit), p.Name, FormatTime(p.MaxTimeS))
	}
	if len(errs) > 0 {
		return Request{}, errors.Join(errs...)
	}
	whole := nodes > 1 || s.Exclusive
	if whole {
		cpn = nodeCPUs
		memMB = nodeMemMB
	}
	return Request{
		Nodes: nodes, GPUsPerNode: gpn, CPUsPerNode: cpn, MemPerNodeMB: memMB,
		WholeNodes: whole, GPUType: s.GPUType, Partition: pi, TimeLimitS: limit,
		MaxSUs: s.MaxSUs, MaxSUsWaitS: s.MaxSUsWaitS,
	}, nil
}

func typeNote(t string) string {
	if t == "" {
		return ""
	}
	return " with GPU type " + t
}

// gpuTypeMatches compares a requested GPU type ("h100") with a model name
// ("H100-SXM5-80GB") as Slurm GRES types are matched: case-insensitively, by
// name or by its first dash-separated word.
func gpuTypeMatches(model, want string) bool {
	m, w := strings.ToLower(model), strings.ToLower(want)
	if m == w {
		return true
	}
	head, _, _ := strings.Cut(m, "-")
	return head == w
}

// GPUTypeMatches reports whether a node's GPU model satisfies a requested
// type.
func GPUTypeMatches(model, want string) bool { return want == "" || gpuTypeMatches(model, want) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }
