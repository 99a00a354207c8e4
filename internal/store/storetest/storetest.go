package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; Run closes it (and Close must tolerate a second call).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"RoundTripEveryField", testRoundTrip},
		{"CopiesInAndOut", testCopies},
		{"EmptyBatch", testEmptyBatch},
		{"ConflictChangesNothing", testConflict},
		{"IdemKeyPerUser", testIdemKeyPerUser},
		{"UpdateUnknownChangesNothing", testUpdateUnknown},
		{"UpdateInSameBatch", testUpdateInSameBatch},
		{"Queries", testQueries},
		{"SkipParts", testSkipParts},
		{"MaxJobIDSurvivesFinish", testMaxJobID},
		{"FailureReasonSurvivesFinish", testFailureReason},
		{"RecentKeysWindow", testRecentKeys},
		{"ProjectsAndNodes", testProjectsAndNodes},
		{"Steps", testSteps},
		{"Audit", testAudit},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentReaders", testConcurrentReaders},
		{"ArrayScriptStoredOnce", testArrayScript},
		{"Close", testClose},
		{"Tokens", testTokens},
		{"NodeKeys", testNodeKeys},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			c.f(t, s)
		})
	}
}

// T0 is the time the suite's records start at (Unix seconds).
const T0 = 1_700_000_000

// opts compares records: a nil slice and an empty one mean the same.
var opts = cmp.Options{cmpopts.EquateEmpty()}

// Job returns a plain job record for tests: active jobs are submitted at
// submitS, final ones also end at endS.
func Job(id job.ID, user, project string, state job.State, submitS, endS int64) store.JobRecord {
	r := store.JobRecord{
		ID: id, Name: fmt.Sprintf("job%d", id), User: user, Project: project,
		Partition: "batch", QOS: "normal", State: state, SubmitS: submitS, EndS: endS,
		Spec: job.Spec{Name: fmt.Sprintf("job%d", id), User: user, Account: project, Script: "#!/bin/sh\ntrue\n"},
		Req:  job.Request{Nodes: 1, GPUsPerNode: 1, CPUsPerNode: 8, TimeLimitS: 3600},
	}
	if !state.Final() {
		r.EndS = 0
	}
	return r
}

// FullJob returns a record with every field set to a distinct non-zero
// value (salt makes two calls differ), then the given ID and state.
func FullJob(id job.ID, state job.State, salt string) store.JobRecord {
	var r store.JobRecord
	f := &filler{salt: salt}
	f.fill(reflect.ValueOf(&r).Elem())
	r.ID = id
	r.State = state
	return r
}

func apply(t *testing.T, s store.Store, b *store.Batch) {
	t.Helper()
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func load(t *testing.T, s store.Store) *store.Snapshot {
	t.Helper()
	snap, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// The order of ActiveJobs, Projects and Nodes is not part of the
	// contract; sort so comparisons do not depend on it.
	sort.Slice(snap.ActiveJobs, func(i, j int) bool { return snap.ActiveJobs[i].ID < snap.ActiveJobs[j].ID })
	sort.Slice(snap.Projects, func(i, j int) bool { return snap.Projects[i].Name < snap.Projects[j].Name })
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Name < snap.Nodes[j].Name })
	return snap
}

func jobs(t *testing.T, s store.Store, q store.JobQuery) []store.JobRecord {
	t.Helper()
	got, err := s.Jobs(context.Background(), q)
	if err != nil {
		t.Fatalf("Jobs(%+v): %v", q, err)
	}
	return got
}

// everything is all that a store holds, as seen through the interface.
type everything struct {
	Snap *store.Snapshot
	Jobs []store.JobRecord
}

func dump(t *testing.T, s store.Store) everything {
	t.Helper()
	return everything{Snap: load(t, s), Jobs: jobs(t, s, store.JobQuery{})}
}

// unchanged fails the test if the store no longer holds exactly before.
func unchanged(t *testing.T, s store.Store, before everything, what string) {
	t.Helper()
	if diff := cmp.Diff(before, dump(t, s), opts); diff != "" {
		t.Errorf("%s changed the store (-before +after):\n%s", what, diff)
	}
}

