package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// seededForecastInput is a live state drawn from seed: every node of the
// gefion preset busy with one job, a queue of mixed jobs over ten
// projects, and run-time histories for half the users (used/limit ratios
// from 0.1 to 1).
func seededForecastInput(t testing.TB, seed uint64, pending int) *forecastInput {
	c, err := cluster.Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	mem := c.Nodes[0].Model.MemoryBytes >> 20
	rng := rand.New(rand.NewPCG(seed, 2))
	s := &sched.Snapshot{Now: 100_000, Cluster: c}
	in := &forecastInput{snap: s, ratios: map[job.ID][]float64{}}
	hist := map[string][]float64{}
	for u := range 20 {
		var r []float64
		for range 10 {
			r = append(r, 0.1+0.9*rng.Float64())
		}
		slices.Sort(r)
		hist[fmt.Sprint("u", u)] = r
	}
	for p := range 10 {
		s.Projects = append(s.Projects, sched.Project{Name: fmt.Sprint("p", p), Shares: 1, UsageGPUS: float64(rng.IntN(1e6))})
	}
	for n := range c.Nodes {
		id := job.ID(n + 1)
		user := fmt.Sprint("u", n%40)
		s.Running = append(s.Running, sched.Running{ID: id, User: user, Project: fmt.Sprint("p", n%10),
			StartS: 90_000, EndS: 100_000 + int64(rng.IntN(86400)),
			Allocs: []sched.Alloc{{Node: n, GPUs: 0xff, CPUs: 16, MemMB: mem / 8}}})
		if r, ok := hist[user]; ok {
			in.ratios[id] = r
		}
	}
	for i := range pending {
		g, nodes := []int{1, 1, 1, 2, 4, 8, 8}[rng.IntN(7)], 1
		if rng.IntN(50) == 0 {
			nodes, g = 2+rng.IntN(8), 8
		}
		id := job.ID(len(c.Nodes) + i + 1)
		user := fmt.Sprint("u", i%40)
		s.Pending = append(s.Pending, sched.Pending{ID: id, User: user, Project: fmt.Sprint("p", i%10), SubmitS: 50_000 + int64(i),
			Req: job.Request{Nodes: nodes, GPUsPerNode: g, CPUsPerNode: 2 * g, MemPerNodeMB: mem / 16 * int64(g), TimeLimitS: int64(600 * (1 + rng.IntN(48)))}})
		if r, ok := hist[user]; ok {
			in.ratios[id] = r
		}
	}
	return in
}

// TestForecastRunAnswersAsFullRun asks a run about one job at a time, in
// a random order, each answer running the twins (the point one and the
// five sampled ones) only until that job starts, and compares every
// answer, then the completed run, with the complete forecast of the same
// state: they must be equal, ranges included.
func TestForecastRunAnswersAsFullRun(t *testing.T) {
	for _, name := range []string{"default", "backfill"} {
		p, err := sched.PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		c := &Controller{policy: p, cfg: Config{UsageHalfLife: 7 * 24 * time.Hour}}
		in := seededForecastInput(t, 3, 1200)
		want, err := c.runForecasts(in)
		if err != nil {
			t.Fatal(err)
		}
		ranged := 0
		for _, fs := range want {
			if fs.low != 0 {
				ranged++
			}
		}
		if ranged == 0 {
			t.Fatalf("%s: no forecast has a range; the test needs sampled runs", name)
		}
		r, err := c.forecastTwins(in)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 5))
		for n, k := range rng.Perm(len(in.snap.Pending))[:150] {
			id := in.snap.Pending[k].ID
			got, ok := r.answer(id)
			if !ok || got != want[id] {
				t.Fatalf("%s: answer %d, job %d: %+v (ok %v); the complete forecast says %+v", name, n, id, got, ok, want[id])
			}
		}
		if _, ok := r.answer(in.snap.Running[0].ID); ok {
			t.Errorf("%s: a running job got a forecast", name)
		}
		r.all()
		if d := cmp.Diff(want, r.starts, cmp.AllowUnexported(forecastStart{})); d != "" {
			t.Errorf("%s: the run completed after answers differs from the complete forecast (-want +got):\n%s", name, d)
		}
	}
}

