package twin

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
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

// TestForecastArrivalsMatchReplay takes a live snapshot halfway through
// the arrivals and forecasts with the true run times and, as Arrivals,
// every job the replay submitted after it: the forecast must be exactly
// what the replay did, later jobs that overtake included. Without the
// arrivals, the same forecast must differ (the test needs overtaking), and
// an arrival gets no forecast of its own.
func TestForecastArrivalsMatchReplay(t *testing.T) {
	w := replaySlice(t, 3, 2)
	mid := w.Jobs[len(w.Jobs)/2].SubmitS
	for _, name := range []string{"fifo", "backfill", "gefion"} {
		cfg := Config{Policy: policy(t, name)}
		snap, res := captureAfter(t, w, cfg, mid)
		var arr []Arrival
		for _, wj := range w.Jobs {
			if wj.SubmitS > snap.Now {
				arr = append(arr, Arrival{RunS: wj.RunS, Job: sched.Pending{ID: wj.ID, Req: wj.Req, User: wj.User,
					Project: w.Projects[wj.Project].Name, SubmitS: wj.SubmitS}})
			}
		}
		if len(arr) == 0 {
			t.Fatalf("%s: no job arrives after the snapshot at %d s", name, snap.Now)
		}
		opt := ForecastOptions{
			RunningEndS: func(id job.ID) (sched.Time, bool) { return res.Jobs[id-1].EndS, true },
			RunS:        func(id job.ID) (int64, bool) { return w.Jobs[id-1].RunS, true },
		}
		without, err := Forecast(snap, cfg.Policy, opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.Arrivals = arr
		f, err := NewForecaster(snap, cfg.Policy, opt)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.Start(arr[0].Job.ID); ok {
			t.Errorf("%s: arrival %d got a forecast", name, arr[0].Job.ID)
		}
		got := f.All()
		if len(got) != len(snap.Pending) {
			t.Fatalf("%s: %d forecasts for %d pending jobs", name, len(got), len(snap.Pending))
		}
		changed := 0
		for _, p := range snap.Pending {
			if want := res.Jobs[p.ID-1].StartS; got[p.ID] != want {
				t.Errorf("%s: job %d forecast to start at %d with the arrivals; the replay started it at %d", name, p.ID, got[p.ID], want)
			}
			if without[p.ID] != got[p.ID] {
				changed++
			}
		}
		t.Logf("%s: %d pending at %d s, %d arrivals after; %d forecasts changed by them", name, len(snap.Pending), snap.Now, len(arr), changed)
		if name != "fifo" && changed == 0 {
			t.Errorf("%s: the arrivals changed no forecast; the test needs jobs that overtake", name)
		}
	}
}

// TestForecastArrivalsRefused: arrivals not after the snapshot, out of
// order, or with a snapshot job's ID are configuration errors.
func TestForecastArrivalsRefused(t *testing.T) {
	s := seededQueue(t, 1, 20)
	p := policy(t, "gefion")
	a := func(id job.ID, at int64) Arrival {
		return Arrival{RunS: 60, Job: sched.Pending{ID: id, Req: s.Pending[0].Req, User: "u", SubmitS: at}}
	}
	for _, c := range []struct {
		name string
		arr  []Arrival
	}{
		{"at now", []Arrival{a(1<<40, s.Now)}},
		{"out of order", []Arrival{a(1<<40, s.Now+20), a(1<<40+1, s.Now+10)}},
		{"a pending job's ID", []Arrival{a(s.Pending[3].ID, s.Now+10)}},
		{"twice the same ID", []Arrival{a(1<<40, s.Now+10), a(1<<40, s.Now+10)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewForecaster(s, p, ForecastOptions{Arrivals: c.arr})
			if !errors.Is(err, ErrConfig) {
				t.Errorf("NewForecaster = %v; want ErrConfig", err)
			}
		})
	}
	if _, err := NewForecaster(s, p, ForecastOptions{Arrivals: []Arrival{a(1<<40, s.Now+10), a(1<<40+1, s.Now+10)}}); err != nil {
		t.Errorf("two arrivals at the same time: %v; want them taken", err)
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

// TestForecastPreemption runs a preemption through the twin: a high-QOS job
// preempts the low-QOS job filling the one node, which gets 60 s of grace,
// is killed and requeued; the high job starts at the kill.
func TestForecastPreemption(t *testing.T) {
	c := preset(t, "dgx-h100")
	mem := c.Nodes[0].Model.MemoryBytes >> 20
	snap := &sched.Snapshot{
		Now: 10, Cluster: c,
		Running: []sched.Running{{ID: 1, User: "u", Project: "p", QOS: "low", StartS: 0, EndS: 10000,
			Allocs: []sched.Alloc{{Node: 0, GPUs: 0xff, CPUs: 112, MemMB: mem}}}},
		Pending: []sched.Pending{{ID: 2, User: "v", Project: "p", QOS: "high", SubmitS: 5,
			Req: job.Request{Nodes: 1, GPUsPerNode: 8, CPUsPerNode: 112, MemPerNodeMB: mem, TimeLimitS: 100}}},
		Projects: []sched.Project{{Name: "p", Shares: 1}},
		QOS:      []sched.QOS{{Name: "high", Priority: 100, Preempt: []string{"low"}}, {Name: "low", GraceS: 60, Requeue: true}},
	}
	before := cloneSnapshot(snap)
	// The gefion policy weighs QOS, so the preemptor, not its requeued
	// victim, takes the freed node.
	got, err := Forecast(snap, policy(t, "gefion"), ForecastOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got[2] != 70 {
		t.Errorf("preempting job forecast to start at %d; want 70 (now 10 + 60 s grace)", got[2])
	}
	if snap.Running[0].Preempting || len(snap.Pending) != 1 || snap.Now != before.Now {
		t.Error("Forecast modified the snapshot")
	}
}

// TestForecastDuringReplay forecasts from the middle of a replay whose
// arrivals go on (the Pollux workload 6 on 64 GPUs, as in Pollux's own
// evaluation) and reports how far the forecasts were from what happened,
// next to the plan's own estimates. Later arrivals of higher priority can
// only delay jobs, so the forecasts are judged on the jobs' order as well.
func TestForecastDuringReplay(t *testing.T) {
	f, err := os.Open(sharedTrace(t, "pollux_workloads/workload-6.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := trace.Open(f, trace.Options{Format: trace.Pollux})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.SuperPOD("pollux", 8, &cluster.DGXH100)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Map(r, c, MapOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mid := w.Jobs[len(w.Jobs)/2].SubmitS
	for _, name := range []string{"backfill", "gefion"} {
		p := policy(t, name)
		snap, res := captureAfter(t, w, Config{Policy: p}, mid)
		got, err := Forecast(snap, p, ForecastOptions{})
		if err != nil {
			t.Fatal(err)
		}
		plan := sched.Schedule(cloneSnapshot(snap), p)
		est := map[job.ID]sched.Time{}
		for _, wt := range plan.Waiting {
			est[wt.ID] = wt.EstimatedStartS
		}
		var errF, errP float64
		var n, concordant, pairs int
		for a, pa := range snap.Pending {
			g := got[pa.ID]
			if g < snap.Now || g == sched.Never {
				t.Fatalf("%s: job %d forecast %d at now %d", name, pa.ID, g, snap.Now)
			}
			act := res.Jobs[pa.ID-1].StartS
			if e, ok := est[pa.ID]; ok && e != sched.Never {
				errP += math.Abs(float64(e - act))
				errF += math.Abs(float64(g - act))
				n++
			}
			for _, pb := range snap.Pending[a+1:] {
				gb, ab := got[pb.ID], res.Jobs[pb.ID-1].StartS
				if gb == g || ab == act {
					continue
				}
				pairs++
				if (gb > g) == (ab > act) {
					concordant++
				}
			}
		}
		t.Logf("%s: %d pending at %d s; mean absolute error: forecast %.0f s, plan estimate %.0f s (over %d jobs the plan estimated); start order kept for %d of %d pairs",
			name, len(snap.Pending), snap.Now, errF/float64(max(n, 1)), errP/float64(max(n, 1)), n, concordant, pairs)
		if pairs > 0 && concordant*2 < pairs {
			t.Errorf("%s: the forecast orders fewer than half of the job pairs as the replay did (%d of %d)", name, concordant, pairs)
		}
	}
}

// gefionScaleSnapshot is the live state the forecast target names: the
// gefion preset with every GPU busy (one job per node) and 10,000 pending
// jobs of mixed sizes and limits over ten projects.
func gefionScaleSnapshot(tb testing.TB) *sched.Snapshot {
	return seededQueue(tb, 1, 10_000)
}

// seededQueue is gefionScaleSnapshot's machine with a queue of the given
// length drawn from seed.
func seededQueue(tb testing.TB, seed uint64, pending int) *sched.Snapshot {
	c := preset(tb, "gefion")
	mem := c.Nodes[0].Model.MemoryBytes >> 20
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &sched.Snapshot{Now: 100_000, Cluster: c}
	for p := range 10 {
		s.Projects = append(s.Projects, sched.Project{Name: fmt.Sprint("p", p), Shares: 1})
	}
	for n := range c.Nodes {
		s.Running = append(s.Running, sched.Running{ID: job.ID(n + 1), User: "u", Project: fmt.Sprint("p", n%10),
			StartS: 90_000, EndS: 100_000 + int64(rng.IntN(86400)),
			Allocs: []sched.Alloc{{Node: n, GPUs: 0xff, CPUs: 16, MemMB: mem / 8}}})
	}
	for i := range pending {
		g, nodes := []int{1, 1, 1, 2, 4, 8, 8}[rng.IntN(7)], 1
		if rng.IntN(50) == 0 {
			nodes = 2 + rng.IntN(8)
			g = 8
		}
		s.Pending = append(s.Pending, sched.Pending{ID: job.ID(len(c.Nodes) + i + 1), User: fmt.Sprint("u", i%40),
			Project: fmt.Sprint("p", i%10), SubmitS: 50_000 + int64(i),
			Req: job.Request{Nodes: nodes, GPUsPerNode: g, CPUsPerNode: 2 * g, MemPerNodeMB: mem / 16 * int64(g), TimeLimitS: int64(600 * (1 + rng.IntN(48)))}})
	}
	return s
}

// TestForecastIndexAndEarlyStop checks the ways a forecast saves work
// against the plain full replay on seeded queues: the plain replay orders
// the whole queue at every pass and runs every due pass (Config.NoIndex,
// Config.NoSkip); Forecast keeps the order in an index and skips passes
// that can start nothing; a Forecaster asked about one job at a time, in
// a random order, runs only as far as each answer needs and goes on from
// there. All three must give every job the same start. Seed 2 has the
// controller's QOSes, one of which may preempt; seed 3 has pending jobs
// in it, and running ones it may preempt.
func TestForecastIndexAndEarlyStop(t *testing.T) {
	for _, name := range []string{"default", "backfill", "fifo"} {
		for seed := uint64(1); seed <= 3; seed++ {
			s := seededQueue(t, seed, 1500)
			if seed >= 2 {
				s.QOS = []sched.QOS{
					{Name: "normal", Priority: 10},
					{Name: "high", Priority: 100, Preempt: []string{"scavenger"}},
					{Name: "scavenger", GraceS: 120, Requeue: true},
				}
			}
			if seed == 3 {
				for k := range s.Running {
					if k%5 == 0 {
						s.Running[k].QOS = "scavenger"
					}
				}
				for k := range s.Pending {
					if k%97 == 0 {
						s.Pending[k].QOS = "high"
					}
				}
			}
			p := policy(t, name)
			opt := ForecastOptions{SchedIntervalS: 1}
			e, err := forecastEngine(s, p, opt)
			if err != nil {
				t.Fatal(err)
			}
			e.cfg.NoIndex, e.cfg.NoSkip = true, true
			e.loop()
			plain := map[job.ID]sched.Time{}
			for _, pd := range s.Pending {
				i := e.idIndex[pd.ID]
				st := e.outcome[i].FirstStartS
				if st < 0 || st > e.stopAt {
					st = sched.Never
				}
				plain[pd.ID] = st
			}
			full, err := Forecast(s, p, opt)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(plain, full); d != "" {
				t.Fatalf("%s seed %d: the indexed forecast differs from the plain replay (-plain +indexed):\n%s", name, seed, d)
			}
			f, err := NewForecaster(s, p, opt)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, 7))
			asked := 0
			for _, k := range rng.Perm(len(s.Pending))[:200] {
				id := s.Pending[k].ID
				got, ok := f.Start(id)
				if !ok || got != plain[id] {
					t.Fatalf("%s seed %d: Start(%d) = %d, %v after %d questions; the full replay says %d", name, seed, id, got, ok, asked, plain[id])
				}
				asked++
			}
			for id, st := range f.Started() {
				if st != plain[id] {
					t.Fatalf("%s seed %d: Started()[%d] = %d; want %d", name, seed, id, st, plain[id])
				}
			}
			if d := cmp.Diff(plain, f.All()); d != "" {
				t.Fatalf("%s seed %d: All after early stops differs (-plain +forecaster):\n%s", name, seed, d)
			}
			if _, ok := f.Start(s.Running[0].ID); ok {
				t.Errorf("%s: Start of a running job = ok; want not ok", name)
			}
			if _, ok := f.Start(1 << 40); ok {
				t.Errorf("%s: Start of an unknown job = ok; want not ok", name)
			}
		}
	}
}

// BenchmarkForecastGefionScale forecasts every pending job of
// gefionScaleSnapshot once.
func BenchmarkForecastGefionScale(b *testing.B) {
	s := gefionScaleSnapshot(b)
	p := policy(b, "default")
	for b.Loop() {
		if _, err := Forecast(s, p, ForecastOptions{SchedIntervalS: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForecastOneJob forecasts one job of gefionScaleSnapshot from a
// fresh Forecaster: the job halfway down the queue's submission order.
func BenchmarkForecastOneJob(b *testing.B) {
	s := gefionScaleSnapshot(b)
	p := policy(b, "default")
	id := s.Pending[len(s.Pending)/2].ID
	for b.Loop() {
		f, err := NewForecaster(s, p, ForecastOptions{SchedIntervalS: 1})
		if err != nil {
			b.Fatal(err)
		}
		f.Start(id)
	}
}
