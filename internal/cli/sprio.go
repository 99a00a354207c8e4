package cli

import (
	"fmt"
	"strconv"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
)

func init() {
	register(&command{path: "sprio", summary: "Slurm's sprio: pending jobs' priority factors, as the scheduler orders by them", run: runSprio})
	aliases["sprio"] = "sprio"
}

const sprioNote = `
Columns are Slurm's. SITE holds Gefion's own terms (the short-job and
slowdown factors of its default policy), so that the columns add up to
PRIORITY less NICE; ASSOC and TRES are factors Gefion does not use (0,
empty). The factors are those the scheduler ordered the queue by in its
last pass; --json prints every term apart.
`

func runSprio(e *Env, args []string) error {
	var (
		addr, format, ids, users, parts                           string
		long, norm, weights, noHeader, asJSON, help, usage, local bool
	)
	opts := []slurmOpt{
		strOpt('o', "format", &format, "output format: %[.][width]CODE (Slurm's codes: %i %r %u %Y %y %S %A %a %F %f %J %j %P %p %Q %q %N %B %b %T %t %c)"),
		flagOpt('l', "long", &long, "long report (with USER, ASSOC, NICE and TRES)"),
		flagOpt('n', "norm", &norm, "normalized factors (0 to 1) instead of weighted ones"),
		flagOpt('w', "weights", &weights, "the weight of each factor"),
		flagOpt('h', "noheader", &noHeader, "no header line"),
		strOpt('j', "jobs", &ids, "only these jobs (comma separated IDs)"),
		strOpt('u', "user", &users, "only these users (comma separated)"),
		strOpt('p', "partition", &parts, "only these partitions (comma separated)"),
		flagOpt(0, "local", &local, "this cluster only (Gefion runs one)"),
		flagOpt(0, "json", &asJSON, "Gefion's JSON document: policy, weights and every job's terms"),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt(0, "help", &help, "this help"),
		flagOpt(0, "usage", &usage, "this help"),
	}
	pos, err := parseSlurmArgs("sprio", opts, args)
	if err != nil {
		return err
	}
	if help || usage {
		fmt.Fprint(e.Stdout, slurmHelp("sprio", "[OPTIONS]", opts)+sprioNote)
		return nil
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q: sprio takes options only (-j ID,... for jobs)", pos[0])
	}
	for _, id := range splitList(ids) {
		if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
			return usagef("invalid job id %q in -j: give job IDs separated by commas, such as -j 12,15", id)
		}
	}
	c := client.New(resolveAddr(e, addr), currentUser(e))
	ctx, cancel := ctxTimeout()
	defer cancel()
	pl, err := c.Priority(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	var sel []api.JobPriority
	for _, j := range pl.Jobs {
		if inList(ids, strconv.FormatInt(int64(j.JobID), 10)) && inList(users, j.User) && inList(parts, j.Partition) {
			sel = append(sel, j)
		}
	}
	if asJSON {
		pl.Jobs = append(sel[:0:0], sel...)
		return writeJSON(e.Stdout, pl)
	}
	if pl.Weights == (api.PriorityWeights{}) && !weights {
		return fmt.Errorf("the controller's policy %q orders by submit time and has no priority factors (Slurm's sprio says the same of priority/basic)", pl.Policy)
	}
	f, err := slurmfmt.SprioFormat(format, long, norm, users != "", &pl.Weights)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(sel) == 0 && !weights && (ids != "" || users != "") {
		fmt.Fprintln(e.Stdout, "Unable to find jobs matching user/id(s) specified")
		return nil
	}
	return f.WritePrio(e.Stdout, sel, &pl.Weights, noHeader, weights)
}
