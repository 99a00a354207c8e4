package controller

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/store"
)

// errStepBusy marks a step that fits the job's allocation but not what the
// job's other steps leave free now: srun waits and asks again, as Slurm's
// does ("step creation temporarily disabled").
var errStepBusy = errors.New("busy")

// stepUse is what running steps hold on one node of a job.
type stepUse struct {
	cpus int
	gpus map[int]bool
}

// planStep lays a step out on its job's allocation: which nodes, which
// ranks on each, which CPUs and GPUs. It is pure: allocation, request and
// what other steps hold in, a layout out, or an error that says what to
// fix (with the numbers). An error wrapping errStepBusy means the step
// would fit once other steps end.
func planStep(allocs []store.Alloc, req api.StepRequest, busy map[string]*stepUse) ([]api.StepNode, int, error) {
	if len(allocs) == 0 {
		return nil, 0, errors.New("the job holds no nodes")
	}
	var errs []error
	if req.Tasks < 0 {
		errs = append(errs, fmt.Errorf("-n/--ntasks=%d: give a positive number of tasks", req.Tasks))
	}
	if req.Nodes < 0 {
		errs = append(errs, fmt.Errorf("-N/--nodes=%d: give a positive number of nodes", req.Nodes))
	}
	if req.TasksPerNode < 0 {
		errs = append(errs, fmt.Errorf("--ntasks-per-node=%d: give a positive number", req.TasksPerNode))
	}
	if req.CPUsPerTask < 0 {
		errs = append(errs, fmt.Errorf("-c/--cpus-per-task=%d: give a positive number", req.CPUsPerTask))
	}
	if req.GPUsPerTask < 0 || req.GPUs < 0 {
		errs = append(errs, errors.New("--gpus and --gpus-per-task must be positive"))
	}
	if req.GPUsPerTask > 0 && req.GPUs > 0 {
		errs = append(errs, errors.New("--gpus and --gpus-per-task: give one of them"))
	}
	switch req.Distribution {
	case "", api.DistBlock, api.DistCyclic:
	default:
		errs = append(errs, fmt.Errorf("-m/--distribution=%s: give block or cyclic", req.Distribution))
	}
	bind, err := parseGPUBind(req.GPUBind)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, 0, errors.Join(errs...)
	}

	// The candidate nodes, in the job's order.
	inJob := map[string]int{}
	for i, a := range allocs {
		inJob[a.Node] = i
	}
	var want []string
	if req.NodeList != "" {
		names, err := hostlist.Expand(req.NodeList)
		if err != nil {
			return nil, 0, fmt.Errorf("-w/--nodelist=%s: %v", req.NodeList, err)
		}
		for _, n := range names {
			if _, ok := inJob[n]; !ok {
				return nil, 0, fmt.Errorf("-w/--nodelist: node %s is not in the job's allocation (%s)", n, allocNames(allocs))
			}
		}
		want = names
	}
	exclude := map[string]bool{}
	if req.Exclude != "" {
		names, err := hostlist.Expand(req.Exclude)
		if err != nil {
			return nil, 0, fmt.Errorf("-x/--exclude=%s: %v", req.Exclude, err)
		}
		for _, n := range names {
			exclude[n] = true
		}
	}
	var cand []int
	if want != nil {
		seen := map[string]bool{}
		for _, n := range want {
			if exclude[n] {
				return nil, 0, fmt.Errorf("node %s is both in -w/--nodelist and in -x/--exclude; drop it from one", n)
			}
			if !seen[n] {
				seen[n] = true
				cand = append(cand, inJob[n])
			}
		}
	} else {
		for i, a := range allocs {
			if !exclude[a.Node] {
				cand = append(cand, i)
			}
		}
	}
	if len(cand) == 0 {
		return nil, 0, fmt.Errorf("-x/--exclude leaves none of the job's nodes (%s)", allocNames(allocs))
	}

	// How many nodes and tasks.
	tasks, nodes := req.Tasks, req.Nodes
	if nodes > len(cand) {
		return nil, 0, fmt.Errorf("-N/--nodes=%d: the step may use %d node(s) of the job (%s); ask for at most %d", nodes, len(cand), nodeNames(allocs, cand), len(cand))
	}
	if want != nil && nodes == 0 {
		nodes = len(cand)
	}
	if req.TasksPerNode > 0 {
		switch {
		case nodes == 0 && tasks > 0:
			nodes = min((tasks+req.TasksPerNode-1)/req.TasksPerNode, len(cand))
		case nodes == 0:
			nodes = len(cand)
		}
		if tasks == 0 {
			tasks = nodes * req.TasksPerNode
		}
		if tasks > nodes*req.TasksPerNode {
			return nil, 0, fmt.Errorf("-n/--ntasks=%d with --ntasks-per-node=%d needs %d nodes; the step may use %d", tasks, req.TasksPerNode, (tasks+req.TasksPerNode-1)/req.TasksPerNode, len(cand))
		}
	}
	switch {
	case tasks == 0 && nodes == 0:
		nodes, tasks = len(cand), len(cand)
	case tasks == 0:
		tasks = nodes
	case nodes == 0:
		nodes = min(tasks, len(cand))
	}
	if tasks < nodes {
		// As Slurm does: fewer tasks than nodes use fewer nodes.
		nodes = tasks
	}
	if want != nil && nodes < len(cand) {
		cand = cand[:nodes]
	}

	// Tasks per node: --ntasks-per-node fills nodes in order, else as
	// even as possible, the first nodes taking one more.
	counts := make([]int, nodes)
	left := tasks
	for k := range counts {
		if req.TasksPerNode > 0 {
			counts[k] = min(req.TasksPerNode, left)
		} else {
			counts[k] = tasks / nodes
			if k < tasks%nodes {
				counts[k]++
			}
		}
		left -= counts[k]
	}

	cpt := max(req.CPUsPerTask, 1)
	// The nodes: the first that can hold their share, in the job's order.
	// A node that cannot hold it even when no other step runs is a
	// refusal; one that can only later is busy.
	var out []api.StepNode
	var busyWhy []string
	for _, i := range cand {
		if len(out) == nodes {
			break
		}
		k := len(out)
		a := allocs[i]
		n := counts[k]
		gpus := 0
		switch {
		case req.GPUsPerTask > 0:
			gpus = n * req.GPUsPerTask
		case req.GPUs > 0:
			gpus = req.GPUs / nodes
			if k < req.GPUs%nodes {
				gpus++
			}
		}
		// Tasks that did not say how many CPUs they need share the
		// node's CPUs when there are more tasks than CPUs (as with
		// Slurm's --overcommit): on a GPU node, tasks are sized by
		// their GPUs. An explicit --cpus-per-task is held to.
		cpus := n * cpt
		if req.CPUsPerTask == 0 {
			cpus = min(cpus, a.CPUs)
		}
		if cpus > a.CPUs {
			return nil, 0, fmt.Errorf("the step asks for %d CPUs on node %s (%d task(s) x %d CPUs per task); the job holds %d there: ask for fewer tasks or CPUs per task, or more nodes", n*cpt, a.Node, n, cpt, a.CPUs)
		}
		if gpus > len(a.GPUs) {
			return nil, 0, fmt.Errorf("the step asks for %d GPUs on node %s; the job holds %d there: ask for fewer GPUs or tasks per node, or more nodes", gpus, a.Node, len(a.GPUs))
		}
		u := busy[a.Node]
		if req.Overlap {
			u = nil // an overlapping step shares what the others hold
		}
		usedCPUs := 0
		if u != nil {
			usedCPUs = u.cpus
		}
		var free []int
		for _, g := range a.GPUs {
			if u == nil || !u.gpus[g] {
				free = append(free, g)
			}
		}
		if cpus > a.CPUs-usedCPUs || gpus > len(free) {
			busyWhy = append(busyWhy, fmt.Sprintf("%s has %d of %d CPUs and %d of %d GPUs free", a.Node, a.CPUs-usedCPUs, a.CPUs, len(free), len(a.GPUs)))
			if want != nil {
				break // the named nodes or none
			}
			continue
		}
		sn := api.StepNode{Node: a.Node, CPUs: cpus}
		if gpus > 0 {
			sn.GPUs = slices.Clone(free[:gpus])
		} else {
			// A step that asks for no GPUs sees all of the job's on the
			// node and holds none of them (as in Slurm).
			sn.GPUs = slices.Clone(a.GPUs)
		}
		out = append(out, sn)
	}
	if len(out) < nodes {
		return nil, 0, fmt.Errorf("%w: %d node(s) needed; other steps of the job hold the rest (%s)", errStepBusy, nodes, strings.Join(busyWhy, "; "))
	}

	// Ranks.
	for k := range out {
		out[k].Tasks = make([]int, 0, counts[k])
	}
	if req.Distribution == api.DistCyclic {
		for r, k := 0, 0; r < tasks; k = (k + 1) % nodes {
			if len(out[k].Tasks) < counts[k] {
				out[k].Tasks = append(out[k].Tasks, r)
				r++
			}
		}
	} else {
		r := 0
		for k := range out {
			for range counts[k] {
				out[k].Tasks = append(out[k].Tasks, r)
				r++
			}
		}
	}

	// GPUs per task.
	for k := range out {
		tg, err := bind.apply(&out[k], req.GPUsPerTask)
		if err != nil {
			return nil, 0, err
		}
		out[k].TaskGPUs = tg
	}
	return out, tasks, nil
}

