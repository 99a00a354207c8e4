package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "gefion.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// encodingStore encodes every batch before applying it, as the controller
// does, so that the conformance suite runs through the encoded path too.
type encodingStore struct{ *Store }

func (e encodingStore) Apply(ctx context.Context, b *store.Batch) error {
	if err := e.Encode(b); err != nil {
		return err
	}
	return e.Store.Apply(ctx, b)
}

func TestConformanceEncoded(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return encodingStore{openTemp(t)} })
}

// TestStaleEncodingIgnored applies a batch whose records changed in number
// after Encode: Apply must not bind the old rows.
func TestStaleEncodingIgnored(t *testing.T) {
	s := openTemp(t)
	b := &store.Batch{NewJobs: []store.JobRecord{storetest.Job(1, "alice", "p", job.Pending, storetest.T0, 0)}}
	if err := s.Encode(b); err != nil {
		t.Fatal(err)
	}
	b.NewJobs = append(b.NewJobs, storetest.Job(2, "bob", "p", job.Pending, storetest.T0, 0))
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.ActiveJobs) != 2 || snap.ActiveJobs[1].User != "bob" {
		t.Errorf("stored %+v; want jobs 1 and 2, the second bob's", snap.ActiveJobs)
	}
}

// TestReopen checks that what one Store committed, the next one opening
// the same file recovers.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	full := storetest.FullJob(1, job.Running, "x")
	full.SubmitS = storetest.T0
	b := &store.Batch{
		NewJobs:  []store.JobRecord{full, storetest.Job(2, "bob", "p1", job.Completed, storetest.T0, storetest.T0+9)},
		Projects: []store.ProjectRecord{{Name: "p1", Users: []string{"bob"}, GrantGPUHours: 10}},
		Nodes:    []store.NodeRecord{{Name: "n1", State: "drained", Reason: "maintenance", SinceS: storetest.T0}},
	}
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	want, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	got, err := s2.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Load after reopen (-want +got):\n%s", diff)
	}
	if got.MaxJobID != 2 || len(got.ActiveJobs) != 1 {
		t.Errorf("after reopen: MaxJobID %d, %d active; want 2, 1", got.MaxJobID, len(got.ActiveJobs))
	}
}

// TestPragmas checks the settings durability depends on.
func TestPragmas(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	for _, c := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "10000"},
		{s.w, "wal_autocheckpoint", "0"},
		{s.ckpt, "synchronous", "2"},
		{s.r, "query_only", "1"},
		{s.r, "journal_mode", "wal"},
		{s.w, "application_id", "1195789873"},
	} {
		var got string
		if err := c.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s; want %s", c.pragma, got, c.want)
		}
	}
}

