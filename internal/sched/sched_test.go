package sched

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

const t0 = 1_700_000_000

// smallCluster has sus scalable units of per nodes each (8-GPU DGX H100).
func smallCluster(t testing.TB, sus, per int) *cluster.Cluster {
	t.Helper()
	var groups []cluster.NodeGroup
	for s := 0; s < sus; s++ {
		var names []string
		for n := 0; n < per; n++ {
			names = append(names, fmt.Sprintf("n%d%02d", s+1, n+1))
		}
		groups = append(groups, cluster.NodeGroup{Names: names, Model: &cluster.DGXH100, SU: fmt.Sprintf("su%d", s+1)})
	}
	c, err := cluster.New("small", groups, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gpuJob is a pending job of g GPUs (whole nodes above 8) and limit seconds.
func gpuJob(id job.ID, g int, limit int64) Pending {
	r := job.Request{TimeLimitS: limit, Nodes: 1, GPUsPerNode: g, CPUsPerNode: max(g, 1) * 8}
	if g > 8 {
		r.Nodes, r.GPUsPerNode, r.WholeNodes = (g+7)/8, 8, true
	}
	return Pending{ID: id, Req: r, User: "alice", Project: "p", SubmitS: t0 - 1000 + int64(id)}
}

// runningOn is a running job holding g GPUs of node n until end.
func runningOn(id job.ID, n, g int, end int64) Running {
	return Running{ID: id, User: "bob", Project: "p", StartS: t0 - 100, EndS: end,
		Allocs: []Alloc{{Node: n, GPUs: fullMask(g), CPUs: g * 8}}}
}

func startOf(p *Plan, id job.ID) *Start {
	for i := range p.Starts {
		if p.Starts[i].ID == id {
			return &p.Starts[i]
		}
	}
	return nil
}

func waitingOf(p *Plan, id job.ID) *Waiting {
	for i := range p.Waiting {
		if p.Waiting[i].ID == id {
			return &p.Waiting[i]
		}
	}
	return nil
}

func mustPolicy(t testing.TB, name string) Policy {
	t.Helper()
	p, err := PolicyByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSingleJobStartsOnEmptyCluster(t *testing.T) {
	s := &Snapshot{Now: t0, Cluster: smallCluster(t, 1, 2), Pending: []Pending{gpuJob(1, 2, 3600)}}
	p := Schedule(s, mustPolicy(t, "gefion"))
	st := startOf(p, 1)
	if st == nil {
		t.Fatalf("job 1 did not start; waiting: %+v", p.Waiting)
	}
	if len(st.Allocs) != 1 || bits.OnesCount64(st.Allocs[0].GPUs) != 2 || st.EndS != t0+3600 {
		t.Errorf("start = %+v; want 2 GPUs on one node ending at now+3600", st)
	}
}

func TestBestFitKeepsWholeNodesFree(t *testing.T) {
	c := smallCluster(t, 1, 3)
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{runningOn(100, 1, 6, t0+500)}, // node 1 has 2 free
		Pending: []Pending{gpuJob(1, 2, 3600)},
	}
	p := Schedule(s, mustPolicy(t, "backfill"))
	st := startOf(p, 1)
	if st == nil || st.Allocs[0].Node != 1 {
		t.Fatalf("start = %+v; want the 2-GPU job on node 1, the fullest node it fits", st)
	}
	if st.Allocs[0].GPUs&fullMask(6) != 0 {
		t.Errorf("job got GPUs %b that job 100 holds (%b)", st.Allocs[0].GPUs, fullMask(6))
	}
}

func TestMultiNodeJobInOneSU(t *testing.T) {
	c := smallCluster(t, 2, 4)
	// SU 1 has 3 idle nodes, SU 2 has 4: a 4-node job must go to SU 2.
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{runningOn(100, 0, 1, t0+500)},
		Pending: []Pending{gpuJob(1, 32, 3600)},
	}
	p := Schedule(s, mustPolicy(t, "backfill"))
	st := startOf(p, 1)
	if st == nil {
		t.Fatalf("job 1 did not start: %+v", p.Waiting)
	}
	for _, a := range st.Allocs {
		if c.Nodes[a.Node].SU != 1 || a.GPUs != fullMask(8) {
			t.Errorf("alloc %+v; want whole nodes of SU 2", a)
		}
	}
}

func TestMultiNodeSpansSUsOnlyWhenNoneHoldsIt(t *testing.T) {
	c := smallCluster(t, 2, 4)
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{runningOn(100, 0, 1, t0+500), runningOn(101, 4, 1, t0+500)},
		Pending: []Pending{gpuJob(1, 48, 3600)},
	}
	p := Schedule(s, mustPolicy(t, "backfill"))
	st := startOf(p, 1)
	if st == nil || len(st.Allocs) != 6 {
		t.Fatalf("job 1 = %+v; want it on 6 nodes over both SUs", st)
	}
	// With --switches=1 and no wait limit it must wait instead.
	j := gpuJob(1, 48, 3600)
	j.Req.MaxSUs = 1
	s.Pending = []Pending{j}
	p = Schedule(s, mustPolicy(t, "backfill"))
	if startOf(p, 1) != nil {
		t.Fatalf("job with --switches=1 started across SUs")
	}
	if w := waitingOf(p, 1); w == nil || w.Reason != ReasonReqNodeNotAvail && w.EstimatedStartS != Never {
		t.Errorf("waiting = %+v; want no start in view (an SU has only 4 nodes)", w)
	}
	// Past its --switches wait time it may span.
	j.Req.MaxSUsWaitS = 60
	s.Pending = []Pending{j}
	if p := Schedule(s, mustPolicy(t, "backfill")); startOf(p, 1) == nil {
		t.Errorf("job past its --switches wait did not start")
	}
}

