package controller

import (
	"context"
	"fmt"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// TestExpectedArrivals: recent submissions come again one period later,
// and again, up to the horizon; the period is the history's span while it
// is shorter than the window; each expected arrival keeps its shape, user
// and project, runs for the predicted time, and has an ID no real job has.
func TestExpectedArrivals(t *testing.T) {
	const now = 1_000_000
	mk := func(n int, every int64) []sched.Pending {
		var v []sched.Pending
		for k := range n {
			v = append(v, sched.Pending{ID: job.ID(k + 1), User: fmt.Sprint("u", k%3), Project: "p",
				Req: job.Request{Nodes: 1, GPUsPerNode: 1 + k%8, TimeLimitS: int64(600 * (k + 1))}, SubmitS: now - every*int64(n-k)})
		}
		return v
	}
	runS := func(p *sched.Pending) int64 { return p.Req.TimeLimitS / 2 }
	if got := expectedArrivals(mk(minArrivals-1, 60), now, runS); got != nil {
		t.Errorf("%d submissions gave %d arrivals; want none", minArrivals-1, len(got))
	}
	for _, c := range []struct {
		name       string
		n          int
		every      int64
		wantPeriod int64
	}{
		{"history shorter than the window", 10, 360, 3600},
		{"a day of history", 48, 1800, arrivalWindowS},
	} {
		t.Run(c.name, func(t *testing.T) {
			recent := mk(c.n, c.every)
			got := expectedArrivals(recent, now, runS)
			want := 0
			for k := int64(1); k*c.wantPeriod <= arrivalHorizonS+c.wantPeriod; k++ {
				for _, p := range recent {
					if at := p.SubmitS + k*c.wantPeriod; at > now && at <= now+arrivalHorizonS {
						want++
					}
				}
			}
			if len(got) != want {
				t.Fatalf("%d arrivals; want %d (period %d s over %d s)", len(got), want, c.wantPeriod, arrivalHorizonS)
			}
			seen := map[job.ID]bool{}
			for k, a := range got {
				if a.Job.SubmitS <= now || a.Job.SubmitS > now+arrivalHorizonS || k > 0 && a.Job.SubmitS < got[k-1].Job.SubmitS {
					t.Fatalf("arrival %d at %d: want after now (%d), within the horizon and in order", k, a.Job.SubmitS, now)
				}
				if a.Job.ID < arrivalIDBase || seen[a.Job.ID] {
					t.Fatalf("arrival %d has ID %d; want distinct IDs from %d", k, a.Job.ID, arrivalIDBase)
				}
				seen[a.Job.ID] = true
				// The oldest submission comes again exactly at now, which is
				// not after it: the replay starts with the second.
				src := recent[(k+1)%c.n]
				if (a.Job.SubmitS-src.SubmitS)%c.wantPeriod != 0 || a.Job.Req != src.Req || a.Job.User != src.User || a.RunS != src.Req.TimeLimitS/2 {
					t.Fatalf("arrival %d = %+v; want submission %+v again whole periods of %d s later, running %d s", k, a, src, c.wantPeriod, src.Req.TimeLimitS/2)
				}
			}
		})
	}
}

// TestArrivalHistoryWindow: only the last window's submissions are
// replayed, and only the newest arrivalHistoryLen are held.
func TestArrivalHistoryWindow(t *testing.T) {
	var h arrivalHistory
	const now = 10 * arrivalWindowS
	for k := range arrivalHistoryLen + 100 {
		h.add(sched.Pending{ID: job.ID(k + 1), SubmitS: now - 2*arrivalWindowS + int64(k)*60})
	}
	got := h.recent(now)
	first := h.n - arrivalHistoryLen // the oldest held
	var want []job.ID
	for k := first; k < h.n; k++ {
		if at := now - 2*arrivalWindowS + int64(k)*60; at > now-arrivalWindowS && at <= now {
			want = append(want, job.ID(k+1))
		}
	}
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("%d recent submissions; want %d", len(got), len(want))
	}
	for k := range got {
		if got[k].ID != want[k] {
			t.Fatalf("recent[%d] is job %d; want %d (oldest first)", k, got[k].ID, want[k])
		}
	}
}

// TestSubmissionsKeptForArrivals: the controller keeps what is submitted
// for forecasts to replay, but not held jobs nor jobs that wait for
// others.
func TestSubmissionsKeptForArrivals(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	plain, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(2, "duration=10")}, "")
	if err != nil {
		t.Fatal(err)
	}
	held := gpuSpec(1, "duration=10")
	held.Hold = true
	if _, err := alice.Submit(ctx, api.SubmitRequest{Spec: held}, ""); err != nil {
		t.Fatal(err)
	}
	dep := gpuSpec(1, "duration=10")
	dep.Dependency = fmt.Sprintf("afterok:%d", plain.ID)
	if _, err := alice.Submit(ctx, api.SubmitRequest{Spec: dep}, ""); err != nil {
		t.Fatal(err)
	}
	v, err := h.ctl.do(ctx, func(tx *txn) (any, error) { return tx.c.arrivals.recent(tx.nowS), nil })
	if err != nil {
		t.Fatal(err)
	}
	got := v.([]sched.Pending)
	if len(got) != 1 || got[0].ID != plain.ID || got[0].User != "alice" || got[0].Req.GPUsPerNode != 2 || got[0].Req.TimeLimitS != 600 {
		t.Errorf("kept %+v; want only job %d (alice, 2 GPUs, 600 s)", got, plain.ID)
	}
}