func ids(rs []store.JobRecord) []job.ID {
	out := make([]job.ID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testRoundTrip(t *testing.T, s store.Store) {
	active := FullJob(1, job.Running, "a")
	final := FullJob(2, job.Completed, "b")
	// Both keys must fall in the recent-key window.
	active.SubmitS, final.SubmitS = T0, T0+7
	var proj store.ProjectRecord
	(&filler{salt: "p"}).fill(reflect.ValueOf(&proj).Elem())
	var node store.NodeRecord
	(&filler{salt: "n"}).fill(reflect.ValueOf(&node).Elem())
	apply(t, s, &store.Batch{
		NewJobs:  []store.JobRecord{active, final},
		Projects: []store.ProjectRecord{proj},
		Nodes:    []store.NodeRecord{node},
	})

	got := jobs(t, s, store.JobQuery{})
	if diff := cmp.Diff([]store.JobRecord{active, final}, got, opts); diff != "" {
		t.Errorf("Jobs after insert (-want +got):\n%s", diff)
	}
	snap := load(t, s)
	want := &store.Snapshot{
		ActiveJobs: []store.JobRecord{active},
		Projects:   []store.ProjectRecord{proj},
		Nodes:      []store.NodeRecord{node},
		MaxJobID:   2,
		RecentKeys: map[string]job.ID{
			store.IdemKeyOf(active.User, active.IdemKey): 1,
			store.IdemKeyOf(final.User, final.IdemKey):   2,
		},
	}
	if diff := cmp.Diff(want, snap, opts); diff != "" {
		t.Errorf("Load after insert (-want +got):\n%s", diff)
	}

	// Replace every field of both jobs (keeping the IDs) and read back.
	active2 := FullJob(1, job.Completing, "c")
	final2 := FullJob(2, job.Failed, "d")
	apply(t, s, &store.Batch{Jobs: []store.JobRecord{active2, final2}})
	got = jobs(t, s, store.JobQuery{})
	if diff := cmp.Diff([]store.JobRecord{active2, final2}, got, opts); diff != "" {
		t.Errorf("Jobs after update (-want +got):\n%s", diff)
	}
}

func testCopies(t *testing.T, s store.Store) {
	r := FullJob(1, job.Pending, "a")
	var p store.ProjectRecord
	(&filler{salt: "p"}).fill(reflect.ValueOf(&p).Elem())
	want := everything{Jobs: []store.JobRecord{FullJob(1, job.Pending, "a")}}
	b := &store.Batch{NewJobs: []store.JobRecord{r}, Projects: []store.ProjectRecord{p}}
	apply(t, s, b)
	// before must share nothing with the store, whatever the store does,
	// so it goes through JSON.
	before := detach(t, dump(t, s))
	if diff := cmp.Diff(want.Jobs, before.Jobs, opts); diff != "" {
		t.Fatalf("Jobs after insert (-want +got):\n%s", diff)
	}

	// Change everything the caller passed in, through every slice and
	// pointer, then everything it got back.
	scribble(reflect.ValueOf(b).Elem())
	unchanged(t, s, before, "changing the batch after Apply")
	got := dump(t, s)
	scribble(reflect.ValueOf(&got).Elem())
	unchanged(t, s, before, "changing records returned by Load and Jobs")
}

// detach returns a deep copy of e that shares no memory with it.
func detach(t *testing.T, e everything) everything {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var c everything
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func testEmptyBatch(t *testing.T, s store.Store) {
	apply(t, s, &store.Batch{})
	snap := load(t, s)
	if len(snap.ActiveJobs) != 0 || len(snap.Projects) != 0 || len(snap.Nodes) != 0 || snap.MaxJobID != 0 || len(snap.RecentKeys) != 0 {
		t.Errorf("Load of an empty store = %+v; want nothing", snap)
	}
	if got := jobs(t, s, store.JobQuery{}); len(got) != 0 {
		t.Errorf("Jobs of an empty store = %v; want none", ids(got))
	}
}

// seed puts a known state in s: two jobs, a project and a node.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	j1 := Job(1, "alice", "p1", job.Pending, T0, 0)
	j1.IdemKey = "k1"
	j2 := Job(2, "bob", "p1", job.Running, T0+1, 0)
	apply(t, s, &store.Batch{
		NewJobs:  []store.JobRecord{j1, j2},
		Projects: []store.ProjectRecord{{Name: "p1", Users: []string{"alice", "bob"}, GrantGPUHours: 100}},
		Nodes:    []store.NodeRecord{{Name: "n1", State: "up", SinceS: T0}},
	})
}

func testConflict(t *testing.T, s store.Store) {
	seed(t, s)
	before := dump(t, s)
	// Each batch is valid in every part but one; each must change nothing,
	// including its valid parts, which come before and after the bad one.
	others := func(b store.Batch) *store.Batch {
		done := Job(2, "bob", "p1", job.Completed, T0+1, T0+50)
		b.Jobs = []store.JobRecord{done}
		b.Projects = []store.ProjectRecord{{Name: "p2", Users: []string{"carol"}}}
		b.Nodes = []store.NodeRecord{{Name: "n1", State: "drained", Reason: "bad", SinceS: T0 + 5}, {Name: "n2", State: "up"}}
		b.DeleteProjects = []string{"p1"}
		return &b
	}
	keyed := func(id job.ID, user, key string) store.JobRecord {
		r := Job(id, user, "p1", job.Pending, T0+10, 0)
		r.IdemKey = key
		return r
	}
	for _, c := range []struct {
		name string
		b    *store.Batch
	}{
		{"existing ID", others(store.Batch{NewJobs: []store.JobRecord{Job(3, "alice", "p1", job.Pending, T0, 0), Job(1, "carol", "p1", job.Pending, T0, 0)}})},
		{"ID twice in the batch", others(store.Batch{NewJobs: []store.JobRecord{Job(3, "alice", "p1", job.Pending, T0, 0), Job(3, "alice", "p1", job.Pending, T0, 0)}})},
		{"existing idempotency key", others(store.Batch{NewJobs: []store.JobRecord{Job(3, "alice", "p1", job.Pending, T0, 0), keyed(4, "alice", "k1")}})},
		{"idempotency key twice in the batch", others(store.Batch{NewJobs: []store.JobRecord{keyed(3, "carol", "k9"), keyed(4, "carol", "k9")}})},
	} {
		err := s.Apply(context.Background(), c.b)
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: Apply = %v; want ErrConflict", c.name, err)
		}
		unchanged(t, s, before, c.name)
	}

	// A finished job's ID stays taken.
	apply(t, s, &store.Batch{Jobs: []store.JobRecord{Job(2, "bob", "p1", job.Completed, T0+1, T0+50)}})
	if err := s.Apply(context.Background(), &store.Batch{NewJobs: []store.JobRecord{Job(2, "bob", "p1", job.Pending, T0+60, 0)}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("new job with a finished job's ID: Apply = %v; want ErrConflict", err)
	}
	// So does a finished job's idempotency key.
	apply(t, s, &store.Batch{Jobs: []store.JobRecord{func() store.JobRecord {
		r := Job(1, "alice", "p1", job.Cancelled, T0, T0+60)
		r.IdemKey = "k1"
		return r
	}()}})
	if err := s.Apply(context.Background(), &store.Batch{NewJobs: []store.JobRecord{keyed(5, "alice", "k1")}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("new job with a finished job's idempotency key: Apply = %v; want ErrConflict", err)
	}
}

func testIdemKeyPerUser(t *testing.T, s store.Store) {
	a := Job(1, "alice", "p1", job.Pending, T0, 0)
	a.IdemKey = "same"
	b := Job(2, "bob", "p1", job.Pending, T0, 0)
	b.IdemKey = "same"
	// Jobs without a key never conflict with each other.
	c := Job(3, "alice", "p1", job.Pending, T0, 0)
	d := Job(4, "alice", "p1", job.Pending, T0, 0)
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{a, b, c, d}})
	snap := load(t, s)
	want := map[string]job.ID{store.IdemKeyOf("alice", "same"): 1, store.IdemKeyOf("bob", "same"): 2}
	if diff := cmp.Diff(want, snap.RecentKeys); diff != "" {
		t.Errorf("RecentKeys (-want +got):\n%s", diff)
	}
}

func testUpdateUnknown(t *testing.T, s store.Store) {
	seed(t, s)
	before := dump(t, s)
	b := &store.Batch{
		NewJobs:  []store.JobRecord{Job(3, "alice", "p1", job.Pending, T0+5, 0)},
		Jobs:     []store.JobRecord{Job(2, "bob", "p1", job.Completed, T0+1, T0+9), Job(99, "bob", "p1", job.Completed, T0, T0+9)},
		Projects: []store.ProjectRecord{{Name: "p2"}},
		Nodes:    []store.NodeRecord{{Name: "n1", State: "down"}},
	}
	if err := s.Apply(context.Background(), b); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Apply with an update of unknown job 99 = %v; want ErrNotFound", err)
	}
	unchanged(t, s, before, "a batch updating an unknown job")
}

