package twin

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

// TestReport writes a report of three policies and checks that it is one
// self-contained page: six inline SVG charts, the metrics table, and no
// script, stylesheet link or other file to fetch.
func TestReport(t *testing.T) {
	w := replaySlice(t, 2, 2)
	var runs []ReportRun
	for _, name := range []string{"fifo", "backfill", "gefion"} {
		res, err := Run(w, Config{Policy: policy(t, name)})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, ReportRun{Result: res, Metrics: Summarize(res)})
	}
	var buf bytes.Buffer
	if err := WriteReport(&buf, ReportInfo{Title: "test <report>", Trace: "philly_slice.csv", Cluster: "mini"}, runs); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if n := strings.Count(html, "<svg"); n != 6 {
		t.Errorf("report has %d SVG charts; want 6", n)
	}
	for _, want := range []string{"<!DOCTYPE html>", "test &lt;report&gt;", "<td>fifo</td>", "<td>backfill</td>", "<td>gefion</td>", "Utilisation over time", "Queue length over time", "JCT distribution", "Wait distribution", "Wait by job size", "Use against share by project"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "<link", "src=", "<?xml"} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains %q: it must open offline as one file", bad)
		}
	}
	if err := WriteReport(&buf, ReportInfo{}, nil); err == nil {
		t.Error("WriteReport with no runs = nil error; want one")
	}
}

// TestReportDegenerate writes reports of replays whose figures are empty or
// degenerate: a log axis cannot hold a range of one value or of zeros, and
// such a replay must still give a page. Each chart is drawn or says in
// words why there is nothing to draw.
func TestReportDegenerate(t *testing.T) {
	c := preset(t, "dgx-h100")
	// replay maps records onto one 8-GPU node with exact limits and
	// replays them first-in first-out.
	replay := func(t *testing.T, recs []trace.Record) *Result {
		t.Helper()
		w, err := MapRecords(recs, c, MapOptions{TimeLimit: TimeLimitModel{Kind: "exact"}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(w, Config{Policy: policy(t, "fifo")})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	const noWaits = "No waits: every completed job started when it was submitted."
	const noneDone = "No job completed, so there is nothing to plot."
	tests := []struct {
		name string
		res  func(t *testing.T) *Result
		// notes are the words expected in place of a chart.
		notes []string
	}{{
		name:  "one job, no wait",
		res:   func(t *testing.T) *Result { return replay(t, []trace.Record{{SubmitS: 0, DurationS: 100, GPUs: 8}}) },
		notes: []string{noWaits, noWaits},
	}, {
		name: "all waits zero, all JCTs equal",
		res: func(t *testing.T) *Result {
			return replay(t, []trace.Record{{SubmitS: 0, DurationS: 100, GPUs: 4}, {SubmitS: 0, DurationS: 100, GPUs: 4}})
		},
		notes: []string{noWaits, noWaits},
	}, {
		name: "one-second jobs",
		res: func(t *testing.T) *Result {
			return replay(t, []trace.Record{{SubmitS: 0, DurationS: 1, GPUs: 1}})
		},
		notes: []string{noWaits, noWaits},
	}, {
		name: "all waits equal and not zero",
		res: func(t *testing.T) *Result {
			res := replay(t, []trace.Record{{SubmitS: 0, DurationS: 100, GPUs: 4}, {SubmitS: 0, DurationS: 100, GPUs: 4}})
			for k := range res.Jobs {
				res.Jobs[k].EndS += 50
			}
			return res
		},
	}, {
		name: "no job completed",
		res: func(t *testing.T) *Result {
			res := replay(t, []trace.Record{{SubmitS: 0, DurationS: 100, GPUs: 8}, {SubmitS: 10, DurationS: 100, GPUs: 8}})
			for k := range res.Jobs {
				res.Jobs[k].State = job.Failed
			}
			return res
		},
		notes: []string{noneDone, noneDone, noneDone},
	}, {
		name: "no jobs",
		res: func(t *testing.T) *Result {
			res, err := Run(&Workload{Cluster: c}, Config{Policy: policy(t, "fifo")})
			if err != nil {
				t.Fatal(err)
			}
			return res
		},
		notes: []string{"No time to plot: the replay held no job.", "No time to plot: the replay held no job.", noneDone, noneDone, noneDone, "No project to show."},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.res(t)
			runs := []ReportRun{{Result: res, Metrics: Summarize(res)}}
			var buf bytes.Buffer
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("WriteReport panicked: %v", p)
					}
				}()
				if err := WriteReport(&buf, ReportInfo{Title: tt.name}, runs); err != nil {
					t.Fatalf("WriteReport = %v; want a page", err)
				}
			}()
			html := buf.String()
			svgs := strings.Count(html, "<svg")
			for _, n := range tt.notes {
				if strings.Count(html, n) < countOf(tt.notes, n) {
					t.Errorf("report shows %q fewer than %d times", n, countOf(tt.notes, n))
				}
			}
			if svgs+len(tt.notes) != 6 {
				t.Errorf("report has %d charts; want %d, and %d notes in place of the others", svgs, 6-len(tt.notes), len(tt.notes))
			}
		})
	}
}

func countOf(xs []string, x string) int {
	n := 0
	for _, s := range xs {
		if s == x {
			n++
		}
	}
	return n
}

// TestAxisTicksEnd: an axis over a degenerate range still ends its tick
// loops (a NaN or zero end would otherwise loop for ever).
func TestAxisTicksEnd(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, r := range [][2]float64{{nan, 1}, {0, nan}, {inf, -inf}, {-inf, inf}, {0, 1e300}} {
		_, _, ticks := niceRange(r[0], r[1], false, false)
		if len(ticks) > 64 {
			t.Errorf("niceRange(%v, %v) gave %d ticks", r[0], r[1], len(ticks))
		}
	}
	for _, r := range [][2]float64{{0, 10}, {-1, 10}, {nan, 10}, {1, inf}, {10, 1}} {
		if ticks := logTicks(r[0], r[1]); len(ticks) != 0 {
			t.Errorf("logTicks(%v, %v) = %v; want none", r[0], r[1], ticks)
		}
	}
	if got := logTicks(1, 1000); len(got) != 4 {
		t.Errorf("logTicks(1, 1000) = %v; want 1, 10, 100, 1000", got)
	}
}
