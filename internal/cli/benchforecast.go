//go:build !client

package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/clock"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/twin"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

func init() {
	register(&command{path: "bench forecast", summary: "load tool: replay a trace slice through a live controller on virtual nodes and score start-time forecasts against real starts", run: runBenchForecast})
}

// The forecast bench replays a slice of a trace through a live controller
// (in this process, on a clock that runs --speedup times faster than real
// time) and an agent with virtual nodes over loopback HTTP. Each job is
// submitted at its scaled arrival with its time limit and runs for its
// true run time (the virtual executor's duration=). As soon as the
// controller has planned a job, the bench asks `why` for it and keeps
// both answers: the twin's forecast start and the plan's estimated start
// (the reservation, as squeue --start shows it). When every job has ended,
// each answer is scored against the job's real start.

// With --known-runtimes the bench also scores a diagnostic method,
// twin-known-runtimes: the same twin forecast, from the same snapshot, but
// with every running and pending job's true run time (which the bench
// knows: it submits each job with it) instead of the predicted one. No
// live system can give that forecast; it bounds what better run-time
// prediction can gain, and what error remains with it comes from the rest:
// jobs submitted later that overtake under the policy, and the live
// controller's timing. To split those two, --known-runtimes also scores
// twin-known-arrivals: the same twin, from the same snapshot, with the
// true run times and every job the bench will submit later, at its
// arrival, in place of the submissions the forecast expects. What error that keeps is the live controller's timing at the
// speed-up (passes and agents' reports on a scaled clock) and where the
// twin's model of the live controller differs, which no forecast input
// can remove. And twin-hindsight is the twin's own replay of the whole
// slice, every arrival and run time known, as a "forecast" of each start:
// it shows how far the twin and the live controller drift apart over the
// slice.

// forecastMethods are the scored methods, in the order they print;
// the diagnostics are scored only with --known-runtimes.
var forecastMethods = []string{"twin", "reservation"}

const (
	knownMethod     = "twin-known-runtimes"
	clairMethod     = "twin-known-arrivals"
	hindsightMethod = "twin-hindsight"
)

// benchArrivalIDBase numbers the known later submissions of the
// twin-known-arrivals diagnostic far above real job IDs.
const benchArrivalIDBase job.ID = 1 << 40

// forecastStats scores one method over the jobs that waited.
type forecastStats struct {
	// Forecasts is how many of the jobs that waited got a forecast from
	// this method (the others are left out of the figures below).
	Forecasts int `json:"forecasts"`
	// Errors are forecast minus real start: positive is a forecast later
	// than the real start. Fractions are of each job's real wait.
	MedianAbsErrFrac float64 `json:"median_abs_err_frac"`
	P90AbsErrFrac    float64 `json:"p90_abs_err_frac"`
	MedianErrFrac    float64 `json:"median_err_frac"`
	MedianAbsErrS    float64 `json:"median_abs_err_s"`
	// Within10Pct and Within30Min are the shares of forecasts within 10%
	// of the real wait and within 30 minutes (trace time) of the start.
	Within10Pct float64 `json:"within_10pct"`
	Within30Min float64 `json:"within_30min"`
	// Ranges counts the forecasts that came with a likely range (the twin
	// method, for queues short enough for the sampled runs), and InRange
	// the share of those whose real start fell inside it. The range is
	// the second lowest to the second highest of five sampled runs, about
	// the 20th to the 80th percentile: calibrated, it holds about 60%.
	Ranges  int     `json:"ranges,omitempty"`
	InRange float64 `json:"in_range,omitempty"`
}

// forecastBenchResult is what bench forecast prints.
type forecastBenchResult struct {
	Trace   string `json:"trace"`
	Format  string `json:"format"`
	Cluster string `json:"cluster"`
	GPUs    int    `json:"gpus"`
	Jobs    int    `json:"jobs"`
	// Tail counts the jobs submitted after the scored ones, unscored,
	// until every scored job had started.
	Tail int `json:"tail_jobs"`
	// Waited counts jobs that waited at least MinWaitS (trace seconds).
	Waited   int     `json:"waited"`
	MinWaitS int64   `json:"min_wait_s"`
	Load     float64 `json:"load"`
	// Speedup is the asked trace seconds per real second; Achieved the
	// rate the replay kept.
	Speedup  float64 `json:"speedup"`
	Achieved float64 `json:"achieved_speedup"`
	WallS    float64 `json:"wall_s"`
	AvgWaitS float64 `json:"avg_wait_s"`
	// AskDelayS is the median, over the jobs that waited, of the trace
	// time from a job's submission to its forecast; StartedBeforeAsked
	// counts those that had started before they could be asked about
	// (they have no forecast). Both grow when the controller cannot
	// answer at the speed-up: forecasts come later than at submission.
	AskDelayS          float64                   `json:"ask_delay_median_s"`
	StartedBeforeAsked int                       `json:"started_before_asked"`
	Methods            map[string]*forecastStats `json:"methods"`
	Report             string                    `json:"report,omitempty"`
}

