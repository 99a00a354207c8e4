package twin

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNiceRange(t *testing.T) {
	tests := []struct {
		lo, hi       float64
		fixLo, fixHi bool
		wantLo       float64
		wantHi       float64
		wantTicks    []float64
	}{
		{0, 1, true, true, 0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 37, true, false, 0, 40, []float64{0, 10, 20, 30, 40}},
		{0.3, 9.7, true, true, 0.3, 9.7, []float64{2, 4, 6, 8}},
		{5, 5, true, false, 5, 6, []float64{5, 5.2, 5.4, 5.6, 5.8, 6}},
	}
	for _, tt := range tests {
		lo, hi, ticks := niceRange(tt.lo, tt.hi, tt.fixLo, tt.fixHi)
		if lo != tt.wantLo || hi != tt.wantHi || !cmp.Equal(ticks, tt.wantTicks, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })) {
			t.Errorf("niceRange(%v, %v, %v, %v) = %v, %v, %v; want %v, %v, %v", tt.lo, tt.hi, tt.fixLo, tt.fixHi, lo, hi, ticks, tt.wantLo, tt.wantHi, tt.wantTicks)
		}
	}
}

func TestLogTicksAndLabels(t *testing.T) {
	if diff := cmp.Diff([]float64{10, 100, 1000}, logTicks(3, 2000)); diff != "" {
		t.Errorf("logTicks(3, 2000) (-want +got):\n%s", diff)
	}
	for v, want := range map[float64]string{0: "0", 0.25: "0.25", 10000: "10000", 1e8: "1e+08", 1e-5: "1e-05", 3 * 0.05: "0.15"} {
		if got := tickLabel(v); got != want {
			t.Errorf("tickLabel(%v) = %q; want %q", v, got, want)
		}
	}
}

// TestChartSVG checks that every kind of chart is well-formed SVG, that
// names are escaped, and that values that cannot be drawn are left out
// rather than written as NaN.
func TestChartSVG(t *testing.T) {
	charts := map[string]*chart{
		"lines": {xLabel: "x <1>", yLabel: "y", yMin: fixed(0), lines: []chartLine{
			runLine([]point{{0, 1}, {1, math.NaN()}, {2, 3}}, 0, "a&b"), runLine(nil, 1, "empty")}},
		"log": {xLabel: "x", yLabel: "y", xLog: true, yMin: fixed(0), yMax: fixed(1), lines: []chartLine{
			runLine([]point{{0, 0.1}, {1, 0.5}, {1000, 1}}, 0, "a")}},
		"bars": {xLabel: "x", yLabel: "y", categories: []string{"p<1>", "q"}, rotateX: true, barWidth: barWidth(2, 2),
			bars:  []barSeries{{name: "r1", vals: []float64{0.5, math.Inf(1)}, color: runColor(0)}, {name: "r2", vals: []float64{0.2, 0.1}, color: runColor(1)}},
			marks: []point{{0, 0.3}, {1, 0.6}}, markName: "grant share"},
		"empty": {xLabel: "x", yLabel: "y"},
	}
	for name, c := range charts {
		t.Run(name, func(t *testing.T) {
			svg := c.svg()
			d := xml.NewDecoder(strings.NewReader(svg))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("chart %s is not well-formed XML: %v\n%s", name, err, svg)
				}
			}
			for _, bad := range []string{"NaN", "Inf", "<1>", "a&b"} {
				if strings.Contains(svg, bad) {
					t.Errorf("chart %s contains %q unescaped or undrawable:\n%s", name, bad, svg)
				}
			}
		})
	}
	// Background and frame, the three finite bars, two marks and three
	// legend swatches (two runs and the marks).
	if n := strings.Count(charts["bars"].svg(), "<rect"); n != 10 {
		t.Errorf("bar chart has %d rects; want 10", n)
	}
}
