package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

// bigScript is a 200 KB batch script, the size that made an array of 1001
// tasks add 190 MB to the database when each task stored its own copy.
var bigScript = "#!/bin/sh\n" + strings.Repeat("# data a user keeps in the script, line after line\n", 200_000/50)

func arrayBatch(first job.ID, tasks int, script string) *store.Batch {
	b := &store.Batch{}
	for i := range tasks {
		r := storetest.Job(first+job.ID(i), "alice", "p", job.Pending, storetest.T0, 0)
		r.ArrayJobID, r.ArrayTaskID = first, i
		r.Spec.Array = "0-1000"
		r.Spec.Script = script
		b.NewJobs = append(b.NewJobs, r)
	}
	return b
}

// TestArrayScriptStoredOnce checks the database growth of an array of 1001
// tasks with a 200 KB script: one copy of the script, not 1001, also when
// every task is then rewritten (a state change).
func TestArrayScriptStoredOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := arrayBatch(1, 1001, bigScript)
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	for i := range b.NewJobs {
		b.NewJobs[i].State, b.NewJobs[i].EndS = job.Cancelled, storetest.T0+1
	}
	if err := s.Apply(ctx, &store.Batch{Jobs: b.NewJobs}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// 1001 rows of about a kilobyte, their indexes and one script.
	if limit := int64(4 << 20); fi.Size() > limit {
		t.Errorf("database is %d bytes after a 1001-task array with a %d-byte script; want at most %d (one copy of the script)", fi.Size(), len(bigScript), limit)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Jobs(ctx, store.JobQuery{})
	if err != nil || len(got) != 1001 {
		t.Fatalf("Jobs = %d records, %v; want 1001", len(got), err)
	}
	for _, r := range got {
		if r.Spec.Script != bigScript {
			t.Fatalf("job %d: script of %d bytes; want the %d-byte script back", r.ID, len(r.Spec.Script), len(bigScript))
		}
	}
}

// TestVersion1Readable opens a database written before scripts had a table
// of their own (schema version 1, the script inside each spec), and checks
// that its jobs read back whole and keep their script when rewritten.
func TestVersion1Readable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, stmt := range append([]string{`CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_version (version) VALUES (1)`}, migrations[0]...) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	v1Columns := strings.TrimSuffix(jobColumns, ", script_hash")
	b := arrayBatch(1, 3, bigScript)
	for i := range b.NewJobs {
		args := make([]any, numJobColumns)
		if err := jobArgs(&b.NewJobs[i], args, &scriptHasher{}); err != nil {
			t.Fatal(err)
		}
		spec, err := json.Marshal(&b.NewJobs[i].Spec) // version 1 kept the script here
		if err != nil {
			t.Fatal(err)
		}
		args[22] = string(spec)
		if _, err := db.ExecContext(ctx, `INSERT INTO jobs (`+v1Columns+`) VALUES (`+placeholders(numJobColumns-1)+`)`, args[:numJobColumns-1]...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open a version 1 database: %v", err)
	}
	defer s.Close()
	snap, err := s.Load(ctx)
	if err != nil || len(snap.ActiveJobs) != 3 {
		t.Fatalf("Load = %v, %v; want 3 active jobs", snap, err)
	}
	for _, r := range snap.ActiveJobs {
		if r.Spec.Script != bigScript {
			t.Errorf("job %d: script of %d bytes after migration; want %d", r.ID, len(r.Spec.Script), len(bigScript))
		}
	}
	// Rewritten, a job moves its script to the scripts table.
	r := snap.ActiveJobs[1]
	r.State, r.EndS = job.Completed, storetest.T0+9
	if err := s.Apply(ctx, &store.Batch{Jobs: []store.JobRecord{r}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Jobs(ctx, store.JobQuery{IDs: []job.ID{r.ID}})
	if err != nil || len(got) != 1 || got[0].Spec.Script != bigScript || got[0].State != job.Completed {
		t.Fatalf("Jobs(%d) after rewrite = %d records, %v; want it completed with its script", r.ID, len(got), err)
	}
	var inSpec int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE id = ? AND spec LIKE '%"script"%'`, r.ID).Scan(&inSpec); err != nil || inSpec != 0 {
		t.Errorf("rewritten job %d still holds its script in its spec (%d, %v)", r.ID, inSpec, err)
	}
}