// forecastBenchOptions configure one replay; the zero value is not valid
// (it needs a workload and a speed-up).
type forecastBenchOptions struct {
	// W is the slice and, after its first Scored jobs, the tail: jobs
	// submitted (and scheduled) as the trace goes on, unscored, until
	// every scored job has started. 0 scores every job.
	W        *twin.Workload
	Scored   int
	Policy   string
	Speedup  float64
	MinWaitS int64
	// KnownRuntimes also scores knownMethod.
	KnownRuntimes bool
	// Progress, when set, gets a line now and then.
	Progress io.Writer
}

// jobForecast is one job's answers and outcome, in trace seconds from
// the replay's start (the controller's clock reads epoch + trace time).
type jobForecast struct {
	ID                  job.ID
	SubmitS, StartS     int64
	AskedS              int64 // when the forecast was given
	Twin, Reservation   int64 // 0: none
	Known               int64 // knownMethod's forecast; 0: none
	Clair               int64 // clairMethod's forecast; 0: none
	Hindsight           int64 // hindsightMethod's start; 0: none
	TwinLow, TwinHigh   int64
	startedBeforeAsking bool
}

// forecastEpoch is the controller clock's reading at trace time 0: a fixed
// date, so that runs print the same times.
var forecastEpoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// errControllerBehind marks a replay the controller could not keep pace
// with.
var errControllerBehind = errors.New("the controller cannot keep up with this speed-up")

