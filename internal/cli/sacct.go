package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
)

func init() {
	register(&command{path: "sacct", summary: "accounting exactly as Slurm's sacct prints it (-P, -n, -X, -o FIELDS ...)", run: runSacct})
}

func runSacct(e *Env, args []string) error {
	var (
		addr, format, ids, since, until, states, names, users, accounts, parts, clusters    string
		parsable, parsable2, noHeader, jobsOnly, allUsers, brief, asJSON, help, allClusters bool
	)
	opts := []slurmOpt{
		flagOpt('P', "parsable2", &parsable2, "fields separated by |"),
		flagOpt('p', "parsable", &parsable, "every field followed by |"),
		flagOpt('n', "noheader", &noHeader, "no header"),
		flagOpt('X', "allocations", &jobsOnly, "jobs only, no steps"),
		strOpt('o', "format", &format, "fields: NAME[%WIDTH],... (Slurm's names)"),
		strOpt('j', "jobs", &ids, "these jobs (12, 7_3)"),
		strOpt('S', "starttime", &since, "jobs in the window from (default: today 00:00, or all with -j)"),
		strOpt('E', "endtime", &until, "jobs in the window until (default now)"),
		strOpt('s', "state", &states, "only these states (CD,F,CA,TO,...)"),
		strOpt(0, "name", &names, "only jobs with these names"),
		strOpt('u', "user", &users, "these users' jobs"),
		flagOpt('a', "allusers", &allUsers, "every user's jobs (operators)"),
		strOpt('A', "accounts", &accounts, "these accounts (projects)"),
		strOpt('r', "partition", &parts, "these partitions"),
		flagOpt('b', "brief", &brief, "JobID,State,ExitCode"),
		clusterOpt(&clusters),
		flagOpt('L', "allclusters", &allClusters, "all clusters (Gefion runs one)"),
		flagOpt(0, "json", &asJSON, "Slurm's JSON document (gefion acct --json has Gefion's own records)"),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt('h', "help", &help, "this help"),
	}
	pos, err := parseSlurmArgs("sacct", opts, args)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(e.Stdout, slurmHelp("sacct", "[OPTIONS]", opts))
		return nil
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q: sacct takes options only (jobs with -j)", pos[0])
	}
	if format == "" {
		format = slurmfmt.SacctDefault
		if brief {
			format = slurmfmt.SacctBrief
		}
	} else if brief {
		return usagef("give -b/--brief or -o/--format, not both")
	}
	f, err := slurmfmt.ParseAcctFormat(format)
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
	now := time.Now()
	q := client.AcctQuery{}
	if since != "" {
		t, err := parseSlurmTime(since, now)
		if err != nil {
			return usagef("--starttime: %v", err)
		}
		q.SinceS = t.Unix()
	} else if !sel.active() {
		y, m, d := now.Date()
		q.SinceS = time.Date(y, m, d, 0, 0, 0, 0, now.Location()).Unix()
	}
	if until != "" {
		t, err := parseSlurmTime(until, now)
		if err != nil {
			return usagef("--endtime: %v", err)
		}
		// Slurm's window includes its end: a job that ended in the second
		// of -E (now, typically) is in it; the API's bound is exclusive.
		q.UntilS = t.Unix() + 1
	}
	c := newClient(e, resolveAddr(e, addr))
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := checkCluster(ctx, c, clusters); err != nil {
		return err
	}
	switch {
	case users != "" && !strings.Contains(users, ","):
		q.User = users
	case users == "" && !allUsers:
		q.User = c.User
	}
	if accounts != "" && !strings.Contains(accounts, ",") {
		q.Project = accounts
	}
	var jobs []api.Job
	if asJSON {
		jobs, err = acctJobs(c, q, sel, true)
	} else {
		// The controller filters and sends only the fields the format
		// prints (ids= selects an array's tasks by its ID); the filters
		// below stay, for a controller that ignores some of them.
		lq := client.ListQuery{Fields: f.Fields(jobsOnly), Users: splitList(users), Accounts: splitList(accounts),
			Partitions: splitList(parts), Names: splitList(names), IDs: sel.arrayIDs(), SinceS: q.SinceS, UntilS: q.UntilS}
		if users == "" && !allUsers {
			lq.Users = []string{c.User}
		}
		if states != "" {
			lq.States = slurmfmt.StateList(states)
		}
		lq.Fields = withFilterFields(lq.Fields, users != "", parts != "", accounts != "", names != "", false)
		jobs, _, err = c.AcctTable(ctx, lq)
	}
	if err != nil {
		return explain(err, c.Base)
	}
	keep := jobs[:0]
	for _, j := range jobs {
		if sel.match(&j) && inList(users, j.User) && inList(accounts, j.Project) && inList(parts, j.Partition) &&
			inList(names, j.Name) && (states == "" || slurmfmt.StateMatches(j.State, states)) {
			keep = append(keep, j)
		}
	}
	st := slurmfmt.Columns
	switch {
	case parsable2:
		st = slurmfmt.Parsable2
	case parsable:
		st = slurmfmt.Parsable
	}
	// The job steps (srun) of the started jobs, unless -X.
	var steps map[job.ID][]api.Step
	if !jobsOnly {
		var started []job.ID
		for i := range keep {
			if keep[i].StartTime > 0 {
				started = append(started, keep[i].ID)
			}
		}
		if len(started) > 0 {
			list, err := c.StepsOf(ctx, started)
			if err != nil {
				return explain(err, c.Base)
			}
			steps = make(map[job.ID][]api.Step, len(list))
			for _, s := range list {
				steps[s.JobID] = append(steps[s.JobID], s)
			}
		}
	}
	if asJSON {
		return writeJSON(e.Stdout, slurmfmt.SacctJSON(keep, jobsOnly, steps, jsonEnv(ctx, c)))
	}
	return f.WriteAcct(e.Stdout, slurmfmt.AcctRows(keep, jobsOnly, steps), slurmEnv(), st, noHeader)
}

