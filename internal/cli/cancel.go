package cli

import "fmt"

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
	refs, err := parseJobRefs(pos)
	if err != nil {
		return err
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := checkCluster(ctx, c, *clusters); err != nil {
		return err
	}
	var failed error
	for _, ref := range refs {
		if err := c.CancelRef(ctx, ref, *signal); err != nil {
			// scancel reports each job and goes on.
			fmt.Fprintf(e.Stderr, "cancel: job %s: %s\n", ref, safeMessage(explain(err, c.Base).Error()))
			failed = fmt.Errorf("some jobs were not cancelled")
		}
	}
	return failed
}
