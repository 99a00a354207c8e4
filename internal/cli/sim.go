//go:build !client

package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

func init() {
	register(&command{path: "sim", summary: "replay a job trace on a machine through the scheduler (digital twin)", run: runSim})
}

// simOutput is the JSON document of a sim with several runs (--compare or
// several loads); a single run prints its Metrics alone.
type simOutput struct {
	Trace      string         `json:"trace"`
	Format     string         `json:"format"`
	Cluster    string         `json:"cluster"`
	Rows       int            `json:"rows"`
	SkippedBad int            `json:"skipped_bad_rows"`
	Oversized  int            `json:"oversized_jobs"`
	Timeouts   int            `json:"timeouts"`
	NativeLoad float64        `json:"native_load"`
	Runs       []twin.Metrics `json:"runs"`
}

func runSim(e *Env, args []string) error {
	// A replay allocates a little per scheduling pass and keeps little:
	// collecting less often costs some memory (about 200 MB for the whole
	// Philly trace, well under 1 GiB) and saves about a tenth of the time.
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	fs := newFlags(e, "sim")
	preset := fs.String("preset", "", "built-in cluster: "+strings.Join(cluster.PresetNames(), ", ")+" (default gefion)")
	config := fs.String("config", "", "cluster description file (TOML)")
	tracePath := fs.String("trace", "", "trace file (CSV)")
	formats := make([]string, 0, 8)
	for _, f := range trace.Formats() {
		formats = append(formats, string(f))
	}
	format := fs.String("format", "csv", "trace format: "+strings.Join(formats, ", "))
	columns := fs.String("columns", "", "map fields to columns for csv formats: field=column,... (fields: "+strings.Join(trace.Fields(), ", ")+")")
	skipBad := fs.Bool("skip-bad", false, "skip rows that cannot be read, and count them")
	policy := fs.String("policy", "default", "scheduling policy: "+strings.Join(sched.PolicyNames(), ", "))
	compare := fs.String("compare", "", "run several policies over the same jobs: a,b,c")
	loadFlag := fs.String("load", "", "rescale inter-arrival times to this offered load (a list a,b,c runs each); default: the trace's own")
	tlm := fs.String("time-limit-model", "user", "time limits from run times: exact, user, trace, factor:F, uniform:F")
	maxTime := fs.String("max-time", "", "cap time limits (Slurm time, e.g. 7-00:00:00); longer jobs time out; default: no cap")
	shares := fs.String("shares", "", "project shares: name=weight,... (others get 1)")
	seed := fs.Uint64("seed", 1, "random seed (time limits, failures)")
	interval := fs.Int64("sched-interval", twin.DefaultSchedIntervalS, "least virtual seconds between scheduling passes")
	halfLife := fs.String("half-life", "7-0", "fair-share usage decay half-life (Slurm time)")
	estimates := fs.String("estimates", "history", "run-time estimates given to the policy: history (user's last two jobs) or none")
	mtbf := fs.Float64("node-mtbf", 0, "mean hours between failures of each node (0: no failures)")
	repair := fs.String("repair", "4:00:00", "how long a failed node stays down (Slurm time)")
	pue := fs.Float64("pue", twin.DefaultPUE, "power usage effectiveness of the data centre")
	busyW := fs.Float64("gpu-busy-w", 0, "watts of a busy GPU (default: the GPU model's TDP)")
	idleW := fs.Float64("gpu-idle-w", 0, "watts of an idle GPU (default: the GPU model's idle figure)")
	baseW := fs.Float64("node-base-w", 0, "watts of a node besides its GPUs (default: the node model's)")
	co2 := fs.String("co2", strconv.Itoa(twin.DefaultIntensityGPerKWh), "location-based carbon intensity: g CO2/kWh, or a CSV time series file")
	co2Area := fs.String("co2-area", "", "price area to keep from an Energinet CO2Emis file (DK1, DK2)")
	market := fs.Float64("market-co2", 0, "market-based emission factor of the supply contract, g/kWh (0: 100% renewable)")
	maxJobs := fs.Int("max-jobs", 0, "replay only the first N jobs by submit time (0: all)")
	report := fs.String("report", "", "write an HTML report to this file")
	asJSON := fs.Bool("json", false, "print JSON")
	noProgress := fs.Bool("no-progress", false, "no progress bar on stderr")
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
	c, err := loadCluster(*preset, *config)
	if err != nil {
		return err
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Policies and loads.
	names := []string{*policy}
	if *compare != "" {
		if set["policy"] {
			return usagef("give --policy for one run or --compare for several, not both")
		}
		if names = splitList(*compare); len(names) == 0 {
			return usagef("--compare %q names no policy: give a list such as fifo,backfill,gefion", *compare)
		}
	}
	var policies []sched.Policy
	given := map[string]string{}
	for _, n := range names {
		p, err := sched.PolicyByName(n)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		// "default" and "slurm" are other names of policies: two names of
		// one policy would replay the same run twice.
		if prev, dup := given[p.Name]; dup {
			return usagef("--compare names policy %s twice (as %q and %q): give each policy once", p.Name, prev, n)
		}
		given[p.Name] = n
		policies = append(policies, p)
	}
	loads := []float64{0}
	if *loadFlag != "" {
		loads = loads[:0]
		for _, s := range splitList(*loadFlag) {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || !(v > 0) || v > 100 {
				return usagef("--load %q: give offered loads > 0, such as 0.9 or 0.7,0.9,1.1", s)
			}
			if slices.Contains(loads, v) {
				return usagef("--load %s is given twice: give each load once", s)
			}
			loads = append(loads, v)
		}
		if len(loads) == 0 {
			return usagef("--load %q names no load: give loads such as 0.9 or 0.7,0.9,1.1", *loadFlag)
		}
	}
	if *maxJobs < 0 {
		return usagef("--max-jobs %d: give a number of jobs, or 0 for all", *maxJobs)
	}
	// Figures that must be finite and not negative: NaN passes every
	// comparison test (it is not < 0) and comes out as NaN figures.
	for _, f := range []struct {
		name string
		v    float64
		what string
	}{
		{"node-mtbf", *mtbf, "hours, or 0 for no failures"},
		{"gpu-busy-w", *busyW, "watts, or 0 for the GPU model's TDP"},
		{"gpu-idle-w", *idleW, "watts, or 0 for the GPU model's idle figure"},
		{"node-base-w", *baseW, "watts, or 0 for the node model's figure"},
		{"market-co2", *market, "g CO2/kWh (0: 100% renewable)"},
	} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return usagef("--%s %v: give a finite number >= 0 of %s", f.name, f.v, f.what)
		}
	}
	if !(*pue >= 1) || math.IsInf(*pue, 0) {
		return usagef("--pue %v: give a finite PUE >= 1 (a data centre uses at least the energy of its IT load)", *pue)
	}

	// Models.
	mopt := twin.MapOptions{Seed: *seed, MaxJobs: *maxJobs}
	if mopt.TimeLimit, err = twin.ParseTimeLimitModel(*tlm); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if *maxTime != "" {
		if mopt.MaxTimeS, err = job.ParseTime(*maxTime); err != nil {
			return usagef("--max-time: %v", err)
		}
	}
	if mopt.Shares, err = twin.ParseShares(*shares); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	cfg := twin.Config{SchedIntervalS: *interval, Seed: *seed}
	if *interval < 1 || *interval > maxSchedIntervalS {
		return usagef("--sched-interval %d: give 1 to %d seconds", *interval, maxSchedIntervalS)
	}
	if cfg.HalfLifeS, err = job.ParseTime(*halfLife); err != nil || cfg.HalfLifeS <= 0 {
		return usagef("--half-life %q: give a positive Slurm time such as 7-0 or 14-00:00:00", *halfLife)
	}
	switch *estimates {
	case "history":
		cfg.Estimates = twin.EstimateHistory
	case "none":
		cfg.Estimates = twin.EstimateNone
	default:
		return usagef("--estimates %q: choose history or none", *estimates)
	}
	cfg.Failures.NodeMTBFHours = *mtbf
	if cfg.Failures.RepairS, err = job.ParseTime(*repair); err != nil || cfg.Failures.RepairS <= 0 {
		return usagef("--repair %q: give a positive Slurm time such as 4:00:00", *repair)
	}
	cfg.Energy = twin.EnergyModel{GPUBusyW: *busyW, GPUIdleW: *idleW, NodeBaseW: *baseW, PUE: *pue, MarketGPerKWh: *market}
	if v, err := strconv.ParseFloat(*co2, 64); err == nil {
		if !(v >= 0) || math.IsInf(v, 0) {
			return usagef("--co2 %v: give a finite intensity >= 0 g/kWh, or a CSV time series file", v)
		}
		if *co2Area != "" {
			return usagef("--co2-area %s picks a price area from a CO2 time series file; --co2 %v is a constant", *co2Area, v)
		}
		cfg.Energy.Intensity = twin.Constant(v)
	} else {
		s, err := twin.LoadIntensity(*co2, *co2Area)
		if err != nil {
			return err
		}
		cfg.Energy.Intensity = s
	}

	// Read the trace once.
	f, err := os.Open(*tracePath)
	if err != nil {
		return fmt.Errorf("opening the trace: %w", err)
	}
	defer f.Close()
	cols, err := trace.ParseColumns(*columns)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	r, err := trace.Open(f, trace.Options{Format: trace.Format(*format), Name: *tracePath, Columns: cols, SkipBad: *skipBad})
	if err != nil {
		return err
	}
	recs, err := trace.ReadAll(r)
	if err != nil {
		var re *trace.RowError
		if errors.As(err, &re) {
			return fmt.Errorf("%w (fix the row, or pass --skip-bad to skip such rows)", err)
		}
		return err
	}
	if r.Skipped() > 0 && !*asJSON {
		fmt.Fprintf(e.Stderr, "sim: skipped %d bad rows of %d; the first:\n", r.Skipped(), r.Rows())
		for _, err := range r.SkippedErrors() {
			fmt.Fprintf(e.Stderr, "  %v\n", err)
		}
	}

	type task struct {
		w *twin.Workload
		p sched.Policy
	}
	var tasks []task
	var first *twin.Workload
	for _, ld := range loads {
		opt := mopt
		opt.Load = ld
		w, err := twin.MapRecords(recs, c, opt)
		if err != nil {
			return err
		}
		if first == nil {
			first = w
		}
		for _, p := range policies {
			tasks = append(tasks, task{w, p})
		}
	}
	if first.Oversized > 0 && !*asJSON {
		fmt.Fprintf(e.Stderr, "sim: skipped %d jobs larger than the machine, for example %s\n", first.Oversized, strings.Join(first.OversizedNotes, "; "))
	}

	// Run, several at once when cores allow; each run is deterministic.
	var done atomic.Int64
	total := int64(0)
	for _, t := range tasks {
		total += int64(len(t.w.Jobs))
	}
	stop := startProgress(e.Stderr, &done, total, *noProgress)
	runs := make([]twin.ReportRun, len(tasks))
	errs := make([]error, len(tasks))
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rc := cfg
			rc.Policy = t.p
			rc.Progress = &done
			res, err := twin.Run(t.w, rc)
			if err != nil {
				errs[i] = err
				return
			}
			m := twin.Summarize(res)
			m.SkippedBadRows = r.Skipped()
			runs[i] = twin.ReportRun{Result: res, Metrics: m}
		}()
	}
	wg.Wait()
	stop()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	if *report != "" {
		if err := writeReport(*report, *tracePath, c.Name, r, first, runs); err != nil {
			return err
		}
	}
	if *asJSON {
		if len(runs) == 1 {
			return writeJSON(e.Stdout, runs[0].Metrics)
		}
		out := simOutput{Trace: *tracePath, Format: *format, Cluster: c.Name, Rows: r.Rows(), SkippedBad: r.Skipped(),
			Oversized: first.Oversized, Timeouts: first.Timeouts, NativeLoad: first.NativeLoad}
		for _, rr := range runs {
			out.Runs = append(out.Runs, rr.Metrics)
		}
		return writeJSON(e.Stdout, out)
	}
	printSimTable(e.Stdout, *tracePath, c, first, runs)
	if *report != "" {
		fmt.Fprintf(e.Stdout, "\nReport written to %s\n", *report)
	}
	return nil
}