func testUpdateInSameBatch(t *testing.T, s store.Store) {
	// Parts apply in order: new jobs first, then updates, so a batch may
	// insert a job and record its next state at once.
	ins := Job(1, "alice", "p1", job.Pending, T0, 0)
	upd := Job(1, "alice", "p1", job.Running, T0, 0)
	upd.StartS = T0 + 3
	upd.Allocs = []store.Alloc{{Node: "n1", GPUs: []int{0, 1}, CPUs: 16, MemMB: 1024}}
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{ins}, Jobs: []store.JobRecord{upd}})
	if diff := cmp.Diff([]store.JobRecord{upd}, jobs(t, s, store.JobQuery{}), opts); diff != "" {
		t.Errorf("Jobs (-want +got):\n%s", diff)
	}
}

func testQueries(t *testing.T, s store.Store) {
	all := []store.JobRecord{
		Job(1, "alice", "p1", job.Pending, T0+10, 0),
		Job(2, "alice", "p1", job.Running, T0+20, 0),
		Job(3, "bob", "p2", job.Completed, T0+5, T0+100),
		Job(4, "bob", "p1", job.Failed, T0+6, T0+200),
		Job(5, "carol", "p2", job.Cancelled, T0+7, T0+300),
		Job(6, "alice", "p2", job.Completing, T0+40, 0),
		Job(7, "carol", "p1", job.Timeout, T0+8, T0+150),
		Job(8, "bob", "p2", job.Pending, T0+50, 0),
	}
	// Insert in two batches, out of order, to show order comes from IDs.
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{all[5], all[7], all[0]}})
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{all[3], all[1], all[2], all[6], all[4]}})

	for _, c := range []struct {
		name string
		q    store.JobQuery
		want []job.ID
	}{
		{"all", store.JobQuery{}, []job.ID{1, 2, 3, 4, 5, 6, 7, 8}},
		{"active", store.JobQuery{Active: true}, []job.ID{1, 2, 6, 8}},
		{"ids", store.JobQuery{IDs: []job.ID{7, 3, 99, 3}}, []job.ID{3, 7}},
		{"user", store.JobQuery{User: "alice"}, []job.ID{1, 2, 6}},
		{"unknown user", store.JobQuery{User: "dave"}, nil},
		{"project", store.JobQuery{Project: "p1"}, []job.ID{1, 2, 4, 7}},
		{"user and project", store.JobQuery{User: "bob", Project: "p2"}, []job.ID{3, 8}},
		{"states", store.JobQuery{States: []job.State{job.Completed, job.Failed}}, []job.ID{3, 4}},
		{"active and final state", store.JobQuery{Active: true, States: []job.State{job.Completed}}, nil},
		{"active and user", store.JobQuery{Active: true, User: "bob"}, []job.ID{8}},
		{"ids and user", store.JobQuery{IDs: []job.ID{1, 3, 6}, User: "alice"}, []job.ID{1, 6}},
		// Final jobs are timed by their end, active ones by submission.
		{"since", store.JobQuery{SinceS: T0 + 150}, []job.ID{4, 5, 7}},
		{"until", store.JobQuery{UntilS: T0 + 150}, []job.ID{1, 2, 3, 6, 8}},
		{"since and until", store.JobQuery{SinceS: T0 + 20, UntilS: T0 + 201}, []job.ID{2, 3, 4, 6, 7, 8}},
		{"since final only", store.JobQuery{SinceS: T0 + 100, States: []job.State{job.Completed, job.Failed, job.Cancelled, job.Timeout}}, []job.ID{3, 4, 5, 7}},
		{"limit newest first", store.JobQuery{Limit: 3}, []job.ID{8, 7, 6}},
		{"limit with user", store.JobQuery{Limit: 2, User: "alice"}, []job.ID{6, 2}},
		{"limit above count", store.JobQuery{Limit: 100}, []job.ID{8, 7, 6, 5, 4, 3, 2, 1}},
		{"limit with states", store.JobQuery{Limit: 1, States: []job.State{job.Pending}}, []job.ID{8}},
		{"limit with since", store.JobQuery{Limit: 2, SinceS: T0 + 150}, []job.ID{7, 5}},
		{"everything at once", store.JobQuery{Active: true, IDs: []job.ID{1, 2, 8}, User: "alice", Project: "p1", States: []job.State{job.Running}, SinceS: T0 + 20, UntilS: T0 + 21, Limit: 5}, []job.ID{2}},
	} {
		got := jobs(t, s, c.q)
		if diff := cmp.Diff(c.want, ids(got), opts); diff != "" {
			t.Errorf("%s: Jobs(%+v) IDs (-want +got):\n%s", c.name, c.q, diff)
		}
		// Whole records come back, not just IDs.
		for _, r := range got {
			if diff := cmp.Diff(all[r.ID-1], r, opts); diff != "" {
				t.Errorf("%s: record %d (-want +got):\n%s", c.name, r.ID, diff)
			}
		}
	}
}

