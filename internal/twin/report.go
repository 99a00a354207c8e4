package twin

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/gefion-hpc/gefion/internal/job"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
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
	type chart struct {
		Title string
		Note  string
		SVG   template.HTML
		// Empty, when set, stands in the chart's place: it says why there
		// is nothing to draw (no completed job, no wait at all).
		Empty string
	}
	var charts []chart
	add := func(title, note string, p *plot.Plot, empty string, err error) error {
		if err != nil {
			return fmt.Errorf("report chart %q: %w", title, err)
		}
		if p == nil {
			charts = append(charts, chart{Title: title, Note: note, Empty: empty})
			return nil
		}
		svg, err := renderSVG(p, 22*vg.Centimeter, 11*vg.Centimeter)
		if err != nil {
			return fmt.Errorf("report chart %q: %w", title, err)
		}
		charts = append(charts, chart{Title: title, Note: note, SVG: template.HTML(svg)})
		return nil
	}
	p, empty, err := seriesPlot(runs, loads, "GPUs held (fraction of the machine)", func(r ReportRun, k int) float64 {
		return r.Result.Series.BusyGPUs[k] / float64(r.Metrics.GPUs)
	})
	if err := add("Utilisation over time", "Mean share of GPUs held by jobs in each interval.", p, empty, err); err != nil {
		return err
	}
	p, empty, err = seriesPlot(runs, loads, "pending jobs", func(r ReportRun, k int) float64 { return r.Result.Series.Queue[k] })
	if err := add("Queue length over time", "Mean number of pending jobs in each interval.", p, empty, err); err != nil {
		return err
	}
	p, empty, err = cdfPlot(runs, loads, "job completion time (s)", "", func(wj *Job, o *Outcome) float64 { return float64(o.EndS - wj.SubmitS) })
	if err := add("JCT distribution", "Fraction of completed jobs with a completion time at most x (log scale).", p, empty, err); err != nil {
		return err
	}
	p, empty, err = cdfPlot(runs, loads, "wait (s, 1 s added)", noWaits, func(wj *Job, o *Outcome) float64 {
		return float64(o.EndS-wj.SubmitS-wj.RunS) + 1
	})
	if err := add("Wait distribution", "Fraction of completed jobs with a wait at most x (log scale; waits of 0 show at 1 s).", p, empty, err); err != nil {
		return err
	}
	p, empty, err = classPlot(runs, loads)
	if err := add("Wait by job size", "Mean wait of completed jobs by GPUs asked.", p, empty, err); err != nil {
		return err
	}
	p, empty, err = projectPlot(runs, loads)
	if err := add("Use against share by project", "Each project's part of all GPU-hours used, by run; the black marks are its share of the grants (the largest 20 projects by use).", p, empty, err); err != nil {
		return err
	}

	var buf bytes.Buffer
	err = reportTmpl.Execute(&buf, struct {
		Info   ReportInfo
		Runs   []ReportRun
		Charts []chart
		Loads  bool
	}{info, runs, charts, loads})
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func renderSVG(p *plot.Plot, wd, ht vg.Length) (string, error) {
	c := vgsvg.New(wd, ht)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	// Inline SVG in HTML takes no XML prolog.
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	return s, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func runColor(i int) color.Color { return plotutil.Color(i) }

// What a chart says in place of a plot that would show nothing. A chart of
// nothing is not only useless: a log axis over no value, or over one value
// padded by gonum's ±1 to a range that reaches 0, panics.
const (
	noCompleted = "No job completed, so there is nothing to plot."
	noWaits     = "No waits: every completed job started when it was submitted."
	noTime      = "No time to plot: the replay held no job."
	noProjects  = "No project to show."
)

// seriesPlot draws one line per run of f over the run's time buckets, in
// days. With no bucket in any run it returns no plot and a note saying so.
func seriesPlot(runs []ReportRun, loads bool, ylabel string, f func(ReportRun, int) float64) (*plot.Plot, string, error) {
	p := newPlot("", "virtual time (days)", ylabel)
	p.X.Min, p.Y.Min = 0, 0
	lines := 0
	for i, r := range runs {
		s := r.Result.Series
		xys := make(plotter.XYs, len(s.BusyGPUs))
		for k := range xys {
			xys[k].X = (float64(k) + 0.5) * float64(s.StepS) / 86400
			xys[k].Y = f(r, k)
		}
		if len(xys) == 0 {
			continue
		}
		if err := addRunLine(p, xys, i, label(r, loads)); err != nil {
			return nil, "", err
		}
		lines++
	}
	if lines == 0 {
		return nil, noTime, nil
	}
	// An idle machine or an empty queue is a flat line at 0; without a
	// height gonum would centre it in [-1, 1].
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
	return p, "", nil
}

// cdfPlot draws the empirical CDF of f over each run's completed jobs, on
// a log x axis, with at most 400 points per line. Values below 1 show at 1.
// With no completed job it returns no plot and a note saying so; so it
// does when floorNote is given and every value is at most 1 (for waits,
// where f adds 1 s: no job waited).
func cdfPlot(runs []ReportRun, loads bool, xlabel, floorNote string, f func(*Job, *Outcome) float64) (*plot.Plot, string, error) {
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
		return nil, noCompleted, nil
	case floorNote != "" && hi <= 1:
		return nil, floorNote, nil
	}
	p := newPlot("", xlabel, "fraction of jobs")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	for i, r := range runs {
		vs := per[i]
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		n := len(vs)
		step := max(1, n/400)
		var xys plotter.XYs
		for k := 0; k < n; k += step {
			xys = append(xys, plotter.XY{X: vs[k], Y: float64(k+1) / float64(n)})
		}
		xys = append(xys, plotter.XY{X: vs[n-1], Y: 1})
		if err := addRunLine(p, xys, i, label(r, loads)); err != nil {
			return nil, "", err
		}
	}
	// gonum widens a range of one value by 1 each way, which reaches 0 at
	// 1 s and gives a log axis no decade mark above; a decade each way
	// keeps it positive and shows at least one labelled power of ten.
	if lo == hi {
		p.X.Min, p.X.Max = lo/10, hi*10
	}
	return p, "", nil
}

