package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "nodes", summary: "list nodes and their state (sinfo)", run: runNodes})
	register(&command{path: "drain", summary: "drain nodes: running jobs finish, nothing new starts (operators)", run: func(e *Env, a []string) error { return runDrain(e, a, true) }})
	register(&command{path: "resume", summary: "return drained nodes to service (operators)", run: func(e *Env, a []string) error { return runDrain(e, a, false) }})
}

func runNodes(e *Env, args []string) error {
	fs := newFlags(e, "nodes")
	var r remote
	r.register(fs, true)
	long := fs.Bool("N", false, "one line per node (Slurm's -N)")
	fs.BoolVar(long, "long", false, "same as -N")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	// Given several controllers, say who leads and who stands by.
	var ctls []controllerState
	if addrs := c.Controllers(); len(addrs) > 1 {
		for _, a := range addrs {
			cs := controllerState{Addr: a, Role: "unreachable"}
			if l, err := c.LeaderOf(ctx, a); err == nil {
				cs.Name, cs.Role, cs.Epoch = l.Self, "standby", l.Epoch
				if l.Leading {
					cs.Role = "leader"
				}
			}
			ctls = append(ctls, cs)
		}
	}
	if r.asJSON {
		if nodes == nil {
			nodes = []api.Node{}
		}
		out := map[string]any{"nodes": nodes}
		if ctls != nil {
			out["controllers"] = ctls
		}
		return writeJSON(e.Stdout, out)
	}
	if ctls != nil {
		defer func() {
			for _, cs := range ctls {
				fmt.Fprintf(e.Stdout, "controller %s %s: %s (epoch %d)\n", textsafe.Field(cs.Name), textsafe.Field(cs.Addr), cs.Role, cs.Epoch)
			}
		}()
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	if *long {
		fmt.Fprintln(tw, "NODELIST\tSU\tSTATE\tGPUS(USED/TOTAL)\tCPUS(USED/TOTAL)\tGPU_TYPE\tJOBS\tREASON")
		for _, n := range nodes {
			jobs := make([]string, len(n.Jobs))
			for i, j := range n.Jobs {
				jobs[i] = fmt.Sprint(j)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%s\t%s\n", textsafe.Field(n.Name), textsafe.Field(n.SU),
				textsafe.Field(n.State), n.GPUsUsed, n.GPUs, n.CPUsUsed, n.CPUs, textsafe.Field(n.GPUType),
				strings.Join(jobs, ","), textsafe.Field(n.Reason))
		}
		return tw.Flush()
	}
	// sinfo's default: one line per partition and state.
	type key struct{ part, state, reason string }
	groups := map[key][]api.Node{}
	var keys []key
	for _, n := range nodes {
		for _, p := range n.Partitions {
			k := key{p, n.State, n.Reason}
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], n)
		}
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].part != keys[j].part {
			return keys[i].part < keys[j].part
		}
		return keys[i].state < keys[j].state
	})
	fmt.Fprintln(tw, "PARTITION\tAVAIL\tNODES\tSTATE\tGPUS(FREE/TOTAL)\tNODELIST\tREASON")
	for _, k := range keys {
		ns := groups[k]
		names := make([]string, len(ns))
		free, total := 0, 0
		for i, n := range ns {
			names[i] = n.Name
			total += n.GPUs
			if n.State != "down" && n.State != "drained" && n.State != "draining" {
				free += n.GPUs - n.GPUsUsed
			}
		}
		list, err := hostlist.Compress(names)
		if err != nil {
			// A controller of an earlier release may hold a node name
			// no host list can carry; show the names one by one.
			list = strings.Join(names, ",")
		}
		fmt.Fprintf(tw, "%s\tup\t%d\t%s\t%d/%d\t%s\t%s\n", textsafe.Field(k.part), len(ns), textsafe.Field(k.state),
			free, total, textsafe.Field(list), textsafe.Field(k.reason))
	}
	return tw.Flush()
}

func runDrain(e *Env, args []string, drain bool) error {
	name := "resume"
	if drain {
		name = "drain"
	}
	fs := newFlags(e, name)
	var r remote
	r.register(fs, false)
	reason := fs.String("reason", "", "why (required to drain, as in Slurm)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one host list, e.g. %s dgx[001-004]", name)
	}
	if drain && *reason == "" {
		return usagef("give --reason for draining")
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := c.SetNodes(ctx, api.NodeAction{Nodes: pos[0], Reason: *reason}, drain); err != nil {
		return explain(err, c.Base)
	}
	return nil
}

// controllerState is one controller of several, as gefion nodes shows it.
type controllerState struct {
	Name  string `json:"name"`
	Addr  string `json:"addr"`
	Role  string `json:"role"` // leader, standby or unreachable
	Epoch int64  `json:"epoch"`
}