func TestEASYBackfill(t *testing.T) {
	c := smallCluster(t, 1, 2)
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{runningOn(100, 0, 8, t0+1000), runningOn(101, 1, 4, t0+5000)},
		Pending: []Pending{
			gpuJob(1, 16, 3600), // needs both nodes: reserved at t0+5000
			gpuJob(2, 4, 600),   // fits on node 1 now and ends before 5000: backfills
			gpuJob(3, 4, 9000),  // would run past the reservation: waits
		},
	}
	p := Schedule(s, mustPolicy(t, "backfill"))
	w1 := waitingOf(p, 1)
	if w1 == nil || w1.Reason != ReasonResources || w1.EstimatedStartS != t0+5000 || w1.BlockerID != 101 {
		t.Fatalf("job 1 = %+v; want Resources, reserved at now+5000 when job 101 ends", w1)
	}
	if startOf(p, 2) == nil {
		t.Errorf("job 2 (short) did not backfill; waiting %+v", waitingOf(p, 2))
	}
	if w3 := waitingOf(p, 3); w3 == nil || w3.Reason != ReasonPriority {
		t.Errorf("job 3 = %+v; want it waiting with reason Priority (it would delay job 1)", w3)
	}
	if p.Stats.Backfilled != 1 {
		t.Errorf("Backfilled = %d; want 1", p.Stats.Backfilled)
	}
	if got := w1.Sentence(c, t0, nil); !strings.Contains(got, "2 whole nodes") || !strings.Contains(got, "job 101") {
		t.Errorf("Sentence = %q; want it to name the 2 whole nodes and job 101", got)
	}
}

func TestFIFOBlocksHeadOfLine(t *testing.T) {
	c := smallCluster(t, 1, 2)
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{runningOn(100, 0, 8, t0+1000)},
		Pending: []Pending{gpuJob(1, 16, 3600), gpuJob(2, 1, 60)},
	}
	p := Schedule(s, mustPolicy(t, "fifo"))
	if len(p.Starts) != 0 {
		t.Errorf("fifo started %+v behind a blocked head", p.Starts)
	}
	if w := waitingOf(p, 2); w == nil || w.Reason != ReasonPriority {
		t.Errorf("job 2 = %+v; want Priority", w)
	}
}

