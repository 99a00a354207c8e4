package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "scontrol", summary: "Slurm's scontrol: show job|jobid|node|partition|config|hostnames|hostlist, hold, release", run: runScontrol})
}

const scontrolUsage = `show job [ID] | show jobid ID | show node [NAME] | show partition [NAME] | show config |
       show hostnames [LIST] | show hostlist LIST | hold ID... | release ID... | update job ID KEY=VALUE`

// runScontrol answers the scontrol calls of scripts and workflow tools,
// printing what Slurm prints (package slurmfmt).
func runScontrol(e *Env, args []string) error {
	var addr string
	var oneLine, asJSON, help bool
	detail := 0
	opts := []slurmOpt{
		flagOpt('o', "oneliner", &oneLine, "one line per record"),
		{short: 'd', long: "details", set: func(string) error { detail++; return nil }, help: "more detail (-d, -dd)"},
		flagOpt(0, "json", &asJSON, "the records as JSON (Gefion's API records)"),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt('h', "help", &help, "this help"),
	}
	pos, err := parseSlurmArgs("scontrol", opts, args)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(e.Stdout, slurmHelp("scontrol", scontrolUsage, opts))
		return nil
	}
	if len(pos) == 0 {
		return usagef("usage: scontrol %s", scontrolUsage)
	}
	verb := strings.ToLower(pos[0])
	switch verb {
	case "hold", "release":
		return runHold(e, append(pos[1:], addrArgs(addr)...), verb == "hold")
	case "update":
		return fmt.Errorf("scontrol update: Gefion's API has no route that changes a submitted job (%s); cancel it with scancel and submit it again with the new values", strings.Join(pos[1:], " "))
	case "show":
	default:
		return usagef("scontrol %s: not supported; usage: scontrol %s", pos[0], scontrolUsage)
	}
	if len(pos) < 2 {
		return usagef("scontrol show: say what to show: job, jobid, node, partition, config, hostnames or hostlist")
	}
	what, rest := strings.ToLower(pos[1]), pos[2:]
	switch what {
	case "hostnames", "hostname":
		list := strings.Join(rest, ",")
		if list == "" {
			list = e.getenv("SLURM_JOB_NODELIST")
		}
		if list == "" {
			return usagef("scontrol show hostnames: give a node list (dgx[001-004]) or run inside a job, where SLURM_JOB_NODELIST is set")
		}
		names, err := hostlist.Expand(list)
		if err != nil {
			return fmt.Errorf("%q is not a node list: %v", list, err)
		}
		for _, n := range names {
			fmt.Fprintln(e.Stdout, n)
		}
		return nil
	case "hostlist", "hostlistsorted":
		if len(rest) == 0 {
			return usagef("scontrol show hostlist: give node names (dgx001,dgx002)")
		}
		names, err := hostlist.Expand(strings.Join(rest, ","))
		if err != nil {
			return fmt.Errorf("%q is not a list of node names: %v", strings.Join(rest, ","), err)
		}
		list, err := hostlist.Compress(names)
		if err != nil {
			return fmt.Errorf("%s cannot be written as a host list: %v", textsafe.Field(strings.Join(rest, ",")), err)
		}
		fmt.Fprintln(e.Stdout, list)
		return nil
	}
	c := newClient(e, resolveAddr(e, addr))
	ctx, cancel := ctxTimeout()
	defer cancel()
	env := slurmEnv()
	switch what {
	case "job", "jobs", "jobid":
		jobs, err := showJobs(ctx, c, rest, what == "jobid")
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(e.Stdout, jobs)
		}
		if len(jobs) == 0 {
			fmt.Fprintln(e.Stdout, "No jobs in the system")
			return nil
		}
		for i := range jobs {
			if err := slurmfmt.ShowJob(e.Stdout, &jobs[i], env, detail > 0, oneLine); err != nil {
				return err
			}
		}
		return nil
	case "node", "nodes":
		nodes, err := c.Nodes(ctx)
		if err != nil {
			return explain(err, c.Base)
		}
		var sel []api.Node
		for _, n := range nodes {
			if len(rest) == 0 || inList(strings.Join(rest, ","), n.Name) {
				sel = append(sel, n)
			}
		}
		if len(rest) > 0 && len(sel) == 0 {
			return fmt.Errorf("node %s not found", strings.Join(rest, ","))
		}
		if asJSON {
			return writeJSON(e.Stdout, sel)
		}
		for i := range sel {
			if err := slurmfmt.ShowNode(e.Stdout, &sel[i], oneLine); err != nil {
				return err
			}
		}
		return nil
	case "partition", "partitions":
		cfg, err := c.Config(ctx)
		if err != nil {
			return explain(err, c.Base)
		}
		var sel []api.PartitionInfo
		for _, p := range cfg.Partitions {
			if len(rest) == 0 || inList(strings.Join(rest, ","), p.Name) {
				sel = append(sel, p)
			}
		}
		if len(rest) > 0 && len(sel) == 0 {
			return fmt.Errorf("partition %s not found", strings.Join(rest, ","))
		}
		if asJSON {
			return writeJSON(e.Stdout, sel)
		}
		for i := range sel {
			if err := slurmfmt.ShowPartition(e.Stdout, &sel[i], oneLine); err != nil {
				return err
			}
		}
		return nil
	case "config":
		cfg, err := c.Config(ctx)
		if err != nil {
			return explain(err, c.Base)
		}
		if asJSON {
			return writeJSON(e.Stdout, cfg)
		}
		host, _ := os.Hostname()
		return slurmfmt.ShowConfig(e.Stdout, cfg, env, host)
	}
	return usagef("scontrol show %s: Gefion shows job, jobid, node, partition, config, hostnames and hostlist", pos[1])
}