// acctJobs reads the accounting records a query and job selector ask for;
// whole reads every field (for --json), otherwise only what sacct prints.
// The API selects by a record's own ID, and an array's tasks have IDs of
// their own; so for an array named by its ID (or one of its tasks) the
// records since the array's submission are read and its tasks picked.
func acctJobs(c *client.Client, q client.AcctQuery, sel idSelector, whole bool) ([]api.Job, error) {
	ctx, cancel := ctxTimeout()
	defer cancel()
	read := func(q client.AcctQuery) ([]api.Job, error) {
		if !whole {
			return c.AcctForList(ctx, q)
		}
		a, err := c.Acct(ctx, q)
		if err != nil {
			return nil, err
		}
		return a.Jobs, nil
	}
	if !sel.active() {
		return read(q)
	}
	byID := q
	for id := range sel.ids {
		byID.IDs = append(byID.IDs, id)
	}
	for t := range sel.task {
		byID.IDs = append(byID.IDs, job.ID(t[0]))
	}
	found, err := read(byID)
	if err != nil {
		return nil, err
	}
	out := found
	arrays := map[job.ID]bool{}
	var from int64
	for _, j := range found {
		if j.ArrayJobID != 0 && j.ArrayJobID == j.ID {
			arrays[j.ID] = true
			if from == 0 || j.SubmitTime < from {
				from = j.SubmitTime
			}
		}
	}
	if len(arrays) == 0 {
		return out, nil
	}
	window := q
	window.SinceS = max(q.SinceS, from)
	w, err := read(window)
	if err != nil {
		return nil, err
	}
	for _, j := range w {
		if arrays[j.ArrayJobID] && j.ID != j.ArrayJobID {
			out = append(out, j)
		}
	}
	return out, nil
}

// parseSlurmTime reads sacct's times: those of sbatch --begin, and also
// now-N[unit], which sacct accepts for a window's start.
func parseSlurmTime(s string, now time.Time) (time.Time, error) {
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "now-"); ok {
		t, err := job.ParseBegin("now+"+rest, now)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-t.Sub(now)), nil
	}
	return job.ParseBegin(s, now)
}
