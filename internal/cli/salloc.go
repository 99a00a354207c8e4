package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "salloc", summary: "hold an allocation and run a command (default: your shell) in it (Slurm's salloc)", run: runSalloc})
}

// salloc asks for an allocation with sbatch's options, waits until it is
// granted, runs a command on this host with the allocation's SLURM_*
// variables (srun in it starts steps on the allocated nodes), and gives the
// allocation up when the command ends, with the command's exit status.
// Like srun's own allocations, the job's batch script only holds the
// nodes (allocHolder) and ends with status 0 when released.
func runSalloc(e *Env, args []string) error {
	var addr string
	p := &job.Parser{
		Now:   sbatchNow,
		Extra: []job.ExtraOption{{Name: "addr", HasArg: true, Set: func(v string) error { addr = v; return nil }}},
	}
	spec := &job.Spec{}
	argv, warns, err := p.Args(args, spec)
	if err != nil {
		return &UsageError{Msg: err.Error() + "\nsalloc takes sbatch's options, then the command to run (default: $SHELL)."}
	}
	sub := p.Submission
	if sub.Help {
		fmt.Fprintln(e.Stdout, "Usage: salloc [sbatch options] [command [args...]]\n\nHolds an allocation, runs command (default: $SHELL) with SLURM_JOB_ID and the\nallocation's variables set, and releases the allocation when it ends. srun in\nit starts steps on the allocated nodes.")
		return nil
	}
	if sub.Version {
		fmt.Fprintf(e.Stdout, "gefion salloc %s\n", Version)
		return nil
	}
	if sub.WrapSet || sub.TestOnly {
		return usagef("salloc runs a command of its own: give it after the options, not --wrap or --test-only")
	}
	if len(argv) == 0 {
		sh := e.getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		argv = []string{sh}
	}
	if spec.Name == "" {
		spec.Name = argv[0]
	}
	for _, w := range warns {
		fmt.Fprintf(e.Stderr, "salloc: warning: %s\n", textsafe.Field(w.String()))
	}
	spec.Script = allocHolder
	spec.Output = "/dev/null"
	spec.User = currentUser(e)
	spec.Env = exportEnv(spec.Export, e.environ())
	if wd, err := os.Getwd(); err == nil {
		spec.SubmitDir = wd
	}
	addr = resolveAddr(e, addr)
	c := newClient(e, addr)

	// Ctrl-C while waiting gives the request up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := submitRemote(e, addr, spec)
	if err != nil {
		signal.Stop(sigs)
		return err
	}
	id := resp.ID
	fmt.Fprintf(e.Stderr, "salloc: Pending job allocation %d\n", id)
	release := func() { releaseAllocation(c, id) }
	j, err := waitGranted(ctx, e, c, id, "salloc", false)
	signal.Stop(sigs)
	if err != nil {
		release()
		return err
	}
	fmt.Fprintf(e.Stderr, "salloc: Granted job allocation %d\n", id)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdin, e.Stdout, e.Stderr
	cmd.Env = append(e.environ(), allocationEnv(j, spec.NTasks, addr)...)
	// The command (an interactive shell, typically) takes Ctrl-C itself;
	// salloc must outlive it to give the allocation back.
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Reset(syscall.SIGINT, syscall.SIGQUIT)
	runErr := cmd.Run()
	fmt.Fprintf(e.Stderr, "salloc: Relinquishing job allocation %d\n", id)
	release()
	var ee *exec.ExitError
	switch {
	case runErr == nil:
		return nil
	case errors.As(runErr, &ee):
		code := ee.ExitCode()
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			code = 128 + int(st.Signal())
		}
		return &ExitError{Code: code}
	}
	return fmt.Errorf("cannot run %s: %w", argv[0], runErr)
}

// releaseAllocation gives back an allocation held by allocHolder: USR1
// ends the holder with status 0 (the job is COMPLETED); one still waiting
// is cancelled.
func releaseAllocation(c *client.Client, id job.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if j, err := c.Job(ctx, id); err == nil && j.State == job.Running {
		_ = c.Cancel(ctx, id, "USR1")
		return
	}
	_ = c.Cancel(ctx, id, "")
}

// waitGranted waits until job id runs, telling the user once that it
// waits (as salloc and srun do, under prog's name, unless quiet).
func waitGranted(ctx context.Context, e *Env, c *client.Client, id job.ID, prog string, quiet bool) (*api.Job, error) {
	told := false
	for {
		j, err := c.Job(ctx, id)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("interrupted; job allocation %d given up", id)
		case err != nil:
			return nil, explain(err, c.Base)
		case j.State == job.Running:
			if told && !quiet {
				fmt.Fprintf(e.Stderr, "%s: job %d has been allocated resources\n", prog, id)
			}
			return j, nil
		case j.State.Final():
			return nil, fmt.Errorf("job allocation %d ended %s before it was granted: %s", id, j.State, textsafe.Field(j.Reason))
		}
		if !told && !quiet {
			fmt.Fprintf(e.Stderr, "%s: job %d queued and waiting for resources\n", prog, id)
		}
		told = true
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// allocationEnv is what salloc's command sees of its allocation: Slurm's
// output variables of salloc, and the controller srun must reach.
func allocationEnv(j *api.Job, ntasks int, addr string) []string {
	id := strconv.FormatInt(int64(j.ID), 10)
	nodes := strconv.Itoa(j.Nodes)
	env := []string{
		"SLURM_JOB_ID=" + id, "SLURM_JOBID=" + id,
		"SLURM_JOB_NODELIST=" + j.NodeList, "SLURM_NODELIST=" + j.NodeList,
		"SLURM_JOB_NUM_NODES=" + nodes, "SLURM_NNODES=" + nodes,
		"SLURM_JOB_NAME=" + j.Name, "SLURM_JOB_PARTITION=" + j.Partition,
		"SLURM_JOB_ACCOUNT=" + j.Project,
		"GEFION_ADDR=" + addr,
	}
	if ntasks > 0 {
		env = append(env, "SLURM_NTASKS="+strconv.Itoa(ntasks), "SLURM_NPROCS="+strconv.Itoa(ntasks))
	}
	return env
}
