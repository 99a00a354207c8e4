package twin

// The report's charts are drawn here as plain SVG rather than with a
// plotting library. The twin is linked into the one gefion binary, so a
// plotting library's package initialisation (fonts, LaTeX symbol tables,
// image codecs) ran at the start of every sbatch and squeue; and the report
// needs only lines, grouped bars, markers, axes with ticks, grid lines and
// a legend, which fit in this file. Text is left to the browser's fonts.

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units (CSS pixels at 100%).
const (
	chartW      = 830.0 // 22 cm
	chartH      = 415.0 // 11 cm
	chartLeft   = 64.0  // room for the y tick labels and the y label
	chartRight  = 12.0
	chartTop    = 12.0
	chartBottom = 48.0 // room for the x tick labels and the x label
	fontSize    = 12.0
)

// runColors and runDashes tell the runs apart: colours first, dashes too,
// so that lines stay distinct in print. They are the soft palette and the
// dash patterns plotting libraries commonly use.
var (
	runColors = [...]string{"#f15a60", "#7ac36a", "#5a9bd4", "#faa75b", "#9e67ab", "#ce7058", "#d77fb4"}
	runDashes = [...]string{"", "6,2", "2,2", "1,1", "5,2,1,2", "10,2,2,2,2,2,2,2", "10,2,2,2"}
)

func runColor(i int) string { return runColors[i%len(runColors)] }
func runDash(i int) string  { return runDashes[i%len(runDashes)] }

// point is one (x, y) of a line or a marker.
type point struct{ X, Y float64 }

// chartLine is one run's line.
type chartLine struct {
	name  string
	pts   []point
	color string
	dash  string
}

// barSeries is one run's bars, one value per category.
type barSeries struct {
	name  string
	vals  []float64
	color string
}

// chart is one figure: lines over a linear or log x axis, or grouped bars
// over named categories with optional markers (one per category).
type chart struct {
	xLabel, yLabel string
	xLog           bool
	// yMin and yMax fix the y range where set; otherwise it is the data's
	// range, widened to round ticks.
	yMin, yMax *float64
	lines      []chartLine
	// categories name the x positions 0, 1, ... of bars and markers.
	categories []string
	rotateX    bool
	bars       []barSeries
	barWidth   float64 // in SVG units
	marks      []point
	markName   string
	// title, where set, is the figure's accessible name (role="img").
	title string
}

