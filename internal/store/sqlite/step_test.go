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

// TestVersion4DatabaseGainsAudit opens a database written before project
// managers and the audit trail: its projects read with no managers, and
// both can be written after the upgrade.
func TestVersion4DatabaseGainsAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:4]
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO projects (name, parent, users, grant_gpu_hours, period_start_s, used_gpu_seconds, usage_gpus, usage_at_s, max_gpus)
		VALUES ('p1', '', '["alice"]', 10, 0, 0, 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	migrations = saved
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open of a version 4 database: %v", err)
	}
	defer s.Close()
	snap, err := s.Load(ctx)
	if err != nil || len(snap.Projects) != 1 || len(snap.Projects[0].Managers) != 0 || snap.Projects[0].Users[0] != "alice" {
		t.Fatalf("Load = %+v, %v; want project p1 of alice with no managers", snap, err)
	}
	p := snap.Projects[0]
	p.Managers = []string{"bob"}
	if err := s.Apply(ctx, &store.Batch{Projects: []store.ProjectRecord{p}, Audit: []store.AuditRecord{{TimeS: 1, User: "root", Action: "PATCH /v1/projects/{name}", Outcome: "ok", Status: 200}}}); err != nil {
		t.Fatalf("Apply after the upgrade: %v", err)
	}
	if snap, err = s.Load(ctx); err != nil || len(snap.Projects[0].Managers) != 1 {
		t.Errorf("Load after the upgrade = %+v, %v; want manager bob", snap, err)
	}
	if a, err := s.Audit(ctx, store.AuditQuery{}); err != nil || len(a) != 1 {
		t.Errorf("Audit after the upgrade = %+v, %v; want one record", a, err)
	}
}