func TestDrainedAndDownNodesGetNothing(t *testing.T) {
	c := smallCluster(t, 1, 3)
	s := &Snapshot{Now: t0, Cluster: c,
		Nodes:   []NodeStatus{{Avail: Drained, Reason: "xid 79"}, {Avail: Down}, {Avail: Draining}},
		Pending: []Pending{gpuJob(1, 1, 60), gpuJob(2, 8, 60)},
	}
	p := Schedule(s, mustPolicy(t, "gefion"))
	if len(p.Starts) != 0 {
		t.Fatalf("started %+v on nodes out of service", p.Starts)
	}
	for _, id := range []job.ID{1, 2} {
		if w := waitingOf(p, id); w == nil || w.Reason != ReasonReqNodeNotAvail {
			t.Errorf("job %d = %+v; want ReqNodeNotAvail", id, w)
		}
	}
	s.Nodes[2].Avail = Up
	p = Schedule(s, mustPolicy(t, "gefion"))
	for _, st := range p.Starts {
		if st.Allocs[0].Node != 2 {
			t.Errorf("job %d started on node %d; only node 2 is up", st.ID, st.Allocs[0].Node)
		}
	}
}

func TestHeldBackReasons(t *testing.T) {
	c := smallCluster(t, 1, 2)
	held := gpuJob(1, 1, 60)
	held.Held = true
	dep := gpuJob(2, 1, 60)
	dep.Deps = DepWaiting
	never := gpuJob(3, 1, 60)
	never.Deps = DepNeverSatisfied
	begin := gpuJob(4, 1, 60)
	begin.BeginS = t0 + 7200
	grant := gpuJob(5, 1, 60)
	grant.Project = "spent"
	capped := gpuJob(6, 4, 60)
	capped.QOS = "normal"
	capped.User = "carol"
	arr := gpuJob(7, 1, 60)
	arr.ArrayJobID, arr.ArrayMaxRunning = 70, 1
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{
			{ID: 100, User: "carol", QOS: "normal", Project: "p", EndS: t0 + 100, Allocs: []Alloc{{Node: 0, GPUs: 0b1111, CPUs: 4}}},
			{ID: 71, ArrayJobID: 70, User: "alice", Project: "p", EndS: t0 + 100, Allocs: []Alloc{{Node: 0, GPUs: 0b10000, CPUs: 1}}},
		},
		Pending:  []Pending{held, dep, never, begin, grant, capped, arr},
		Projects: []Project{{Name: "spent", Shares: 1, GrantGPUS: 3600, UsedGPUS: 3600}, {Name: "p", Shares: 1}},
		QOS:      []QOS{{Name: "normal", MaxGPUsPerUser: 6}},
	}
	p := Schedule(s, mustPolicy(t, "gefion"))
	want := map[job.ID]Reason{1: ReasonHeld, 2: ReasonDependency, 3: ReasonDependencyNever, 4: ReasonBeginTime,
		5: ReasonProjectGrantUsed, 6: ReasonQOSMaxGPUsPerUser, 7: ReasonArrayTaskLimit}
	for id, r := range want {
		w := waitingOf(p, id)
		if w == nil || w.Reason != r {
			t.Errorf("job %d = %+v; want reason %s", id, w, r)
			continue
		}
		if s := w.Sentence(c, t0, nil); s == "" || s == string(r) {
			t.Errorf("job %d has no sentence for %s", id, r)
		}
	}
	if w := waitingOf(p, 4); w.EstimatedStartS != t0+7200 {
		t.Errorf("begin-time job estimate = %d; want its begin time %d", w.EstimatedStartS, t0+7200)
	}
}

