package cli

import (
	"fmt"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
)

func init() {
	register(&command{path: "sinfo", summary: "partitions and nodes exactly as Slurm's sinfo prints them (-o, -N, -s, -R ...)", run: runSinfo})
}

func runSinfo(e *Env, args []string) error {
	var addr, format, parts, states, nodes string
	var perNode, noHeader, summary, reasons, asJSON, help bool
	opts := []slurmOpt{
		strOpt('o', "format", &format, "output format: %[#][.][width]CODE fields (Slurm's codes)"),
		flagOpt('N', "Node", &perNode, "one line per node"),
		flagOpt('h', "noheader", &noHeader, "no header line"),
		strOpt('p', "partition", &parts, "only these partitions"),
		strOpt('t', "states", &states, "only nodes in these states (idle, mix, alloc, drain, down, ...)"),
		strOpt('n', "nodes", &nodes, "only these nodes (a host list)"),
		flagOpt('s', "summarize", &summary, "one line per partition"),
		flagOpt('R', "list-reasons", &reasons, "why nodes are down or drained"),
		flagOpt(0, "json", &asJSON, "Slurm's JSON document of the nodes (gefion nodes --json has Gefion's own records)"),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt(0, "help", &help, "this help"),
	}
	if _, err := parseSlurmArgs("sinfo", opts, args); err != nil {
		return err
	}
	if help {
		fmt.Fprint(e.Stdout, slurmHelp("sinfo", "[OPTIONS]", opts))
		return nil
	}
	if format == "" {
		switch {
		case reasons:
			format = slurmfmt.SinfoReasons
		case summary:
			format = slurmfmt.SinfoSummary
		case perNode:
			format = slurmfmt.SinfoNodes
		default:
			format = slurmfmt.SinfoDefault
		}
	}
	f, err := slurmfmt.ParseNodeFormat(format)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	var want map[string]bool
	if nodes != "" {
		names, err := expandList(nodes)
		if err != nil {
			return err
		}
		want = map[string]bool{}
		for _, n := range names {
			want[n] = true
		}
	}
	c := newClient(e, resolveAddr(e, addr))
	ctx, cancel := ctxTimeout()
	defer cancel()
	cfg, err := c.Config(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	all, err := c.Nodes(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	var ps []api.PartitionInfo
	for _, p := range cfg.Partitions {
		if inList(parts, p.Name) {
			ps = append(ps, p)
		}
	}
	keep := func(n *api.Node) bool {
		if want != nil && !want[n.Name] {
			return false
		}
		if reasons && n.State != "down" && n.State != "drained" && n.State != "draining" {
			return false
		}
		return states == "" || slurmfmt.NodeStateMatches(n.State, states)
	}
	if asJSON {
		var out []api.Node
		for i := range all {
			if keep(&all[i]) {
				out = append(out, all[i])
			}
		}
		return writeJSON(e.Stdout, slurmfmt.SinfoJSON(out))
	}
	var groups []slurmfmt.NodeGroup
	if summary {
		groups = slurmfmt.SummaryGroups(ps, filterNodes(all, keep))
	} else {
		groups = slurmfmt.SinfoGroups(ps, all, perNode, keep)
	}
	return f.WriteNodes(e.Stdout, groups, noHeader)
}

func filterNodes(all []api.Node, keep func(*api.Node) bool) []api.Node {
	var out []api.Node
	for i := range all {
		if keep(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out
}

func expandList(list string) ([]string, error) {
	names, err := hostlist.Expand(strings.TrimSpace(list))
	if err != nil {
		return nil, usagef("%q is not a node list: %v", list, err)
	}
	return names, nil
}
