package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
)

// srun outside an allocation: it first asks for one (a job shaped like
// the step, whose batch script only holds the nodes), runs its step in
// it, then ends it, as Slurm's srun does from a login node. The holding
// script ends on USR1 with status 0, so the allocation is accounted
// COMPLETED, not CANCELLED. A srun killed with -9 cannot end it: the
// allocation then holds its nodes until its time limit, as it would
// until Slurm's InactiveLimit.

// allocHolder is the allocation's batch script: it waits until srun
// signals it. The sleep runs in the background so that the shell takes
// the signal at once.
const allocHolder = "#!/bin/sh\n# held by srun\ntrap 'exit 0' USR1\nwhile :; do sleep 3600 & wait $!; done\n"

// allocateForSrun submits and waits for srun's own allocation and
// returns its ID and the function that ends it.
func allocateForSrun(e *Env, c *client.Client, o *srunOpts) (job.ID, func(), error) {
	cwd := o.req.Cwd
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	name := o.req.Name
	if name == "" && len(o.argv) > 0 {
		name = o.argv[0]
	}
	spec := job.Spec{
		Name: name, Account: o.account, QOS: o.qos,
		NodesMin: o.req.Nodes, NTasks: o.req.Tasks, NTasksPerNode: o.req.TasksPerNode, CPUsPerTask: o.req.CPUsPerTask,
		GPUs: o.req.GPUs, GPUsPerTask: o.req.GPUsPerTask, TimeLimitS: o.req.TimeLimitS, Exclusive: o.req.Exclusive,
		Script: allocHolder, SubmitDir: cwd, Env: e.environ(), Export: "ALL",
		// The holder's own output is nothing; the step's goes to srun.
		Output: "/dev/null",
	}
	if o.partition != "" {
		spec.Partitions = []string{o.partition}
	}
	if o.req.Nodes > 0 {
		spec.NodesMax = o.req.Nodes
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C while waiting gives the allocation up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := submitRemote(e, c.Base, &spec)
	if err != nil {
		return 0, nil, err
	}
	id := resp.ID
	release := func() { releaseAllocation(c, id) }
	if _, err := waitGranted(ctx, e, c, id, "srun", o.quiet); err != nil {
		release()
		return 0, nil, err
	}
	return id, release, nil
}
