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
	// With --container-image: the same step in the image, run in turn
	// with the bare one, and the difference of the medians.
	ContainerCommand  string  `json:"container_command,omitempty"`
	ContainerErrors   int     `json:"container_errors,omitempty"`
	ContainerMedianMS float64 `json:"container_median_ms,omitempty"`
	ContainerP90MS    float64 `json:"container_p90_ms,omitempty"`
	OverheadMS        float64 `json:"container_overhead_ms,omitempty"`
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
	image := fs.String("container-image", "", "also run each step in this image (srun --container-image), in turn with the bare one, and report both")
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
	var ctrArgv []string
	if *image != "" {
		ctrArgv = []string{"srun", "-N", strconv.Itoa(*nodes), "-n", strconv.Itoa(*tasks), "--container-image=" + *image, "true"}
	}
	env := append(e.environ(), "SLURM_JOB_ID="+strconv.FormatInt(int64(resp.ID), 10), "GEFION_ADDR="+c.Base)
	res := stepBenchResult{Command: strings.Join(argv, " "), Runs: *runs}
	envMap := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	inEnv := &Env{Stdin: strings.NewReader(""), Stdout: e.Stdout, Stderr: e.Stderr,
		Getenv: func(k string) string { return envMap[k] }, Environ: func() []string { return env }}
	once := func(argv []string) (time.Duration, bool) {
		t := time.Now()
		if *inProcess {
			if RunEnv(inEnv, argv) != 0 {
				return 0, false
			}
		} else {
			cmd := exec.CommandContext(ctx, self, argv...)
			cmd.Env = env
			cmd.Stderr = e.Stderr
			if err := cmd.Run(); err != nil {
				return 0, false
			}
		}
		return time.Since(t), true
	}
	if ctrArgv != nil {
		// The image is pulled or unpacked once, before timing: the
		// figure is the start of a cached image.
		if _, ok := once(ctrArgv); !ok {
			return fmt.Errorf("%s failed; see its error above", strings.Join(ctrArgv, " "))
		}
	}
	var lat, ctrLat []time.Duration
	for range *runs {
		if d, ok := once(argv); ok {
			lat = append(lat, d)
		} else {
			res.Errors++
		}
		if ctrArgv != nil {
			if d, ok := once(ctrArgv); ok {
				ctrLat = append(ctrLat, d)
			} else {
				res.ContainerErrors++
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if len(lat) > 0 {
		slices.Sort(lat)
		res.MedianMS, res.P90MS = ms(lat[len(lat)/2]), ms(lat[len(lat)*9/10])
		res.MinMS, res.MaxMS = ms(lat[0]), ms(lat[len(lat)-1])
	}
	if len(ctrLat) > 0 {
		slices.Sort(ctrLat)
		res.ContainerCommand = strings.Join(ctrArgv, " ")
		res.ContainerMedianMS, res.ContainerP90MS = ms(ctrLat[len(ctrLat)/2]), ms(ctrLat[len(ctrLat)*9/10])
		res.OverheadMS = res.ContainerMedianMS - res.MedianMS
	}
	if r.asJSON {
		return writeJSON(e.Stdout, res)
	}
	fmt.Fprintf(e.Stdout, "%s: %d runs, %d errors, median %.1f ms, p90 %.1f ms, min %.1f ms, max %.1f ms\n",
		res.Command, res.Runs, res.Errors, res.MedianMS, res.P90MS, res.MinMS, res.MaxMS)
	if res.ContainerCommand != "" {
		fmt.Fprintf(e.Stdout, "%s: %d runs, %d errors, median %.1f ms, p90 %.1f ms; container start overhead (median difference) %.1f ms\n",
			res.ContainerCommand, res.Runs, res.ContainerErrors, res.ContainerMedianMS, res.ContainerP90MS, res.OverheadMS)
	}
	if res.Errors+res.ContainerErrors > 0 {
		return fmt.Errorf("%d of %d sruns failed", res.Errors+res.ContainerErrors, res.Runs*(1+min(len(ctrArgv), 1)))
	}
	return nil
}