// testFailureReason finishes a running job as FAILED with the reason its
// node gave (free text: a path with spaces and quotes, non-ASCII, a
// newline) and reads it back by every query that returns the job.
func testFailureReason(t *testing.T, s store.Store) {
	r := Job(1, "alice", "p1", job.Running, T0, 0)
	r.StartS = T0 + 1
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{r}})
	r.State, r.EndS, r.ExitCode = job.Failed, T0+2, 1
	r.Reason = "cannot open output file /scratch/\"my run\"/ø.out: permission denied\nsecond line"
	apply(t, s, &store.Batch{Jobs: []store.JobRecord{r}})
	for _, q := range []store.JobQuery{{}, {IDs: []job.ID{1}}, {States: []job.State{job.Failed}}, {User: "alice", SinceS: T0}} {
		if diff := cmp.Diff([]store.JobRecord{r}, jobs(t, s, q), opts); diff != "" {
			t.Errorf("Jobs(%+v) after the failure (-want +got):\n%s", q, diff)
		}
	}
	if snap := load(t, s); len(snap.ActiveJobs) != 0 {
		t.Errorf("Load: active jobs %v; want none after the failure", ids(snap.ActiveJobs))
	}
}

func testMaxJobID(t *testing.T, s store.Store) {
	var b store.Batch
	for id := job.ID(1); id <= 5; id++ {
		b.NewJobs = append(b.NewJobs, Job(id, "alice", "p1", job.Pending, T0, 0))
	}
	apply(t, s, &b)
	if got := load(t, s).MaxJobID; got != 5 {
		t.Errorf("MaxJobID = %d; want 5", got)
	}
	// The newest jobs finish: their IDs must not be handed out again.
	apply(t, s, &store.Batch{Jobs: []store.JobRecord{
		Job(5, "alice", "p1", job.Completed, T0, T0+10),
		Job(4, "alice", "p1", job.Cancelled, T0, T0+10),
	}})
	snap := load(t, s)
	if snap.MaxJobID != 5 {
		t.Errorf("MaxJobID after jobs 4 and 5 finished = %d; want 5", snap.MaxJobID)
	}
	if diff := cmp.Diff([]job.ID{1, 2, 3}, ids(snap.ActiveJobs)); diff != "" {
		t.Errorf("ActiveJobs IDs (-want +got):\n%s", diff)
	}
	var done store.Batch
	for id := job.ID(1); id <= 3; id++ {
		done.Jobs = append(done.Jobs, Job(id, "alice", "p1", job.Failed, T0, T0+20))
	}
	apply(t, s, &done)
	snap = load(t, s)
	if snap.MaxJobID != 5 || len(snap.ActiveJobs) != 0 {
		t.Errorf("after every job finished: MaxJobID = %d, %d active; want 5, 0", snap.MaxJobID, len(snap.ActiveJobs))
	}
}

