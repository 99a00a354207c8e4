package sched

import (
	"fmt"
	"math/bits"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// genSnapshot draws a small cluster with running jobs (placed by the core
// onto the empty cluster), pending jobs of every kind and node states.
func genSnapshot(t *rapid.T) *Snapshot {
	sus := rapid.IntRange(1, 3).Draw(t, "sus")
	per := rapid.IntRange(1, 4).Draw(t, "per")
	var groups []cluster.NodeGroup
	for s := 0; s < sus; s++ {
		var names []string
		for n := 0; n < per; n++ {
			names = append(names, fmt.Sprintf("n%d-%d", s, n))
		}
		groups = append(groups, cluster.NodeGroup{Names: names, Model: &cluster.DGXH100, SU: fmt.Sprint(s)})
	}
	c, err := cluster.New("prop", groups, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := Time(t0)
	s := &Snapshot{Now: now, Cluster: c,
		QOS:      []QOS{{Name: "normal", Priority: 10}, {Name: "high", Priority: 100, Preempt: []string{"scav"}}, {Name: "scav", GraceS: 60, Requeue: true}},
		Projects: []Project{{Name: "a", Shares: 2, UsageGPUS: 5000}, {Name: "b", Shares: 1, UsageGPUS: 100}},
	}
	qoses := []string{"normal", "high", "scav"}
	projects := []string{"a", "b"}
	id := job.ID(1)
	drawJob := func(label string) Pending {
		g := rapid.SampledFrom([]int{0, 1, 2, 3, 4, 8, 16, 24}).Draw(t, label+"-gpus")
		r := job.Request{Nodes: 1, GPUsPerNode: g, CPUsPerNode: max(g, 1) * 10, TimeLimitS: rapid.Int64Range(60, 20000).Draw(t, label+"-limit")}
		if g > 8 {
			r.Nodes, r.GPUsPerNode, r.WholeNodes = g/8, 8, true
			r.CPUsPerNode, r.MemPerNodeMB = cluster.DGXH100.CPUs, cluster.DGXH100.MemoryBytes>>20
		}
		if rapid.IntRange(0, 9).Draw(t, label+"-onesu") == 0 {
			r.MaxSUs = 1
		}
		j := Pending{ID: id, Req: r, User: fmt.Sprint("u", rapid.IntRange(0, 3).Draw(t, label+"-user")),
			Project: rapid.SampledFrom(projects).Draw(t, label+"-proj"), QOS: rapid.SampledFrom(qoses).Draw(t, label+"-qos"),
			SubmitS: now - rapid.Int64Range(0, 10000).Draw(t, label+"-age")}
		id++
		return j
	}
	// Running jobs: place a batch on the empty machine with the core.
	var batch []Pending
	for k := rapid.IntRange(0, 12).Draw(t, "nrun"); k > 0; k-- {
		batch = append(batch, drawJob("run"))
	}
	fill := Schedule(&Snapshot{Now: now, Cluster: c, Pending: batch}, Policy{FIFO: true, Backfill: EASY})
	for _, st := range fill.Starts {
		var p *Pending
		for i := range batch {
			if batch[i].ID == st.ID {
				p = &batch[i]
			}
		}
		end := now + rapid.Int64Range(-100, 20000).Draw(t, "end")
		s.Running = append(s.Running, Running{ID: st.ID, User: p.User, Project: p.Project, QOS: p.QOS, Allocs: st.Allocs, StartS: now - 10, EndS: end})
	}
	for k := rapid.IntRange(0, 15).Draw(t, "npend"); k > 0; k-- {
		j := drawJob("pend")
		switch rapid.IntRange(0, 12).Draw(t, "special") {
		case 0:
			j.Held = true
		case 1:
			j.Deps = DepWaiting
		case 2:
			j.BeginS = now + 500
		}
		s.Pending = append(s.Pending, j)
	}
	if rapid.Bool().Draw(t, "statuses") {
		s.Nodes = make([]NodeStatus, len(c.Nodes))
		for i := range s.Nodes {
			s.Nodes[i].Avail = Availability(rapid.IntRange(0, 6).Draw(t, "avail") % 4 * boolInt(rapid.IntRange(0, 2).Draw(t, "bad") == 0))
		}
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func deepCopy(s *Snapshot) *Snapshot {
	c := *s
	c.Nodes = append([]NodeStatus(nil), s.Nodes...)
	c.Running = nil
	for _, r := range s.Running {
		r.Allocs = append([]Alloc(nil), r.Allocs...)
		c.Running = append(c.Running, r)
	}
	c.Pending = append([]Pending(nil), s.Pending...)
	c.Projects = append([]Project(nil), s.Projects...)
	c.QOS = append([]QOS(nil), s.QOS...)
	return &c
}

// sharedScratch is reused across every generated snapshot, of varying
// sizes, to check that nothing leaks from one pass into the next.
var sharedScratch = &Scratch{}

func TestPlanInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		pol := rapid.SampledFrom([]string{"fifo", "backfill", "conservative", "gefion"}).Draw(t, "policy")
		p, _ := PolicyByName(pol)
		if p.Backfill == EASY {
			// Shallow reservations make a pass reach the point where it
			// may reserve no more, often.
			p.ReservationDepth = rapid.SampledFrom([]int{p.ReservationDepth, 1, 2}).Draw(t, "depth")
		}
		before := deepCopy(s)
		plan := Schedule(s, p)
		if d := cmp.Diff(before, s, cmp.AllowUnexported()); d != "" {
			t.Fatalf("Schedule modified the snapshot (-before +after):\n%s", d)
		}
		if again := Schedule(s, p); !cmp.Equal(plan, again) {
			t.Fatalf("same input gave two plans:\n%s", cmp.Diff(plan, again))
		}
		// Nor does the order of the pending list (a driver may keep it
		// in any order).
		if len(s.Pending) > 1 {
			perm := *s
			perm.Pending = slices.Clone(s.Pending)
			k := rapid.IntRange(1, len(s.Pending)-1).Draw(t, "rotate")
			perm.Pending = append(perm.Pending[k:], perm.Pending[:k]...)
			slices.Reverse(perm.Pending[:len(perm.Pending)/2])
			if pp := Schedule(&perm, p); !cmp.Equal(plan, pp) {
				t.Fatalf("reordering the pending jobs changed the plan:\n%s", cmp.Diff(plan, pp))
			}
		}
		// A reused Scratch changes nothing either.
		withScratch := *s
		withScratch.Scratch = sharedScratch
		if sp := Schedule(&withScratch, p); !cmp.Equal(plan, sp) {
			t.Fatalf("a reused Scratch changed the plan:\n%s", cmp.Diff(plan, sp))
		}
		// Asking for starts only changes no decision, also where the pass
		// may stop early (no preempting QOS, no CPU-only job).
		for _, early := range []bool{false, true} {
			full := *s
			if early {
				full.Pending = nil
				for _, j := range s.Pending {
					if j.Req.GPUsPerNode > 0 {
						if j.QOS == "high" {
							j.QOS = "normal"
						}
						full.Pending = append(full.Pending, j)
					}
				}
			}
			want := Schedule(&full, p)
			lean := full
			lean.StartsOnly = true
			lp := Schedule(&lean, p)
			if d := cmp.Diff(want.Starts, lp.Starts); d != "" || !cmp.Equal(want.Preemptions, lp.Preemptions) || len(lp.Waiting) != 0 {
				t.Fatalf("StartsOnly (early=%v) changed the starts (-full +lean):\n%s", early, d)
			}
		}
		c := s.Cluster
		pend := map[job.ID]*Pending{}
		for i := range s.Pending {
			pend[s.Pending[i].ID] = &s.Pending[i]
		}
		// Every pending job is either started or waiting, once.
		seen := map[job.ID]int{}
		for _, st := range plan.Starts {
			seen[st.ID]++
		}
		for _, w := range plan.Waiting {
			seen[w.ID]++
		}
		for id := range pend {
			if seen[id] != 1 {
				t.Fatalf("job %d appears %d times in starts and waiting; want once", id, seen[id])
			}
		}
		// No GPU given twice; never more than a node has.
		used := make([]uint64, len(c.Nodes))
		cpus := make([]int, len(c.Nodes))
		for _, r := range s.Running {
			for _, a := range r.Allocs {
				used[a.Node] |= a.GPUs
				cpus[a.Node] += a.CPUs
			}
		}
		for _, st := range plan.Starts {
			j := pend[st.ID]
			if len(st.Allocs) != j.Req.Nodes {
				t.Fatalf("job %d got %d nodes; want all %d or none (gang)", st.ID, len(st.Allocs), j.Req.Nodes)
			}
			for _, a := range st.Allocs {
				if s.Nodes != nil && s.Nodes[a.Node].Avail != Up {
					t.Fatalf("job %d started on node %d, which is %v", st.ID, a.Node, s.Nodes[a.Node].Avail)
				}
				capG := c.Nodes[a.Node].Model.GPUs
				if a.GPUs&^fullMask(capG) != 0 {
					t.Fatalf("job %d got GPU bits %b beyond node %d's %d GPUs", st.ID, a.GPUs, a.Node, capG)
				}
				if used[a.Node]&a.GPUs != 0 {
					t.Fatalf("job %d got GPUs %b of node %d already given (%b)", st.ID, a.GPUs, a.Node, used[a.Node])
				}
				want := j.Req.GPUsPerNode
				if j.Req.WholeNodes || j.Req.Nodes > 1 {
					want = capG
				}
				if bits.OnesCount64(a.GPUs) != want {
					t.Fatalf("job %d got %d GPUs on node %d; want %d", st.ID, bits.OnesCount64(a.GPUs), a.Node, want)
				}
				used[a.Node] |= a.GPUs
				cpus[a.Node] += a.CPUs
				if cpus[a.Node] > c.Nodes[a.Node].Model.CPUs {
					t.Fatalf("node %d given %d CPUs; it has %d", a.Node, cpus[a.Node], c.Nodes[a.Node].Model.CPUs)
				}
			}
		}
		checkReservationsHold(t, s, plan, pend)
	})
}

// checkReservationsHold verifies, independently of the core's own
// bookkeeping, that once the plan's starts run to their time limits every
// reservation still fits on its nodes at its time: backfill never delays a
// reserved job.
func checkReservationsHold(t *rapid.T, s *Snapshot, plan *Plan, pend map[job.ID]*Pending) {
	c := s.Cluster
	type span struct {
		node       int
		gpus, cpus int
		from, to   Time
	}
	var busy []span
	for _, r := range s.Running {
		end := max(r.EndS, s.Now+1)
		for _, pr := range plan.Preemptions {
			if pr.ID == r.ID {
				end = min(end, s.Now+max(pr.GraceS, 1))
			}
		}
		for _, a := range r.Allocs {
			busy = append(busy, span{a.Node, bits.OnesCount64(a.GPUs), a.CPUs, s.Now, end})
		}
	}
	for _, st := range plan.Starts {
		for _, a := range st.Allocs {
			busy = append(busy, span{a.Node, bits.OnesCount64(a.GPUs), a.CPUs, s.Now, st.EndS})
		}
	}
	for _, r := range plan.Reservations {
		j := pend[r.ID]
		for _, n := range r.Nodes {
			g, cp := j.Req.GPUsPerNode, j.Req.CPUsPerNode
			if j.Req.WholeNodes || j.Req.Nodes > 1 {
				g, cp = c.Nodes[n].Model.GPUs, c.Nodes[n].Model.CPUs
			}
			busy = append(busy, span{n, g, cp, r.StartS, r.EndS})
		}
	}
	// At every instant that matters, no node is over capacity.
	for _, x := range busy {
		for _, at := range []Time{x.from} {
			g, cp := 0, 0
			for _, y := range busy {
				if y.node == x.node && y.from <= at && at < y.to {
					g += y.gpus
					cp += y.cpus
				}
			}
			if g > c.Nodes[x.node].Model.GPUs || cp > c.Nodes[x.node].Model.CPUs {
				t.Fatalf("node %d at now+%d would need %d GPUs and %d CPUs (it has %d, %d): a start or reservation overlaps another\nstarts %+v\nreservations %+v",
					x.node, at-s.Now, g, cp, c.Nodes[x.node].Model.GPUs, c.Nodes[x.node].Model.CPUs, plan.Starts, plan.Reservations)
			}
		}
	}
}
