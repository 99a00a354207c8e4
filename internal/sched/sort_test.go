package sched

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/gefion-hpc/gefion/internal/job"
)

// TestSortEvents checks the packed-key event sort against a plain sort by
// (time, ends first, node), with times near now and far beyond what a key
// holds.
func TestSortEvents(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := rapid.Int64Range(-1000, 1<<40).Draw(t, "now")
		far := rapid.Bool().Draw(t, "far")
		n := rapid.IntRange(0, 60).Draw(t, "n")
		evs := make([]event, n)
		for k := range evs {
			d := rapid.Int64Range(0, 50).Draw(t, "d")
			if far && k == n-1 {
				d = 1 << 50 // beyond a key: the plain sort must take over
			}
			evs[k] = event{t: now + d, delta: rapid.SampledFrom([]int{-1, 1}).Draw(t, "delta"), node: rapid.IntRange(0, 300).Draw(t, "node")}
		}
		want := slices.Clone(evs)
		slices.SortStableFunc(want, func(a, b event) int {
			if a.t != b.t {
				return cmpTime(a.t, b.t)
			}
			if a.delta != b.delta {
				return a.delta - b.delta
			}
			return a.node - b.node
		})
		var buf []uint64
		sortEvents(evs, now, &buf)
		if !slices.Equal(evs, want) {
			t.Fatalf("sortEvents gave\n%v\nwant\n%v", evs, want)
		}
	})
}

// TestSortReleases checks the inline insertion sort against a plain sort,
// on short lists and on lists long enough for the library sort.
func TestSortReleases(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.SampledFrom([]int{0, 1, 2, 5, 8, 31, 32, 33, 70}).Draw(t, "n")
		rs := make([]release, n)
		for k := range rs {
			rs[k] = release{t: rapid.Int64Range(0, 10).Draw(t, "t"), gpus: k, id: job.ID(rapid.IntRange(1, 100).Draw(t, "id"))}
		}
		want := slices.Clone(rs)
		slices.SortStableFunc(want, func(a, b release) int {
			if a.t != b.t {
				return cmpTime(a.t, b.t)
			}
			return cmpID(a.id, b.id)
		})
		sortReleases(rs)
		for k := range rs {
			if rs[k].t != want[k].t || rs[k].id != want[k].id {
				t.Fatalf("sortReleases gave %v; want %v", rs, want)
			}
		}
	})
}
