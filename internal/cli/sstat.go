package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
)

func init() {
	register(&command{path: "sstat", summary: "Slurm's sstat: memory, CPU and GPU use of running job steps", run: runSstat})
	aliases["sstat"] = "sstat"
}

const sstatNote = `
The agents measure each srun step's tasks (the task and every process it
started) from /proc at every heartbeat: memory (RSS, virtual size, their
peaks), CPU time and page faults, and the step's GPU utilisation and memory
(TRES gres/gpuutil, gres/gpumem) where the node reads its GPUs through
NVML. A field a node does not measure is empty: disk I/O, CPU frequency,
the energy of a running step, GPU use on declared GPUs; a virtual node
measures nothing. The batch script is not a measured step.
`

// statTarget is one -j item: a job and, if given, one of its steps.
type statTarget struct {
	id   job.ID
	step int // -1: every running step
}

func parseStatTargets(list string) ([]statTarget, error) {
	var out []statTarget
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		idText, stepText, hasStep := strings.Cut(item, ".")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || id <= 0 {
			return nil, usagef("invalid job %q in -j: give JOBID or JOBID.STEP, such as -j 12 or -j 12.0", item)
		}
		t := statTarget{id: job.ID(id), step: -1}
		if hasStep {
			switch n, err := strconv.Atoi(stepText); {
			case stepText == "batch" || stepText == "extern":
				return nil, usagef("%s: Gefion measures srun steps only (JOBID.0, JOBID.1, ...), not the %s step", item, stepText)
			case err != nil || n < 0:
				return nil, usagef("invalid step %q in -j %s: give a step number, such as %s.0", stepText, item, idText)
			default:
				t.step = n
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, usagef("give the jobs to stat with -j JOBID[.STEP],...")
	}
	return out, nil
}

func runSstat(e *Env, args []string) error {
	var (
		addr, format, jobs                                                    string
		parsable, parsable2, noHeader, noConvert, allSteps, fieldList, asJSON bool
		help, usage                                                           bool
	)
	opts := []slurmOpt{
		strOpt('j', "jobs", &jobs, "the jobs or steps to stat: JOBID[.STEP],..."),
		strOpt('o', "format", &format, "fields: NAME[%WIDTH],... (sstat -e lists them)"),
		strOpt(0, "fields", &format, "the same as --format"),
		flagOpt('a', "allsteps", &allSteps, "every running step of the jobs (Gefion's default too)"),
		flagOpt('p', "parsable", &parsable, "every field followed by |"),
		flagOpt('P', "parsable2", &parsable2, "fields separated by |"),
		flagOpt('n', "noheader", &noHeader, "no header"),
		flagOpt(0, "noconvert", &noConvert, "memory in bytes, not K/M/G"),
		flagOpt('e', "helpformat", &fieldList, "list the fields"),
		flagOpt(0, "json", &asJSON, "Gefion's JSON: the steps with each node's samples"),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt(0, "help", &help, "this help"),
		flagOpt(0, "usage", &usage, "this help"),
	}
	pos, err := parseSlurmArgs("sstat", opts, args)
	if err != nil {
		return err
	}
	switch {
	case help || usage:
		fmt.Fprint(e.Stdout, slurmHelp("sstat", "-j JOBID[.STEP] [OPTIONS]", opts)+sstatNote)
		return nil
	case fieldList:
		fmt.Fprint(e.Stdout, slurmfmt.StatFieldList())
		return nil
	case len(pos) > 0:
		return usagef("unexpected argument %q: name jobs with -j JOBID[.STEP]", pos[0])
	}
	targets, err := parseStatTargets(jobs)
	if err != nil {
		return err
	}
	f, err := slurmfmt.ParseStatFormat(format)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	c := client.New(resolveAddr(e, addr), currentUser(e))
	ctx, cancel := ctxTimeout()
	defer cancel()
	var steps []api.Step
	var quiet []job.ID // jobs with no measured running step
	for _, t := range targets {
		all, err := c.Steps(ctx, t.id)
		if err != nil {
			return explain(err, c.Base)
		}
		n := len(steps)
		for _, s := range all {
			if (t.step < 0 || s.StepID == t.step) && !s.State.Final() && len(s.Usage) > 0 {
				steps = append(steps, s)
			}
		}
		if len(steps) == n {
			quiet = append(quiet, t.id)
		}
	}
	if asJSON {
		return writeJSON(e.Stdout, map[string]any{"steps": append(steps[:0:0], steps...)})
	}
	st := slurmfmt.Columns
	switch {
	case parsable2:
		st = slurmfmt.Parsable2
	case parsable:
		st = slurmfmt.Parsable
	}
	if err := f.WriteMgr(e.Stdout, slurmfmt.StatRows(steps, !noConvert), st, noHeader); err != nil {
		return err
	}
	// As Slurm's sstat, a job with nothing to show is reported on stderr
	// without failing the command.
	for _, id := range quiet {
		fmt.Fprintf(e.Stderr, "sstat: no measured steps running for job %d (a node reports at its heartbeat; virtual nodes measure nothing)\n", id)
	}
	return nil
}
