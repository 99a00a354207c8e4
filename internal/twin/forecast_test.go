package twin

import (
	"math"
	"slices"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// cloneSnapshot copies what a forecast reads of a live snapshot.
func cloneSnapshot(s *sched.Snapshot) *sched.Snapshot {
	c := *s
	c.Running = slices.Clone(s.Running)
	c.Pending = slices.Clone(s.Pending)
	c.Projects = slices.Clone(s.Projects)
	c.Nodes = slices.Clone(s.Nodes)
	return &c
}

// captureAfter replays w and returns the snapshot of the first pass at or
// after time t that has pending jobs, with the replay's result.
func captureAfter(t *testing.T, w *Workload, cfg Config, at int64) (*sched.Snapshot, *Result) {
	t.Helper()
	var snap *sched.Snapshot
	cfg.OnPass = func(s *sched.Snapshot) {
		if snap == nil && s.Now >= at && len(s.Pending) > 0 {
			snap = cloneSnapshot(s)
		}
	}
	res, err := Run(w, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if snap == nil {
		t.Fatalf("no pass after %d s with pending jobs", at)
	}
	return snap, res
}

// TestForecastMatchesReplay takes a live snapshot after the last arrival, so
// that no job arrives later, and forecasts with the true run times: the
// forecast must be exactly what the replay then did, because both run the
// same core on the same state.
func TestForecastMatchesReplay(t *testing.T) {
	w := replaySlice(t, 3, 2)
	last := w.Jobs[len(w.Jobs)-1].SubmitS
	for _, name := range []string{"fifo", "backfill", "gefion"} {
		cfg := Config{Policy: policy(t, name)}
		snap, res := captureAfter(t, w, cfg, last)
		got, err := Forecast(snap, cfg.Policy, ForecastOptions{
			RunningEndS: func(id job.ID) (sched.Time, bool) { return res.Jobs[id-1].EndS, true },
			RunS:        func(id job.ID) (int64, bool) { return w.Jobs[id-1].RunS, true },
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(snap.Pending) {
			t.Fatalf("%s: %d forecasts for %d pending jobs", name, len(got), len(snap.Pending))
		}
		for _, p := range snap.Pending {
			if want := res.Jobs[p.ID-1].StartS; got[p.ID] != want {
				t.Errorf("%s: job %d forecast to start at %d; the replay started it at %d", name, p.ID, got[p.ID], want)
			}
		}
	}
}

// TestForecastFromLimits forecasts as the controller will, knowing only time
// limits and history estimates, and compares with the replay. With no later
// arrivals and limits at or above run times, forecasts lean late: on average
// they must not be earlier than what happened.
func TestForecastFromLimits(t *testing.T) {
	w := replaySlice(t, 3, 2)
	last := w.Jobs[len(w.Jobs)-1].SubmitS
	for _, name := range []string{"backfill", "gefion"} {
		cfg := Config{Policy: policy(t, name)}
		snap, res := captureAfter(t, w, cfg, last)
		got, err := Forecast(snap, cfg.Policy, ForecastOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var sumGot, sumWant, absErr float64
		for _, p := range snap.Pending {
			g, want := got[p.ID], res.Jobs[p.ID-1].StartS
			if g == sched.Never || g < snap.Now {
				t.Fatalf("%s: job %d forecast %d (now %d)", name, p.ID, g, snap.Now)
			}
			sumGot += float64(g - snap.Now)
			sumWant += float64(want - snap.Now)
			absErr += math.Abs(float64(g - want))
		}
		n := float64(len(snap.Pending))
		t.Logf("%s: %d pending at %d s: mean forecast wait %.0f s, actual %.0f s, mean absolute error %.0f s", name, len(snap.Pending), snap.Now, sumGot/n, sumWant/n, absErr/n)
		if sumGot < sumWant {
			t.Errorf("%s: forecasts average earlier than the replay (%.0f < %.0f s)", name, sumGot/n, sumWant/n)
		}
	}
}

func TestForecastNoSnapshot(t *testing.T) {
	if _, err := Forecast(nil, sched.Policy{}, ForecastOptions{}); err == nil {
		t.Error("Forecast(nil) = nil error; want one")
	}
}