func runBenchForecast(e *Env, args []string) error {
	fs := newFlags(e, "bench forecast")
	tracePath := fs.String("trace", "", "trace file (CSV), as gefion sim reads it")
	format := fs.String("format", "csv", "trace format, as for gefion sim")
	n := fs.Int("jobs", 1500, "jobs of the trace to replay, by submit time")
	tail := fs.Int("tail", -1, "after the scored jobs, keep submitting up to this many of the trace's next jobs, unscored, until every scored job has started, as a machine's users would (-1: a third of --jobs)")
	skip := fs.Int("skip", 0, "leave out this many of the trace's first jobs by submit time (a slice from later in the trace)")
	preset := fs.String("preset", "gefion:16", "the machine: gefion, gefion:N (N nodes) or dgx-h100; a smaller machine makes queues")
	load := fs.Float64("load", 0, "rescale arrivals to this offered load (0: the trace's own)")
	speedup := fs.Float64("speedup", 0, "trace seconds per real second (0: chosen so that the replay takes about --wall)")
	wall := fs.Duration("wall", 3*time.Minute, "real time the automatic speed-up aims at")
	policy := fs.String("policy", "default", "scheduling policy: "+strings.Join(sched.PolicyNames(), ", "))
	tlm := fs.String("time-limit-model", "user", "time limits from run times, as for gefion sim: exact, user, trace, factor:F, uniform:F")
	seed := fs.Uint64("seed", 1, "random seed (time limits)")
	minWait := fs.Duration("min-wait", 10*time.Minute, "score jobs that waited at least this long (trace time)")
	report := fs.String("report", "", "write an HTML report with the error distributions to this file")
	perJob := fs.String("csv", "", "write each job's times and forecasts (trace seconds) to this CSV file")
	asJSON := fs.Bool("json", false, "print one JSON document")
	known := fs.Bool("known-runtimes", false, "diagnostic: also score "+knownMethod+", the twin forecast given every job's true run time (a bound on what run-time prediction can gain)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *tracePath == "" {
		return usagef("give the trace with --trace FILE (and its --format)")
	}
	if *n <= 0 || *skip < 0 {
		return usagef("--jobs %d --skip %d: give a positive number of jobs and a number >= 0 to skip", *n, *skip)
	}
	if *tail < -1 {
		return usagef("--tail %d: give a number of jobs >= 0, or -1 for a third of --jobs", *tail)
	}
	if *tail == -1 {
		*tail = *n / 3
	}
	if !(*load >= 0) || math.IsInf(*load, 0) {
		return usagef("--load %v: give an offered load > 0, or 0 for the trace's own", *load)
	}
	if !(*speedup >= 0) || math.IsInf(*speedup, 0) {
		return usagef("--speedup %v: give trace seconds per real second (> 0), or 0 to choose one", *speedup)
	}
	if *wall <= 0 {
		return usagef("--wall %v: give a positive duration such as 3m", *wall)
	}
	if *minWait < 0 {
		return usagef("--min-wait %v: give a duration >= 0", *minWait)
	}
	pol, err := sched.PolicyByName(*policy)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	c, err := loadCluster(*preset, "")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(*preset, "gefion") && *preset != "dgx-h100" {
		return usagef("--preset %s: the bench runs virtual DGX H100 nodes; give gefion, gefion:N or dgx-h100", *preset)
	}
	opt := twin.MapOptions{Seed: *seed, MaxJobs: *n, Load: *load, MaxTimeS: cluster.DefaultMaxTimeS}
	if opt.TimeLimit, err = twin.ParseTimeLimitModel(*tlm); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	f, err := os.Open(*tracePath)
	if err != nil {
		return fmt.Errorf("opening the trace: %w", err)
	}
	defer f.Close()
	r, err := trace.Open(f, trace.Options{Format: trace.Format(*format), Name: *tracePath})
	if err != nil {
		return err
	}
	recs, err := trace.ReadAll(r)
	if err != nil {
		return err
	}
	if *skip > 0 {
		if *skip >= len(recs) {
			return usagef("--skip %d: the trace holds %d jobs", *skip, len(recs))
		}
		slices.SortStableFunc(recs, func(a, b trace.Record) int { return cmp.Compare(a.SubmitS, b.SubmitS) })
		recs = recs[*skip:]
	}
	w, err := twin.MapRecords(recs, c, opt)
	if err != nil {
		return err
	}
	if w.Oversized > 0 {
		return fmt.Errorf("%d jobs of the slice do not fit %s (%d nodes), for example %s: give a larger --preset gefion:N",
			w.Oversized, c.Name, len(c.Nodes), strings.Join(w.OversizedNotes, "; "))
	}
	if len(w.Jobs) < *n {
		fmt.Fprintf(e.Stderr, "bench forecast: the trace holds %d jobs; replaying them all\n", len(w.Jobs))
	}
	if from, to, ok := denseCore(w.Jobs); ok {
		core := w.Jobs[from:to]
		fmt.Fprintf(e.Stderr, "bench forecast: warning: %d%% of the slice's jobs arrive within %s of its %s span: --load %.2f is the load over the whole span, and those jobs are offered %.2f; --skip %d starts the slice at them\n",
			int(denseShare*100), hms(float64(core[len(core)-1].SubmitS-core[0].SubmitS)), hms(float64(w.SpanS)), w.Load, twin.OfferedLoad(core, c.TotalGPUs()), *skip+from)
	}
	all, err := withTail(recs, c, opt, w, *tail)
	if err != nil {
		return err
	}
	// The report's file is checked before the replay: minutes of work
	// should not end in a directory that cannot be written.
	for _, out := range []string{*report, *perJob} {
		if out == "" {
			continue
		}
		if err := checkWritableDir(out); err != nil {
			return err
		}
	}
	s := *speedup
	if s == 0 {
		// The twin replays the slice in a moment and says how long it
		// spans; the live replay is then paced to take about --wall.
		res, err := twin.Run(w, twin.Config{Policy: pol, Seed: *seed})
		if err != nil {
			return err
		}
		s = max(1, math.Ceil(twin.Summarize(res).MakespanS/wall.Seconds()))
	}
	var progress io.Writer
	if !*asJSON {
		progress = e.Stderr
	}
	res, fcs, err := benchForecast(context.Background(), forecastBenchOptions{W: all, Scored: len(w.Jobs), Policy: pol.Name, Speedup: s, MinWaitS: int64(minWait.Seconds()), KnownRuntimes: *known, Progress: progress})
	if err != nil {
		return err
	}
	res.Trace, res.Format, res.Cluster = *tracePath, *format, c.Name
	if *report != "" {
		if err := writeForecastReport(*report, res, fcs); err != nil {
			return err
		}
		res.Report = *report
	}
	if *perJob != "" {
		var b strings.Builder
		b.WriteString("id,user,project,gpus,limit_s,run_s,submit_s,asked_s,start_s,twin_s,twin_low_s,twin_high_s,reservation_s,known_runtimes_s,known_arrivals_s,hindsight_s\n")
		for i, fc := range fcs {
			j := &w.Jobs[i]
			fmt.Fprintf(&b, "%d,%s,%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n", fc.ID, j.User, w.Projects[j.Project].Name, j.GPUs, j.Req.TimeLimitS, j.RunS,
				fc.SubmitS, fc.AskedS, fc.StartS, fc.Twin, fc.TwinLow, fc.TwinHigh, fc.Reservation, fc.Known, fc.Clair, fc.Hindsight)
		}
		if err := writeFileAtomic(*perJob, b.String()); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(e.Stdout, res)
	}
	printForecastBench(e.Stdout, res)
	return nil
}

// denseShare is the share of a slice's jobs that denseCore looks for.
const denseShare = 0.95

