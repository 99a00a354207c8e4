package controller

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// recentEvery is n submissions, every s seconds up to now, of mixed
// shapes, users, projects and limits.
func recentEvery(n int, every, now int64) []sched.Pending {
	var v []sched.Pending
	for k := range n {
		v = append(v, sched.Pending{ID: job.ID(k + 1), User: fmt.Sprint("u", k%3), Project: fmt.Sprint("p", k%2),
			Req: job.Request{Nodes: 1, GPUsPerNode: 1 + k%8, TimeLimitS: int64(600 * (k + 1))}, SubmitS: now - every*int64(n-1-k)})
	}
	return v
}

// TestExpectedArrivals: the stream comes after now, in order, within the
// horizon, at arrivalRateScale of the recent rate; each expected arrival
// is one of the recent submissions (shape, user, project, limit) with an
// ID no real job has, running for its predicted time; the same stream
// number draws the same stream and another number another.
func TestExpectedArrivals(t *testing.T) {
	const now = 1_000_000
	runS := func(p *sched.Pending) int64 { return p.Req.TimeLimitS / 2 }
	if got := expectedArrivals(recentEvery(minArrivals-1, 600, now), now, 0, runS); got != nil {
		t.Errorf("%d submissions gave %d arrivals; want none", minArrivals-1, len(got))
	}
	// 50 submissions, one every 20 minutes: 50 over the 49 gaps' span.
	recent := recentEvery(50, 1200, now)
	got := expectedArrivals(recent, now, 1, runS)
	rate := 50 / float64(49*1200) * arrivalRateScale
	want := rate * arrivalHorizonS
	if d := math.Abs(float64(len(got)) - want); d > 5*math.Sqrt(want) {
		t.Fatalf("%d arrivals over %d s; want about %.0f (rate %.5f/s)", len(got), arrivalHorizonS, want, rate)
	}
	seen := map[job.ID]bool{}
	drawn := map[job.ID]bool{}
	for k, a := range got {
		if a.Job.SubmitS <= now || a.Job.SubmitS > now+arrivalHorizonS || k > 0 && a.Job.SubmitS < got[k-1].Job.SubmitS {
			t.Fatalf("arrival %d at %d: want after now (%d), within the horizon and in order", k, a.Job.SubmitS, now)
		}
		if a.Job.ID < arrivalIDBase || seen[a.Job.ID] {
			t.Fatalf("arrival %d has ID %d; want distinct IDs from %d", k, a.Job.ID, arrivalIDBase)
		}
		seen[a.Job.ID] = true
		var src *sched.Pending
		for i := range recent {
			if recent[i].Req == a.Job.Req && recent[i].User == a.Job.User && recent[i].Project == a.Job.Project {
				src = &recent[i]
			}
		}
		if src == nil || a.RunS != src.Req.TimeLimitS/2 || a.Job.EligibleS != 0 {
			t.Fatalf("arrival %d = %+v: want a recent submission's shape, user, project and limit, running half its limit", k, a)
		}
		drawn[src.ID] = true
	}
	if len(drawn) < 30 {
		t.Errorf("the stream draws %d of the 50 recent submissions; want most of them", len(drawn))
	}
	again := expectedArrivals(recent, now, 1, runS)
	other := expectedArrivals(recent, now, 2, runS)
	if len(again) != len(got) || again[len(again)-1] != got[len(got)-1] {
		t.Errorf("stream 1 drawn twice differs")
	}
	if len(other) == len(got) && other[0] == got[0] && other[len(other)-1] == got[len(got)-1] {
		t.Errorf("streams 1 and 2 are the same")
	}
	// A burst: 10 submissions in 10 s count over an hour, not 10 s
	// (which would give the cap).
	burst := expectedArrivals(recentEvery(10, 1, now), now, 0, runS)
	if want := 10 * arrivalRateScale * arrivalHorizonS / arrivalMinSpanS; math.Abs(float64(len(burst))-want) > 5*math.Sqrt(want) {
		t.Errorf("a burst of 10 in 10 s gave %d arrivals; want about %.0f, at half of 10 an hour", len(burst), want)
	}
	// Very many recent submissions over the hour stop at the cap.
	if n := len(expectedArrivals(recentEvery(100, 36, now), now, 0, runS)); n != maxArrivals {
		t.Errorf("100 submissions an hour gave %d arrivals over %d s; want the cap, %d", n, arrivalHorizonS, maxArrivals)
	}
}

// TestArrivalHistoryRecent: the newest arrivalSample submissions of the
// last arrivalMaxAgeS are the sample, oldest first; older ones and those
// past the ring are not.
func TestArrivalHistoryRecent(t *testing.T) {
	var h arrivalHistory
	const now = 10 * arrivalMaxAgeS
	total := arrivalHistoryLen + 100
	for k := range total {
		h.add(sched.Pending{ID: job.ID(k + 1), SubmitS: now - 300*int64(total-1-k)})
	}
	got := h.recent(now)
	if len(got) != arrivalSample {
		t.Fatalf("%d recent submissions; want the newest %d", len(got), arrivalSample)
	}
	for k, p := range got {
		if want := job.ID(total - arrivalSample + k + 1); p.ID != want {
			t.Fatalf("recent[%d] is job %d; want %d (the newest, oldest first)", k, p.ID, want)
		}
	}
	// Of 20 submissions every 10 minutes from 25 hours ago, the 13 less
	// than a day old.
	var old arrivalHistory
	for k := range 20 {
		old.add(sched.Pending{ID: job.ID(k + 1), SubmitS: now - arrivalMaxAgeS - 3600 + 600*int64(k)})
	}
	if got := old.recent(now); len(got) != 13 || got[0].ID != 8 {
		t.Errorf("recent = %d submissions from job %d; want the 13 less than a day old, from job 8", len(got), got[0].ID)
	}
}

