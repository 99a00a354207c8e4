package sched

import (
	"math"
	"slices"
	"testing"
)

func TestFairShareStandingsExplainTheOrder(t *testing.T) {
	// Equal shares; "heavy" used three quarters of the usage, "light" a
	// quarter, "idle" nothing.
	s := &Snapshot{Now: t0, Cluster: smallCluster(t, 1, 1),
		Projects: []Project{{Name: "heavy", Shares: 1, UsageGPUS: 300}, {Name: "light", Shares: 1, UsageGPUS: 100}, {Name: "idle", Shares: 2}},
		Pending:  []Pending{{ID: 1, Project: "heavy", User: "h"}, {ID: 2, Project: "light", User: "l"}, {ID: 3, Project: "idle", User: "i"}},
	}
	got := FairShareStandings(s)
	if len(got) != 3 || got[0].Project != "heavy" || got[1].Project != "idle" || got[2].Project != "light" {
		t.Fatalf("FairShareStandings = %+v; want heavy, idle, light in that order", got)
	}
	heavy, idle, light := got[0], got[1], got[2]
	if heavy.ShareFrac != 0.25 || heavy.UsageFrac != 0.75 || math.Abs(heavy.Level-1.0/3) > 1e-12 {
		t.Errorf("heavy = %+v; want share 0.25, usage 0.75, level 1/3", heavy)
	}
	if !math.IsInf(idle.Level, 1) || len(idle.Above) != 0 {
		t.Errorf("idle = %+v; want level +Inf and nobody above", idle)
	}
	if !slices.Equal(heavy.Above, []string{"idle", "light"}) || !slices.Equal(light.Above, []string{"idle"}) {
		t.Errorf("above: heavy %v, light %v; want [idle light] and [idle]", heavy.Above, light.Above)
	}
	// The factors are the ones the queue is ordered by.
	pol := mustPolicy(t, "backfill")
	byProject := map[string]float64{}
	for _, jp := range PriorityFactors(s, pol) {
		byProject[s.Pending[jp.ID-1].Project] = jp.Factors.NormFairShare
	}
	for _, st := range got {
		if st.Factor != byProject[st.Project] {
			t.Errorf("%s: standing factor %v, PriorityFactors %v; want the same", st.Project, st.Factor, byProject[st.Project])
		}
	}
	if !(idle.Factor > light.Factor && light.Factor > heavy.Factor) {
		t.Errorf("factors idle %v, light %v, heavy %v; want falling in that order", idle.Factor, light.Factor, heavy.Factor)
	}
}

func TestFairShareStandingsCountSubProjectsUsage(t *testing.T) {
	s := &Snapshot{Projects: []Project{
		{Name: "a", Shares: 1, UsageGPUS: 10}, {Name: "a.sub", Parent: "a", Shares: 1, UsageGPUS: 90},
		{Name: "b", Shares: 1, UsageGPUS: 100},
	}}
	for _, st := range FairShareStandings(s) {
		if st.Project == "a" && st.UsageFrac != 0.5 {
			t.Errorf("a's usage fraction = %v; want 0.5 (its sub-project's usage counts)", st.UsageFrac)
		}
		if st.Project == "a.sub" && (st.ShareFrac != 1 || st.UsageFrac != 1) {
			t.Errorf("a.sub = %+v; want share and usage 1 (only child)", st)
		}
	}
}