func testRecentKeys(t *testing.T, s store.Store) {
	const newest = T0 + 10*store.KeyWindowS
	keyed := func(id job.ID, user, key string, submit int64, state job.State) store.JobRecord {
		r := Job(id, user, "p1", state, submit, submit+5)
		r.IdemKey = key
		return r
	}
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{
		keyed(1, "alice", "old", newest-store.KeyWindowS-1, job.Completed), // just outside
		keyed(2, "alice", "edge", newest-store.KeyWindowS, job.Completed),  // on the edge: kept
		keyed(3, "bob", "mid", newest-store.KeyWindowS/2, job.Running),
		keyed(4, "bob", "ancient", T0, job.Pending), // active but old: its key is forgotten
	}})
	// The newest submission carries no key; it still sets the window.
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{keyed(5, "carol", "", newest, job.Pending)}})
	want := map[string]job.ID{
		store.IdemKeyOf("alice", "edge"): 2,
		store.IdemKeyOf("bob", "mid"):    3,
	}
	if diff := cmp.Diff(want, load(t, s).RecentKeys); diff != "" {
		t.Errorf("RecentKeys (-want +got):\n%s", diff)
	}
	// A forgotten key is still unique in the store.
	if err := s.Apply(context.Background(), &store.Batch{NewJobs: []store.JobRecord{keyed(6, "alice", "old", newest, job.Pending)}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("reusing a key older than the window: Apply = %v; want ErrConflict", err)
	}
}