// denseCore finds the shortest stretch of arrivals that holds denseShare
// of the jobs (jobs[from:to], in submit order) and says whether it is
// shorter than a quarter of the slice's span: the slice is then mostly a
// long, nearly empty stretch, its offered load is far below what the
// dense part is offered, and the queue that forms is not the one --load
// asks for.
func denseCore(jobs []twin.Job) (from, to int, ok bool) {
	n := len(jobs)
	m := int(math.Ceil(denseShare * float64(n)))
	if n < 20 || m >= n {
		return 0, 0, false
	}
	best := int64(math.MaxInt64)
	for i := 0; i+m <= n; i++ {
		if w := jobs[i+m-1].SubmitS - jobs[i].SubmitS; w < best {
			best, from = w, i
		}
	}
	span := jobs[n-1].SubmitS - jobs[0].SubmitS
	return from, from + m, 4*best < span
}

// withTail maps the slice w of recs and up to tail more jobs, on the
// slice's own time scale: the tail's arrivals are rescaled as the slice's
// were, and the slice's jobs are as in w.
func withTail(recs []trace.Record, c *cluster.Cluster, opt twin.MapOptions, w *twin.Workload, tail int) (*twin.Workload, error) {
	if tail == 0 || len(w.Jobs) < opt.MaxJobs {
		return w, nil
	}
	load := opt.Load
	opt.MaxJobs += tail
	opt.Load = 0
	all, err := twin.MapRecords(recs, c, opt)
	if err != nil {
		return nil, err
	}
	if load > 0 && w.NativeLoad > 0 {
		// As MapRecords rescales, with the slice's factor.
		k := w.NativeLoad / load
		for i := range all.Jobs {
			all.Jobs[i].SubmitS = int64(math.Round(float64(all.Jobs[i].SubmitS) * k))
		}
	}
	// The slice must be the same jobs at the same times.
	for i, j := range w.Jobs {
		if a := all.Jobs[i]; a.SubmitS != j.SubmitS || a.Req != j.Req || a.RunS != j.RunS || a.User != j.User {
			return nil, fmt.Errorf("the slice's job %d maps differently with its tail (%+v, %+v): give --tail 0", i, a, j)
		}
	}
	all.Load = w.Load
	return all, nil
}

