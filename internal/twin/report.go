package twin

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/gefion-hpc/gefion/internal/job"
)

// ReportInfo describes the replays a report shows.
type ReportInfo struct {
	Title   string
	Trace   string
	Cluster string
	// Notes are lines shown under the title (skipped rows, models used).
	Notes []string
}

// ReportRun pairs a replay's result with its figures, for a report.
type ReportRun struct {
	Result  *Result
	Metrics Metrics
}

// label names a run in legends: its policy, and its load when the report
// holds several loads.
func label(r ReportRun, loads bool) string {
	if loads {
		return fmt.Sprintf("%s @%.2f", r.Metrics.Policy, r.Metrics.Load)
	}
	return r.Metrics.Policy
}

// WriteReport writes one self-contained HTML page (inline SVG charts, no
// script, no external file) with the metrics table and the charts:
// utilisation and queue length over time, JCT and wait CDFs per run, wait by
// job size, and each project's use against its share.
func WriteReport(w io.Writer, info ReportInfo, runs []ReportRun) error {
	if len(runs) == 0 {
		return fmt.Errorf("%w: no replay to report", ErrConfig)
	}
	loads := false
	for _, r := range runs[1:] {
		if r.Metrics.Load != runs[0].Metrics.Load {
			loads = true
		}
	}
	type figure struct {
		Title string
		Note  string
		SVG   template.HTML
		// Empty, when set, stands in the chart's place: it says why there
		// is nothing to draw (no completed job, no wait at all).
		Empty string
	}
	var charts []figure
	// add(title, note)(plot(...)) places a chart, or the note that says
	// why there is none.
	add := func(title, note string) func(*chart, string) {
		return func(c *chart, empty string) {
			if c == nil {
				charts = append(charts, figure{Title: title, Note: note, Empty: empty})
				return
			}
			charts = append(charts, figure{Title: title, Note: note, SVG: template.HTML(c.svg())})
		}
	}
	add("Utilisation over time", "Mean share of GPUs held by jobs in each interval.")(
		seriesPlot(runs, loads, "GPUs held (fraction of the machine)", func(r ReportRun, k int) float64 {
			return r.Result.Series.BusyGPUs[k] / float64(r.Metrics.GPUs)
		}))
	add("Queue length over time", "Mean number of pending jobs in each interval.")(
		seriesPlot(runs, loads, "pending jobs", func(r ReportRun, k int) float64 { return r.Result.Series.Queue[k] }))
	add("JCT distribution", "Fraction of completed jobs with a completion time at most x (log scale).")(
		cdfPlot(runs, loads, "job completion time (s)", "", func(wj *Job, o *Outcome) float64 { return float64(o.EndS - wj.SubmitS) }))
	add("Wait distribution", "Fraction of completed jobs with a wait at most x (log scale; waits of 0 show at 1 s).")(
		cdfPlot(runs, loads, "wait (s, 1 s added)", noWaits, func(wj *Job, o *Outcome) float64 {
			return float64(o.EndS-wj.SubmitS-wj.RunS) + 1
		}))
	add("Wait by job size", "Mean wait of completed jobs by GPUs asked.")(classPlot(runs, loads))
	add("Use against share by project", "Each project's part of all GPU-hours used, by run; the black marks are its share of the grants (the largest 20 projects by use).")(projectPlot(runs, loads))

	var buf bytes.Buffer
	err := reportTmpl().Execute(&buf, struct {
		Info   ReportInfo
		Runs   []ReportRun
		Charts []figure
		Loads  bool
	}{info, runs, charts, loads})
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// What a chart says in place of a plot that would show nothing: a chart of
// nothing is useless, and an axis over no value has no range to draw.
const (
	noCompleted = "No job completed, so there is nothing to plot."
	noWaits     = "No waits: every completed job started when it was submitted."
	noTime      = "No time to plot: the replay held no job."
	noProjects  = "No project to show."
)

// seriesPlot draws one line per run of f over the run's time buckets, in
// days. With no bucket in any run it returns no chart and a note saying so.
func seriesPlot(runs []ReportRun, loads bool, ylabel string, f func(ReportRun, int) float64) (*chart, string) {
	c := &chart{xLabel: "virtual time (days)", yLabel: ylabel, yMin: fixed(0)}
	for i, r := range runs {
		s := r.Result.Series
		pts := make([]point, len(s.BusyGPUs))
		for k := range pts {
			pts[k].X = (float64(k) + 0.5) * float64(s.StepS) / 86400
			pts[k].Y = f(r, k)
		}
		if len(pts) == 0 {
			continue
		}
		c.lines = append(c.lines, runLine(pts, i, label(r, loads)))
	}
	if len(c.lines) == 0 {
		return nil, noTime
	}
	return c, ""
}

// cdfPlot draws the empirical CDF of f over each run's completed jobs, on
// a log x axis, with at most 400 points per line. Values below 1 show at 1.
// With no completed job it returns no chart and a note saying so; so it
// does when floorNote is given and every value is at most 1 (for waits,
// where f adds 1 s: no job waited).
func cdfPlot(runs []ReportRun, loads bool, xlabel, floorNote string, f func(*Job, *Outcome) float64) (*chart, string) {
	per := make([][]float64, len(runs))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, r := range runs {
		w := r.Result.Workload
		for k := range w.Jobs {
			if o := &r.Result.Jobs[k]; o.State == job.Completed {
				v := max(f(&w.Jobs[k], o), 1)
				per[i] = append(per[i], v)
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	switch {
	case math.IsInf(lo, 1):
		return nil, noCompleted
	case floorNote != "" && hi <= 1:
		return nil, floorNote
	}
	c := &chart{xLabel: xlabel, yLabel: "fraction of jobs", xLog: true, yMin: fixed(0), yMax: fixed(1)}
	for i, r := range runs {
		vs := per[i]
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		n := len(vs)
		step := max(1, n/400)
		var pts []point
		for k := 0; k < n; k += step {
			pts = append(pts, point{X: vs[k], Y: float64(k+1) / float64(n)})
		}
		pts = append(pts, point{X: vs[n-1], Y: 1})
		c.lines = append(c.lines, runLine(pts, i, label(r, loads)))
	}
	return c, ""
}

// barWidth is the width of one run's bar when len(runs) bars share each of
// n categories: together they fill 80% of a category's slot, each at most
// 80 units wide.
func barWidth(runs, n int) float64 {
	return min(80, 0.8*(chartW-chartLeft-chartRight)/float64(max(n, 1))/float64(max(runs, 1)))
}

// classPlot draws mean wait by size class, one bar group per class. With no
// completed job, or no wait at all, it returns no chart and a note saying
// so.
func classPlot(runs []ReportRun, loads bool) (*chart, string) {
	present := map[string]bool{}
	done, waited := false, false
	for _, r := range runs {
		for _, c := range r.Metrics.SizeClasses {
			present[c.Class] = true
			done = done || c.Completed > 0
			waited = waited || c.AvgWaitS > 0
		}
	}
	switch {
	case !done:
		return nil, noCompleted
	case !waited:
		return nil, noWaits
	}
	var names []string
	for _, c := range SizeClasses {
		if present[c.Name] {
			names = append(names, c.Name+" GPUs")
		}
	}
	c := &chart{xLabel: "job size", yLabel: "mean wait (hours)", categories: names, barWidth: barWidth(len(runs), len(names))}
	for i, r := range runs {
		vals := make([]float64, 0, len(names))
		byName := map[string]float64{}
		for _, c := range r.Metrics.SizeClasses {
			byName[c.Class] = c.AvgWaitS / 3600
		}
		for _, c := range SizeClasses {
			if present[c.Name] {
				vals = append(vals, byName[c.Name])
			}
		}
		c.bars = append(c.bars, barSeries{name: label(r, loads), vals: vals, color: runColor(i)})
	}
	return c, ""
}

// projectPlot draws each project's use share per run and its grant share.
func projectPlot(runs []ReportRun, loads bool) (*chart, string) {
	ms := runs[0].Metrics.Projects
	if len(ms) == 0 {
		return nil, noProjects
	}
	order := make([]int, len(ms))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ms[order[a]].GPUHours > ms[order[b]].GPUHours })
	if len(order) > 20 {
		order = order[:20]
	}
	names := make([]string, len(order))
	grant := make([]point, len(order))
	for k, i := range order {
		names[k] = ms[i].Name
		grant[k] = point{X: float64(k), Y: ms[i].GrantShare}
	}
	c := &chart{xLabel: "project", yLabel: "share of GPU-hours", categories: names, rotateX: true,
		barWidth: barWidth(len(runs), len(order)), marks: grant, markName: "grant share"}
	for i, r := range runs {
		vals := make([]float64, len(order))
		for k, pi := range order {
			if pi < len(r.Metrics.Projects) {
				vals[k] = r.Metrics.Projects[pi].UseShare
			}
		}
		c.bars = append(c.bars, barSeries{name: label(r, loads), vals: vals, color: runColor(i)})
	}
	return c, ""
}

func hours(s float64) string {
	switch {
	case s >= 86400:
		return fmt.Sprintf("%.1f d", s/86400)
	case s >= 3600:
		return fmt.Sprintf("%.1f h", s/3600)
	case s >= 60:
		return fmt.Sprintf("%.1f min", s/60)
	}
	return fmt.Sprintf("%.0f s", s)
}

// reportTmpl is parsed when a report is first written rather than at
// package initialisation, which every gefion command would pay for.
var reportTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"dur":    hours,
		"pct":    func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) },
		"f2":     func(x float64) string { return fmt.Sprintf("%.2f", x) },
		"f3":     func(x float64) string { return fmt.Sprintf("%.3f", x) },
		"f0":     func(x float64) string { return fmt.Sprintf("%.0f", x) },
		"mwh":    func(kwh float64) float64 { return kwh / 1000 },
		"tonnes": func(kg float64) float64 { return kg / 1000 },
	}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Info.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:.9em;margin:1em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f2f2f2}
