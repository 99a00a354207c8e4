//go:build !client

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

func init() {
	register(&command{path: "bench steps", summary: "load tool: srun step launch latency inside an allocation", run: runBenchSteps})
}

// stepBenchResult is what bench steps prints.
type stepBenchResult struct {
	Command  string  `json:"command"`
	Runs     int     `json:"runs"`
	Errors   int     `json:"errors"`
	MedianMS float64 `json:"median_ms"`
	P90MS    float64 `json:"p90_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// runBenchSteps submits a job that holds --nodes nodes, then runs srun
// (this binary, as a new process each time, as a user's script would)
// inside it --runs times and reports the latency of each whole srun.
func runBenchSteps(e *Env, args []string) error {
	fs := newFlags(e, "bench steps")
	var r remote
	r.register(fs, true)
	nodes := fs.Int("nodes", 2, "nodes the allocation holds (and the step uses, -N)")
	tasks := fs.Int("ntasks", 8, "tasks of each step (-n)")
	runs := fs.Int("runs", 50, "steps to run")
	inProcess := fs.Bool("in-process", false, "run srun inside this process instead of as a new one (leaves out the binary's start)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *nodes <= 0 || *tasks <= 0 || *runs <= 0 {
		return usagef("--nodes, --ntasks and --runs must be positive")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary to run srun: %w", err)
	}
	c := r.client(e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	wd, _ := os.Getwd()
	resp, err := c.Submit(ctx, api.SubmitRequest{Spec: job.Spec{
		Name: "bench-steps", NodesMin: *nodes, NodesMax: *nodes, TimeLimitS: 1800, SubmitDir: wd,
		Script: "#!/bin/sh\nsleep 1800\n", Env: e.environ(), Output: "/dev/null",
	}}, "")
	if err != nil {
		return explain(err, c.Base)
	}
	defer func() { _ = c.Cancel(context.Background(), resp.ID, "") }()
	for {
		j, err := c.Job(ctx, resp.ID)
		if err != nil {
			return explain(err, c.Base)
		}
		if j.State == job.Running {
			break
		}
		if j.State.Final() {
			return fmt.Errorf("the allocation (job %d) ended %s before it ran: %s", resp.ID, j.State, j.Reason)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("job %d did not start: are %d nodes free? (gefion dev --nodes %d)", resp.ID, *nodes, *nodes)
		}
	}
	argv := []string{"srun", "-N", strconv.Itoa(*nodes), "-n", strconv.Itoa(*tasks), "true"}
	env := append(e.environ(), "SLURM_JOB_ID="+strconv.FormatInt(int64(resp.ID), 10), "GEFION_ADDR="+c.Base)
	var lat []time.Duration
	res := stepBenchResult{Command: strings.Join(argv, " "), Runs: *runs}
	envMap := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	inEnv := &Env{Stdin: strings.NewReader(""), Stdout: e.Stdout, Stderr: e.Stderr,
		Getenv: func(k string) string { return envMap[k] }, Environ: func() []string { return env }}
	for range *runs {
		t := time.Now()
		if *inProcess {
			if RunEnv(inEnv, argv) != 0 {
				res.Errors++
				continue
			}
		} else {
			cmd := exec.CommandContext(ctx, self, argv...)
			cmd.Env = env
			cmd.Stderr = e.Stderr
			if err := cmd.Run(); err != nil {
				res.Errors++
				continue
			}
		}
		lat = append(lat, time.Since(t))
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		res.MedianMS, res.P90MS = ms(lat[len(lat)/2]), ms(lat[len(lat)*9/10])
		res.MinMS, res.MaxMS = ms(lat[0]), ms(lat[len(lat)-1])
	}
	if r.asJSON {
		return writeJSON(e.Stdout, res)
	}
	fmt.Fprintf(e.Stdout, "%s: %d runs, %d errors, median %.1f ms, p90 %.1f ms, min %.1f ms, max %.1f ms\n",
		res.Command, res.Runs, res.Errors, res.MedianMS, res.P90MS, res.MinMS, res.MaxMS)
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d sruns failed", res.Errors, res.Runs)
	}
	return nil
}
