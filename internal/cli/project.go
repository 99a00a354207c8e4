package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "project create", summary: "create a project (account) with a GPU-hour grant (admins)", run: runProjectCreate})
	register(&command{path: "project add-user", summary: "add users to a project (its managers, admins)", run: projectUsers("add-user")})
	register(&command{path: "project remove-user", summary: "remove users from a project (its managers, admins)", run: projectUsers("remove-user")})
	register(&command{path: "project add-manager", summary: "make users managers of a project (admins)", run: projectUsers("add-manager")})
	register(&command{path: "project remove-manager", summary: "take users' management of a project (admins)", run: projectUsers("remove-manager")})
	register(&command{path: "project grant", summary: "set a project's GPU-hour grant (starts a new period) or its end (admins)", run: runProjectGrant})
	register(&command{path: "project usage", summary: "projects' grants, use and fair-share usage", run: runProjectUsage})
	register(&command{path: "project report", summary: "a project's burn-down, use per user and fair-share standing (its members, managers, operators)", run: runProjectReport})
}

func runProjectCreate(e *Env, args []string) error {
	fs := newFlags(e, "project create")
	var r remote
	r.register(fs, false)
	parent := fs.String("parent", "", "parent project, for a hierarchy of shares")
	grant := fs.Float64("grant", 0, "GPU-hours granted for the period (0: no limit)")
	users := fs.String("users", "", "members (comma-separated)")
	maxGPUs := fs.Int("max-gpus", 0, "most GPUs the project's jobs may hold at once (0: no limit)")
	end := fs.String("grant-end", "", "when the grant ends: YYYY-MM-DD[THH:MM[:SS]] or now+N[days|weeks]")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give the project's name: gefion project create NAME [--grant GPU-HOURS] [--grant-end DATE] [--users a,b]")
	}
	ch := api.ProjectChange{Name: pos[0], Parent: *parent, GrantGPUHours: grant, MaxGPUs: maxGPUs}
	if ch.GrantEnd, err = grantEnd("--grant-end", *end); err != nil {
		return err
	}
	if *users != "" {
		ch.AddUsers = strings.Split(*users, ",")
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	return explain(c.CreateProject(ctx, ch), c.Base)
}

// projectUsers runs project add-user, remove-user, add-manager or
// remove-manager.
func projectUsers(verb string) func(e *Env, args []string) error {
	return func(e *Env, args []string) error {
		fs := newFlags(e, "project "+verb)
		var r remote
		r.register(fs, false)
		pos, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		if len(pos) < 2 {
			return usagef("give a project and users: gefion project %s PROJECT USER...", verb)
		}
		ch := api.ProjectChange{Name: pos[0]}
		switch verb {
		case "add-user":
			ch.AddUsers = pos[1:]
		case "remove-user":
			ch.RemoveUsers = pos[1:]
		case "add-manager":
			ch.AddManagers = pos[1:]
		case "remove-manager":
			ch.RemoveManagers = pos[1:]
		}
		c := r.client(e)
		ctx, cancel := ctxTimeout()
		defer cancel()
		return explain(c.ChangeProject(ctx, ch), c.Base)
	}
}

