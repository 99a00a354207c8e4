package slurmfmt

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
)

// NodeGroup is one line of sinfo: the nodes of one partition that share a
// state (or, with -N, one node).
type NodeGroup struct {
	Partition *api.PartitionInfo
	Nodes     []*api.Node
}

// nodeField is one sinfo % code.
type nodeField struct {
	code   byte
	header string
	get    func(g *NodeGroup) string
}

// sinfoFields is sinfo's table of % codes, with Slurm's headers.
var sinfoFields = []nodeField{
	{'a', "AVAIL", func(*NodeGroup) string { return "up" }},
	{'A', "NODES(A/I)", func(g *NodeGroup) string { a, i, _, _ := g.counts(); return fmt.Sprintf("%d/%d", a, i) }},
	{'c', "CPUS", func(g *NodeGroup) string { return minPlus(g, func(n *api.Node) int64 { return int64(n.CPUs) }) }},
	{'C', "CPUS(A/I/O/T)", func(g *NodeGroup) string { return g.cpus() }},
	{'D', "NODES", func(g *NodeGroup) string { return strconv.Itoa(len(g.Nodes)) }},
	{'E', "REASON", func(g *NodeGroup) string { return safe(firstNonEmpty(g.Nodes[0].Reason, "none")) }},
	{'F', "NODES(A/I/O/T)", func(g *NodeGroup) string {
		a, i, o, t := g.counts()
		return fmt.Sprintf("%d/%d/%d/%d", a, i, o, t)
	}},
	{'G', "GRES", func(g *NodeGroup) string { return nodeGres(g.Nodes[0]) }},
	{'H', "TIMESTAMP", func(*NodeGroup) string { return "Unknown" }},
	{'l', "TIMELIMIT", func(g *NodeGroup) string { return partLimit(g.Partition.MaxTimeS) }},
	{'L', "DEFAULTTIME", func(g *NodeGroup) string {
		if g.Partition.DefaultTimeS <= 0 {
			return "n/a"
		}
		return partLimit(g.Partition.DefaultTimeS)
	}},
	{'m', "MEMORY", func(g *NodeGroup) string { return minPlus(g, func(n *api.Node) int64 { return n.MemoryMB }) }},
	{'n', "HOSTNAMES", func(g *NodeGroup) string { return strings.Join(g.names(), ",") }},
	{'N', "NODELIST", func(g *NodeGroup) string { return hostlist.CompressOrJoin(g.names()) }},
	{'P', "PARTITION", func(g *NodeGroup) string {
		if g.Partition.Default {
			return safe(g.Partition.Name) + "*"
		}
		return safe(g.Partition.Name)
	}},
	{'R', "PARTITION", func(g *NodeGroup) string { return safe(g.Partition.Name) }},
	{'t', "STATE", func(g *NodeGroup) string { return nodeStateShort(g.Nodes[0].State) }},
	{'T', "STATE", func(g *NodeGroup) string { return strings.ToLower(nodeStateLong(g.Nodes[0].State)) }},
	{'u', "USER", func(*NodeGroup) string { return "Unknown" }},
}

// Sinfo formats: the default, -N's, -s's and -R's, as Slurm 22.05 has them.
const (
	SinfoDefault = "%#P %.5a %.10l %.6D %.6t %N"
	SinfoNodes   = "%#N %.6D %.#P %6t"
	SinfoSummary = "%#P %.5a %.10l %.16F %N"
	SinfoReasons = "%20E %9u %19H %N"
)

type nodeColumn struct {
	lit   string
	f     *nodeField
	width int
	right bool
	fit   bool // '#': as wide as the widest value
}

// NodeFormat is a parsed sinfo -o format.
type NodeFormat struct {
	cols []nodeColumn
	tail string
}

// ParseNodeFormat parses sinfo's -o format: literal text and fields
// %[.][width]code. Gefion's own default formats also use '#': as wide as
// the widest value and the header, as Slurm sizes its default columns.
func ParseNodeFormat(s string) (*NodeFormat, error) {
	f := &NodeFormat{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		c := nodeColumn{lit: lit.String()}
		k := i + 1
		for k < len(s) && (s[k] == '#' || s[k] == '.') {
			c.fit = c.fit || s[k] == '#'
			c.right = c.right || s[k] == '.'
			k++
		}
		start := k
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		c.width, _ = strconv.Atoi(s[start:k])
		if k >= len(s) {
			return nil, fmt.Errorf("%w: %q ends inside a field; write %%[.][width]CODE, for example %%.6D", ErrFormat, s)
		}
		for n := range sinfoFields {
			if sinfoFields[n].code == s[k] {
				c.f = &sinfoFields[n]
			}
		}
		if c.f == nil {
			var codes []string
			for _, f := range sinfoFields {
				codes = append(codes, "%"+string(f.code))
			}
			return nil, fmt.Errorf("%w: %%%c is not a sinfo format code Gefion knows; known codes: %s", ErrFormat, s[k], strings.Join(codes, " "))
		}
		lit.Reset()
		f.cols = append(f.cols, c)
		i = k
	}
	f.tail = lit.String()
	return f, nil
}