// TestReadsDoNotWaitForWriter holds a write transaction open and checks
// that reads still answer, from the last committed state.
func TestReadsDoNotWaitForWriter(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	if err := s.Apply(ctx, &store.Batch{NewJobs: []store.JobRecord{storetest.Job(1, "alice", "p1", job.Pending, storetest.T0, 0)}}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET name = 'uncommitted' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	got, err := s.Jobs(rctx, store.JobQuery{})
	if err != nil {
		t.Fatalf("Jobs while a write is open: %v", err)
	}
	if len(got) != 1 || got[0].Name != "job1" {
		t.Errorf("Jobs while a write is open = %+v; want job 1 as committed", got)
	}
	if _, err := s.Load(rctx); err != nil {
		t.Fatalf("Load while a write is open: %v", err)
	}
}

// TestQueryPlans checks that, on a store with a history, selective queries
// use an index in both arms rather than reading the whole jobs table. (A
// query by state alone is left to the planner: most finished jobs share a
// few states, and a scan is then the right plan.)
func TestQueryPlans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A history: many finished jobs over a year, a few active ones, several
	// users and projects.
	var b store.Batch
	for id := job.ID(1); id <= 5000; id++ {
		user, proj := "user"+strconv.Itoa(int(id%50)), "p"+strconv.Itoa(int(id%20))
		submit := int64(storetest.T0) + int64(id)*6000
		if id > 4950 {
			b.NewJobs = append(b.NewJobs, storetest.Job(id, user, proj, job.Pending, submit, 0))
		} else {
			b.NewJobs = append(b.NewJobs, storetest.Job(id, user, proj, []job.State{job.Completed, job.Failed, job.Cancelled}[id%3], submit, submit+3600))
		}
	}
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Open gathers statistics for the query planner.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stats int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'jobs'`).Scan(&stats); err != nil || stats == 0 {
		t.Errorf("statistics for jobs after reopen: %d rows, %v; want some", stats, err)
	}
	for _, q := range []store.JobQuery{
		{Active: true},
		{IDs: []job.ID{1, 2}},
		{User: "alice"},
		{Project: "p1", Limit: 10},
		{SinceS: storetest.T0 + 4990*6000},
		{User: "user7", SinceS: storetest.T0, UntilS: storetest.T0 + 3600},
		{States: []job.State{job.Completed}, SinceS: storetest.T0 + 4900*6000, Limit: 100},
	} {
		query, args, err := jobsQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %+v: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if step == "SCAN jobs" {
				t.Errorf("Jobs(%+v) scans the whole table; plan:\n%s", q, strings.Join(plan, "\n"))
				break
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not a database\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	otherApp := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", otherApp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA application_id = 42; CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	plainDB := filepath.Join(dir, "plain.db")
	db, err = sql.Open("sqlite", plainDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE customers (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, c := range []struct {
		name, path, want string
	}{
		{"empty path", "", "must be non-empty"},
		{"question mark", filepath.Join(dir, "a?b.db"), "no '?'"},
		{"missing directory", filepath.Join(dir, "nope", "gefion.db"), "gefion.db"},
		{"not a database", notDB, "notes.txt"},
		{"another program's database", otherApp, "not a gefion database"},
		{"a database with its own tables", plainDB, "not a gefion database"},
	} {
		s, err := Open(c.path)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open(%q) = nil error; want one containing %q", c.name, c.path, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open(%q) = %v; want it to contain %q", c.name, c.path, err, c.want)
		}
	}
	// A refused database is left as it was, not switched to WAL.
	for _, path := range []string{otherApp, plainDB} {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "delete" {
			t.Errorf("%s: journal_mode after a refused Open = %q, %v; want delete (untouched)", path, mode, err)
		}
		db.Close()
	}
}

// TestNewerSchemaRefused opens a database that a newer gefion migrated.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(path)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a newer schema = %v; want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), "at least as new") {
		t.Errorf("error %q does not say what to do", err)
	}
}

// TestMigrations adds migration steps and checks that an existing database
// takes them on open, in order, each atomically: a failing step leaves the
// database at the version before it.
func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Apply(ctx, &store.Batch{NewJobs: []store.JobRecord{storetest.Job(1, "alice", "p1", job.Pending, storetest.T0, 0)}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	base := len(migrations)
	saved := migrations
	t.Cleanup(func() { migrations = saved })

	versionOf := func() int {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		v, err := version(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// A step that fails half-way: its first statement must not stay.
	migrations = append(saved[:base:base],
		[]string{`CREATE TABLE extra (x INTEGER)`},
		[]string{`ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''`, `THIS IS NOT SQL`},
	)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "version "+strconv.Itoa(base+2)) {
		t.Fatalf("Open with a failing migration = %v; want an error naming version %d", err, base+2)
	}
	if v := versionOf(); v != base+1 {
		t.Fatalf("after a failed step: version %d; want %d", v, base+1)
	}

	// Fixed, the step applies, and the data is still there.
	migrations[base+1] = []string{`ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''`}
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open after fixing the migration: %v", err)
	}
	defer s.Close()
	if v := versionOf(); v != base+2 {
		t.Errorf("version %d; want %d", v, base+2)
	}
	got, err := s.Jobs(ctx, store.JobQuery{})
	if err != nil || len(got) != 1 || got[0].User != "alice" {
		t.Errorf("Jobs after migration = %v, %v; want job 1", got, err)
	}
	var note string
	if err := s.r.QueryRowContext(ctx, `SELECT note FROM jobs WHERE id = 1`).Scan(&note); err != nil {
		t.Errorf("new column: %v", err)
	}
}

// TestCheckpointer checks that committed batches reach the database file
// without a Close: the background checkpointer copies them out of the WAL.
func TestCheckpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	var b store.Batch
	for id := job.ID(1); id <= 2000; id++ {
		b.NewJobs = append(b.NewJobs, storetest.Job(id, "alice", "p1", job.Pending, storetest.T0, 0))
	}
	if err := s.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * checkpointEvery); size() < before+500<<10; time.Sleep(checkpointEvery / 10) {
		if time.Now().After(deadline) {
			t.Fatalf("database file is %d bytes %v after a 2,000-job commit (%d before); the WAL was not checkpointed", size(), 10*checkpointEvery, before)
		}
	}
}

// TestJobColsMatchColumns checks that the columns a query may select are
// jobColumns in their order, less active, which no reader needs.
func TestJobColsMatchColumns(t *testing.T) {
	var want []string
	for _, c := range strings.Split(jobColumns, ",") {
		if c = strings.TrimSpace(c); c != "active" {
			want = append(want, c)
		}
	}
	var got []string
	for _, c := range jobCols {
		got = append(got, c.name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jobCols (-want +got):\n%s", diff)
	}
	if js := newJobScan(0); len(js.dest) != len(jobCols) {
		t.Errorf("newJobScan(0) reads %d columns; want all %d", len(js.dest), len(jobCols))
	}
}
