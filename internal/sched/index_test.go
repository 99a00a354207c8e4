package sched

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// TestIndexSamePlans drives a queue through many starts-only passes as the
// twin does (starts leave the queue by swap-remove, running jobs end, new
// jobs arrive, some eligible earlier than jobs already queued, and usage
// changes fair share), once with a PendingIndex kept across the passes and
// once without: every pass must give the same plan, stats included. Jobs
// share few limits, projects and QOSes, so that classes hold many jobs.
func TestIndexSamePlans(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		per := rapid.IntRange(1, 4).Draw(t, "per")
		var groups []cluster.NodeGroup
		for s := range 2 {
			var names []string
			for n := range per {
				names = append(names, fmt.Sprintf("n%d-%d", s, n))
			}
			groups = append(groups, cluster.NodeGroup{Names: names, Model: &cluster.DGXH100, SU: fmt.Sprint(s)})
		}
		c, err := cluster.New("ix", groups, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		pols := []string{"fifo", "backfill", "gefion", "sized", "estimates", "negative-age", "users"}
		name := rapid.SampledFrom(pols).Draw(t, "policy")
		var p Policy
		users := false
		switch name {
		case "sized":
			p, _ = PolicyByName("backfill")
			p.Weights.JobSize, p.Weights.FavorSmall = 500, true
		case "estimates":
			p, _ = PolicyByName("gefion")
			p.UseRuntimeEstimate = true
		case "negative-age":
			p, _ = PolicyByName("gefion")
			p.Weights.Age = -5000
		case "users":
			p, _ = PolicyByName("gefion")
			users = true
		default:
			p, _ = PolicyByName(name)
		}
		if p.Backfill == EASY {
			p.ReservationDepth = rapid.SampledFrom([]int{1, 2, 8}).Draw(t, "depth")
		}
		now := Time(t0)
		s := &Snapshot{Now: now, Cluster: c, StartsOnly: true,
			QOS:      []QOS{{Name: "normal", Priority: 10}, {Name: "low", Priority: 1, GraceS: 60, Requeue: true}, {Name: "high", Priority: 100, Preempt: []string{"low"}}},
			Projects: []Project{{Name: "a", Shares: 2, UsageGPUS: 5000}, {Name: "b", Shares: 1, UsageGPUS: 100}, {Name: "c", Shares: 1}},
		}
		if users {
			s.Users = []UserUsage{{User: "u0", Project: "a", Shares: 1, UsageGPUS: 300}, {User: "u1", Project: "b", Shares: 1}}
		}
		id := job.ID(1)
		newJob := func() Pending {
			g := rapid.SampledFrom([]int{1, 2, 4, 8, 16, 1, 2, 4, 8, 0}).Draw(t, "gpus")
			r := job.Request{Nodes: 1, GPUsPerNode: g, CPUsPerNode: max(g, 1) * 10, TimeLimitS: rapid.SampledFrom([]int64{600, 3600, 7200}).Draw(t, "limit")}
			if g > 8 {
				r.Nodes, r.GPUsPerNode, r.WholeNodes = g/8, 8, true
				r.CPUsPerNode, r.MemPerNodeMB = cluster.DGXH100.CPUs, cluster.DGXH100.MemoryBytes>>20
			}
			j := Pending{ID: id, Req: r, User: fmt.Sprint("u", rapid.IntRange(0, 2).Draw(t, "user")),
				Project: rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "proj"), QOS: rapid.SampledFrom([]string{"normal", "low", "normal", "low", "normal", "low", "high"}).Draw(t, "qos"),
				Nice:    rapid.SampledFrom([]int{0, 0, 100}).Draw(t, "nice"),
				SubmitS: now - rapid.Int64Range(0, 4).Draw(t, "age")*1000, RuntimeEstimateS: rapid.SampledFrom([]int64{0, 300}).Draw(t, "est")}
			if rapid.IntRange(0, 9).Draw(t, "held") == 0 {
				j.Held = true
			}
			id++
			return j
		}
		var ix PendingIndex
		add := func(j Pending) {
			s.Pending = append(s.Pending, j)
			ix.Append(&s.Pending[len(s.Pending)-1])
		}
		remove := func(k int) {
			last := len(s.Pending) - 1
			s.Pending[k] = s.Pending[last]
			s.Pending = s.Pending[:last]
			ix.SwapRemove(k)
		}
		for range rapid.IntRange(0, 40).Draw(t, "queued") {
			add(newJob())
		}
		for pass := range rapid.IntRange(1, 12).Draw(t, "passes") {
			plain := *s
			want := Schedule(&plain, p)
			indexed := *s
			indexed.Index = &ix
			got := Schedule(&indexed, p)
			// Only the counts of jobs passed over differ (see
			// Stats.EarlyStop).
			if d := cmp.Diff(want, got, ignoreSkipCounts); d != "" {
				t.Fatalf("pass %d (%s, %d pending): the index changed the plan (-without +with):\n%s", pass, name, len(s.Pending), d)
			}
			// Apply the starts: they run to their limits.
			for _, st := range want.Starts {
				for k := range s.Pending {
					if s.Pending[k].ID == st.ID {
						j := s.Pending[k]
						remove(k)
						s.Running = append(s.Running, Running{ID: j.ID, User: j.User, Project: j.Project, QOS: j.QOS, Allocs: st.Allocs, StartS: s.Now, EndS: st.EndS})
						break
					}
				}
			}
			// Time passes: jobs end, usage grows, a few jobs arrive.
			s.Now += rapid.Int64Range(1, 4000).Draw(t, "dt")
			run := s.Running[:0]
			for _, r := range s.Running {
				if r.EndS > s.Now {
					run = append(run, r)
				}
			}
			s.Running = run
			s.Projects = append([]Project(nil), s.Projects...)
			s.Projects[rapid.IntRange(0, 2).Draw(t, "busy")].UsageGPUS += 3000
			for range rapid.IntRange(0, 6).Draw(t, "arrivals") {
				add(newJob())
			}
			if len(s.Pending) > 0 && rapid.IntRange(0, 4).Draw(t, "cancel") == 0 {
				remove(rapid.IntRange(0, len(s.Pending)-1).Draw(t, "which"))
			}
		}
	})
}