func allocNames(allocs []store.Alloc) string {
	names := make([]string, len(allocs))
	for i, a := range allocs {
		names[i] = a.Node
	}
	return hostlist.CompressOrJoin(names)
}

func nodeNames(allocs []store.Alloc, idx []int) string {
	names := make([]string, len(idx))
	for k, i := range idx {
		names[k] = allocs[i].Node
	}
	return hostlist.CompressOrJoin(names)
}

// gpuBind is a parsed --gpu-bind.
type gpuBind struct {
	kind   string // "", none, closest, single, map_gpu
	single int
	ids    []int
}

func parseGPUBind(s string) (gpuBind, error) {
	// Slurm allows a "verbose," prefix; it only prints the binding.
	s = strings.TrimPrefix(s, "verbose,")
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "", "none", "closest":
		if arg != "" {
			break
		}
		return gpuBind{kind: kind}, nil
	case "single":
		n, err := strconv.Atoi(arg)
		if err != nil || n <= 0 {
			return gpuBind{}, fmt.Errorf("--gpu-bind=%s: single takes the number of tasks per GPU, e.g. single:1", s)
		}
		return gpuBind{kind: kind, single: n}, nil
	case "map_gpu":
		var ids []int
		for _, f := range strings.Split(arg, ",") {
			// Slurm's map_gpu:0*2,1*2 repeats an ID.
			id, rep, hasRep := strings.Cut(f, "*")
			g, err := strconv.Atoi(id)
			r := 1
			if hasRep {
				r, err = strconv.Atoi(rep)
			}
			if err != nil || g < 0 || r <= 0 {
				return gpuBind{}, fmt.Errorf("--gpu-bind=%s: map_gpu takes GPU indexes, one per local task, e.g. map_gpu:0,1,2,3", s)
			}
			for range r {
				ids = append(ids, g)
			}
		}
		return gpuBind{kind: kind, ids: ids}, nil
	}
	return gpuBind{}, fmt.Errorf("--gpu-bind=%s: give none, closest, single:N or map_gpu:LIST", s)
}

