package twin

import (
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
)

// TestReplayOfSnapshot replays a live snapshot to its end: every pending
// job starts when Forecast says it does, with times counted from the
// snapshot's Now, every job completes, and the report shows it.
func TestReplayOfSnapshot(t *testing.T) {
	w := replaySlice(t, 3, 2)
	last := w.Jobs[len(w.Jobs)-1].SubmitS
	cfg := Config{Policy: policy(t, "backfill")}
	snap, _ := captureAfter(t, w, cfg, last)
	before := cloneSnapshot(snap)
	fc, err := Forecast(snap, cfg.Policy, ForecastOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Replay(snap, cfg.Policy, ForecastOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Pending) != len(before.Pending) || len(snap.Running) != len(before.Running) {
		t.Fatal("Replay modified the snapshot")
	}
	if len(res.Workload.Jobs) != len(snap.Pending) || len(res.Jobs) != len(snap.Pending) {
		t.Fatalf("replay holds %d jobs and %d outcomes for %d pending", len(res.Workload.Jobs), len(res.Jobs), len(snap.Pending))
	}
	for k, p := range snap.Pending {
		wj, o := res.Workload.Jobs[k], res.Jobs[k]
		if wj.ID != p.ID || wj.SubmitS != p.SubmitS-snap.Now {
			t.Fatalf("workload job %d is %d submitted at %d; want %d at %d", k, wj.ID, wj.SubmitS, p.ID, p.SubmitS-snap.Now)
		}
		if o.State != job.Completed || o.FirstStartS != fc[p.ID]-snap.Now || o.EndS != o.StartS+wj.RunS {
			t.Errorf("job %d: %+v; want completed, started at %d (the forecast's, from now), ending run time %d later", p.ID, o, fc[p.ID]-snap.Now, wj.RunS)
		}
		if o.EndS > res.EndS {
			t.Errorf("job %d ends at %d, after the replay's end %d", p.ID, o.EndS, res.EndS)
		}
	}
	m := Summarize(res)
	if m.Completed != len(snap.Pending) || m.Policy != "backfill" || m.Utilization <= 0 || m.Utilization > 1 {
		t.Errorf("figures: %+v", m)
	}
	if len(res.Series.BusyGPUs) == 0 || int64(len(res.Series.BusyGPUs))*res.Series.StepS < res.EndS {
		t.Errorf("series of %d buckets of %d s do not cover the replay's %d s", len(res.Series.BusyGPUs), res.Series.StepS, res.EndS)
	}
	var b strings.Builder
	if err := WriteReport(&b, ReportInfo{Title: "live"}, []ReportRun{{res, m}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<svg") {
		t.Error("the report of a live replay has no chart")
	}
}

// BenchmarkReplayGefionScale replays gefionScaleSnapshot (191 nodes busy,
// 10,000 pending jobs) to its end.
func BenchmarkReplayGefionScale(b *testing.B) {
	s := gefionScaleSnapshot(b)
	p := policy(b, "default")
	for b.Loop() {
		if _, err := Replay(s, p, ForecastOptions{SchedIntervalS: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