func TestPreemption(t *testing.T) {
	c := smallCluster(t, 1, 1)
	scav := runningOn(100, 0, 8, t0+86400)
	scav.QOS = "scavenger"
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{scav},
		Pending: []Pending{func() Pending { j := gpuJob(1, 4, 3600); j.QOS = "high"; return j }()},
		QOS: []QOS{
			{Name: "high", Priority: 100, Preempt: []string{"scavenger"}},
			{Name: "scavenger", GraceS: 120, Signal: "USR1", Requeue: true},
		},
	}
	p := Schedule(s, mustPolicy(t, "gefion"))
	if len(p.Preemptions) != 1 {
		t.Fatalf("preemptions = %+v; want job 100 preempted", p.Preemptions)
	}
	want := Preemption{ID: 100, By: 1, Signal: "USR1", GraceS: 120, Requeue: true}
	if p.Preemptions[0] != want {
		t.Errorf("preemption = %+v; want %+v", p.Preemptions[0], want)
	}
	if w := waitingOf(p, 1); w == nil || w.Reason != ReasonPreempting || w.EstimatedStartS != t0+120 {
		t.Errorf("job 1 = %+v; want Preempting, start at now+120", w)
	}
	// Next pass, the victim is already stopping: nothing more is preempted.
	s.Running[0].Preempting = true
	s.Running[0].EndS = t0 + 120
	p = Schedule(s, mustPolicy(t, "gefion"))
	if len(p.Preemptions) != 0 {
		t.Errorf("second pass preempted %+v again", p.Preemptions)
	}
	if w := waitingOf(p, 1); w == nil || w.EstimatedStartS != t0+120 {
		t.Errorf("job 1 = %+v; want a reservation at now+120", w)
	}
}

func TestFairShareMovesPriority(t *testing.T) {
	c := smallCluster(t, 1, 1)
	a := gpuJob(1, 8, 3600)
	a.Project, a.User = "heavy", "h"
	b := gpuJob(2, 8, 3600)
	b.Project, b.User = "light", "l"
	b.SubmitS = a.SubmitS + 500 // later, but its project used less
	s := &Snapshot{Now: t0, Cluster: c, Pending: []Pending{a, b},
		Projects: []Project{{Name: "heavy", Shares: 1, UsageGPUS: 1e6}, {Name: "light", Shares: 1, UsageGPUS: 1e3}},
	}
	p := Schedule(s, mustPolicy(t, "backfill"))
	if startOf(p, 2) == nil {
		t.Fatalf("the light project's job did not go first: starts %+v", p.Starts)
	}
	// Swap the usage: now the other one goes first.
	s.Projects[0].UsageGPUS, s.Projects[1].UsageGPUS = 1e3, 1e6
	p = Schedule(s, mustPolicy(t, "backfill"))
	if startOf(p, 1) == nil {
		t.Errorf("after swapping usage, job 1 did not go first: starts %+v", p.Starts)
	}
}

func TestFairTreeRanksProjectsBeforeUsers(t *testing.T) {
	s := &Snapshot{
		Projects: []Project{{Name: "a", Shares: 1, UsageGPUS: 100}, {Name: "b", Shares: 1, UsageGPUS: 10}},
		Users: []UserUsage{
			{Project: "a", User: "a1", Shares: 1, UsageGPUS: 0},
			{Project: "a", User: "a2", Shares: 1, UsageGPUS: 100},
			{Project: "b", User: "b1", Shares: 1, UsageGPUS: 10},
			{Project: "b", User: "b2", Shares: 1, UsageGPUS: 0},
		},
	}
	fs := fairTree(s)
	order := []assocKey{{"b", "b2"}, {"b", "b1"}, {"a", "a1"}, {"a", "a2"}}
	for i := 1; i < len(order); i++ {
		if fs[order[i-1]] <= fs[order[i]] {
			t.Errorf("fairshare %v = %v, %v = %v; want the first higher", order[i-1], fs[order[i-1]], order[i], fs[order[i]])
		}
	}
	if fs[order[0]] != 1 || fs[order[3]] != 0.25 {
		t.Errorf("factors = %v; want 1 for the first and 0.25 for the last of four", fs)
	}
}

