package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/postgres/pgtest"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

func openStore(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTemp(t *testing.T) *Store { return openStore(t, pgtest.Schema(t)) }

func TestConformance(t *testing.T) {
	pgtest.ServerURL(t)
	t.Parallel()
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
	pgtest.ServerURL(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return encodingStore{openTemp(t)} })
}

// TestConformanceFenced runs the suite on a store that holds the leader
// lease, so that every commit goes through the fence.
func TestConformanceFenced(t *testing.T) {
	pgtest.ServerURL(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openTemp(t)
		if _, ok, err := s.Acquire(context.Background(), "test", "", 9*time.Second); err != nil || !ok {
			t.Fatalf("Acquire = %v, %v; want the lease", ok, err)
		}
		return s
	})
}

// TestStaleEncodingIgnored applies a batch whose records changed in number
// after Encode: Apply must not send the old rows.
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

// TestDuplicatesInBatchApplyInOrder updates a job, a project, a node and
// a step twice in one batch: the last record of each wins, as if the
// parts ran row by row.
func TestDuplicatesInBatchApplyInOrder(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	j := storetest.Job(1, "alice", "p", job.Pending, storetest.T0, 0)
	run := j
	run.State = job.Running
	done := j
	done.State, done.EndS = job.Completed, storetest.T0+9
	b := &store.Batch{
		NewJobs:  []store.JobRecord{j},
		Jobs:     []store.JobRecord{run, done},
		Projects: []store.ProjectRecord{{Name: "p", GrantGPUHours: 1}, {Name: "p", GrantGPUHours: 2}},
		Nodes:    []store.NodeRecord{{Name: "n", State: "down"}, {Name: "n", State: "up"}},
		Steps:    []store.StepRecord{storetest.Step(1, 0, job.Running), storetest.Step(1, 0, job.Completed)},
	}
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.Jobs(ctx, store.JobQuery{})
	if err != nil || len(got) != 1 || got[0].State != job.Completed {
		t.Errorf("Jobs = %+v, %v; want job 1 completed", got, err)
	}
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Projects) != 1 || snap.Projects[0].GrantGPUHours != 2 || len(snap.Nodes) != 1 || snap.Nodes[0].State != "up" {
		t.Errorf("projects %+v, nodes %+v; want the last of each", snap.Projects, snap.Nodes)
	}
	steps, err := s.Steps(ctx, []job.ID{1})
	if err != nil || len(steps) != 1 || steps[0].State != job.Completed {
		t.Errorf("Steps = %+v, %v; want step 1.0 completed", steps, err)
	}
}

// TestReopen checks that what one Store committed, the next one opening
// the same schema recovers.
func TestReopen(t *testing.T) {
	url := pgtest.Schema(t)
	s := openStore(t, url)
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
	got, err := openStore(t, url).Load(ctx)
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

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, url, want string
		unreachable     bool
	}{
		{"not a URL", "postgres://a b@%%", "store URL", false},
		// Port 1 refuses at once on loopback.
		{"nothing listening", "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", "unreachable", true},
	} {
		s, err := Open(ctx, c.url)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open(%q) = nil error; want one containing %q", c.name, c.url, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrUnreachable) != c.unreachable {
			t.Errorf("%s: Open(%q) = %v; want it to contain %q, unreachable %v", c.name, c.url, err, c.want, c.unreachable)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error %q shows the password", c.name, err)
		}
	}
	// A database that does not exist is the server's refusal: not worth
	// retrying, and said so.
	base := pgtest.ServerURL(t)
	cfg, _ := pgx.ParseConfig(base)
	bad := strings.Replace(base, "/"+cfg.Database+"?", "/gefion_no_such_db?", 1)
	if _, err := Open(ctx, bad); err == nil || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "gefion_no_such_db") {
		t.Errorf("Open of a missing database = %v; want a refusal naming it, not ErrUnreachable", err)
	}
}

// TestNewerSchemaRefused opens a schema that a newer gefion migrated.
func TestNewerSchemaRefused(t *testing.T) {
	url := pgtest.Schema(t)
	s := openStore(t, url)
	if _, err := s.r.Exec(context.Background(), `UPDATE schema_version SET version = $1`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), url)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a newer schema = %v; want ErrNewerSchema", err)
	}
	for _, want := range []string{"version " + strconv.Itoa(len(migrations)+1), "up to " + strconv.Itoa(len(migrations)), "at least as new"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestMigrations adds migration steps and checks that an existing schema
// takes them on open, in order, each atomically: a failing step leaves the
// schema at the version before it.
func TestMigrations(t *testing.T) {
	url := pgtest.Schema(t)
	s := openStore(t, url)
	ctx := context.Background()
	if err := s.Apply(ctx, &store.Batch{NewJobs: []store.JobRecord{storetest.Job(1, "alice", "p1", job.Pending, storetest.T0, 0)}}); err != nil {
		t.Fatal(err)
	}
	base := len(migrations)
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	versionOf := func() int {
		var v int
		if err := s.r.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	migrations = append(saved[:base:base],
		[]string{`CREATE TABLE extra (x INTEGER)`},
		[]string{`ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''`, `THIS IS NOT SQL`},
	)
	if _, err := Open(ctx, url); err == nil || !strings.Contains(err.Error(), "version "+strconv.Itoa(base+2)) {
		t.Fatalf("Open with a failing migration = %v; want an error naming version %d", err, base+2)
	}
	if v := versionOf(); v != base+1 {
		t.Fatalf("after a failed step: version %d; want %d", v, base+1)
	}
	migrations[base+1] = []string{`ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''`}
	s2 := openStore(t, url)
	if v := versionOf(); v != base+2 {
		t.Errorf("version %d; want %d", v, base+2)
	}
	got, err := s2.Jobs(ctx, store.JobQuery{})
	if err != nil || len(got) != 1 || got[0].User != "alice" {
		t.Errorf("Jobs after migration = %v, %v; want job 1", got, err)
	}
	var note string
	if err := s2.r.QueryRow(ctx, `SELECT note FROM jobs WHERE id = 1`).Scan(&note); err != nil {
		t.Errorf("new column: %v", err)
	}
}

// TestStandbyDoesNotMigrate: a standby leaves an existing schema at its
// version, for the leader in use; it migrates once Migrate is called
// (after it took the lease). An empty schema is created all the same.
func TestStandbyDoesNotMigrate(t *testing.T) {
	url := pgtest.Schema(t)
	ctx := context.Background()
	s, err := OpenStandby(ctx, url)
	if err != nil {
		t.Fatalf("OpenStandby of an empty schema: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	versionOf := func() int {
		var v int
		if err := s.r.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := versionOf(); v != 1 {
		t.Fatalf("an empty schema opened by a standby is at version %d; want 1", v)
	}
	base := len(migrations)
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(saved[:base:base], []string{`CREATE TABLE extra (x INTEGER)`})
	sb, err := OpenStandby(ctx, url)
	if err != nil {
		t.Fatalf("OpenStandby of an older schema: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	if v := versionOf(); v != 1 {
		t.Errorf("after a standby opened it: version %d; want 1, unchanged", v)
	}
	if err := sb.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if v := versionOf(); v != base+1 {
		t.Errorf("after Migrate: version %d; want %d", v, base+1)
	}
	migrations = saved
	if _, err := OpenStandby(ctx, url); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("OpenStandby of a newer schema = %v; want ErrNewerSchema", err)
	}
}