// TestForecastNewJobTakesNewRun: a question answered from the current run
// leaves it in place; a job submitted after its snapshot gets a new run
// (its answer is then a real forecast), which then serves the older job
// too.
func TestForecastNewJobTakesNewRun(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	long := gpuSpec(8, "duration=1000")
	long.TimeLimitS = 3000
	first, err := alice.Submit(ctx, api.SubmitRequest{Spec: long}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", first.ID, job.Running)
	waitForecast := func(id job.ID) *api.Why {
		var w *api.Why
		h.waitFor("a forecast", func() bool {
			w, err = alice.Why(ctx, id)
			return err == nil && w.Reason == "Resources" && w.Forecast != 0
		})
		return w
	}
	a, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=10")}, "")
	if err != nil {
		t.Fatal(err)
	}
	wa := waitForecast(a.ID)
	r1 := h.ctl.fc.fresh()
	if r1 == nil {
		t.Fatal("no current forecast run after a forecast")
	}
	if again := waitForecast(a.ID); again.Forecast != wa.Forecast || h.ctl.fc.fresh() != r1 {
		t.Errorf("asking again gave %d (first %d) or took a new run; want the same answer from the same run", again.Forecast, wa.Forecast)
	}
	b, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=10")}, "")
	if err != nil {
		t.Fatal(err)
	}
	wb := waitForecast(b.ID)
	r2 := h.ctl.fc.fresh()
	if r2 == r1 {
		t.Fatal("the job submitted after the run's snapshot was answered from it")
	}
	if wb.Forecast < wa.Forecast {
		t.Errorf("the later job of the same shape is forecast to start at %d, before the earlier one (%d)", wb.Forecast, wa.Forecast)
	}
	if fs, ok := r2.answer(a.ID); !ok || fs.point == 0 {
		t.Errorf("the new run has no forecast for the older job: %+v, %v", fs, ok)
	}
}

// TestForecastRefreshesInBackground: once the current run is older than
// the refresh age, a question is answered from it at once and has a
// complete run of a new snapshot made in the background, which then
// answers every job without running a twin.
func TestForecastRefreshesInBackground(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	long := gpuSpec(8, "duration=1000")
	long.TimeLimitS = 3000
	first, err := alice.Submit(ctx, api.SubmitRequest{Spec: long}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", first.ID, job.Running)
	var ids []job.ID
	for range 3 {
		r, err := alice.Submit(ctx, api.SubmitRequest{Spec: gpuSpec(8, "duration=10")}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	h.waitFor("a forecast", func() bool {
		w, err := alice.Why(ctx, ids[0])
		return err == nil && w.Reason != "None" && w.Forecast != 0
	})
	f := &h.ctl.fc
	r1 := f.fresh()
	if r1 == nil {
		t.Fatal("no run after a question")
	}
	r1.mu.Lock()
	complete := r1.complete
	r1.mu.Unlock()
	if complete {
		t.Fatal("one question completed the run; want it stopped at that job")
	}
	f.mu.Lock()
	f.refreshAfter = time.Nanosecond
	f.mu.Unlock()
	w, err := alice.Why(ctx, ids[0])
	if err != nil || w.Forecast == 0 {
		t.Fatalf("why = %+v, %v; want the forecast of the current run", w, err)
	}
	h.waitFor("a complete run in the background", func() bool {
		r := f.fresh()
		if r == nil || r == r1 {
			return false
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.complete
	})
	r := f.fresh()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if fs, ok := r.starts[id]; !ok || fs.point == 0 {
			t.Errorf("the background run has no forecast for job %d: %+v", id, fs)
		}
	}
}

// gefionScaleController is a controller on a loopback server with 191
// virtual DGX H100 nodes (1,528 GPUs) all busy with one long job each, and
// 10,000 pending jobs of mixed shapes and limits from 40 users; it
// returns the controller, its URL and the pending jobs' IDs in submission
// order.
func gefionScaleController(b *testing.B) (*Controller, string, []job.ID) {
	const nodes, pending = 191, 10_000
	ctl, err := New(Config{DefaultProject: "default", Operators: []string{"admin"}}, store.NewMemory(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	srv := httptest.NewServer(ctl.Handler())
	actx, acancel := context.WithCancel(context.Background())
	ag := &agent.Agent{
		Client: client.NewAgent(srv.URL, ctl.JoinToken()), ID: "virtual-bench",
		Nodes: agent.VirtualNodes("dgx", nodes, &cluster.DGXH100, 1),
		Exec:  &agent.Virtual{GPU: cluster.H100SXM},
	}
	go func() { _ = ag.Run(actx) }()
	b.Cleanup(func() { acancel(); srv.Close(); cancel(); <-done })
	admin := client.New(srv.URL, "admin")
	wait := func(what string, ok func() bool) {
		deadline := time.Now().Add(2 * time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("nodes up", func() bool {
		ns, err := admin.Nodes(ctx)
		if err != nil || len(ns) != nodes {
			return false
		}
		for _, n := range ns {
			if n.State == "down" {
				return false
			}
		}
		return true
	})
	submit := func(specs []job.Spec, users func(i int) string) []job.ID {
		ids := make([]job.ID, len(specs))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(specs); i += 16 {
					resp, err := client.New(srv.URL, users(i)).Submit(ctx, api.SubmitRequest{Spec: specs[i]}, "")
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					ids[i] = resp.ID
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		return ids
	}
	rng := rand.New(rand.NewPCG(1, 1))
	busy := make([]job.Spec, nodes)
	for i := range busy {
		busy[i] = job.Spec{Name: "busy", GPUsPerNode: 8, TimeLimitS: int64(3600 * (1 + rng.IntN(24))), Comment: "duration=1000000", Script: "#!/bin/sh\n"}
	}
	submit(busy, func(i int) string { return fmt.Sprint("u", i%40) })
	wait("every node busy", func() bool {
		js, err := admin.Jobs(ctx, true)
		running := 0
		for _, j := range js {
			if j.State == job.Running {
				running++
			}
		}
		return err == nil && running == nodes
	})
	queue := make([]job.Spec, pending)
	for i := range queue {
		g, n := []int{1, 1, 1, 2, 4, 8, 8}[rng.IntN(7)], 1
		if rng.IntN(50) == 0 {
			n, g = 2+rng.IntN(8), 8
		}
		queue[i] = job.Spec{Name: "q", NodesMin: n, NodesMax: n, GPUsPerNode: g, TimeLimitS: int64(600 * (1 + rng.IntN(48))), Comment: "duration=60", Script: "#!/bin/sh\n"}
	}
	ids := submit(queue, func(i int) string { return fmt.Sprint("u", i%40) })
	wait("the queue planned", func() bool {
		w, err := admin.Why(ctx, ids[len(ids)-1])
		return err == nil && w.Reason != "None"
	})
	return ctl, srv.URL, ids
}

// BenchmarkWhyGefionScale measures `why` (over HTTP) for one pending job
// at Gefion scale: cold, with no forecast run (a snapshot, and the twins
// run until the job starts), and warm, answered from the current run;
// for the job halfway down the submission order (mid) and for the one
// last in the scheduling order (last: the twin runs the whole queue).
func BenchmarkWhyGefionScale(b *testing.B) {
	ctl, url, ids := gefionScaleController(b)
	ctx := context.Background()
	admin := client.New(url, "admin")
	last, lastPos := ids[0], 0
	for _, id := range ids {
		w, err := admin.Why(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if w.Position > lastPos {
			last, lastPos = id, w.Position
		}
	}
	for _, c := range []struct {
		name string
		id   job.ID
	}{{"mid", ids[len(ids)/2]}, {"last", last}} {
		why := func(b *testing.B) {
			w, err := admin.Why(ctx, c.id)
			if err != nil {
				b.Fatal(err)
			}
			if w.Forecast == 0 {
				b.Fatalf("no forecast for job %d: %+v", c.id, w)
			}
		}
		b.Run(c.name+"/cold", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				ctl.fc.mu.Lock()
				ctl.fc.cur = nil
				ctl.fc.mu.Unlock()
				b.StartTimer()
				why(b)
			}
		})
		b.Run(c.name+"/warm", func(b *testing.B) {
			why(b)
			for b.Loop() {
				why(b)
			}
		})
	}
}

// TestForecastKnownRunTimes: with Config.ForecastKnownRunS the run also
// holds the twin with true run times. Its answers, asked one job at a
// time, must be the twin's complete forecast with those run times
// (running jobs ending at their start plus theirs), and the forecast users
// get must be the same as without the diagnostic.
func TestForecastKnownRunTimes(t *testing.T) {
	p, err := sched.PolicyByName("default")
	if err != nil {
		t.Fatal(err)
	}
	in := seededForecastInput(t, 7, 600)
	trueRun := func(id job.ID) (int64, bool) {
		if id%13 == 0 {
			return 0, false // unknown: the twin keeps its own guess
		}
		return 60 + int64(rand.New(rand.NewPCG(uint64(id), 9)).IntN(40_000)), true
	}
	cfg := Config{UsageHalfLife: 7 * 24 * time.Hour}
	plain := &Controller{policy: p, cfg: cfg}
	cfg.ForecastKnownRunS = trueRun
	// Later submissions: short jobs that the policy lets overtake.
	var later []twin.Arrival
	for k := range 200 {
		later = append(later, twin.Arrival{RunS: 300, Job: sched.Pending{ID: 1<<40 + job.ID(k), User: "late", Project: "p0",
			SubmitS: in.snap.Now + 60*int64(k+1), Req: job.Request{Nodes: 1, GPUsPerNode: 8, CPUsPerNode: 16, TimeLimitS: 600}}})
	}
	cfg.ForecastKnownArrivals = func(now int64) []twin.Arrival {
		if now != in.snap.Now {
			t.Errorf("known arrivals asked at %d; want the snapshot's time %d", now, in.snap.Now)
		}
		return slices.Clone(later)
	}
	cfg.DefaultQOS = "normal"
	diag := &Controller{policy: p, cfg: cfg}

	starts := map[job.ID]sched.Time{}
	for i := range in.snap.Running {
		r := &in.snap.Running[i]
		starts[r.ID] = r.StartS
	}
	want, err := twin.Forecast(in.snap, p, twin.ForecastOptions{
		SchedIntervalS: 1, HalfLifeS: int64(cfg.UsageHalfLife.Seconds()),
		RunningEndS: func(id job.ID) (sched.Time, bool) {
			run, ok := trueRun(id)
			return starts[id] + run, ok
		},
		RunS: trueRun,
	})
	if err != nil {
		t.Fatal(err)
	}
	withLater := make([]twin.Arrival, len(later))
	for k, a := range later {
		a.Job.QOS = "normal" // the controller's default, as submissions get
		withLater[k] = a
	}
	wantAll, err := twin.Forecast(in.snap, p, twin.ForecastOptions{
		SchedIntervalS: 1, HalfLifeS: int64(cfg.UsageHalfLife.Seconds()),
		RunningEndS: func(id job.ID) (sched.Time, bool) {
			run, ok := trueRun(id)
			return starts[id] + run, ok
		},
		RunS:     trueRun,
		Arrivals: withLater,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := diag.forecastTwins(in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	differs, later1 := 0, 0
	for _, k := range rng.Perm(len(in.snap.Pending))[:100] {
		id := in.snap.Pending[k].ID
		got, ok := r.answer(id)
		if !ok || got.known != startOrZero(want[id]) {
			t.Fatalf("job %d: known = %d (ok %v); the twin with true run times says %d", id, got.known, ok, want[id])
		}
		if got.known != got.point {
			differs++
		}
		if got.clair != startOrZero(wantAll[id]) {
			t.Fatalf("job %d: with known arrivals %d; the twin with true run times and arrivals says %d", id, got.clair, wantAll[id])
		}
		if got.clair != got.known {
			later1++
		}
	}
	if differs == 0 || later1 == 0 {
		t.Fatalf("%d known-run-time forecasts differ from the predicted ones, %d change with the arrivals; the test needs both", differs, later1)
	}
	r.all()
	plainStarts, err := plain.runForecasts(in)
	if err != nil {
		t.Fatal(err)
	}
	for id, fs := range r.starts {
		if fs.known != startOrZero(want[id]) || fs.clair != startOrZero(wantAll[id]) {
			t.Fatalf("after all: job %d known = %d, with arrivals %d; want %d, %d", id, fs.known, fs.clair, want[id], wantAll[id])
		}
		pf := plainStarts[id]
		if fs.point != pf.point || fs.low != pf.low || fs.high != pf.high || pf.known != 0 || pf.clair != 0 {
			t.Fatalf("job %d: forecast %+v with the diagnostic, %+v without; want the same, and no known start without it", id, fs, pf)
		}
	}
}
