package twin

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

func preset(t testing.TB, name string) *cluster.Cluster {
	t.Helper()
	c, err := cluster.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func policy(t testing.TB, name string) sched.Policy {
	t.Helper()
	p, err := sched.PolicyByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// tiny maps hand-made records onto one DGX H100 (8 GPUs) with exact limits.
func tiny(t *testing.T, recs []trace.Record) *Workload {
	t.Helper()
	w, err := MapRecords(recs, preset(t, "dgx-h100"), MapOptions{TimeLimit: TimeLimitModel{Kind: "exact"}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestMetricsByHand replays two jobs on one 8-GPU node and checks every
// figure against arithmetic done by hand.
func TestMetricsByHand(t *testing.T) {
	w := tiny(t, []trace.Record{
		{SubmitS: 1000, DurationS: 100, GPUs: 8, Tenant: "p1"},
		{SubmitS: 1010, DurationS: 50, GPUs: 8, Tenant: "p2"},
	})
	res, err := Run(w, Config{Policy: policy(t, "fifo"), SchedIntervalS: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A starts at 0 and ends at 100; B, submitted at 10, waits for the
	// node and runs from 100 to 150.
	if o := res.Jobs[0]; o.StartS != 0 || o.EndS != 100 {
		t.Fatalf("job A ran %d..%d; want 0..100", o.StartS, o.EndS)
	}
	if o := res.Jobs[1]; o.StartS != 100 || o.EndS != 150 {
		t.Fatalf("job B ran %d..%d; want 100..150", o.StartS, o.EndS)
	}
	m := Summarize(res)
	// JCT: A 100, B 140. Wait: A 0, B 90. Bounded slowdown: A 1, B
	// 140/50 = 2.8. Speeds: 1 and 1/2.8; Jain = (1+1/2.8)^2 / (2 (1 + 1/2.8^2)).
	sp := 1 / 2.8
	jain := (1 + sp) * (1 + sp) / (2 * (1 + sp*sp))
	// Power: 1,500 W base + 8 x 700 W busy the whole 150 s, x PUE 1.2.
	kwh := (1500 + 8*700) * 1.2 * 150 / 3.6e6
	checks := []struct {
		name      string
		got, want float64
	}{
		{"makespan_s", m.MakespanS, 150},
		{"avg_jct_s", m.AvgJCTS, 120},
		{"p50_jct_s", m.P50JCTS, 100},
		{"p99_jct_s", m.P99JCTS, 140},
		{"avg_wait_s", m.AvgWaitS, 45},
		{"p99_wait_s", m.P99WaitS, 90},
		{"avg_bounded_slowdown", m.AvgBoundedSlowdown, (1 + 2.8) / 2},
		{"utilization", m.Utilization, 1},
		{"utilization_makespan", m.UtilizationMakespan, 1},
		{"jain_fairness", m.JainFairness, jain},
		{"energy_kwh", m.EnergyKWh, kwh},
		{"co2_kg", m.CO2Kg, kwh * 100 / 1000},
		{"co2_market_kg", m.CO2MarketKg, 0},
		{"multi_node_in_one_su", m.MultiNodeInOneSU, 1},
		{"p1 gpu_hours", m.Projects[0].GPUHours, 800.0 / 3600},
		{"p2 use_share", m.Projects[1].UseShare, 400.0 / 1200},
		{"p2 grant_share", m.Projects[1].GrantShare, 0.5},
		{"p2 avg_wait_s", m.Projects[1].AvgWaitS, 90},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
	if m.Jobs != 2 || m.Completed != 2 || m.GPUs != 8 || m.Policy != "fifo" {
		t.Errorf("jobs %d completed %d gpus %d policy %q; want 2, 2, 8, fifo", m.Jobs, m.Completed, m.GPUs, m.Policy)
	}
	if len(m.SizeClasses) != 1 || m.SizeClasses[0].Class != "5-8" || m.SizeClasses[0].AvgWaitS != 45 {
		t.Errorf("size classes %+v; want one 5-8 class with mean wait 45", m.SizeClasses)
	}
}

func TestPercentileAndJain(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {10, 1}, {11, 2}, {100, 10}} {
		if got := Percentile(xs, c.p); got != c.want {
			t.Errorf("Percentile(1..10, %v) = %v; want %v", c.p, got, c.want)
		}
	}
	if got := Jain([]float64{1, 1, 1}); got != 1 {
		t.Errorf("Jain(equal) = %v; want 1", got)
	}
	if got := Jain([]float64{1, 0, 0, 0}); got != 0.25 {
		t.Errorf("Jain(one of four served) = %v; want 1/4", got)
	}
	// (1+3)^2 / (2 (1+9)) = 0.8
	if got := Jain([]float64{1, 3}); !near(got, 0.8) {
		t.Errorf("Jain(1,3) = %v; want 0.8", got)
	}
	if got := BoundedSlowdown(30, 2); got != 3 {
		t.Errorf("BoundedSlowdown(30, 2) = %v; want 30/10 = 3", got)
	}
}

// TestUsageDecay checks the decayed usage handed to the core against the
// closed form: 8 GPUs held for 100 s with a 100 s half-life give
// 8 x 100/ln 2 x (1 - 1/2).
func TestUsageDecay(t *testing.T) {
	w := tiny(t, []trace.Record{
		{SubmitS: 0, DurationS: 100, GPUs: 8, Tenant: "p1"},
		{SubmitS: 1, DurationS: 10, GPUs: 8, Tenant: "p2"},
	})
	var at100 []sched.Project
	_, err := Run(w, Config{Policy: policy(t, "fifo"), SchedIntervalS: 1, HalfLifeS: 100, OnPass: func(s *sched.Snapshot) {
		if s.Now == 100 {
			at100 = append([]sched.Project(nil), s.Projects...)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if at100 == nil {
		t.Fatal("no pass at t=100")
	}
	want := 8 * 100 / math.Ln2 * 0.5
	if !near(at100[0].UsageGPUS, want) || at100[1].UsageGPUS != 0 {
		t.Errorf("usage at 100 s = %v, %v; want %v, 0", at100[0].UsageGPUS, at100[1].UsageGPUS, want)
	}
}

func TestMapping(t *testing.T) {
	c := preset(t, "gefion")
	recs := []trace.Record{
		{SubmitS: 100, DurationS: 10, GPUs: 4, Tenant: "b"},
		{SubmitS: 200, DurationS: 20, GPUs: 12, Tenant: "a"},
		{SubmitS: 300, DurationS: 30, GPUs: 0, CPUs: 3.5, MemMB: 2048, Tenant: "a"},
		{SubmitS: 400, DurationS: 0.2, GPUs: 2000, Tenant: "c"}, // larger than the machine
		{SubmitS: 500, DurationS: 0.2, GPUs: 1},
	}
	w, err := MapRecords(recs, c, MapOptions{TimeLimit: TimeLimitModel{Kind: "factor", Factor: 2}, Shares: map[string]float64{"a": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if w.Oversized != 1 || len(w.Jobs) != 4 || !strings.Contains(w.OversizedNotes[0], "2000 GPUs") {
		t.Fatalf("oversized %d (%v), jobs %d; want 1 and 4", w.Oversized, w.OversizedNotes, len(w.Jobs))
	}
	want := []job.Request{
		{Nodes: 1, GPUsPerNode: 4, CPUsPerNode: 56, MemPerNodeMB: 1 << 20, TimeLimitS: 60},
		{Nodes: 2, GPUsPerNode: 6, CPUsPerNode: 112, MemPerNodeMB: 2 << 20, WholeNodes: true, TimeLimitS: 60},
		{Nodes: 1, CPUsPerNode: 4, MemPerNodeMB: 2048, TimeLimitS: 60},
		{Nodes: 1, GPUsPerNode: 1, CPUsPerNode: 14, MemPerNodeMB: 1 << 18, TimeLimitS: 60},
	}
	for i, j := range w.Jobs {
		if j.Req != want[i] {
			t.Errorf("job %d request %+v; want %+v", i, j.Req, want[i])
		}
		if j.ID != job.ID(i+1) || j.SubmitS != []int64{0, 100, 200, 400}[i] {
			t.Errorf("job %d: id %d submit %d", i, j.ID, j.SubmitS)
		}
	}
	if w.Jobs[3].RunS != 1 {
		t.Errorf("a 0.2 s job runs %d s; want 1 (the least)", w.Jobs[3].RunS)
	}
	names := []string{}
	for _, p := range w.Projects {
		names = append(names, p.Name)
	}
	if !reflect.DeepEqual(names, []string{"a", "b", "default"}) || w.Projects[0].Shares != 3 || w.Projects[1].Shares != 1 {
		t.Errorf("projects %+v; want a (3 shares), b, default", w.Projects)
	}
	if _, err := MapRecords(recs, c, MapOptions{Shares: map[string]float64{"zz": 1}}); err == nil || !strings.Contains(err.Error(), "zz") {
		t.Errorf("unknown --shares project: error %v; want one naming zz", err)
	}
}

func TestLoadRescaling(t *testing.T) {
	c := preset(t, "dgx-h100")
	// 8 GPUs; jobs of 1 GPU x 800 s every 1,000 s: 10 jobs over 9,000 s
	// offer 8,000 GPU-s over 72,000: load 1/9.
	var recs []trace.Record
	for i := range 10 {
		recs = append(recs, trace.Record{SubmitS: float64(1000 * i), DurationS: 800, GPUs: 1})
	}
	w, err := MapRecords(recs, c, MapOptions{Load: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !near(w.NativeLoad, 1.0/9) {
		t.Errorf("native load %v; want 1/9", w.NativeLoad)
	}
	if math.Abs(w.Load-0.5) > 0.001 || w.Jobs[1].SubmitS != 222 {
		t.Errorf("load %v, second submit %d; want 0.5 and 222 (1000 x 2/9)", w.Load, w.Jobs[1].SubmitS)
	}
}

func TestTimeLimitModels(t *testing.T) {
	for _, s := range []string{"exact", "user", "trace", "factor:2", "uniform:5"} {
		m, err := ParseTimeLimitModel(s)
		if err != nil {
			t.Fatalf("ParseTimeLimitModel(%q): %v", s, err)
		}
		var recs []trace.Record
		for i := range 200 {
			recs = append(recs, trace.Record{SubmitS: float64(i), DurationS: float64(30 + 97*i), GPUs: 1, TimeLimitS: int64(200 * i)})
		}
		w, err := MapRecords(recs, preset(t, "dgx-h100"), MapOptions{TimeLimit: m, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		w2, _ := MapRecords(recs, preset(t, "dgx-h100"), MapOptions{TimeLimit: m, Seed: 7})
		for i, j := range w.Jobs {
			l := j.Req.TimeLimitS
			if l < j.RunS || l < MinTimeLimitS {
				t.Fatalf("%s: job %d limit %d below run %d or %d", s, i, l, j.RunS, MinTimeLimitS)
			}
			if l != w2.Jobs[i].Req.TimeLimitS {
				t.Fatalf("%s: limits differ between runs with one seed", s)
			}
			switch s {
			case "exact":
				if l != max(j.RunS, MinTimeLimitS) {
					t.Fatalf("exact: limit %d for run %d", l, j.RunS)
				}
			case "factor:2":
				if l != max(2*j.RunS, MinTimeLimitS) {
					t.Fatalf("factor:2: limit %d for run %d", l, j.RunS)
				}
			case "uniform:5":
				if l > 5*j.RunS+1 {
					t.Fatalf("uniform:5: limit %d past 5 x run %d", l, j.RunS)
				}
			case "user":
				if l != roundUpLimit(l) || l > 10*j.RunS+7*86400 {
					t.Fatalf("user: limit %d for run %d is not a common limit within 10x", l, j.RunS)
				}
			}
		}
	}
	for _, bad := range []string{"factor", "factor:0.5", "uniform:x", "oracle", "exact:2"} {
		if _, err := ParseTimeLimitModel(bad); err == nil {
			t.Errorf("ParseTimeLimitModel(%q) = nil error; want one", bad)
		}
	}
	if _, err := MapRecords([]trace.Record{{DurationS: 100000, GPUs: 1}}, preset(t, "dgx-h100"), MapOptions{MaxTimeS: 3600}); err != nil {
		t.Fatal(err)
	}
	w, _ := MapRecords([]trace.Record{{DurationS: 100000, GPUs: 1}}, preset(t, "dgx-h100"), MapOptions{MaxTimeS: 3600})
	if w.Timeouts != 1 || w.Jobs[0].RunS != 3600 || w.Jobs[0].Req.TimeLimitS != 3600 {
		t.Errorf("capped job: timeouts %d run %d limit %d; want 1, 3600, 3600", w.Timeouts, w.Jobs[0].RunS, w.Jobs[0].Req.TimeLimitS)
	}
}

// replaySlice maps the Philly slice from testdata at a high load onto a
// machine of nodes DGX H100s.
func replaySlice(t *testing.T, load float64, nodes int) *Workload {
	t.Helper()
	r := openTestdata(t, "philly_slice.csv", trace.Philly)
	c, err := cluster.SuperPOD("mini", nodes, &cluster.DGXH100)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Map(r, c, MapOptions{Load: load, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDeterminism(t *testing.T) {
	w := replaySlice(t, 2, 8)
	for _, name := range []string{"fifo", "backfill", "gefion"} {
		cfg := Config{Policy: policy(t, name), Seed: 5, Failures: FailureModel{NodeMTBFHours: 24 * 8, RepairS: 3600}}
		a, err := Run(w, cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Run(w, cfg)
		ma, mb := Summarize(a), Summarize(b)
		ma.WallS, mb.WallS = 0, 0
		if !reflect.DeepEqual(a.Jobs, b.Jobs) || !reflect.DeepEqual(ma, mb) || !reflect.DeepEqual(a.Series, b.Series) {
			t.Errorf("%s: two replays with one seed differ", name)
		}
		if ma.Completed != ma.Jobs {
			t.Errorf("%s: %d of %d jobs completed", name, ma.Completed, ma.Jobs)
		}
		if a.NodeFailures == 0 {
			t.Errorf("%s: no node failed with an 8-day MTBF on 8 nodes over weeks", name)
		}
		cfg.Seed = 6
		c, _ := Run(w, cfg)
		if reflect.DeepEqual(a.Jobs, c.Jobs) && a.NodeFailures > 0 {
			t.Errorf("%s: another failure seed changed nothing", name)
		}
	}
}

// TestSkipIsExact replays with and without skipping futile passes.
func TestSkipIsExact(t *testing.T) {
	w := replaySlice(t, 3, 2)
	for _, name := range []string{"fifo", "gefion"} {
		a, _ := Run(w, Config{Policy: policy(t, name)})
		b, _ := Run(w, Config{Policy: policy(t, name), NoSkip: true})
		if !reflect.DeepEqual(a.Jobs, b.Jobs) {
			t.Errorf("%s: skipping futile passes changed the outcome", name)
		}
		if a.SkippedPasses == 0 || b.SkippedPasses != 0 {
			t.Errorf("%s: skipped %d and %d passes; want some, then none", name, a.SkippedPasses, b.SkippedPasses)
		}
	}
}

// TestSkipIsExactBusy replays a synthetic overloaded mix of sizes, where
// GPUs are often free but too few for any waiting job, with and without
// skipping, under policies with deep and shallow reservations.
func TestSkipIsExactBusy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var recs []trace.Record
	at := 0.0
	for k := 0; k < 600; k++ {
		at += rng.ExpFloat64() * 200
		g := []int{2, 3, 4, 6, 8, 16, 32}[rng.IntN(7)]
		recs = append(recs, trace.Record{SubmitS: at, DurationS: 300 + rng.Float64()*20000, GPUs: g, Tenant: fmt.Sprint("p", rng.IntN(4))})
	}
	c, err := cluster.SuperPOD("mini", 8, &cluster.DGXH100)
	if err != nil {
		t.Fatal(err)
	}
	w, err := MapRecords(recs, c, MapOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	shallow := policy(t, "gefion")
	shallow.ReservationDepth = 1
	for name, p := range map[string]sched.Policy{"gefion": policy(t, "gefion"), "backfill": policy(t, "backfill"), "depth 1": shallow, "fifo": policy(t, "fifo")} {
		a, _ := Run(w, Config{Policy: p})
		b, _ := Run(w, Config{Policy: p, NoSkip: true})
		if !reflect.DeepEqual(a.Jobs, b.Jobs) {
			t.Errorf("%s: skipping futile passes changed the outcome", name)
		}
		if a.SkippedPasses == 0 || a.Passes+a.SkippedPasses != b.Passes {
			t.Errorf("%s: %d passes and %d skipped, %d without skipping; want some skipped and the same total", name, a.Passes, a.SkippedPasses, b.Passes)
		}
		// Nodes that fail and come back free resources too.
		f := FailureModel{NodeMTBFHours: 48, RepairS: 3600}
		a, _ = Run(w, Config{Policy: p, Seed: 3, Failures: f})
		b, _ = Run(w, Config{Policy: p, Seed: 3, Failures: f, NoSkip: true})
		if !reflect.DeepEqual(a.Jobs, b.Jobs) || a.NodeFailures == 0 {
			t.Errorf("%s with node failures (%d): skipping futile passes changed the outcome", name, a.NodeFailures)
		}
	}
}

// TestIndexIsExact replays an overloaded synthetic mix (deep queues, many
// jobs per priority class) and the Philly slice with the queue's order
// kept in an index and without (Config.NoIndex), under every built-in
// policy that may use the index (conservative backfill never does), with
// and without node failures (which requeue jobs): the outcomes and pass
// counts must be equal.
func TestIndexIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var recs []trace.Record
	at := 0.0
	for k := 0; k < 800; k++ {
		at += rng.ExpFloat64() * 100
		g := []int{1, 1, 2, 4, 8, 8, 16, 32}[rng.IntN(8)]
		recs = append(recs, trace.Record{SubmitS: at, DurationS: 300 + rng.Float64()*20000, GPUs: g, Tenant: fmt.Sprint("p", rng.IntN(4))})
	}
	c, err := cluster.SuperPOD("mini", 8, &cluster.DGXH100)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := MapRecords(recs, c, MapOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for wname, w := range map[string]*Workload{"busy": busy, "philly": replaySlice(t, 3, 2)} {
		for _, name := range []string{"fifo", "backfill", "gefion"} {
			for _, f := range []FailureModel{{}, {NodeMTBFHours: 48, RepairS: 3600}} {
				cfg := Config{Policy: policy(t, name), Seed: 3, Failures: f}
				a, err := Run(w, cfg)
				if err != nil {
					t.Fatal(err)
				}
				cfg.NoIndex = true
				b, _ := Run(w, cfg)
				if !reflect.DeepEqual(a.Jobs, b.Jobs) || a.Passes != b.Passes || a.SkippedPasses != b.SkippedPasses {
					t.Errorf("%s, %s, failures %v: the index changed the outcome (passes %d/%d, skipped %d/%d)",
						wname, name, f.NodeMTBFHours > 0, a.Passes, b.Passes, a.SkippedPasses, b.SkippedPasses)
				}
			}
		}
	}
}

func TestNodeFailuresRequeue(t *testing.T) {
	w := tiny(t, []trace.Record{{SubmitS: 0, DurationS: 36000, GPUs: 8, Tenant: "p"}})
	res, err := Run(w, Config{Policy: policy(t, "fifo"), Seed: 1, Failures: FailureModel{NodeMTBFHours: 4, RepairS: 600}})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Jobs[0]
	if o.State != job.Completed || o.Runs < 2 || res.Requeues != o.Runs-1 || o.LostGPUS <= 0 {
		t.Fatalf("outcome %+v, requeues %d; want completed after several runs with lost GPU time", o, res.Requeues)
	}
	if o.EndS-o.StartS != 36000 {
		t.Errorf("last run %d s; want the whole 36000 s (no checkpoints)", o.EndS-o.StartS)
	}
}

func TestIntensitySeries(t *testing.T) {
	// 100 g/kWh for an hour, then 300: the second step lasts an hour too,
	// and the series repeats.
	s, err := ReadIntensity(strings.NewReader("Minutes5UTC,PriceArea,CO2Emission\n2023-01-01T01:00,DK1,300\n2023-01-01T00:00,DK1,100\n2023-01-01T00:00,DK2,999\n"), "s.csv", "DK1")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.integrate(0, 7200); got != 100*3600+300*3600 {
		t.Errorf("integral over 2 h = %v; want %v", got, 400*3600)
	}
	if got := s.integrate(3600+1800, 7200+1800); got != 300*1800+100*1800 {
		t.Errorf("integral across the wrap = %v; want %v", got, 400*1800)
	}
	if s.Mean() != 200 {
		t.Errorf("mean %v; want 200", s.Mean())
	}
	if _, err := ReadIntensity(strings.NewReader("time,value\n0,-3\n"), "bad.csv", ""); err == nil || !strings.Contains(err.Error(), "bad.csv:2:") {
		t.Errorf("negative intensity: error %v; want one at bad.csv:2", err)
	}
	// A replay under the series: the tiny two-job case runs 150 s at a
	// constant draw within the first hour, so 100 g/kWh applies.
	w := tiny(t, []trace.Record{{SubmitS: 0, DurationS: 150, GPUs: 8}})
	res, _ := Run(w, Config{Policy: policy(t, "fifo"), Energy: EnergyModel{Intensity: s, MarketGPerKWh: 50, PUE: 1}})
	kwh := (1500 + 8*700) * 150 / 3.6e6
	if m := Summarize(res); !near(m.CO2Kg, kwh*0.1) || !near(m.CO2MarketKg, kwh*0.05) || !near(m.EnergyKWh, kwh) {
		t.Errorf("energy %v kWh, CO2 %v / %v kg; want %v, %v, %v", m.EnergyKWh, m.CO2Kg, m.CO2MarketKg, kwh, kwh*0.1, kwh*0.05)
	}
}

// TestAlibabaSlice replays the Alibaba pod slice (CPU-only and 8-GPU pods
// among them) and the Tiresias sample through the generic reader.
func TestAlibabaSliceAndGeneric(t *testing.T) {
	for _, tt := range []struct {
		file   string
		format trace.Format
		jobs   int
	}{
		{"alibaba_slice.csv", trace.Alibaba, 35},
		{"tiresias_60_job.csv", trace.Generic, 60},
		{"philly_slice.csv", trace.Generic, 40},
	} {
		w, err := Map(openTestdata(t, tt.file, tt.format), preset(t, "gefion"), MapOptions{Load: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(w, Config{Policy: policy(t, "default")})
		if err != nil {
			t.Fatal(err)
		}
		m := Summarize(res)
		if m.Jobs != tt.jobs || m.Completed != tt.jobs {
			t.Errorf("%s: %d of %d jobs completed; want %d", tt.file, m.Completed, m.Jobs, tt.jobs)
		}
		if tt.format == trace.Alibaba && (m.SizeClasses[0].Class != "cpu" || m.SizeClasses[0].Completed != 2) {
			t.Errorf("%s: size classes %+v; want 2 CPU-only pods first", tt.file, m.SizeClasses)
		}
	}
}

// TestMultiNodeSU checks the scalable-unit bookkeeping on a 40-node machine
// (SU 1 of 31 nodes, SU 2 of 9): a 30-node job fills SU 1, an 8-node job
// then fits only in SU 2, and a 2-node job after it finds no SU with two
// idle nodes, so it does not count against one-SU placement if it starts at
// once across SUs.
func TestMultiNodeSU(t *testing.T) {
	c, err := cluster.SuperPOD("two", 40, &cluster.DGXH100)
	if err != nil {
		t.Fatal(err)
	}
	w, err := MapRecords([]trace.Record{
		{SubmitS: 0, DurationS: 1000, GPUs: 240},
		{SubmitS: 1, DurationS: 1000, GPUs: 64},
		{SubmitS: 2, DurationS: 10, GPUs: 16},
	}, c, MapOptions{TimeLimit: TimeLimitModel{Kind: "exact"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(w, Config{Policy: policy(t, "backfill"), SchedIntervalS: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.MultiNodeStarts != 3 {
		t.Fatalf("%d multi-node starts; want 3", res.MultiNodeStarts)
	}
	wantFit, wantOne := 3, 3
	if res.Jobs[2].StartS < 1000 { // started across SUs at once
		wantFit, wantOne = 2, 2
	}
	if res.MultiNodeFit != wantFit || res.MultiNodeFitOneSU != wantFit || res.MultiNodeOneSU != wantOne {
		t.Errorf("fit %d (one SU %d), one SU %d of 3; want %d, %d, %d", res.MultiNodeFit, res.MultiNodeFitOneSU, res.MultiNodeOneSU, wantFit, wantFit, wantOne)
	}
	if m := Summarize(res); m.MultiNodeInOneSU != 1 {
		t.Errorf("multi_node_in_one_su = %v; want 1", m.MultiNodeInOneSU)
	}
}

// TestConfigNonsense: options that NaN, infinity, a sign or a repeat make
// meaningless are refused with ErrConfig; before, some ran and printed NaN,
// a wrapped load, or never ended.
func TestConfigNonsense(t *testing.T) {
	recs := []trace.Record{{SubmitS: 0, DurationS: 100, GPUs: 8}, {SubmitS: 1000, DurationS: 100, GPUs: 8}}
	c := preset(t, "dgx-h100")
	for _, opt := range []MapOptions{{MaxJobs: -5}, {Load: math.NaN()}, {Load: -1}, {Load: math.Inf(1)}, {Load: 1e-300}} {
		if _, err := MapRecords(slices.Clone(recs), c, opt); !errors.Is(err, ErrConfig) {
			t.Errorf("MapRecords(%+v) = %v; want ErrConfig", opt, err)
		}
	}
	w := tiny(t, recs)
	nan, inf := math.NaN(), math.Inf(1)
	for _, cfg := range []Config{
		{Failures: FailureModel{NodeMTBFHours: inf, RepairS: 600}},
		{Failures: FailureModel{NodeMTBFHours: nan, RepairS: 600}},
		{Energy: EnergyModel{PUE: nan}},
		{Energy: EnergyModel{PUE: inf}},
		{Energy: EnergyModel{GPUBusyW: nan}},
		{Energy: EnergyModel{MarketGPerKWh: inf}},
	} {
		cfg.Policy = policy(t, "fifo")
		if _, err := Run(w, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Run(%+v) = %v; want ErrConfig", cfg, err)
		}
	}
	// A finite but astronomically long MTBF means no failure in the
	// replay, not a draw wrapped to a failure every second.
	res, err := Run(w, Config{Policy: policy(t, "fifo"), Failures: FailureModel{NodeMTBFHours: 1e300, RepairS: 600}})
	if err != nil {
		t.Fatalf("Run with MTBF 1e300 h: %v", err)
	}
	if res.NodeFailures != 0 || Summarize(res).Completed != 2 {
		t.Errorf("Run with MTBF 1e300 h: %d failures, %d jobs done; want none and 2", res.NodeFailures, Summarize(res).Completed)
	}
	if _, err := ParseShares("a=1,b=2,a=3"); err == nil || !strings.Contains(err.Error(), "names project a twice") {
		t.Errorf("ParseShares with a repeated project = %v; want an error naming it", err)
	}
}