// ignoreSkipCounts compares plans but for Stats.ShapeSkips and
// Stats.EarlyStop.
var ignoreSkipCounts = cmpopts.IgnoreFields(Stats{}, "ShapeSkips", "EarlyStop")

// TestIndexRebuildsWhenOutOfStep hands a pass an index that does not
// mirror the snapshot: the pass rebuilds it and the plan is unchanged.
func TestIndexRebuildsWhenOutOfStep(t *testing.T) {
	c, err := cluster.Preset("dgx-h100")
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Now: t0, Cluster: c, StartsOnly: true}
	for i := range 20 {
		s.Pending = append(s.Pending, Pending{ID: job.ID(i + 1), SubmitS: t0 - Time(i),
			Req: job.Request{Nodes: 1, GPUsPerNode: 1 + i%8, CPUsPerNode: 1, TimeLimitS: 600 * Time(1+i%3)}})
	}
	p, _ := PolicyByName("gefion")
	var ix PendingIndex
	ix.Append(&s.Pending[3]) // one job only, and not the first
	want := Schedule(s, p)
	withIx := *s
	withIx.Index = &ix
	if got := Schedule(&withIx, p); !cmp.Equal(want, got, ignoreSkipCounts) {
		t.Fatalf("an index out of step changed the plan (-want +got):\n%s", cmp.Diff(want, got, ignoreSkipCounts))
	}
	if ix.Len() != len(s.Pending) {
		t.Errorf("index holds %d jobs after the pass; want it rebuilt with all %d", ix.Len(), len(s.Pending))
	}
}