// classPlot draws mean wait by size class, one bar group per class. With no
// completed job, or no wait at all, it returns no plot and a note saying
// so.
func classPlot(runs []ReportRun, loads bool) (*plot.Plot, string, error) {
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
		return nil, noCompleted, nil
	case !waited:
		return nil, noWaits, nil
	}
	var names []string
	for _, c := range SizeClasses {
		if present[c.Name] {
			names = append(names, c.Name+" GPUs")
		}
	}
	p := newPlot("", "job size", "mean wait (hours)")
	width := vg.Points(math.Max(4, 240/float64(len(runs)*max(len(names), 1))))
	for i, r := range runs {
		vals := make(plotter.Values, 0, len(names))
		byName := map[string]float64{}
		for _, c := range r.Metrics.SizeClasses {
			byName[c.Class] = c.AvgWaitS / 3600
		}
		for _, c := range SizeClasses {
			if present[c.Name] {
				vals = append(vals, byName[c.Name])
			}
		}
		b, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, "", err
		}
		b.Color = runColor(i)
		b.LineStyle.Width = 0
		b.Offset = width * vg.Length(float64(i)-float64(len(runs)-1)/2)
		p.Add(b)
		p.Legend.Add(label(r, loads), b)
	}
	p.NominalX(names...)
	return p, "", nil
}

// projectPlot draws each project's use share per run and its grant share.
// With no project it returns no plot and a note saying so.
func projectPlot(runs []ReportRun, loads bool) (*plot.Plot, string, error) {
	ms := runs[0].Metrics.Projects
	if len(ms) == 0 {
		return nil, noProjects, nil
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
	grant := make(plotter.XYs, len(order))
	for k, i := range order {
		names[k] = ms[i].Name
		grant[k] = plotter.XY{X: float64(k), Y: ms[i].GrantShare}
	}
	p := newPlot("", "project", "share of GPU-hours")
	width := vg.Points(math.Max(3, 300/float64(len(runs)*max(len(order), 1))))
	for i, r := range runs {
		vals := make(plotter.Values, len(order))
		for k, pi := range order {
			if pi < len(r.Metrics.Projects) {
				vals[k] = r.Metrics.Projects[pi].UseShare
			}
		}
		b, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, "", err
		}
		b.Color = runColor(i)
		b.LineStyle.Width = 0
		b.Offset = width * vg.Length(float64(i)-float64(len(runs)-1)/2)
		p.Add(b)
		p.Legend.Add(label(r, loads), b)
	}
	s, err := plotter.NewScatter(grant)
	if err != nil {
		return nil, "", err
	}
	s.GlyphStyle.Shape = draw.BoxGlyph{}
	s.GlyphStyle.Color = color.Black
	p.Add(s)
	p.Legend.Add("grant share", s)
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	return p, "", nil
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

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
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
svg{max-width:100%;height:auto}
.empty{color:#555;font-style:italic}
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

// addRunLine adds run i's line, in its colour and dashes, to p's legend.
func addRunLine(p *plot.Plot, xys plotter.XYs, i int, name string) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = runColor(i)
	l.Dashes = plotutil.Dashes(i)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}