func testProjectsAndNodes(t *testing.T, s store.Store) {
	p1 := store.ProjectRecord{Name: "p1", Users: []string{"alice"}, GrantGPUHours: 1000, PeriodStartS: T0}
	p2 := store.ProjectRecord{Name: "p2", Parent: "p1", Users: []string{"bob", "carol"}, MaxGPUs: 64, Managers: []string{"carol"}}
	n1 := store.NodeRecord{Name: "n1", State: "up", SinceS: T0}
	n2 := store.NodeRecord{Name: "n2", State: "draining", Reason: "xid 79", SinceS: T0 + 1}
	apply(t, s, &store.Batch{Projects: []store.ProjectRecord{p2, p1}, Nodes: []store.NodeRecord{n2, n1}})
	check := func(when string, wantP []store.ProjectRecord, wantN []store.NodeRecord) {
		t.Helper()
		snap := load(t, s)
		if diff := cmp.Diff(wantP, snap.Projects, opts); diff != "" {
			t.Errorf("%s: Projects (-want +got):\n%s", when, diff)
		}
		if diff := cmp.Diff(wantN, snap.Nodes, opts); diff != "" {
			t.Errorf("%s: Nodes (-want +got):\n%s", when, diff)
		}
	}
	check("after insert", []store.ProjectRecord{p1, p2}, []store.NodeRecord{n1, n2})

	// Upsert replaces the whole record.
	p1b := store.ProjectRecord{Name: "p1", Users: []string{"alice", "dave"}, Managers: []string{"dave", "erin"}, GrantGPUHours: 2000, PeriodStartS: T0 + 86400, GrantEndS: T0 + 400*86400, UsedGPUSeconds: 3600.5, UsageGPUS: 1.25, UsageAtS: T0 + 90000}
	n2b := store.NodeRecord{Name: "n2", State: "drained", Reason: "xid 79", SinceS: T0 + 60}
	apply(t, s, &store.Batch{Projects: []store.ProjectRecord{p1b}, Nodes: []store.NodeRecord{n2b}})
	check("after upsert", []store.ProjectRecord{p1b, p2}, []store.NodeRecord{n1, n2b})

	// Deleting removes; deleting an unknown project is not an error.
	apply(t, s, &store.Batch{DeleteProjects: []string{"p2", "nope"}})
	check("after delete", []store.ProjectRecord{p1b}, []store.NodeRecord{n1, n2b})

	// A deleted project can be created again.
	apply(t, s, &store.Batch{Projects: []store.ProjectRecord{p2}})
	check("after re-create", []store.ProjectRecord{p1b, p2}, []store.NodeRecord{n1, n2b})
}