func fixed(v float64) *float64 { return &v }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// svg renders the chart. It never fails: points that are not finite (or
// not positive on a log axis) are left out.
func (c *chart) svg() string {
	bottom := chartBottom
	if c.rotateX {
		bottom += 60
	}
	plotW := chartW - chartLeft - chartRight
	plotH := chartH - chartTop - bottom

	// Data ranges.
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	seeY := func(y float64) {
		if finite(y) {
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	for _, l := range c.lines {
		for _, p := range l.pts {
			if !finite(p.X) || !finite(p.Y) || c.xLog && p.X <= 0 {
				continue
			}
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
			seeY(p.Y)
		}
	}
	nominal := len(c.categories) > 0
	if nominal {
		xmin, xmax = -0.5, float64(len(c.categories))-0.5
		seeY(0) // bars start at zero
		for _, b := range c.bars {
			for _, v := range b.vals {
				seeY(v)
			}
		}
		for _, m := range c.marks {
			seeY(m.Y)
		}
	}
	if c.yMin != nil {
		ymin = *c.yMin
	}
	if c.yMax != nil {
		ymax = *c.yMax
	}
	if !(xmin <= xmax) {
		xmin, xmax = 0, 1
	}
	if !(ymin <= ymax) {
		ymin, ymax = 0, 1
	}

	var yticks []float64
	if c.yMin == nil || c.yMax == nil {
		ymin, ymax, yticks = niceRange(ymin, ymax, c.yMin != nil, c.yMax != nil)
	} else {
		_, _, yticks = niceRange(ymin, ymax, true, true)
	}
	var xticks []float64
	switch {
	case nominal:
	case c.xLog:
		if xmin == xmax {
			xmin, xmax = xmin/10, xmax*10
		}
		xticks = logTicks(xmin, xmax)
	default:
		_, _, xticks = niceRange(xmin, xmax, true, true)
		if xmin == xmax {
			xmin, xmax = xmin-1, xmax+1
		}
	}

	xpos := func(x float64) float64 {
		if c.xLog {
			return chartLeft + (math.Log10(x)-math.Log10(xmin))/(math.Log10(xmax)-math.Log10(xmin))*plotW
		}
		return chartLeft + (x-xmin)/(xmax-xmin)*plotW
	}
	ypos := func(y float64) float64 {
		y = math.Max(ymin, math.Min(ymax, y))
		return chartTop + plotH - (y-ymin)/(ymax-ymin)*plotH
	}

	var b strings.Builder
	a11y := ""
	if c.title != "" {
		a11y = ` role="img" aria-label="` + html.EscapeString(c.title) + `"`
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="%g"%s>`+"\n",
		chartW, chartH, chartW, chartH, fontSize, a11y)
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>` + "\n")

	// Grid and ticks.
	b.WriteString(`<g stroke="#ddd" stroke-width="1">` + "\n")
	for _, t := range yticks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", chartLeft, ypos(t), chartLeft+plotW, ypos(t))
	}
	for _, t := range xticks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", xpos(t), chartTop, xpos(t), chartTop+plotH)
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#000"/>`+"\n", chartLeft, chartTop, plotW, plotH)
	for _, t := range yticks {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", chartLeft-4, ypos(t)+fontSize*0.35, tickLabel(t))
	}
	for _, t := range xticks {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xpos(t), chartTop+plotH+4+fontSize, tickLabel(t))
	}
	for k, name := range c.categories {
		x, y := xpos(float64(k)), chartTop+plotH+4+fontSize
		if c.rotateX {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" transform="rotate(-45 %.1f %.1f)">%s</text>`+"\n", x, y, x, y, html.EscapeString(name))
		} else {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y, html.EscapeString(name))
		}
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", chartLeft+plotW/2, chartH-6, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", chartTop+plotH/2, html.EscapeString(c.yLabel))

	// Bars, grouped around each category.
	for i, s := range c.bars {
		off := c.barWidth * (float64(i) - float64(len(c.bars)-1)/2)
		fmt.Fprintf(&b, `<g fill="%s">`+"\n", s.color)
		for k, v := range s.vals {
			if !finite(v) || k >= len(c.categories) {
				continue
			}
			x0 := xpos(float64(k)) + off - c.barWidth/2
			top, base := ypos(math.Max(v, 0)), ypos(math.Min(v, 0))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`+"\n", x0, top, c.barWidth, base-top)
		}
		b.WriteString("</g>\n")
	}
	// Lines.
	for _, l := range c.lines {
		var pts []string
		for _, p := range l.pts {
			if !finite(p.X) || !finite(p.Y) || c.xLog && p.X <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(p.X), ypos(p.Y)))
		}
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`+"\n", l.color, dashAttr(l.dash), strings.Join(pts, " "))
	}
	// Markers: open black squares.
	for _, m := range c.marks {
		if !finite(m.Y) {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="6" height="6" fill="none" stroke="#000"/>`+"\n", xpos(m.X)-3, ypos(m.Y)-3)
	}

	// Legend, top right inside the plot area.
	type entry struct{ name, swatch string }
	var legend []entry
	for _, l := range c.lines {
		legend = append(legend, entry{l.name, fmt.Sprintf(`<line x1="-28" y1="0" x2="-4" y2="0" stroke="%s" stroke-width="1.5"%s/>`, l.color, dashAttr(l.dash))})
	}
	for _, s := range c.bars {
		legend = append(legend, entry{s.name, fmt.Sprintf(`<rect x="-22" y="-5" width="12" height="10" fill="%s"/>`, s.color)})
	}
	if len(c.marks) > 0 {
		legend = append(legend, entry{c.markName, `<rect x="-19" y="-3" width="6" height="6" fill="none" stroke="#000"/>`})
	}
	for i, e := range legend {
		y := chartTop + 12 + float64(i)*(fontSize+4)
		x := chartLeft + plotW - 8
		fmt.Fprintf(&b, `<g transform="translate(%.1f %.1f)"><text x="-34" y="%.1f" text-anchor="end">%s</text>%s</g>`+"\n", x, y, fontSize*0.35, html.EscapeString(e.name), e.swatch)
	}
	b.WriteString("</svg>")
	return b.String()
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return ` stroke-dasharray="` + d + `"`
}

// niceRange returns about five round tick values covering [lo, hi] and the
// range widened to the outer ticks, except at an end that is fixed.
func niceRange(lo, hi float64, fixLo, fixHi bool) (float64, float64, []float64) {
	if lo == hi {
		if fixLo {
			hi = lo + 1
		} else {
			lo, hi = lo-1, hi+1
		}
	}
	step := niceStep((hi - lo) / 5)
	first := math.Floor(lo/step) * step
	last := math.Ceil(hi/step) * step
	if !fixLo {
		lo = first
	}
	if !fixHi {
		hi = last
	}
	var ticks []float64
	// At most a few dozen ticks: the bound also ends the loop for ranges
	// no tick can cover (NaN or infinite ends of a degenerate series).
	for k := 0; k < 64; k++ {
		t := first + float64(k)*step
		if t > hi+step*1e-9 {
			break
		}
		if t >= lo-step*1e-9 {
			ticks = append(ticks, math.Round(t/step)*step)
		}
	}
	return lo, hi, ticks
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if !(raw > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// logTicks returns the powers of ten within [lo, hi].
func logTicks(lo, hi float64) []float64 {
	var ticks []float64
	if !(lo > 0) || !(hi >= lo) || math.IsInf(hi, 0) {
		return nil
	}
	for e := math.Ceil(math.Log10(lo) - 1e-9); e <= math.Floor(math.Log10(hi)+1e-9) && len(ticks) < 400; e++ {
		ticks = append(ticks, math.Pow(10, e))
	}
	return ticks
}

// tickLabel prints a tick value briefly: 0.25, 100, 10000, 1e+08. Ten
// significant digits hide the rounding error of adding steps (0.15, not
// 0.15000000000000002).
func tickLabel(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	if a := math.Abs(v); a >= 1e-3 && a < 1e7 {
		return strconv.FormatFloat(v, 'g', 10, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// Chart is a figure drawn as the report draws its own, for other views
// (the web view's Projects page): lines over a linear x axis, or grouped
// bars over named categories, with a legend. The zero value is an empty
// chart.
type Chart struct {
	// Title is the figure's accessible name; say what it shows.
	Title          string
	XLabel, YLabel string
	// Lines are drawn over a linear x axis; Categories name the x
	// positions of Bars (one value per category in each series).
	Lines      []ChartLine
	Categories []string
	Bars       []ChartBars
	// YMin fixes the y axis's lower end (bars start at zero anyway).
	YMin *float64
}

// ChartLine is one line; Dashed draws it dashed (a projection, a target).
type ChartLine struct {
	Name   string
	X, Y   []float64
	Dashed bool
}

// ChartBars is one series of bars.
type ChartBars struct {
	Name   string
	Values []float64
}

// SVG renders the chart as one <svg> element.
func (c *Chart) SVG() string {
	ch := &chart{xLabel: c.XLabel, yLabel: c.YLabel, yMin: c.YMin, categories: c.Categories, title: c.Title,
		rotateX: len(c.Categories) > 16}
	for i, l := range c.Lines {
		pts := make([]point, 0, len(l.X))
		for k := range min(len(l.X), len(l.Y)) {
			pts = append(pts, point{l.X[k], l.Y[k]})
		}
		dash := ""
		if l.Dashed {
			dash = "6,3"
		}
		ch.lines = append(ch.lines, chartLine{name: l.Name, pts: pts, color: runColor(i + 2), dash: dash})
	}
	for i, b := range c.Bars {
		ch.bars = append(ch.bars, barSeries{name: b.Name, vals: b.Values, color: runColor(i + 2)})
	}
	if n := len(c.Categories); n > 0 && len(c.Bars) > 0 {
		ch.barWidth = 0.8 * (chartW - chartLeft - chartRight) / float64(n) / float64(len(c.Bars))
	}
	return ch.svg()
}