func runProjectGrant(e *Env, args []string) error {
	fs := newFlags(e, "project grant")
	var r remote
	r.register(fs, false)
	end := fs.String("end", "", "when the grant ends: YYYY-MM-DD[THH:MM[:SS]] or now+N[days|weeks]; 'none' clears it")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 || len(pos) == 1 && *end == "" {
		return usagef("give a project and GPU-hours, or a project and --end: gefion project grant PROJECT [HOURS] [--end DATE]")
	}
	ch := api.ProjectChange{Name: pos[0]}
	if len(pos) == 2 {
		h, err := strconv.ParseFloat(pos[1], 64)
		if err != nil || h < 0 {
			return usagef("%q is not a number of GPU-hours", pos[1])
		}
		ch.GrantGPUHours = &h
	}
	if ch.GrantEnd, err = grantEnd("--end", *end); err != nil {
		return err
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	return explain(c.ChangeProject(ctx, ch), c.Base)
}

// grantEnd reads a grant's end as sbatch --begin reads a time; "" gives
// nil (unchanged), "none" 0 (no end).
func grantEnd(flag, s string) (*int64, error) {
	switch s {
	case "":
		return nil, nil
	case "none":
		var zero int64
		return &zero, nil
	}
	t, err := job.ParseBegin(s, time.Now())
	if err != nil {
		return nil, usagef("%s %q: %v", flag, s, err)
	}
	u := t.Unix()
	return &u, nil
}

func runProjectUsage(e *Env, args []string) error {
	fs := newFlags(e, "project usage")
	var r remote
	r.register(fs, true)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	ps, err := c.Projects(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	if len(pos) > 0 {
		var keep []api.Project
		for _, p := range ps {
			for _, n := range pos {
				if p.Name == n {
					keep = append(keep, p)
				}
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("no project named %s", textsafe.Field(strings.Join(pos, ", ")))
		}
		ps = keep
	}
	if r.asJSON {
		if ps == nil {
			ps = []api.Project{}
		}
		return writeJSON(e.Stdout, map[string]any{"projects": ps})
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tGRANT(GPU-h)\tUSED(GPU-h)\tUSED%\tFAIRSHARE_USAGE(GPU-h)\tRUNNING_GPUS\tPENDING\tUSERS")
	for _, p := range ps {
		grant, pct := "-", "-"
		if p.GrantGPUHours > 0 {
			grant = fmt.Sprintf("%.1f", p.GrantGPUHours)
			pct = fmt.Sprintf("%.1f", 100*p.UsedOfGrant)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%.2f\t%d\t%d\t%s\n", textsafe.Field(p.Name), grant, p.UsedGPUHours, pct,
			p.FairShareUsage, p.RunningGPUs, p.PendingJobs, textsafe.Field(strings.Join(p.Users, ",")))
	}
	return tw.Flush()
}

func runProjectReport(e *Env, args []string) error {
	fs := newFlags(e, "project report")
	var r remote
	r.register(fs, true)
	days := fs.Int("days", 0, "days back to report per day (default 14; the grant's period may reach further)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one project: gefion project report PROJECT [--days N] [--json]")
	}
	if *days < 0 || *days > api.MaxReportDays {
		return usagef("--days=%d: give 1 to %d", *days, api.MaxReportDays)
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	rep, err := c.ProjectReport(ctx, pos[0], *days)
	if err != nil {
		return explain(err, c.Base)
	}
	if r.asJSON {
		return writeJSON(e.Stdout, rep)
	}
	p := &rep.Project
	name := textsafe.Field(p.Name)
	if p.GrantGPUHours > 0 {
		end := "no end set"
		if p.GrantEnd > 0 {
			end = "ends " + time.Unix(p.GrantEnd, 0).UTC().Format(time.DateOnly)
		}
		fmt.Fprintf(e.Stdout, "Project %s: %.1f of %.1f GPU-hours used (%.1f%%) since %s, %s.\n", name, p.UsedGPUHours, p.GrantGPUHours,
			100*p.UsedOfGrant, time.Unix(p.PeriodStart, 0).UTC().Format(time.DateOnly), end)
		switch {
		case rep.RunsOut > 0 && rep.RunsOut <= rep.AtS:
			fmt.Fprintln(e.Stdout, "The grant is used up.")
		case rep.RunsOut > 0:
			fmt.Fprintf(e.Stdout, "At the last 7 days' rate (%.1f GPU-hours a day) it runs out on %s.\n", rep.RatePerDay, time.Unix(rep.RunsOut, 0).UTC().Format(time.DateOnly))
		}
	} else {
		fmt.Fprintf(e.Stdout, "Project %s has no GPU-hour grant.\n", name)
	}
	fmt.Fprintf(e.Stdout, "Fair share: factor %.3f; %s.\n", rep.FairShare.Factor, textsafe.Field(rep.FairShare.Why))
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "USER\tJOBS\tGPU-h\tENERGY(kWh)\tCO2_LOC(kg)\tCO2_MKT(kg)\n")
	for _, u := range append(rep.Users, rep.Total) {
		who := textsafe.Field(u.User)
		if who == "" {
			who = "(all users)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.3f\t%.3f\t%.3f\n", who, u.Jobs, u.GPUHours, u.EnergyKWh, u.CO2LocationKg, u.CO2MarketKg)
	}
	return tw.Flush()
}
