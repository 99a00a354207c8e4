package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

// TestVersion2DatabaseGainsSteps opens a database written before steps
// existed (version 2; version 1 databases are read by TestVersion1Readable):
// its jobs read as before, and steps can be added to them.
func TestVersion2DatabaseGainsSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:2]
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Apply(ctx, &store.Batch{NewJobs: []store.JobRecord{storetest.Job(1, "alice", "p1", job.Running, storetest.T0, 0)}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	migrations = saved
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open of a version 2 database: %v", err)
	}
	defer s.Close()
	snap, err := s.Load(ctx)
	if err != nil || len(snap.ActiveJobs) != 1 || len(snap.Steps) != 0 {
		t.Fatalf("Load = %+v, %v; want job 1 and no steps", snap, err)
	}
	if err := s.Apply(ctx, &store.Batch{Steps: []store.StepRecord{storetest.Step(1, 0, job.Running)}}); err != nil {
		t.Fatalf("Apply of a step after the migration: %v", err)
	}
	got, err := s.Steps(ctx, []job.ID{1})
	if err != nil || len(got) != 1 || got[0].StepID != 0 {
		t.Errorf("Steps(1) = %v, %v; want step 1.0", got, err)
	}
}