// SinfoGroups groups nodes by partition and state, in the partitions'
// order, as sinfo lists them; perNode (-N) gives each node its own line.
func SinfoGroups(parts []api.PartitionInfo, nodes []api.Node, perNode bool, keep func(*api.Node) bool) []NodeGroup {
	var out []NodeGroup
	for pi := range parts {
		p := &parts[pi]
		byState := map[string]int{}
		for ni := range nodes {
			n := &nodes[ni]
			if !slices.Contains(n.Partitions, p.Name) || (keep != nil && !keep(n)) {
				continue
			}
			if perNode {
				out = append(out, NodeGroup{Partition: p, Nodes: []*api.Node{n}})
				continue
			}
			k, ok := byState[n.State]
			if !ok {
				k = len(out)
				byState[n.State] = k
				out = append(out, NodeGroup{Partition: p})
			}
			out[k].Nodes = append(out[k].Nodes, n)
		}
	}
	if perNode {
		slices.SortStableFunc(out, func(a, b NodeGroup) int { return strings.Compare(a.Nodes[0].Name, b.Nodes[0].Name) })
	}
	return out
}

// SummaryGroups is sinfo -s: one line per partition.
func SummaryGroups(parts []api.PartitionInfo, nodes []api.Node) []NodeGroup {
	var out []NodeGroup
	for pi := range parts {
		g := NodeGroup{Partition: &parts[pi]}
		for ni := range nodes {
			if slices.Contains(nodes[ni].Partitions, parts[pi].Name) {
				g.Nodes = append(g.Nodes, &nodes[ni])
			}
		}
		if len(g.Nodes) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// WriteNodes writes the groups in format f.
func (f *NodeFormat) WriteNodes(w io.Writer, groups []NodeGroup, noHeader bool) error {
	widths := make([]int, len(f.cols))
	for i, c := range f.cols {
		widths[i] = c.width
		if !c.fit {
			continue
		}
		widths[i] = len(c.f.header)
		for g := range groups {
			widths[i] = max(widths[i], len(c.f.get(&groups[g])))
		}
		if c.f.code == 'N' {
			// sinfo -N gives the node names one column more than the
			// header (NODELIST in 9 in Slurm 22.05's recordings).
			widths[i] = max(widths[i], len(c.f.header)+1)
		}
	}
	var b []byte
	if !noHeader {
		for i, c := range f.cols {
			b = append(b, c.lit...)
			b = appendPadded(b, c.f.header, widths[i], c.right)
		}
		b = append(b, f.tail...)
		b = append(b, '\n')
	}
	for g := range groups {
		for i, c := range f.cols {
			b = append(b, c.lit...)
			b = appendPadded(b, c.f.get(&groups[g]), widths[i], c.right)
		}
		b = append(b, f.tail...)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

func (g *NodeGroup) names() []string {
	out := make([]string, len(g.Nodes))
	for i, n := range g.Nodes {
		out[i] = n.Name
	}
	return out
}

// counts is allocated (mixed or allocated), idle, other (down, drained)
// and total nodes.
func (g *NodeGroup) counts() (a, i, o, t int) {
	for _, n := range g.Nodes {
		switch n.State {
		case "allocated", "mixed", "draining":
			a++
		case "idle":
			i++
		default:
			o++
		}
	}
	return a, i, o, len(g.Nodes)
}

func (g *NodeGroup) cpus() string {
	var a, i, o, t int
	for _, n := range g.Nodes {
		t += n.CPUs
		switch n.State {
		case "down", "drained":
			o += n.CPUs
		default:
			a += n.CPUsUsed
			i += n.CPUs - n.CPUsUsed
		}
	}
	return fmt.Sprintf("%d/%d/%d/%d", a, i, o, t)
}

// minPlus prints the smallest value of the group, with "+" when some node
// has more, as sinfo does.
func minPlus(g *NodeGroup, v func(*api.Node) int64) string {
	lo, hi := v(g.Nodes[0]), v(g.Nodes[0])
	for _, n := range g.Nodes[1:] {
		lo, hi = min(lo, v(n)), max(hi, v(n))
	}
	s := strconv.FormatInt(lo, 10)
	if hi > lo {
		s += "+"
	}
	return s
}

func partLimit(s int64) string {
	if s <= 0 {
		return "infinite"
	}
	return clockShort(s)
}

func nodeGres(n *api.Node) string {
	switch {
	case n.GPUs == 0:
		return "(null)"
	case n.GPUType != "":
		return "gpu:" + strings.ToLower(n.GPUType) + ":" + strconv.Itoa(n.GPUs)
	}
	return "gpu:" + strconv.Itoa(n.GPUs)
}

// nodeStateShort and nodeStateLong spell Gefion's node states as sinfo's
// %t and scontrol's State= do.
func nodeStateShort(s string) string {
	switch s {
	case "idle":
		return "idle"
	case "mixed":
		return "mix"
	case "allocated":
		return "alloc"
	case "draining":
		return "drng"
	case "drained":
		return "drain"
	case "down":
		return "down"
	}
	return safe(s)
}

func nodeStateLong(s string) string {
	switch s {
	case "idle":
		return "IDLE"
	case "mixed":
		return "MIXED"
	case "allocated":
		return "ALLOCATED"
	case "draining":
		return "MIXED+DRAIN"
	case "drained":
		return "IDLE+DRAIN"
	case "down":
		return "DOWN"
	}
	return strings.ToUpper(safe(s))
}

// NodeStateMatches reports whether a node state is in a sinfo -t list
// (idle, mix, alloc, drain, down, ... or their long names).
func NodeStateMatches(s, list string) bool {
	for _, w := range strings.Split(strings.ToLower(list), ",") {
		w = strings.TrimSpace(w)
		if w == "all" || w == s || w == nodeStateShort(s) || w == strings.ToLower(nodeStateLong(s)) ||
			(w == "drain" && (s == "draining" || s == "drained")) || (w == "allocated" && s == "allocated") ||
			(w == "mixed" && s == "mixed") {
			return true
		}
	}
	return false
}