// TestSubmissionsKeptForArrivals: the controller keeps what is submitted
// for forecasts to draw from, but not held jobs nor jobs that wait for
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
	if len(got) != 1 || got[0].ID != plain.ID || got[0].User != "alice" || got[0].Req.GPUsPerNode != 2 {
		t.Errorf("kept %+v; want only job %d (alice, 2 GPUs)", got, plain.ID)
	}
}

// TestForecastExpectsArrivals: on a full machine where short jobs keep
// being submitted, the policy lets them overtake, so the forecasts that
// expect them are later than those that do not; the expected arrivals get
// no forecast of their own; and a queue longer than
// forecastArrivalsMaxPending is forecast without them.
func TestForecastExpectsArrivals(t *testing.T) {
	p, err := sched.PolicyByName("default")
	if err != nil {
		t.Fatal(err)
	}
	c := &Controller{policy: p, cfg: Config{UsageHalfLife: 7 * 24 * time.Hour}}
	in := seededForecastInput(t, 11, 300)
	without, err := c.runForecasts(in)
	if err != nil {
		t.Fatal(err)
	}
	// A short job of each of four shapes every 30 s over the last hour.
	now := in.snap.Now
	for k := range 120 {
		in.recent = append(in.recent, sched.Pending{ID: job.ID(1_000_000 + k), User: "short", Project: "p0", SubmitS: now - 30*int64(119-k),
			Req: job.Request{Nodes: 1, GPUsPerNode: 1 << (k % 4), CPUsPerNode: 2, MemPerNodeMB: 1024, TimeLimitS: 300}})
	}
	with, err := c.runForecasts(in)
	if err != nil {
		t.Fatal(err)
	}
	later, earlier := 0, 0
	for _, pd := range in.snap.Pending {
		a, b := without[pd.ID].point, with[pd.ID].point
		if b == 0 {
			b = math.MaxInt64 // beyond the horizon: later than any
		}
		switch {
		case b > a:
			later++
		case b < a:
			earlier++
		}
	}
	// Some start earlier: the arrivals spend project p0's fair share,
	// which lifts the other projects' jobs.
	if later < len(in.snap.Pending)/2 || earlier > later/2 {
		t.Errorf("with arrivals %d of %d forecasts are later and %d earlier; want most later", later, len(in.snap.Pending), earlier)
	}
	for id := range with {
		if id >= arrivalIDBase {
			t.Errorf("expected arrival %d got a forecast of its own", id)
		}
	}

	long := seededForecastInput(t, 11, forecastArrivalsMaxPending+1)
	plain, err := c.runForecasts(long)
	if err != nil {
		t.Fatal(err)
	}
	long.recent = in.recent
	got, err := c.runForecasts(long)
	if err != nil {
		t.Fatal(err)
	}
	for id, fs := range plain {
		if got[id] != fs {
			t.Fatalf("a queue of %d: job %d forecast %+v with recent submissions, %+v without; want the same", len(long.snap.Pending), id, got[id], fs)
		}
	}
}

// BenchmarkForecastWithArrivals forecasts the last job of the longest
// queue that still gets expected arrivals (forecastArrivalsMaxPending, on
// the gefion preset with every node busy), from a new run: the point twin
// and the five sampled ones, each with its stream, run until it starts.
func BenchmarkForecastWithArrivals(b *testing.B) {
	p, err := sched.PolicyByName("default")
	if err != nil {
		b.Fatal(err)
	}
	c := &Controller{policy: p, cfg: Config{UsageHalfLife: 7 * 24 * time.Hour}}
	for _, arrivals := range []bool{false, true} {
		in := seededForecastInput(b, 5, forecastArrivalsMaxPending)
		if arrivals {
			// 100 submissions over the last two hours, of the queue's mix.
			for k := range 100 {
				pd := in.snap.Pending[k*7]
				pd.ID, pd.SubmitS = job.ID(1_000_000+k), in.snap.Now-72*int64(99-k)
				in.recent = append(in.recent, pd)
			}
		}
		last := in.snap.Pending[len(in.snap.Pending)-1].ID
		b.Run(fmt.Sprint("arrivals=", arrivals), func(b *testing.B) {
			for b.Loop() {
				r, err := c.forecastTwins(in)
				if err != nil {
					b.Fatal(err)
				}
				if fs, ok := r.answer(last); !ok || fs.point == 0 {
					b.Fatalf("no forecast for the last job: %+v", fs)
				}
			}
		})
	}
}
