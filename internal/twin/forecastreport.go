package twin

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"sync"
)

// NamedValues is one series of a distribution chart.
type NamedValues struct {
	Name   string
	Values []float64
}

// ForecastReportRow is one forecasting method's figures in the forecast
// bench's report (gefion bench forecast). Fractions are of the real wait.
type ForecastReportRow struct {
	Method                                         string
	Forecasts                                      int
	MedianAbsErrFrac, P90AbsErrFrac, MedianErrFrac float64
	Within10Pct, Within30Min                       float64
}

// errFracFloor is where the error CDF's log axis starts: a forecast right
// to a thousandth of the wait is drawn there.
const errFracFloor = 1e-3

// WriteForecastReport writes one self-contained HTML page with the
// methods' figures and the distribution (CDF, log scale) of each method's
// absolute error as a fraction of the real wait.
func WriteForecastReport(w io.Writer, title, note string, rows []ForecastReportRow, errs []NamedValues) error {
	if len(rows) == 0 {
		return fmt.Errorf("%w: no method to report", ErrConfig)
	}
	var svg template.HTML
	c := &chart{xLabel: "absolute error / real wait (log scale)", yLabel: "fraction of forecasts", xLog: true, yMin: fixed(0), yMax: fixed(1)}
	for i, s := range errs {
		if len(s.Values) == 0 {
			continue
		}
		vs := slices.Clone(s.Values)
		for k := range vs {
			vs[k] = max(vs[k], errFracFloor)
		}
		slices.Sort(vs)
		n := len(vs)
		step := max(1, n/400)
		var pts []point
		for k := 0; k < n; k += step {
			pts = append(pts, point{X: vs[k], Y: float64(k+1) / float64(n)})
		}
		pts = append(pts, point{X: vs[n-1], Y: 1})
		c.lines = append(c.lines, runLine(pts, i, s.Name))
	}
	empty := ""
	if len(c.lines) == 0 {
		empty = "No job waited long enough to score a forecast."
	} else {
		svg = template.HTML(c.svg())
	}
	return forecastReportTmpl().Execute(w, struct {
		Title, Note, Empty string
		Rows               []ForecastReportRow
		SVG                template.HTML
	}{title, note, empty, rows, svg})
}

var forecastReportTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("forecast").Funcs(template.FuncMap{
		"pct":  func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) },
		"spct": func(x float64) string { return fmt.Sprintf("%+.1f%%", 100*x) },
	}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:.9em;margin:1em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f2f2f2}
figcaption{font-size:.9em;color:#555}
.empty{color:#555;font-style:italic}
svg{max-width:100%;height:auto}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.Note}}</p>
<table>
<tr><th>method</th><th>forecasts</th><th>median |error| / wait</th><th>p90 |error| / wait</th><th>median error / wait</th><th>within 10%</th><th>within 30 min</th></tr>
{{range .Rows}}<tr><td>{{.Method}}</td><td>{{.Forecasts}}</td><td>{{pct .MedianAbsErrFrac}}</td><td>{{pct .P90AbsErrFrac}}</td><td>{{spct .MedianErrFrac}}</td><td>{{pct .Within10Pct}}</td><td>{{pct .Within30Min}}</td></tr>
{{end}}</table>
<p>"twin" is the digital twin's forecast (the queue run forward with run times predicted from each user's recent jobs); "reservation" is the plan's estimated start, which assumes every job runs to its time limit (Slurm's squeue --start). Errors are the forecast given when the job was submitted minus its real start; a positive median error is a forecast later than the start.</p>
<figure><h3>Error distribution</h3>{{if .Empty}}<p class="empty">{{.Empty}}</p>{{else}}{{.SVG}}<figcaption>Fraction of forecasts with an absolute error at most x times the real wait (errors under 0.1% drawn at 0.1%).</figcaption>{{end}}</figure>
</body></html>
`))
})