func TestConservativeReservesEveryBlockedJob(t *testing.T) {
	c := smallCluster(t, 1, 2)
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{runningOn(100, 0, 8, t0+1000), runningOn(101, 1, 8, t0+2000)},
		Pending: []Pending{gpuJob(1, 8, 3600), gpuJob(2, 8, 3600), gpuJob(3, 8, 3600)},
	}
	p := Schedule(s, mustPolicy(t, "conservative"))
	got := map[job.ID]Time{}
	for _, r := range p.Reservations {
		got[r.ID] = r.StartS
	}
	want := map[job.ID]Time{1: t0 + 1000, 2: t0 + 2000, 3: t0 + 4600}
	for id, at := range want {
		if got[id] != at {
			t.Errorf("job %d reserved at %d; want %d (all: %v)", id, got[id]-t0, at-t0, got)
		}
	}
}

func TestEstimatesForJobsWithoutReservation(t *testing.T) {
	c := smallCluster(t, 1, 2)
	s := &Snapshot{Now: t0, Cluster: c,
		Running: []Running{runningOn(100, 0, 8, t0+1000), runningOn(101, 1, 8, t0+2000)},
		Pending: []Pending{gpuJob(1, 16, 3600), gpuJob(2, 1, 3600)},
	}
	p := Schedule(s, mustPolicy(t, "backfill"))
	w2 := waitingOf(p, 2)
	if w2 == nil || w2.Reserved || w2.EstimatedStartS == Never {
		t.Fatalf("job 2 = %+v; want an estimate without a reservation", w2)
	}
	// Job 1 holds both nodes from 2000 to 5600; a 1-hour job fits on node 0
	// at 1000 only if it ends by 2000, which it does not, so after 5600.
	if w2.EstimatedStartS != t0+5600 {
		t.Errorf("job 2 estimate = now+%d; want now+5600 (after job 1's reservation)", w2.EstimatedStartS-t0)
	}
}

func TestImpossibleShapeIsNotStartedTwice(t *testing.T) {
	// Two 8-GPU jobs on one idle node: only one starts, and the second is
	// answered from the shape cache.
	c := smallCluster(t, 1, 1)
	s := &Snapshot{Now: t0, Cluster: c, Pending: []Pending{gpuJob(1, 8, 60), gpuJob(2, 8, 60), gpuJob(3, 8, 60)}}
	p := Schedule(s, mustPolicy(t, "gefion"))
	if len(p.Starts) != 1 || p.Stats.ShapeSkips == 0 {
		t.Errorf("starts %d, shape skips %d; want 1 start and the rest skipped by shape", len(p.Starts), p.Stats.ShapeSkips)
	}
	ids := []job.ID{}
	for _, w := range p.Waiting {
		ids = append(ids, w.ID)
	}
	if !slices.Contains(ids, 2) || !slices.Contains(ids, 3) {
		t.Errorf("waiting = %v; want jobs 2 and 3", ids)
	}
}

func TestFairTreeTiesShareARank(t *testing.T) {
	s := &Snapshot{
		Projects: []Project{{Name: "a", Shares: 1, UsageGPUS: 10}, {Name: "b", Shares: 1, UsageGPUS: 10}},
		Users:    []UserUsage{{Project: "b", User: "z", Shares: 1, UsageGPUS: 10}},
		Pending:  []Pending{{Project: "a", User: "x"}, {Project: "a", User: "y"}, {Project: "b", User: "z"}},
	}
	fs := fairTree(s)
	if fs[assocKey{"a", "x"}] != fs[assocKey{"a", "y"}] {
		t.Errorf("users with equal shares and no usage got %v and %v; want one rank", fs[assocKey{"a", "x"}], fs[assocKey{"a", "y"}])
	}
	if fs[assocKey{"a", "x"}] <= 0 || fs[assocKey{"b", "z"}] <= 0 {
		t.Errorf("factors = %v; want all positive", fs)
	}
}

