package cli

import (
	"context"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
)

func init() {
	register(&command{path: "squeue", summary: "list jobs exactly as Slurm's squeue prints them (-o, -O, -h, -t, --json ...)", run: runSqueue})
}

// slurmEnv is the formatting environment of the Slurm commands: the wall
// clock, local time and the system's user IDs.
func slurmEnv() *slurmfmt.Env {
	return &slurmfmt.Env{Now: time.Now().Unix(), UID: lookupUID, Group: lookupGroup}
}

// lookupUID finds a user's numeric ID in the local user database, where
// Slurm prints numbers.
func lookupUID(name string) (int, bool) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(u.Uid)
	return n, err == nil
}

func runSqueue(e *Env, args []string) error {
	var (
		addr, format, fields, states, users, ids, parts, accounts, names, qos, clusters string
		noHeader, me, start, all, perTask, long, asJSON, help                           bool
	)
	opts := []slurmOpt{
		strOpt('o', "format", &format, "output format: %[.][width]CODE fields (Slurm's codes)"),
		strOpt('O', "Format", &fields, "output fields by name: NAME[:[.]WIDTH],..."),
		flagOpt('h', "noheader", &noHeader, "no header line"),
		strOpt('t', "states", &states, "only these states (PD,R,... or all)"),
		strOpt('u', "user", &users, "only these users"),
		strOpt('j', "jobs", &ids, "only these jobs (12, 7_3)"),
		strOpt('p', "partition", &parts, "only these partitions"),
		strOpt('A', "account", &accounts, "only these accounts (projects)"),
		strOpt('n', "name", &names, "only jobs with these names"),
		strOpt('q', "qos", &qos, "only these QOS"),
		flagOpt(0, "me", &me, "only your jobs"),
		flagOpt(0, "start", &start, "pending jobs with their expected start"),
		flagOpt('a', "all", &all, "all partitions (Gefion hides none)"),
		flagOpt('r', "array", &perTask, "one line per array task"),
		flagOpt('l', "long", &long, "the long format"),
		flagOpt(0, "json", &asJSON, "Slurm's JSON document"),
		clusterOpt(&clusters),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt(0, "help", &help, "this help"),
	}
	if _, err := parseSlurmArgs("squeue", opts, args); err != nil {
		return err
	}
	if help {
		fmt.Fprint(e.Stdout, slurmHelp("squeue", "[OPTIONS]", opts))
		return nil
	}
	var f *slurmfmt.JobFormat
	var err error
	switch {
	case format != "" && fields != "":
		return usagef("give -o/--format or -O/--Format, not both")
	case fields != "":
		f, err = slurmfmt.ParseJobFields(fields)
	case format != "":
		f, err = slurmfmt.ParseJobFormat(format)
	case start:
		f, err = slurmfmt.ParseJobFormat(slurmfmt.SqueueStart)
	case long:
		f, err = slurmfmt.ParseJobFormat(slurmfmt.SqueueLong)
	default:
		f, err = slurmfmt.ParseJobFormat(slurmfmt.SqueueDefault)
	}
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if states != "" {
		if err := slurmfmt.CheckStates(states); err != nil {
			return &UsageError{Msg: err.Error()}
		}
	}
	sel, err := parseIDSelector(ids)
	if err != nil {
		return err
	}
	c := newClient(e, resolveAddr(e, addr))
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := checkCluster(ctx, c, clusters); err != nil {
		return err
	}
	// Finished jobs are only asked for when a state filter names them.
	var jobs []api.Job
	if asJSON {
		jobs, err = c.Jobs(ctx, true)
	} else {
		// The controller filters and sends only the fields the format
		// prints; the filters below stay, for a controller that ignores
		// some of them.
		q := client.ListQuery{Fields: f.Fields(), All: true, ActiveOnly: states == "" || !wantsFinal(states),
			Users: splitList(users), Partitions: splitList(parts), Accounts: splitList(accounts),
			Names: splitList(names), QOS: splitList(qos), IDs: sel.arrayIDs()}
		if states != "" {
			q.States = slurmfmt.StateList(states)
		}
		if me && users == "" {
			q.Users = []string{c.User}
		}
		if start {
			q.States = []job.State{job.Pending}
		}
		q.Fields = withFilterFields(q.Fields, users != "" || me, parts != "", accounts != "", names != "", qos != "")
		jobs, err = c.JobTable(ctx, q)
	}
	if err != nil {
		return explain(err, c.Base)
	}
	keep := jobs[:0]
	for _, j := range jobs {
		switch {
		case states == "" && j.State.Final():
		case states != "" && !slurmfmt.StateMatches(j.State, states):
		case me && j.User != c.User:
		case !inList(users, j.User), !inList(parts, j.Partition), !inList(accounts, j.Project),
			!inList(names, j.Name), !inList(qos, j.QOS):
		case !sel.match(&j):
		case start && j.State != job.Pending:
		default:
			keep = append(keep, j)
		}
	}
	if asJSON {
		return writeJSON(e.Stdout, slurmfmt.SqueueJSON(keep, jsonEnv(ctx, c)))
	}
	rows := slurmfmt.SqueueRows(keep, perTask || sel.tasks)
	return f.WriteJobs(e.Stdout, rows, slurmEnv(), noHeader)
}