// checkWritableDir fails unless path's directory exists and takes files.
func checkWritableDir(path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".gefion-check-*")
	if err != nil {
		return fmt.Errorf("--report %s: cannot write in %s: %w", path, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// benchForecast runs the replay and scores it.
func benchForecast(ctx context.Context, o forecastBenchOptions) (*forecastBenchResult, []jobForecast, error) {
	w, S := o.W, o.Speedup
	scored := o.Scored
	if scored <= 0 || scored > len(w.Jobs) {
		scored = len(w.Jobs)
	}
	nodes := len(w.Cluster.Nodes)
	clk := clock.NewScaled(forecastEpoch, S)
	scaled := func(real time.Duration) time.Duration { return time.Duration(float64(real) * S) }
	st := store.NewMemory()
	// runS holds the true run time of each submitted job for the
	// known-run-time diagnostic; a job is entered under the write lock
	// held across its submission, so that a forecast whose snapshot holds
	// it finds it.
	// submitted counts the jobs submitted, under the same lock, so that
	// the rest are the later arrivals.
	var runMu sync.RWMutex
	runS := make(map[job.ID]int64, len(w.Jobs))
	submitted := 0
	var t0 int64 // the trace's time 0 on the controller's clock, set below
	var knownRunS func(job.ID) (int64, bool)
	var knownLater func(int64) []twin.Arrival
	if o.KnownRuntimes {
		knownRunS = func(id job.ID) (int64, bool) {
			runMu.RLock()
			defer runMu.RUnlock()
			r, ok := runS[id]
			return r, ok
		}
		knownLater = func(now int64) []twin.Arrival {
			runMu.RLock()
			defer runMu.RUnlock()
			out := make([]twin.Arrival, 0, len(w.Jobs)-submitted)
			for i := submitted; i < len(w.Jobs); i++ {
				j := &w.Jobs[i]
				// A submission running late comes just after the snapshot.
				at := max(forecastEpoch.Unix()+t0+j.SubmitS, now+1)
				out = append(out, twin.Arrival{RunS: j.RunS, Job: sched.Pending{ID: benchArrivalIDBase + job.ID(i), Req: j.Req,
					User: j.User, Project: w.Projects[j.Project].Name, SubmitS: at}})
			}
			return out
		}
	}
	// Intervals are on the scaled clock: a pass at most every few real
	// milliseconds (and at least every trace second), agents' silence
	// judged in real seconds.
	ctl, err := controller.New(controller.Config{
		Policy: o.Policy, DefaultProject: "default", Operators: []string{"bench"},
		SchedInterval:         max(time.Second, scaled(time.Millisecond)),
		FullPassEvery:         max(time.Minute, scaled(200*time.Millisecond)),
		LostAfter:             scaled(time.Minute),
		ForecastKnownRunS:     knownRunS,
		ForecastKnownArrivals: knownLater,
	}, st, clk, nil)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := controller.NewHTTPServer(ctl.Handler(), controller.HTTPConfig{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); _ = ctl.Run(ctx) }()
	go func() { defer bg.Done(); _ = srv.Serve(ln) }()
	defer func() { srv.Close(); cancel(); bg.Wait() }()
	addr := "http://" + ln.Addr().String()
	m := cluster.DGXH100
	ag := &agent.Agent{Client: client.NewAgent(addr, ctl.JoinToken()), ID: "bench", Clock: clk,
		Nodes: agent.VirtualNodes("dgx", nodes, &m, 1), Exec: &agent.Virtual{Clock: clk, GPU: m.GPU}}
	bg.Add(1)
	go func() { defer bg.Done(); _ = ag.Run(ctx) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		ns, err := ctl.Nodes(ctx)
		if err == nil && len(ns) == nodes && !slices.ContainsFunc(ns, func(n api.Node) bool { return n.State == "down" }) {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, errors.New("the virtual nodes did not come up within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Each tenant of the trace is a project of its users.
	members := make([][]string, len(w.Projects))
	for _, j := range w.Jobs {
		if !slices.Contains(members[j.Project], j.User) {
			members[j.Project] = append(members[j.Project], j.User)
		}
	}
	for i, p := range w.Projects {
		// The controller's default project exists already.
		if err := ctl.ChangeProject(ctx, "bench", api.ProjectChange{Name: p.Name, AddUsers: members[i]}, p.Name != "default"); err != nil {
			return nil, nil, fmt.Errorf("creating project %s: %w", p.Name, err)
		}
	}

	// The trace's time 0 is now on the controller's clock.
	t0 = clk.Now().Unix() - forecastEpoch.Unix()
	trace := func() int64 { return clk.Now().Unix() - forecastEpoch.Unix() - t0 }
	realStart := time.Now()
	ask := make(chan job.ID, len(w.Jobs))
	fcs := make([]jobForecast, len(w.Jobs))
	byID := make(map[job.ID]int, len(w.Jobs))
	var mu sync.Mutex
	askerDone := make(chan error, 1)
	go func() {
		askerDone <- askForecasts(ctx, ctl, ask, func(id job.ID, wy *api.Why) {
			mu.Lock()
			defer mu.Unlock()
			fc := &fcs[byID[id]]
			fc.AskedS = trace()
			if wy.State != job.Pending {
				fc.startedBeforeAsking = true
				return
			}
			fc.Twin, fc.TwinLow, fc.TwinHigh = rel(wy.Forecast, t0), rel(wy.ForecastLow, t0), rel(wy.ForecastHigh, t0)
			fc.Reservation = rel(wy.EstimatedStart, t0)
			if o.KnownRuntimes {
				// Read from the run that gave the twin's answer.
				k, all := ctl.DiagnosticForecast(ctx, id)
				fc.Known, fc.Clair = rel(k, t0), rel(all, t0)
			}
		})
	}()
	var maxLag int64
	lastReport := time.Now()
	// left counts the jobs the replay still waits for: the scored jobs
	// not yet started, and without a tail every job not yet ended (the
	// longest can take the trace's tail).
	left := func() (int, error) {
		active, err := ctl.ListJobs(ctx, "bench", true, true)
		if err != nil {
			return 0, err
		}
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range active {
			if i, ok := byID[a.ID]; ok && (scored == len(w.Jobs) || i < scored && a.State == job.Pending) {
				n++
			}
		}
		return n, nil
	}
	// The asker is done once the last scored job is handed to it.
	closeAsk := sync.OnceFunc(func() { close(ask) })
	// The tail is submitted until every scored job has started, looked
	// up at most every 100 ms.
	var lastLook time.Time
	tailed := 0
	for i, j := range w.Jobs {
		if i == scored {
			closeAsk()
		}
		if d := time.Until(realStart.Add(time.Duration(float64(j.SubmitS) / S * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		if i >= scored && time.Since(lastLook) >= 100*time.Millisecond {
			// At the tail job's arrival: is it still needed?
			lastLook = time.Now()
			n, err := left()
			if err != nil {
				return nil, nil, err
			}
			if n == 0 {
				break
			}
		}
		if i >= scored {
			tailed++
		}
		if lag := trace() - j.SubmitS; lag > maxLag {
			maxLag = lag
			// Submissions that fall minutes of trace time behind their
			// arrivals no longer replay the trace.
			if lag > max(600, w.SpanS/50) {
				cancel()
				return nil, nil, fmt.Errorf("%w: after %d of %d jobs the submissions are %d trace seconds behind their arrivals: they kept a rate of %.0f trace seconds per second for --speedup %.0f: give a lower --speedup, or fewer --jobs",
					errControllerBehind, i, len(w.Jobs), lag, float64(j.SubmitS)/time.Since(realStart).Seconds(), S)
			}
		}
		spec := job.Spec{
			Name: fmt.Sprintf("trace-%d", j.ID), Account: w.Projects[j.Project].Name,
			NodesMin: j.Req.Nodes, NodesMax: j.Req.Nodes, NTasksPerNode: 1, CPUsPerTask: j.Req.CPUsPerNode,
			GPUsPerNode: j.Req.GPUsPerNode, MemPerNodeMB: j.Req.MemPerNodeMB, Exclusive: j.Req.WholeNodes,
			TimeLimitS: j.Req.TimeLimitS, Comment: fmt.Sprintf("duration=%d", j.RunS), Script: "#!/bin/sh\ntrue\n",
		}
		runMu.Lock()
		resp, err := ctl.Submit(ctx, j.User, "", api.SubmitRequest{Spec: spec})
		if err == nil {
			runS[resp.ID] = j.RunS
			submitted = i + 1
		}
		runMu.Unlock()
		if err != nil {
			return nil, nil, fmt.Errorf("submitting job %d of the slice (%d GPUs, limit %ds): %w", j.ID, j.GPUs, j.Req.TimeLimitS, err)
		}
		mu.Lock()
		byID[resp.ID] = i
		fcs[i].ID = resp.ID
		mu.Unlock()
		if i < scored {
			ask <- resp.ID
		}
		if o.Progress != nil && time.Since(lastReport) > 10*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(o.Progress, "bench forecast: %d/%d jobs submitted, trace time %s, %.0f s\n", i+1, len(w.Jobs), hms(float64(trace())), time.Since(realStart).Seconds())
		}
	}
	closeAsk()
	if err := <-askerDone; err != nil {
		return nil, nil, err
	}
	for {
		n, err := left()
		if err != nil {
			return nil, nil, err
		}
		if n == 0 {
			break
		}
		if o.Progress != nil && time.Since(lastReport) > 10*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(o.Progress, "bench forecast: %d jobs still to start or end, trace time %s, %.0f s\n", n, hms(float64(trace())), time.Since(realStart).Seconds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	wallS := time.Since(realStart).Seconds()
	recs, err := st.Jobs(ctx, store.JobQuery{})
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range recs {
		i, ok := byID[rec.ID]
		if !ok {
			continue
		}
		if i >= scored {
			continue
		}
		if rec.StartS == 0 {
			return nil, nil, fmt.Errorf("job %d ended %s without starting: %s", rec.ID, rec.State, rec.Reason)
		}
		fcs[i].SubmitS, fcs[i].StartS = rel(rec.SubmitS, t0), rel(rec.StartS, t0)
	}
	if o.KnownRuntimes {
		// The twin replays the slice as it was submitted, with the
		// controller's pass interval, policy and half-life.
		pol, err := sched.PolicyByName(o.Policy)
		if err != nil {
			return nil, nil, err
		}
		hs, err := twin.Run(w, twin.Config{Policy: pol, SchedIntervalS: 1, Estimates: twin.EstimateNone,
			HalfLifeS: int64((7 * 24 * time.Hour).Seconds())})
		if err != nil {
			return nil, nil, err
		}
		for i := range fcs {
			if st := hs.Jobs[i].FirstStartS; st >= 0 {
				fcs[i].Hindsight = max(st, 1) // 0 is "none"
			}
		}
	}
	fcs = fcs[:scored]
	res := scoreForecasts(fcs, o.MinWaitS, o.KnownRuntimes)
	res.Tail = tailed
	res.GPUs, res.Load, res.Speedup, res.WallS = w.Cluster.TotalGPUs(), w.Load, S, wallS
	res.Achieved = float64(trace()) / wallS
	return res, fcs, nil
}

// rel converts a Unix time of the controller's clock to trace seconds; 0
// stays 0 (no answer).
func rel(unix, t0 int64) int64 {
	if unix == 0 {
		return 0
	}
	return unix - forecastEpoch.Unix() - t0
}

// askForecasts asks why for each submitted job as soon as the controller
// has planned it (a job not yet in a plan is asked again a moment later)
// and hands the answer to got. Jobs are asked in batches: the first
// question of a batch makes the controller forecast the whole queue, and
// the rest read that forecast.
func askForecasts(ctx context.Context, ctl *controller.Controller, ask <-chan job.ID, got func(job.ID, *api.Why)) error {
	var queue []job.ID
	open := true
	for open || len(queue) > 0 {
		// Take what has arrived; wait for more only when idle.
		if len(queue) == 0 {
			id, ok := <-ask
			if !ok {
				break
			}
			queue = append(queue, id)
		}
	drain:
		for open {
			select {
			case id, ok := <-ask:
				if !ok {
					open = false
					break drain
				}
				queue = append(queue, id)
			default:
				break drain
			}
		}
		// Which jobs are planned: asking why of one that is not would
		// make the controller forecast the queue for nothing.
		active, err := ctl.ListJobs(ctx, "bench", true, true)
		if err != nil {
			return err
		}
		state := make(map[job.ID]api.Job, len(active))
		for _, j := range active {
			state[j.ID] = j
		}
		var again []job.ID
		for _, id := range queue {
			if j, ok := state[id]; ok && j.State == job.Pending && (j.Reason == "" || j.Reason == "None") {
				again = append(again, id)
				continue
			}
			wy, err := ctl.Why(ctx, "bench", job.Ref{ID: id})
			var ae *api.Error
			if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
				// It ran and ended before it could be asked about, and
				// the controller keeps only recent ended jobs at hand.
				got(id, &api.Why{ID: id, State: job.Completed})
				continue
			}
			if err != nil {
				return fmt.Errorf("asking why of job %d: %w", id, err)
			}
			if wy.State == job.Pending && wy.Reason == "None" {
				again = append(again, id) // not in a plan yet
				continue
			}
			got(id, wy)
		}
		queue = again
		if len(again) > 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}

// scoreForecasts computes each method's figures over the jobs that waited
// at least minWaitS; waits and errors come from the real starts.
func scoreForecasts(fcs []jobForecast, minWaitS int64, known bool) *forecastBenchResult {
	res := &forecastBenchResult{Jobs: len(fcs), MinWaitS: minWaitS, Methods: map[string]*forecastStats{}}
	var sumWait float64
	for _, fc := range fcs {
		sumWait += float64(fc.StartS - fc.SubmitS)
	}
	if len(fcs) > 0 {
		res.AvgWaitS = sumWait / float64(len(fcs))
	}
	var delays []float64
	for _, fc := range fcs {
		if fc.StartS-fc.SubmitS < max(minWaitS, 1) {
			continue
		}
		if fc.startedBeforeAsking {
			res.StartedBeforeAsked++
		}
		if fc.AskedS > 0 {
			delays = append(delays, float64(max(fc.AskedS-fc.SubmitS, 0)))
		}
	}
	if len(delays) > 0 {
		res.AskDelayS = quantile(delays, 0.5)
	}
	for _, m := range scoredMethods(known) {
		var abs, signed, absS []float64
		var in10, in30, ranges, inRange int
		for _, fc := range fcs {
			wait := fc.StartS - fc.SubmitS
			if wait < max(minWaitS, 1) {
				continue
			}
			if m == forecastMethods[0] {
				res.Waited++
			}
			f := fc.forecast(m)
			if f == 0 {
				continue
			}
			e := float64(f - fc.StartS)
			abs = append(abs, math.Abs(e)/float64(wait))
			signed = append(signed, e/float64(wait))
			absS = append(absS, math.Abs(e))
			if math.Abs(e) <= 0.1*float64(wait) {
				in10++
			}
			if math.Abs(e) <= 1800 {
				in30++
			}
			if m == "twin" && fc.TwinLow > 0 && fc.TwinHigh > 0 {
				ranges++
				if fc.TwinLow <= fc.StartS && fc.StartS <= fc.TwinHigh {
					inRange++
				}
			}
		}
		s := &forecastStats{Forecasts: len(abs)}
		if len(abs) > 0 {
			s.MedianAbsErrFrac, s.P90AbsErrFrac = quantile(abs, 0.5), quantile(abs, 0.9)
			s.MedianErrFrac, s.MedianAbsErrS = quantile(signed, 0.5), quantile(absS, 0.5)
			s.Within10Pct, s.Within30Min = float64(in10)/float64(len(abs)), float64(in30)/float64(len(abs))
		}
		if ranges > 0 {
			s.Ranges, s.InRange = ranges, float64(inRange)/float64(ranges)
		}
		res.Methods[m] = s
	}
	return res
}

// scoredMethods returns the methods scored, in the order they print.
func scoredMethods(known bool) []string {
	if known {
		return []string{forecastMethods[0], knownMethod, clairMethod, hindsightMethod, forecastMethods[1]}
	}
	return forecastMethods
}

// forecast returns a method's answer for the job (0: none).
func (fc *jobForecast) forecast(method string) int64 {
	switch method {
	case "twin":
		return fc.Twin
	case knownMethod:
		return fc.Known
	case clairMethod:
		return fc.Clair
	case hindsightMethod:
		return fc.Hindsight
	}
	return fc.Reservation
}

// quantile returns the q-quantile of v (sorted in place), interpolated.
func quantile(v []float64, q float64) float64 {
	sort.Float64s(v)
	x := q * float64(len(v)-1)
	i := int(x)
	if i+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[i] + (x-float64(i))*(v[i+1]-v[i])
}

func printForecastBench(out io.Writer, r *forecastBenchResult) {
	fmt.Fprintf(out, "%d jobs of %s on %s (%d GPUs), offered load %.2f, speed-up %.0fx (achieved %.0fx), %.0f s\n",
		r.Jobs, r.Trace, r.Cluster, r.GPUs, r.Load, r.Speedup, r.Achieved, r.WallS)
	if r.Tail > 0 {
		fmt.Fprintf(out, "then %d jobs more of the trace, unscored, until every scored job had started\n", r.Tail)
	}
	fmt.Fprintf(out, "%d jobs waited at least %s (average wait of all jobs %s); forecasts at submission against real starts,\n",
		r.Waited, hms(float64(r.MinWaitS)), hms(r.AvgWaitS))
	fmt.Fprintf(out, "asked a median of %s of trace time after submission", hms(r.AskDelayS))
	if r.StartedBeforeAsked > 0 {
		fmt.Fprintf(out, " (%d of the jobs that waited had started before they could be asked", r.StartedBeforeAsked)
		if r.StartedBeforeAsked*100 > r.Waited {
			fmt.Fprint(out, ": give a lower --speedup")
		}
		fmt.Fprint(out, ")")
	}
	fmt.Fprint(out, ":\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tforecasts\tmedian |err|/wait\tp90 |err|/wait\tmedian err/wait\tmedian |err|\twithin 10%\twithin 30 min\t")
	for _, m := range scoredMethods(r.Methods[knownMethod] != nil) {
		s := r.Methods[m]
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%.1f%%\t%+.1f%%\t%s\t%.1f%%\t%.1f%%\t\n", m, s.Forecasts, 100*s.MedianAbsErrFrac, 100*s.P90AbsErrFrac,
			100*s.MedianErrFrac, hms(s.MedianAbsErrS), 100*s.Within10Pct, 100*s.Within30Min)
	}
	tw.Flush()
	if t := r.Methods["twin"]; t != nil && t.Ranges > 0 {
		fmt.Fprintf(out, "\nThe twin's likely range (about the 20th-80th percentile) held the real start for %.1f%% of the %d forecasts that had one.\n", 100*t.InRange, t.Ranges)
	}
	if r.Methods[knownMethod] != nil {
		fmt.Fprintf(out, "\n%s, %s and %s are diagnostics that no live forecast can give: the twin forecast given every job's\ntrue run time, the same given also every later submission (what error remains is the live controller's timing and\nthe twin's model), and the twin's replay of the whole slice with everything known.\n", knownMethod, clairMethod, hindsightMethod)
	}
	if r.Report != "" {
		fmt.Fprintf(out, "\nReport written to %s\n", r.Report)
	}
}

// writeForecastReport writes the HTML report through a temporary file in
// the same directory, renamed into place: a failed write leaves no half
// report.
func writeForecastReport(path string, r *forecastBenchResult, fcs []jobForecast) error {
	methods := scoredMethods(r.Methods[knownMethod] != nil)
	series := make([]twin.NamedValues, 0, len(methods))
	for _, m := range methods {
		var v []float64
		for _, fc := range fcs {
			wait := fc.StartS - fc.SubmitS
			if f := fc.forecast(m); f != 0 && wait >= max(r.MinWaitS, 1) {
				v = append(v, math.Abs(float64(f-fc.StartS))/float64(wait))
			}
		}
		series = append(series, twin.NamedValues{Name: m, Values: v})
	}
	var b strings.Builder
	rows := make([]twin.ForecastReportRow, 0, len(methods))
	for _, m := range methods {
		s := r.Methods[m]
		rows = append(rows, twin.ForecastReportRow{Method: m, Forecasts: s.Forecasts, MedianAbsErrFrac: s.MedianAbsErrFrac,
			P90AbsErrFrac: s.P90AbsErrFrac, MedianErrFrac: s.MedianErrFrac, Within10Pct: s.Within10Pct, Within30Min: s.Within30Min})
	}
	note := fmt.Sprintf("%d jobs of %s on %s (%d GPUs), offered load %.2f, replayed through a live controller at %.0fx (achieved %.0fx) in %.0f s; %d jobs waited at least %s.",
		r.Jobs, r.Trace, r.Cluster, r.GPUs, r.Load, r.Speedup, r.Achieved, r.WallS, r.Waited, hms(float64(r.MinWaitS)))
	if err := twin.WriteForecastReport(&b, "Gefion start-time forecasts: "+r.Trace, note, rows, series); err != nil {
		return err
	}
	return writeFileAtomic(path, b.String())
}

// writeFileAtomic writes a file through a temporary one in the same
// directory, renamed into place: a failed write leaves no half file.
func writeFileAtomic(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gefion-write-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