func testCancelledContext(t *testing.T, s store.Store) {
	seed(t, s)
	before := dump(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Apply(ctx, &store.Batch{NewJobs: []store.JobRecord{Job(3, "alice", "p1", job.Pending, T0, 0)}})
	if err == nil {
		t.Errorf("Apply with a cancelled context = nil; want an error")
	}
	unchanged(t, s, before, "Apply with a cancelled context")
	if _, err := s.Jobs(ctx, store.JobQuery{}); err == nil {
		t.Errorf("Jobs with a cancelled context = nil error; want an error")
	}
	if _, err := s.Load(ctx); err == nil {
		t.Errorf("Load with a cancelled context = nil error; want an error")
	}
}

// testConcurrentReaders runs one writer and several readers. Each batch
// inserts five jobs and finishes the five before, so any reader that sees a
// batch half-applied finds an active count other than five.
func testConcurrentReaders(t *testing.T, s store.Store) {
	const per, batches = 5, 60
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				ctx := context.Background()
				if r == 0 {
					snap, err := s.Load(ctx)
					if err != nil {
						t.Errorf("Load: %v", err)
						return
					}
					if n := len(snap.ActiveJobs); n != 0 && n != per {
						t.Errorf("Load saw %d active jobs; want 0 or %d (a batch half-applied)", n, per)
						return
					}
					if n := len(snap.ActiveJobs); n == per && (snap.ActiveJobs[0].ID != snap.MaxJobID-per+1 || snap.ActiveJobs[per-1].ID != snap.MaxJobID) {
						t.Errorf("Load: MaxJobID %d does not match active jobs %v", snap.MaxJobID, ids(snap.ActiveJobs))
						return
					}
				} else {
					got, err := s.Jobs(ctx, store.JobQuery{Active: true})
					if err != nil {
						t.Errorf("Jobs: %v", err)
						return
					}
					if n := len(got); n != 0 && (n != per || got[per-1].ID-got[0].ID != per-1) {
						t.Errorf("Jobs(active) = %v; want 0 or %d consecutive jobs", ids(got), per)
						return
					}
				}
				reads.Add(1)
			}
		}()
	}
	for b := range batches {
		var batch store.Batch
		for i := range per {
			id := job.ID(b*per + i + 1)
			batch.NewJobs = append(batch.NewJobs, Job(id, "alice", "p1", job.Pending, T0+int64(b), 0))
			if b > 0 {
				batch.Jobs = append(batch.Jobs, Job(id-per, "alice", "p1", job.Completed, T0+int64(b-1), T0+int64(b)))
			}
		}
		if err := s.Apply(context.Background(), &batch); err != nil {
			t.Errorf("Apply batch %d: %v", b, err)
			break
		}
	}
	done.Store(true)
	wg.Wait()
	if got := len(jobs(t, s, store.JobQuery{})); got != per*batches {
		t.Errorf("%d jobs stored; want %d", got, per*batches)
	}
	t.Logf("%d reads during %d batches", reads.Load(), batches)
}

