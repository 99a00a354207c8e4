package controller

import (
	"context"
	"slices"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// TestRuntimeModelFallsBack: a prediction rests on the user's jobs with
// the same limit, else everyone's with it, else the user's, the project's
// and everyone's at any limit.
func TestRuntimeModelFallsBack(t *testing.T) {
	var m runtimeModel
	if m.ratios("alice", "p", 1000) != nil {
		t.Error("an empty model predicts; want nil (the limit stands)")
	}
	for _, used := range []int64{100, 200, 300} {
		m.observe("bob", "p", 1000, used)
	}
	m.observe("alice", "p", 1000, 900)
	check := func(what, user, project string, limitS int64, want []float64) {
		t.Helper()
		if got := m.ratios(user, project, limitS); !slices.Equal(got, want) {
			t.Errorf("%s: ratios(%s, %s, %d) = %v; want %v", what, user, project, limitS, got, want)
		}
	}
	check("alice with one job", "alice", "p", 1000, []float64{0.1, 0.2, 0.3, 0.9})  // everyone's with 1,000 s
	check("a limit nobody used", "alice", "p", 7200, []float64{0.1, 0.2, 0.3, 0.9}) // the project's
	m.observe("alice", "p", 1000, 800)
	m.observe("alice", "p", 1000, 5000) // past the limit counts as the limit
	m.observe("dave", "r", 2000, 1000)
	check("alice with three jobs of 1,000 s", "alice", "p", 1000, []float64{0.8, 0.9, 1})
	check("alice at another limit", "alice", "p", 7200, []float64{0.8, 0.9, 1})
	check("a new user at 1,000 s", "carol", "q", 1000, []float64{0.1, 0.2, 0.3, 0.8, 0.9, 1})
	check("a new user at a limit one job used", "carol", "q", 2000, []float64{0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 1})
	for range 40 {
		m.observe("bob", "p", 100, 50)
	}
	if got := m.ratios("bob", "p", 100); len(got) != ratioHistory || got[0] != 0.5 || got[ratioHistory-1] != 0.5 {
		t.Errorf("bob after 40 jobs of 100 s: %v; want his last %d", got, ratioHistory)
	}
	check("bob at 1,000 s: his own with that limit", "bob", "p", 1000, []float64{0.1, 0.2, 0.3})
}

func TestRunFor(t *testing.T) {
	r := []float64{0.1, 0.2, 0.4, 0.8}
	for _, tc := range []struct {
		limit, elapsed int64
		q              float64
		want           int64
	}{
		{1000, 0, 0.5, 400},    // the median of four: the upper middle one
		{1000, 0, 0, 100},      // the lowest
		{1000, 0, 0.99, 800},   // the highest
		{1000, 300, 0.5, 800},  // outlived 0.1 and 0.2: of 0.4 and 0.8
		{1000, 850, 0.5, 1000}, // outlived all: to its limit
		{0, 0, 0.5, 0},         // no limit: unchanged
	} {
		if got := runFor(r, tc.limit, tc.elapsed, tc.q); got != tc.want {
			t.Errorf("runFor(limit %d, elapsed %d, q %.2f) = %d; want %d", tc.limit, tc.elapsed, tc.q, got, tc.want)
		}
	}
	if got := runFor(nil, 600, 0, 0.5); got != 600 {
		t.Errorf("runFor without history = %d; want the limit", got)
	}
}

// TestForecastLearnsRunTimes: alice's jobs use a tenth of their limits;
// the forecast for a job waiting behind her running one expects it to end
// after about a tenth of its limit, where the plan's reservation (Slurm's
// method) assumes all of it, and gives a range.
func TestForecastLearnsRunTimes(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	for range 3 {
		spec := gpuSpec(8, "duration=1")
		spec.TimeLimitS = 10
		resp, err := alice.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
		if err != nil {
			t.Fatal(err)
		}
		h.waitState("alice", resp.ID, job.Completed)
	}
	long := gpuSpec(8, "duration=1000")
	long.TimeLimitS = 6000
	first, _ := alice.Submit(ctx, api.SubmitRequest{Spec: long}, "")
	run := h.waitState("alice", first.ID, job.Running)
	second, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=10")}, "")
	if err != nil {
		t.Fatal(err)
	}
	var w *api.Why
	h.waitFor("a forecast", func() bool {
		w, err = alice.Why(ctx, second.ID)
		return err == nil && w.Reason == "Resources" && w.Forecast != 0
	})
	if w.EstimatedStart < run.StartTime+5999 {
		t.Errorf("plan estimate %d; want the running job's full limit (start %d + 6000)", w.EstimatedStart, run.StartTime)
	}
	// Each ratio is 0.1 or just above (a virtual job takes its duration
	// and a little).
	if w.Forecast < run.StartTime+550 || w.Forecast > run.StartTime+1500 {
		t.Errorf("forecast %d; want about a tenth of the limit after the start %d", w.Forecast, run.StartTime)
	}
	if w.ForecastLow == 0 || w.ForecastLow > w.Forecast || w.ForecastHigh < w.Forecast {
		t.Errorf("forecast range %d-%d around %d; want one containing the forecast", w.ForecastLow, w.ForecastHigh, w.Forecast)
	}
}
