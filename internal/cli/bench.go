//go:build !client

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

func init() {
	register(&command{path: "bench submit", summary: "load tool: durable submissions per second against a controller", run: runBenchSubmit})
	register(&command{path: "bench run", summary: "load tool: trivial jobs finished per second on virtual nodes", run: runBenchRun})
}

// benchResult is what the load tools print.
type benchResult struct {
	Jobs          int     `json:"jobs"`
	Concurrency   int     `json:"concurrency"`
	Errors        int     `json:"errors"`
	WallS         float64 `json:"wall_s"`
	PerSecond     float64 `json:"per_second"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	MaxMS         float64 `json:"max_ms"`
	Nodes         int     `json:"nodes,omitempty"`
	ControllerRSS int64   `json:"controller_max_rss_mb,omitempty"`
	HeapMB        int64   `json:"heap_mb,omitempty"`
}

// submitLoad submits n trivial jobs over conc connections and returns the
// per-request latencies.
func submitLoad(ctx context.Context, c *client.Client, n, conc int, spec job.Spec) ([]time.Duration, int, time.Duration) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				_, err := c.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
				lat[i] = time.Since(t)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(string); ok {
		slog.Warn("submissions failed", "count", errs.Load(), "first", e)
	}
	return lat, int(errs.Load()), time.Since(start)
}

func summarize(lat []time.Duration, wall time.Duration, errs, conc int) benchResult {
	s := slices.Clone(lat)
	slices.Sort(s)
	q := func(p float64) float64 {
		if len(s) == 0 {
			return 0
		}
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	return benchResult{
		Jobs: len(lat), Concurrency: conc, Errors: errs, WallS: wall.Seconds(),
		PerSecond: float64(len(lat)-errs) / wall.Seconds(), P50MS: q(0.50), P99MS: q(0.99), MaxMS: q(1),
	}
}

func benchSpec(comment string) job.Spec {
	return job.Spec{Name: "bench", NTasks: 1, TimeLimitS: 60, Comment: comment, Script: "#!/bin/sh\ntrue\n"}
}

func runBenchSubmit(e *Env, args []string) error {
	fs := newFlags(e, "bench submit")
	var r remote
	r.register(fs, true)
	n := fs.Int("jobs", 10000, "submissions to make")
	conc := fs.Int("concurrency", 64, "concurrent clients")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to this file")
	compareAuth := fs.Int("compare-auth", 0, "run N rounds against two controllers in this process, credentials off (plain HTTP, stated user) and on (TLS, a node credential per request), and compare their medians")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if *n <= 0 || *conc <= 0 {
		return usagef("--jobs and --concurrency must be positive")
	}
	if *compareAuth < 0 {
		return usagef("--compare-auth=%d: give a number of rounds", *compareAuth)
	}
	if *compareAuth > 0 {
		return benchAuthCompare(e, *n, *conc, *compareAuth, r.asJSON)
	}
	c := r.client(e)
	ctx := context.Background()
	if err := c.Health(ctx); err != nil {
		return explain(err, c.Base)
	}
	// Held jobs: the submission path is measured, not the scheduler.
	spec := benchSpec("duration=0")
	spec.Hold = true
	var lat []time.Duration
	var errs int
	var wall time.Duration
	if strings.HasPrefix(c.Base, "http://") {
		if lat, errs, wall, err = submitLoadRaw(ctx, c, *n, *conc, spec); err != nil {
			return err
		}
	} else {
		lat, errs, wall = submitLoad(ctx, c, *n, *conc, spec)
	}
	res := summarize(lat, wall, errs, *conc)
	return printBench(e, r.asJSON, "submissions", res)
}

func printBench(e *Env, asJSON bool, what string, res benchResult) error {
	if asJSON {
		return writeJSON(e.Stdout, res)
	}
	fmt.Fprintf(e.Stdout, "%d %s in %.2f s: %.0f/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d errors\n",
		res.Jobs, what, res.WallS, res.PerSecond, res.P50MS, res.P99MS, res.MaxMS, res.Errors)
	if res.ControllerRSS > 0 {
		fmt.Fprintf(e.Stdout, "controller process: max RSS %d MiB, Go heap %d MiB\n", res.ControllerRSS, res.HeapMB)
	}
	if res.Errors > 0 {
		return errors.New("some requests failed")
	}
	return nil
}

// runBenchRun starts a controller on SQLite in a temporary directory and an
// agent with N virtual nodes in this process, both over loopback HTTP,
// submits zero-length jobs and measures submitted-to-finished throughput.
func runBenchRun(e *Env, args []string) error {
	fs := newFlags(e, "bench run")
	asJSON := fs.Bool("json", false, "print one JSON document")
	virtual := fs.Int("virtual", 191, "virtual DGX H100 nodes")
	n := fs.Int("jobs", 20000, "jobs to run")
	conc := fs.Int("concurrency", 32, "concurrent submitting clients")
	dataDir := fs.String("data-dir", "", "where the database goes (default: a temporary directory)")
	policy := fs.String("policy", "", "scheduling policy")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *virtual <= 0 || *n <= 0 || *conc <= 0 {
		return usagef("--virtual, --jobs and --concurrency must be positive")
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	dir := *dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "gefion-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	st, err := sqlite.Open(dir + "/gefion.db")
	if err != nil {
		return err
	}
	defer st.Close()
	ctl, err := controller.New(controller.Config{Policy: *policy, DefaultProject: "default", Operators: []string{"bench"}}, st, nil, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// No per-address bound: every load client comes from this host.
	srv := controller.NewHTTPServer(ctl.Handler(), controller.HTTPConfig{})
	go func() { _ = ctl.Run(ctx) }()
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	addr := "http://" + ln.Addr().String()
	m := cluster.DGXH100
	ag := &agent.Agent{Client: client.NewAgent(addr, ctl.JoinToken()), ID: "bench", Nodes: agent.VirtualNodes("dgx", *virtual, &m, 1), Exec: &agent.Virtual{GPU: m.GPU}}
	go func() { _ = ag.Run(ctx) }()
	c := client.NewPooled(addr, "bench")
	for deadline := time.Now().Add(30 * time.Second); ; {
		ns, err := c.Nodes(ctx)
		if err == nil && len(ns) == *virtual && !slices.ContainsFunc(ns, func(n api.Node) bool { return n.State == "down" }) {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("virtual nodes did not come up within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	lat, errs, _ := submitLoad(ctx, c, *n, *conc, benchSpec("duration=0"))
	// Wait until every job has finished.
	for {
		jobs, err := c.ActiveJobs(ctx, true)
		if err != nil {
			return explain(err, addr)
		}
		active := 0
		for _, j := range jobs {
			if !j.State.Final() {
				active++
			}
		}
		if active == 0 {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return fmt.Errorf("%d jobs still active after 10 minutes", active)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wall := time.Since(start)
	res := summarize(lat, wall, errs, *conc)
	res.PerSecond = float64(*n-errs) / wall.Seconds()
	res.Nodes = *virtual
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapMB = int64(ms.HeapAlloc >> 20)
	res.ControllerRSS = maxRSSMB()
	return printBench(e, *asJSON, "jobs finished", res)
}

// maxRSSMB reads this process's peak resident set (VmHWM) in MiB.
func maxRSSMB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb int64
		if n, _ := fmt.Sscanf(line, "VmHWM: %d kB", &kb); n == 1 {
			return kb >> 10
		}
	}
	return 0
}