// inList reports whether v is in a comma-separated list; an empty list
// matches everything.
func inList(list, v string) bool {
	if list == "" {
		return true
	}
	return slices.Contains(strings.Split(list, ","), v)
}

func wantsFinal(states string) bool {
	for _, s := range []job.State{job.Completed, job.Failed, job.Cancelled, job.Timeout, job.NodeFail, job.Preempted, job.OutOfMem} {
		if slurmfmt.StateMatches(s, states) {
			return true
		}
	}
	return false
}

// idSelector selects jobs by Slurm's job IDs: 12 (a job, or every task of
// array 12) and 7_3 (task 3 of array 7).
type idSelector struct {
	ids   map[job.ID]bool
	tasks bool // a task was named: show tasks one per line
	task  map[[2]int64]bool
}

func parseIDSelector(list string) (idSelector, error) {
	var s idSelector
	if list == "" {
		return s, nil
	}
	s.ids, s.task = map[job.ID]bool{}, map[[2]int64]bool{}
	for _, f := range strings.Split(list, ",") {
		head, task, isTask := strings.Cut(strings.TrimSpace(f), "_")
		id, err := strconv.ParseInt(head, 10, 64)
		if err != nil || id <= 0 {
			return s, usagef("%q is not a job ID (12, or 7_3 for task 3 of array 7)", f)
		}
		if !isTask {
			s.ids[job.ID(id)] = true
			continue
		}
		t, err := strconv.Atoi(task)
		if err != nil || t < 0 {
			return s, usagef("%q is not a job ID (12, or 7_3 for task 3 of array 7)", f)
		}
		s.task[[2]int64{id, int64(t)}] = true
		s.tasks = true
	}
	return s, nil
}

func (s *idSelector) active() bool { return s.ids != nil }

// withFilterFields adds to a list's fields those its filters read here:
// the command filters again what the controller sent.
func withFilterFields(fields []string, user, partition, project, name, qos bool) []string {
	for _, f := range []struct {
		on   bool
		name string
	}{{user, "user"}, {partition, "partition"}, {project, "project"}, {name, "name"}, {qos, "qos"}} {
		if f.on && !slices.Contains(fields, f.name) {
			fields = append(fields, f.name)
		}
	}
	return fields
}

// arrayIDs lists the job IDs the selector names, a task's by its array's
// ID: the controller's ids= filter, which the tasks are picked from.
func (s *idSelector) arrayIDs() []job.ID {
	var out []job.ID
	for id := range s.ids {
		out = append(out, id)
	}
	for t := range s.task {
		out = append(out, job.ID(t[0]))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *idSelector) match(j *api.Job) bool {
	if s.ids == nil {
		return true
	}
	if s.ids[j.ID] || (j.ArrayJobID != 0 && s.ids[j.ArrayJobID]) {
		return true
	}
	return j.ArrayJobID != 0 && s.task[[2]int64{int64(j.ArrayJobID), int64(j.ArrayTaskID)}]
}

// checkCluster accepts -M naming all or this cluster; Gefion federates
// nothing, so any other name is an error rather than an empty answer.
func checkCluster(ctx context.Context, c *client.Client, clusters string) error {
	if clusters == "" || strings.EqualFold(clusters, "all") {
		return nil
	}
	cfg, err := c.Config(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	for _, n := range strings.Split(clusters, ",") {
		if n != cfg.ClusterName && !strings.EqualFold(n, "all") {
			return fmt.Errorf("cluster %q is not served here: this controller runs cluster %q (give -M %s or -M all)", n, cfg.ClusterName, cfg.ClusterName)
		}
	}
	return nil
}

// jsonEnv is slurmEnv with the cluster's name, which Slurm's JSON
// documents print in every record.
func jsonEnv(ctx context.Context, c *client.Client) *slurmfmt.Env {
	env := slurmEnv()
	if cfg, err := c.Config(ctx); err == nil {
		env.Cluster = cfg.ClusterName
	}
	return env
}