// maxSchedIntervalS bounds --sched-interval at a day: longer gaps between
// passes leave the machine idle for days and give no policy to compare.
const maxSchedIntervalS = 86400

func writeReport(path, tracePath, clusterName string, r *trace.CSVReader, w *twin.Workload, runs []twin.ReportRun) error {
	info := twin.ReportInfo{Title: "Gefion digital twin: " + tracePath, Trace: tracePath, Cluster: clusterName}
	info.Notes = append(info.Notes, fmt.Sprintf("%d jobs replayed (%d rows read, %d bad rows skipped, %d jobs larger than the machine skipped); the trace's own offered load on this machine is %.3f.",
		len(w.Jobs), r.Rows(), r.Skipped(), w.Oversized, w.NativeLoad))
	var b strings.Builder
	if err := twin.WriteReport(&b, info, runs); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

func printSimTable(out io.Writer, tracePath string, c *cluster.Cluster, w *twin.Workload, runs []twin.ReportRun) {
	fmt.Fprintf(out, "Trace %s: %d jobs on %s (%d GPUs); native offered load %.3f\n\n", tracePath, len(w.Jobs), c.Name, c.TotalGPUs(), w.NativeLoad)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tload\tcompleted\tavg wait\tp99 wait\tavg JCT\tp50 JCT\tp99 JCT\tutil\tbsld\tJain\t1-SU\tMWh\tt CO2\twall s\t")
	for _, r := range runs {
		m := r.Metrics
		fmt.Fprintf(tw, "%s\t%.2f\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%.1f%%\t%.2f\t%.3f\t%.1f%%\t%.1f\t%.1f\t%.2f\t\n",
			m.Policy, m.Load, m.Completed, m.Jobs, hms(m.AvgWaitS), hms(m.P99WaitS), hms(m.AvgJCTS), hms(m.P50JCTS), hms(m.P99JCTS),
			100*m.Utilization, m.AvgBoundedSlowdown, m.JainFairness, 100*m.MultiNodeInOneSU, m.EnergyKWh/1000, m.CO2Kg/1000, m.WallS)
	}
	tw.Flush()
}

// hms formats seconds briefly: 45s, 12m, 3.4h, 2.1d.
func hms(s float64) string {
	switch {
	case s >= 86400:
		return fmt.Sprintf("%.1fd", s/86400)
	case s >= 3600:
		return fmt.Sprintf("%.1fh", s/3600)
	case s >= 60:
		return fmt.Sprintf("%.0fm", s/60)
	}
	return fmt.Sprintf("%.0fs", s)
}

// startProgress draws a progress bar on w, from one second after the start,
// until the returned stop is called.
func startProgress(w io.Writer, done *atomic.Int64, total int64, off bool) (stop func()) {
	if off || total == 0 {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	// A terminal gets a bar redrawn in place; a log file or pipe gets a
	// plain line every few seconds rather than carriage-return frames.
	every, draw := 200*time.Millisecond, drawBar
	if !isTerminal(w) {
		every, draw = plainProgressEvery, func(w io.Writer, done, total int64, el time.Duration) {
			fmt.Fprintf(w, "sim: %.1f%% %d/%d jobs %s\n", 100*float64(done)/float64(total), done, total, el.Truncate(100*time.Millisecond))
		}
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		drawn := false
		for {
			select {
			case <-quit:
				if drawn && every < time.Second {
					draw(w, done.Load(), total, time.Since(start))
					fmt.Fprintln(w)
				}
				return
			case <-tick.C:
				if time.Since(start) < time.Second {
					continue
				}
				drawn = true
				draw(w, done.Load(), total, time.Since(start))
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// plainProgressEvery is how often progress goes to a non-terminal.
var plainProgressEvery = 5 * time.Second

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func drawBar(w io.Writer, done, total int64, el time.Duration) {
	const width = 40
	frac := float64(done) / float64(total)
	n := int(frac * width)
	fmt.Fprintf(w, "\rsim [%s%s] %5.1f%% %d/%d jobs %s ", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, done, total, el.Truncate(100*time.Millisecond))
}