// apply returns each local task's GPUs on one node, or nil where every
// task sees all of the step's GPUs there.
func (b gpuBind) apply(n *api.StepNode, perTask int) ([][]int, error) {
	tasks := len(n.Tasks)
	if tasks == 0 || len(n.GPUs) == 0 {
		return nil, nil
	}
	out := make([][]int, tasks)
	switch {
	case b.kind == "map_gpu":
		for i := range out {
			g := b.ids[i%len(b.ids)]
			if !slices.Contains(n.GPUs, g) {
				return nil, fmt.Errorf("--gpu-bind=map_gpu: GPU %d is not one of the step's GPUs on %s (%s)", g, n.Node, intList(n.GPUs))
			}
			out[i] = []int{g}
		}
	case b.kind == "single":
		for i := range out {
			g := i / b.single
			if g >= len(n.GPUs) {
				return nil, fmt.Errorf("--gpu-bind=single:%d: %d task(s) on %s need %d GPUs; the step has %d there", b.single, tasks, n.Node, (tasks+b.single-1)/b.single, len(n.GPUs))
			}
			out[i] = []int{n.GPUs[g]}
		}
	case b.kind == "none":
		return nil, nil
	case perTask > 0:
		// --gpus-per-task binds each task to its own GPUs (Slurm's
		// default for it).
		for i := range out {
			out[i] = slices.Clone(n.GPUs[i*perTask : (i+1)*perTask])
		}
	case b.kind == "closest":
		// Without the node's NUMA map, the GPUs are shared out evenly:
		// each task gets a contiguous slice, at least one GPU.
		for i := range out {
			lo := i * len(n.GPUs) / tasks
			hi := max((i+1)*len(n.GPUs)/tasks, lo+1)
			out[i] = slices.Clone(n.GPUs[lo:min(hi, len(n.GPUs))])
		}
	default:
		return nil, nil
	}
	return out, nil
}

func intList(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// tasksPerNodeString formats SLURM_STEP_TASKS_PER_NODE: "4(x2),3".
func tasksPerNodeString(layout []api.StepNode) string {
	var parts []string
	for i := 0; i < len(layout); {
		j := i
		for j < len(layout) && len(layout[j].Tasks) == len(layout[i].Tasks) {
			j++
		}
		s := strconv.Itoa(len(layout[i].Tasks))
		if j-i > 1 {
			s += "(x" + strconv.Itoa(j-i) + ")"
		}
		parts = append(parts, s)
		i = j
	}
	return strings.Join(parts, ",")
}
