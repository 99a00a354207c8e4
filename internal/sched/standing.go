package sched

import (
	"math"
	"slices"
	"strings"
)

// FairShareStanding is where a project stands in the Fair Tree among its
// siblings, with the factor its jobs get: the figures behind the sentence
// that says why a project's jobs rank where they do.
type FairShareStanding struct {
	Project string
	Parent  string
	// ShareFrac is the project's shares over its siblings' (itself
	// included); UsageFrac its decayed usage (its sub-projects' included)
	// over theirs.
	ShareFrac, UsageFrac float64
	// Level is ShareFrac/UsageFrac, Slurm's level fair share: above 1 the
	// project used less than its share, below 1 more. +Inf when it used
	// nothing while a sibling did or none did.
	Level float64
	// Factor is the normalised fair-share factor (0..1] of the project's
	// jobs as PriorityFactors computes it; with per-user usage in the
	// snapshot it is that of the project's best-ranked user.
	Factor float64
	// Above are the siblings whose level fair share is higher: their
	// users rank above this project's, whatever the users' own usage.
	Above []string
}

// FairShareStandings returns the standing of every project of s, sorted by
// name. Factors come from the same Fair Tree walk the queue is ordered by.
func FairShareStandings(s *Snapshot) []FairShareStanding {
	factor := map[string]float64{}
	if flat := flatProjects(s); flat != nil {
		factor = flat
	} else {
		for k, f := range fairTreeFull(s) {
			factor[k.project] = max(factor[k.project], f)
		}
	}
	// Usage of a project includes its sub-projects', as sumUsage adds it.
	parent := map[string]string{}
	usage := map[string]float64{}
	for i := range s.Projects {
		parent[s.Projects[i].Name] = s.Projects[i].Parent
	}
	for i := range s.Projects {
		p := &s.Projects[i]
		seen := map[string]bool{}
		for n := p.Name; n != "" && !seen[n]; n = parent[n] {
			seen[n] = true
			usage[n] += p.UsageGPUS
		}
	}
	type sib struct{ shares, usage float64 }
	level := map[string]sib{}
	for i := range s.Projects {
		p := &s.Projects[i]
		t := level[p.Parent]
		t.shares += p.Shares
		t.usage += usage[p.Name]
		level[p.Parent] = t
	}
	out := make([]FairShareStanding, 0, len(s.Projects))
	for i := range s.Projects {
		p := &s.Projects[i]
		t := level[p.Parent]
		st := FairShareStanding{Project: p.Name, Parent: p.Parent, Factor: factor[p.Name]}
		if t.shares > 0 {
			st.ShareFrac = p.Shares / t.shares
		}
		if t.usage > 0 {
			st.UsageFrac = usage[p.Name] / t.usage
		}
		st.Level = levelFS(st.ShareFrac, st.UsageFrac)
		out = append(out, st)
	}
	for i := range out {
		for j := range out {
			if i != j && out[j].Parent == out[i].Parent && out[j].Level > out[i].Level {
				out[i].Above = append(out[i].Above, out[j].Project)
			}
		}
		slices.Sort(out[i].Above)
	}
	slices.SortFunc(out, func(a, b FairShareStanding) int { return strings.Compare(a.Project, b.Project) })
	return out
}

// levelFS is the level fair share of a share and a usage fraction, as
// walk ranks siblings.
func levelFS(share, usage float64) float64 {
	if usage <= 0 {
		if share == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return share / usage
}
