package slurmfmt

import (
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// SinfoJSONDoc is sinfo --json's document (Slurm 22.05's OpenAPI v0.0.38
// node records, with the keys Gefion has data for).
type SinfoJSONDoc struct {
	Meta   jsonMeta        `json:"meta"`
	Errors []string        `json:"errors"`
	Nodes  []SinfoJSONNode `json:"nodes"`
}

// SinfoJSONNode is one node of sinfo --json. State is Slurm's base state
// (idle, mixed, allocated, down) and StateFlags its flags (DRAIN for a
// draining or drained node); TRESUsed is null on a node with nothing
// allocated, as Slurm prints it.
type SinfoJSONNode struct {
	Name       string   `json:"name"`
	State      string   `json:"state"`
	StateFlags []string `json:"state_flags"`
	CPUs       int      `json:"cpus"`
	AllocCPUs  int      `json:"alloc_cpus"`
	IdleCPUs   int      `json:"idle_cpus"`
	Gres       string   `json:"gres"`
	GresUsed   string   `json:"gres_used"`
	Partitions []string `json:"partitions"`
	Reason     string   `json:"reason"`
	RealMemory int64    `json:"real_memory"`
	TRES       string   `json:"tres"`
	TRESUsed   *string  `json:"tres_used"`
}

// SinfoJSON builds sinfo --json's document, one record per node.
func SinfoJSON(nodes []api.Node) *SinfoJSONDoc {
	d := &SinfoJSONDoc{Errors: []string{}, Nodes: make([]SinfoJSONNode, 0, len(nodes))}
	d.Meta.Plugin.Type = "openapi/v0.0.38"
	d.Meta.Plugin.Name = "Gefion"
	for i := range nodes {
		n := &nodes[i]
		x := SinfoJSONNode{Name: n.Name, StateFlags: []string{}, CPUs: n.CPUs, AllocCPUs: n.CPUsUsed,
			IdleCPUs: max(n.CPUs-n.CPUsUsed, 0), Partitions: n.Partitions, Reason: safe(n.Reason), RealMemory: n.MemoryMB}
		if x.Partitions == nil {
			x.Partitions = []string{}
		}
		busy := "idle"
		switch {
		case n.CPUsUsed > 0 && n.CPUsUsed >= n.CPUs, n.GPUs > 0 && n.GPUsUsed >= n.GPUs:
			busy = "allocated"
		case n.CPUsUsed > 0 || n.GPUsUsed > 0:
			busy = "mixed"
		}
		switch n.State {
		case "draining", "drained":
			x.State, x.StateFlags = busy, []string{"DRAIN"}
		case "down":
			x.State = "down"
		default:
			x.State = busy
		}
		gres := func(count int) string {
			if n.GPUs == 0 {
				return ""
			}
			if n.GPUType != "" {
				return "gpu:" + strings.ToLower(n.GPUType) + ":" + strconv.Itoa(count)
			}
			return "gpu:" + strconv.Itoa(count)
		}
		x.Gres, x.GresUsed = gres(n.GPUs), gres(n.GPUsUsed)
		x.TRES = "cpu=" + strconv.Itoa(n.CPUs) + ",mem=" + memText(n.MemoryMB)
		if n.GPUs > 0 {
			x.TRES += ",gres/gpu=" + strconv.Itoa(n.GPUs)
		}
		if n.CPUsUsed > 0 || n.GPUsUsed > 0 {
			used := "cpu=" + strconv.Itoa(n.CPUsUsed)
			if n.GPUsUsed > 0 {
				used += ",gres/gpu=" + strconv.Itoa(n.GPUsUsed)
			}
			x.TRESUsed = &used
		}
		d.Nodes = append(d.Nodes, x)
	}
	return d
}
