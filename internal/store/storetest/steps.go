package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Step returns a step record for tests with every field set.
func Step(id job.ID, step int, state job.State) store.StepRecord {
	r := store.StepRecord{
		JobID: id, StepID: step, Name: "bash", State: state, NodeList: "n[1-2]", Tasks: 4,
		Layout: []store.StepAlloc{
			{Node: "n1", Tasks: []int{0, 1}, GPUs: []int{0, 1}, CPUs: 2, Ended: true, TimedOut: true},
			{Node: "n2", Tasks: []int{2, 3}, GPUs: []int{0, 1}, CPUs: 2, Cancelled: true},
		},
		Argv: []string{"bash", "-c", "exit 3"}, TimeLimitS: 60, StartS: T0 + 10, Overlap: true, Exclusive: true,
	}
	if state.Final() {
		r.EndS, r.ExitCode, r.Signal = T0+20, 3, "KILL"
	}
	return r
}

func steps(t *testing.T, s store.Store, ids ...job.ID) []store.StepRecord {
	t.Helper()
	got, err := s.Steps(context.Background(), ids)
	if err != nil {
		t.Fatalf("Steps(%v): %v", ids, err)
	}
	return got
}

// testSteps: steps are upserted with their job's batch, read back per job
// and in order, come with Load for active jobs only, and a step of an
// unknown job fails the whole batch.
func testSteps(t *testing.T, s store.Store) {
	running := Job(1, "alice", "p1", job.Running, T0, 0)
	done := Job(2, "alice", "p1", job.Completed, T0, T0+100)
	s1 := Step(1, 1, job.Running)
	s0 := Step(1, 0, job.Running)
	// A new job and its first steps in one batch, out of order.
	apply(t, s, &store.Batch{NewJobs: []store.JobRecord{running, done}, Steps: []store.StepRecord{s1, s0, Step(2, 0, job.Completed)}})
	if diff := cmp.Diff([]store.StepRecord{s0, s1}, steps(t, s, 1), opts); diff != "" {
		t.Errorf("Steps(1) (-want +got):\n%s", diff)
	}
	// The step's end replaces its record.
	s0end := Step(1, 0, job.Failed)
	apply(t, s, &store.Batch{Steps: []store.StepRecord{s0end}})
	want := []store.StepRecord{s0end, s1, Step(2, 0, job.Completed)}
	if diff := cmp.Diff(want, steps(t, s, 2, 1, 2), opts); diff != "" {
		t.Errorf("Steps(2, 1, 2) (-want +got):\n%s", diff)
	}
	if got := steps(t, s, 99); len(got) != 0 {
		t.Errorf("Steps(99) = %v; want none", got)
	}
	// Load carries the steps of active jobs (for step IDs and running
	// steps after a restart), not of finished ones.
	if diff := cmp.Diff(want[:2], load(t, s).Steps, opts); diff != "" {
		t.Errorf("Load().Steps (-want +got):\n%s", diff)
	}
	// What the caller keeps is its own.
	got := steps(t, s, 1)
	got[0].Layout[0].GPUs[0] = 7
	got[0].Argv[0] = "changed"
	if diff := cmp.Diff(want[:2], steps(t, s, 1), opts); diff != "" {
		t.Errorf("Steps after changing a returned record (-want +got):\n%s", diff)
	}
	// A step of a job that does not exist fails the batch, and nothing
	// of it is kept.
	before := dump(t, s)
	beforeSteps := steps(t, s, 1, 2, 3)
	err := s.Apply(context.Background(), &store.Batch{
		NewJobs: []store.JobRecord{Job(3, "bob", "p1", job.Running, T0, 0)},
		Steps:   []store.StepRecord{Step(3, 0, job.Running), Step(42, 0, job.Running)},
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Apply with a step of an unknown job = %v; want ErrNotFound", err)
	}
	unchanged(t, s, before, "a failed batch with steps")
	if diff := cmp.Diff(beforeSteps, steps(t, s, 1, 2, 3), opts); diff != "" {
		t.Errorf("steps after a failed batch (-before +after):\n%s", diff)
	}
}