figure{margin:2em 0}
figcaption{font-size:.9em;color:#555}
.empty{color:#555;font-style:italic}
svg{max-width:100%;height:auto}
</style></head><body>
<h1>{{.Info.Title}}</h1>
<p>Trace <code>{{.Info.Trace}}</code> on <code>{{.Info.Cluster}}</code>.</p>
{{range .Info.Notes}}<p>{{.}}</p>{{end}}
<h2>Figures</h2>
<table>
<tr><th>policy</th><th>load</th><th>jobs</th><th>completed</th><th>avg wait</th><th>p50 wait</th><th>p99 wait</th><th>avg JCT</th><th>p50 JCT</th><th>p99 JCT</th><th>utilisation</th><th>bounded slowdown</th><th>Jain</th><th>multi-node in 1 SU</th><th>makespan</th><th>energy (MWh)</th><th>CO2 location (t)</th><th>CO2 market (t)</th><th>wall (s)</th></tr>
{{range .Runs}}{{with .Metrics}}<tr><td>{{.Policy}}</td><td>{{f2 .Load}}</td><td>{{.Jobs}}</td><td>{{.Completed}}</td><td>{{dur .AvgWaitS}}</td><td>{{dur .P50WaitS}}</td><td>{{dur .P99WaitS}}</td><td>{{dur .AvgJCTS}}</td><td>{{dur .P50JCTS}}</td><td>{{dur .P99JCTS}}</td><td>{{pct .Utilization}}</td><td>{{f2 .AvgBoundedSlowdown}}</td><td>{{f3 .JainFairness}}</td><td>{{pct .MultiNodeInOneSU}}</td><td>{{dur .MakespanS}}</td><td>{{f2 (mwh .EnergyKWh)}}</td><td>{{f2 (tonnes .CO2Kg)}}</td><td>{{f2 (tonnes .CO2MarketKg)}}</td><td>{{f2 .WallS}}</td></tr>
{{end}}{{end}}</table>
<p>Wait is completion time minus run time; utilisation is GPUs held while jobs arrive; Jain's index is over projects' mean job speed (run time over completion time). See <code>go doc ./internal/twin Metrics</code>.</p>
{{range .Charts}}<figure><h3>{{.Title}}</h3>{{if .Empty}}<p class="empty">{{.Empty}}</p>{{else}}{{.SVG}}<figcaption>{{.Note}}</figcaption>{{end}}</figure>
{{end}}
<h2>Projects</h2>
{{range .Runs}}{{$r := .}}<h3>{{.Metrics.Policy}}{{if $.Loads}} at load {{f2 .Metrics.Load}}{{end}}</h3>
<table><tr><th>project</th><th>jobs</th><th>completed</th><th>GPU-hours</th><th>use share</th><th>grant share</th><th>avg wait</th><th>avg JCT</th><th>speed</th></tr>
{{range .Metrics.Projects}}<tr><td>{{.Name}}</td><td>{{.Jobs}}</td><td>{{.Completed}}</td><td>{{f0 .GPUHours}}</td><td>{{pct .UseShare}}</td><td>{{pct .GrantShare}}</td><td>{{dur .AvgWaitS}}</td><td>{{dur .AvgJCTS}}</td><td>{{f3 .Speed}}</td></tr>
{{end}}</table>
<table><tr><th>size (GPUs)</th><th>jobs</th><th>completed</th><th>avg wait</th><th>p99 wait</th><th>avg JCT</th><th>bounded slowdown</th></tr>
{{range .Metrics.SizeClasses}}<tr><td>{{.Class}}</td><td>{{.Jobs}}</td><td>{{.Completed}}</td><td>{{dur .AvgWaitS}}</td><td>{{dur .P99WaitS}}</td><td>{{dur .AvgJCTS}}</td><td>{{f2 .AvgBSld}}</td></tr>
{{end}}</table>
{{end}}
</body></html>
`))
})

// runLine is run i's line, in its colour and dashes.
func runLine(pts []point, i int, name string) chartLine {
	return chartLine{name: name, pts: pts, color: runColor(i), dash: runDash(i)}
}
