package twin

import (
	"bytes"
	"strings"
	"testing"
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