func TestFairTreeByProjectWithoutUserUsage(t *testing.T) {
	s := &Snapshot{
		Projects: []Project{{Name: "a", Shares: 1, UsageGPUS: 100}, {Name: "b", Shares: 1, UsageGPUS: 10}},
		Pending:  []Pending{{Project: "a", User: "x"}, {Project: "b", User: "y"}},
	}
	fs := fairTree(s)
	if fs[assocKey{project: "b"}] != 1 || fs[assocKey{project: "a"}] != 0.5 {
		t.Errorf("factors = %v; want b (less used) 1 and a 0.5", fs)
	}
}

func TestRequeuedVictimDoesNotOutrankItsPreemptor(t *testing.T) {
	c := smallCluster(t, 1, 1)
	victim := gpuJob(1, 8, 3600)
	victim.QOS = "scavenger"
	victim.SubmitS = t0 - 100000 // old: the age factor ranks it first
	pre := gpuJob(2, 8, 3600)
	pre.QOS = "high"
	s := &Snapshot{Now: t0, Cluster: c, Pending: []Pending{victim, pre},
		QOS: []QOS{{Name: "high", Preempt: []string{"scavenger"}}, {Name: "scavenger", GraceS: 60, Requeue: true}},
	}
	p := Schedule(s, mustPolicy(t, "backfill")) // QOS weight 0
	if startOf(p, 2) == nil || startOf(p, 1) != nil {
		t.Errorf("starts = %+v; want the preemptor (job 2) on the node, not its requeued victim", p.Starts)
	}
}

func TestFlatFairShareAgreesWithTheTree(t *testing.T) {
	s := &Snapshot{Projects: []Project{
		{Name: "a", Shares: 2, UsageGPUS: 100}, {Name: "b", Shares: 1, UsageGPUS: 10},
		{Name: "c", Shares: 1, UsageGPUS: 0}, {Name: "d", Shares: 1, UsageGPUS: 10}, {Name: "e", Shares: 0, UsageGPUS: 5},
	}}
	flat := flatProjects(s)
	full := fairTreeFull(s)
	for _, p := range s.Projects {
		if flat[p.Name] != full[assocKey{project: p.Name}] {
			t.Errorf("project %s: flat %v, tree %v", p.Name, flat[p.Name], full[assocKey{project: p.Name}])
		}
	}
}

// TestMaxJobsPerUser: a user at the MaxJobs limit waits with
// AssocMaxJobsLimit, counting jobs started in the same pass; other users
// start.
func TestMaxJobsPerUser(t *testing.T) {
	c := smallCluster(t, 1, 2)
	mine := func(id job.ID, user string) Pending {
		j := gpuJob(id, 1, 60)
		j.User = user
		return j
	}
	s := &Snapshot{Now: t0, Cluster: c, MaxJobsPerUser: 2,
		Running:  []Running{{ID: 100, User: "alice", Project: "p", EndS: t0 + 100, Allocs: []Alloc{{Node: 0, GPUs: 0b1, CPUs: 1}}}},
		Pending:  []Pending{mine(1, "alice"), mine(2, "alice"), mine(3, "bob")},
		Projects: []Project{{Name: "p", Shares: 1}},
	}
	p := Schedule(s, mustPolicy(t, "gefion"))
	started := map[job.ID]bool{}
	for _, st := range p.Starts {
		started[st.ID] = true
	}
	if !started[1] || started[2] || !started[3] {
		t.Errorf("started %v; want jobs 1 and 3 (alice has one running and a limit of 2)", started)
	}
	w := waitingOf(p, 2)
	if w == nil || w.Reason != ReasonAssocMaxJobs || w.Sentence(c, t0, nil) == string(ReasonAssocMaxJobs) {
		t.Errorf("job 2 = %+v; want AssocMaxJobsLimit with a sentence", w)
	}
}