// addrArgs passes --addr on to a command that parses its own flags.
func addrArgs(addr string) []string {
	if addr == "" {
		return nil
	}
	return []string{"--addr", addr}
}

// showJobs finds the jobs scontrol show job names: every visible job, a
// job, every task of an array (by the array's ID), or one task (7_3);
// exact (show jobid) takes an ID as one record only.
func showJobs(ctx context.Context, c *client.Client, ids []string, exact bool) ([]api.Job, error) {
	if len(ids) == 0 {
		list, err := c.Jobs(ctx, true)
		if err != nil {
			return nil, explain(err, c.Base)
		}
		return withSpecs(ctx, c, list), nil
	}
	sel, err := parseIDSelector(strings.Join(ids, ","))
	if err != nil {
		return nil, err
	}
	var out []api.Job
	if !exact || sel.tasks {
		list, err := c.Jobs(ctx, true)
		if err != nil {
			return nil, explain(err, c.Base)
		}
		for i := range list {
			j := &list[i]
			if exact && sel.ids[j.ID] {
				continue // asked by record below
			}
			if sel.match(j) {
				out = append(out, *j)
			}
		}
		out = withSpecs(ctx, c, out)
	}
	for id := range sel.ids {
		found := false
		for _, j := range out {
			found = found || j.ID == id || j.ArrayJobID == id
		}
		if found {
			continue
		}
		j, err := c.Job(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("job %d: %w", id, explain(err, c.Base))
		}
		out = append(out, *j)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("job %s: Invalid job id specified", strings.Join(ids, ","))
	}
	return out, nil
}

// withSpecs reads each job whole (with its spec: work directory, output
// files), for up to a hundred jobs; a longer list prints without.
func withSpecs(ctx context.Context, c *client.Client, jobs []api.Job) []api.Job {
	if len(jobs) > 100 {
		return jobs
	}
	for i := range jobs {
		if j, err := c.Job(ctx, jobs[i].ID); err == nil {
			jobs[i] = *j
		}
	}
	return jobs
}

// lookupGroup finds a user's primary group for scontrol's GroupId.
func lookupGroup(name string) (string, int, bool) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", 0, false
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return "", 0, false
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return u.Gid, gid, true
	}
	return g.Name, gid, true
}
