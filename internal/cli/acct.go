package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/textsafe"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

func init() {
	register(&command{path: "acct", summary: "accounting: GPU-hours, energy and CO2 of jobs (sacct)", run: runAcct})
}

func runAcct(e *Env, args []string) error {
	fs := newFlags(e, "acct")
	var r remote
	r.register(fs, true)
	users := fs.String("u", "", "this user's jobs (operators: anyone's)")
	fs.StringVar(users, "user", "", "same as -u")
	project := fs.String("A", "", "this project's jobs")
	fs.StringVar(project, "account", "", "same as -A")
	ids := fs.String("j", "", "these job IDs (comma-separated)")
	fs.StringVar(ids, "jobs", "", "same as -j")
	since := fs.String("S", "", "jobs ended since (YYYY-MM-DD[THH:MM[:SS]], or now-1day style; default: today 00:00)")
	fs.StringVar(since, "starttime", "", "same as -S")
	until := fs.String("E", "", "jobs ended before (same formats)")
	fs.StringVar(until, "endtime", "", "same as -E")
	allocOnly := fs.Bool("X", false, "jobs only, without their steps (ID.batch, ID.0, ...)")
	fs.BoolVar(allocOnly, "allocations", false, "same as -X")
	export := fs.String("export", "", "write the ended jobs to this file in the twin's gefion trace format, to replay with 'gefion sim --format gefion --trace FILE'")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	q := client.AcctQuery{User: *users, Project: *project}
	if *ids != "" {
		list, err := parseJobIDs(strings.Split(*ids, ","))
		if err != nil {
			return err
		}
		q.IDs = list
	}
	now := time.Now()
	if *since != "" {
		t, err := job.ParseBegin(*since, now)
		if err != nil {
			return usagef("--starttime: %v", err)
		}
		q.SinceS = t.Unix()
	} else if *ids == "" {
		y, m, d := now.Date()
		q.SinceS = time.Date(y, m, d, 0, 0, 0, 0, now.Location()).Unix()
	}
	if *until != "" {
		t, err := job.ParseBegin(*until, now)
		if err != nil {
			return usagef("--endtime: %v", err)
		}
		q.UntilS = t.Unix()
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	a, err := c.Acct(ctx, q)
	if err != nil {
		return explain(err, c.Base)
	}
	if *export != "" {
		n, err := exportAcct(*export, a.Jobs)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stderr, "acct: wrote %d ended jobs to %s\n", n, *export)
		return nil
	}
	if r.asJSON {
		return writeJSON(e.Stdout, a)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "JobID\tJobName\tAccount\tState\tExitCode\tElapsed\tGPUs\tGPU-h\tEnergy(kWh)\tCO2loc(g)\tCO2mkt(g)\tReason")
	for _, j := range a.Jobs {
		elapsed := int64(0)
		if j.StartTime > 0 {
			end := j.EndTime
			if end == 0 {
				end = now.Unix()
			}
			elapsed = max(end-j.StartTime, 0)
		}
		// The reason (why a job failed to start, who cancelled it) is
		// free text: last, unaligned, so that it never widens the table.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d:%s\t%s\t%d\t%.3f\t%.4f\t%.1f\t%.1f\t%s\n", jobID(j), textsafe.Field(trunc(j.Name, 10)),
			textsafe.Field(j.Project), j.State, j.ExitCode, textsafe.Field(sigOrZero(j.Signal)), elapsedText(elapsed), j.GPUs,
			j.GPUSeconds/3600, j.EnergyKWh, j.CO2LocationG, j.CO2MarketG, textsafe.Field(j.Reason))
		if !*allocOnly && (*ids != "" || len(a.Jobs) <= maxStepJobs) {
			if err := printStepLines(ctx, tw, c, j, now.Unix()); err != nil {
				return explain(err, c.Base)
			}
		}
	}
	fmt.Fprintf(tw, "total\t%d jobs\t\t\t\t\t\t%.3f\t%.4f\t%.1f\t%.1f\t\n", a.Totals.Jobs, a.Totals.GPUHours, a.Totals.EnergyKWh,
		a.Totals.CO2LocationKg*1000, a.Totals.CO2MarketKg*1000)
	return tw.Flush()
}

// exportAcct writes the ended jobs to path in the twin's gefion trace
// format, through a temporary file renamed at the end, so that a failure
// leaves no half-written export.
func exportAcct(path string, jobs []api.Job) (int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return 0, fmt.Errorf("--export: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, nothing to remove
	w, err := trace.NewGefionWriter(f)
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("--export: %w", err)
	}
	n := 0
	for _, j := range jobs {
		if !j.State.Final() {
			continue
		}
		row := trace.GefionRow{JobID: int64(j.ID), User: j.User, Project: j.Project, SubmitS: j.SubmitTime,
			StartS: j.StartTime, EndS: j.EndTime, GPUs: j.GPUs, Nodes: j.Nodes, CPUs: j.CPUs,
			TimeLimitS: j.TimeLimitS, State: string(j.State), EnergyJ: -1}
		if j.StartTime == 0 {
			row.EndS = 0
		}
		for _, al := range j.Allocs {
			row.MemMB += al.MemMB
		}
		if j.EnergyJ > 0 {
			row.EnergyJ = j.EnergyJ
		}
		if err := w.Write(row); err != nil {
			f.Close()
			return 0, fmt.Errorf("--export: %w", err)
		}
		n++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("--export: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("--export: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return 0, fmt.Errorf("--export: %w", err)
	}
	return n, nil
}

func sigOrZero(s string) string {
	if s == "" {
		return "0"
	}
	if n, err := strconv.Atoi(s); err == nil {
		return strconv.Itoa(n)
	}
	return s
}
