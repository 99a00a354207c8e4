package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/job"
)

func init() {
	register(&command{path: "cancel", summary: "cancel jobs (scancel)", run: runCancel})
}

func runCancel(e *Env, args []string) error {
	fs := newFlags(e, "cancel")
	var r remote
	r.register(fs, false)
	signal := fs.String("signal", "", "send this signal instead of cancelling (e.g. USR1)")
	fs.StringVar(signal, "s", "", "same as --signal")
	clusters := fs.String("clusters", "", "all, or this cluster's name (Slurm's -M; Gefion runs one cluster)")
	fs.StringVar(clusters, "M", "", "same as --clusters")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	// ID.STEP names a step (scancel 12.3); the rest are jobs and array
	// tasks (12, 12_3, 12_[1-4]).
	steps, pos, err := splitStepIDs(pos)
	if err != nil {
		return err
	}
	var refs []job.Ref
	if len(pos) > 0 || len(steps) == 0 {
		if refs, err = parseJobRefs(pos); err != nil {
			return err
		}
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := checkCluster(ctx, c, *clusters); err != nil {
		return err
	}
	var failed error
	for _, s := range steps {
		if err := c.CancelStep(ctx, s.job, s.step, *signal); err != nil {
			fmt.Fprintf(e.Stderr, "cancel: step %d.%d: %s\n", s.job, s.step, safeMessage(explain(err, c.Base).Error()))
			failed = fmt.Errorf("some steps were not cancelled")
		}
	}
	for _, ref := range refs {
		if err := c.CancelRef(ctx, ref, *signal); err != nil {
			// scancel reports each job and goes on.
			fmt.Fprintf(e.Stderr, "cancel: job %s: %s\n", ref, safeMessage(explain(err, c.Base).Error()))
			failed = fmt.Errorf("some jobs were not cancelled")
		}
	}
	return failed
}

type stepID struct {
	job  job.ID
	step int
}

// splitStepIDs takes the ID.STEP arguments (scancel 12.3) out of args.
func splitStepIDs(args []string) ([]stepID, []string, error) {
	var steps []stepID
	var rest []string
	for _, a := range args {
		if !strings.Contains(a, ".") {
			// A job or array tasks: 12_[1,3] has commas of its own.
			rest = append(rest, a)
			continue
		}
		for _, f := range strings.Split(a, ",") {
			head, tail, ok := strings.Cut(f, ".")
			if !ok {
				rest = append(rest, f)
				continue
			}
			id, err1 := strconv.ParseInt(head, 10, 64)
			n, err2 := strconv.Atoi(tail)
			if err1 != nil || err2 != nil || id <= 0 || n < 0 {
				return nil, nil, usagef("%q is not a job step ID: give JOB.STEP, e.g. 12.0", f)
			}
			steps = append(steps, stepID{job.ID(id), n})
		}
	}
	return steps, rest, nil
}