func testClose(t *testing.T, s store.Store) {
	seed(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if err := s.Apply(ctx, &store.Batch{NewJobs: []store.JobRecord{Job(3, "alice", "p1", job.Pending, T0, 0)}}); err == nil {
		t.Errorf("Apply after Close = nil; want an error")
	}
	if _, err := s.Load(ctx); err == nil {
		t.Errorf("Load after Close = nil error; want an error")
	}
	if _, err := s.Jobs(ctx, store.JobQuery{}); err == nil {
		t.Errorf("Jobs after Close = nil error; want an error")
	}
	// The suite's cleanup closes it a second time, which must not fail.
}

// testArrayScript stores an array whose tasks carry equal scripts (as
// separate strings, the way a decoder makes them) and checks that every
// task reads back its script, that records read together share one copy
// of it, as the store keeps one, and that updates and other scripts keep
// their own text.
func testArrayScript(t *testing.T, s store.Store) {
	const tasks = 50
	big := "#!/bin/sh\n" + strings.Repeat("# a large script\n", 4096)
	other := "#!/bin/sh\necho other\n"
	b := &store.Batch{}
	for i := range tasks {
		r := Job(job.ID(100+i), "alice", "p", job.Pending, T0, 0)
		r.ArrayJobID, r.ArrayTaskID = 100, i
		r.Spec.Array = "0-49"
		r.Spec.Script = strings.Clone(big)
		b.NewJobs = append(b.NewJobs, r)
	}
	b.NewJobs = append(b.NewJobs, Job(200, "bob", "p", job.Pending, T0, 0))
	b.NewJobs[tasks].Spec.Script = other
	apply(t, s, b)
	// A task that runs and ends is rewritten whole; its script stays.
	done := b.NewJobs[3]
	done.State, done.EndS = job.Completed, T0+5
	apply(t, s, &store.Batch{Jobs: []store.JobRecord{done}})

	check := func(what string, rs []store.JobRecord, wantN int) {
		t.Helper()
		if len(rs) != wantN {
			t.Fatalf("%s: %d records; want %d", what, len(rs), wantN)
		}
		var shared *byte
		for _, r := range rs {
			want := big
			if r.ID == 200 {
				want = other
			}
			if r.Spec.Script != want {
				t.Fatalf("%s: job %d script is %d bytes; want %d", what, r.ID, len(r.Spec.Script), len(want))
			}
			if r.ID == 200 {
				continue
			}
			p := unsafe.StringData(r.Spec.Script)
			if shared == nil {
				shared = p
			} else if p != shared {
				t.Errorf("%s: job %d holds its own copy of the array's script; want one copy shared by the tasks", what, r.ID)
				return
			}
		}
	}
	check("Jobs", jobs(t, s, store.JobQuery{}), tasks+1)
	check("Load", load(t, s).ActiveJobs, tasks)
}

// testSkipParts checks that a query with Skip returns the same records with
// exactly the named parts zero, for active and finished jobs alike.
func testSkipParts(t *testing.T, s store.Store) {
	recs := []store.JobRecord{FullJob(1, job.Running, "a"), FullJob(2, job.Completed, "b")}
	apply(t, s, &store.Batch{NewJobs: recs})
	full := jobs(t, s, store.JobQuery{})
	skips := []store.Parts{store.SkipSpec | store.SkipRequest | store.SkipAllocs, store.SkipAll,
		store.SkipAll &^ (store.SkipExit | store.SkipStart)}
	for p := store.Parts(1); p <= store.SkipAll; p <<= 1 {
		skips = append(skips, p)
	}
	for _, skip := range skips {
		want := make([]store.JobRecord, len(full))
		for i := range full {
			want[i] = full[i]
			skip.Strip(&want[i])
		}
		got := jobs(t, s, store.JobQuery{Skip: skip})
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Errorf("Jobs(Skip: %#x) (-want +got):\n%s", skip, diff)
		}
		if sc, ok := s.(store.Scanner); ok {
			var scanned []store.JobRecord
			if err := sc.ScanJobs(context.Background(), store.JobQuery{Skip: skip}, func(r *store.JobRecord) error {
				scanned = append(scanned, *r)
				return nil
			}); err != nil {
				t.Fatalf("ScanJobs(Skip: %#x): %v", skip, err)
			}
			if diff := cmp.Diff(want, scanned, opts); diff != "" {
				t.Errorf("ScanJobs(Skip: %#x) (-want +got):\n%s", skip, diff)
			}
		}
		// The fields that order, select and time a record are always read.
		if len(got) != 2 || got[0].ID != recs[0].ID || got[1].State != recs[1].State || got[1].EndS != recs[1].EndS ||
			got[0].SubmitS != recs[0].SubmitS {
			t.Errorf("Jobs(Skip: %#x) lost the fields every query reads: %+v", skip, got)
		}
	}
}
