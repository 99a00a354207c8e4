package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

// sacctSkip is what sacct -o JobID,State,ExitCode reads: IDs, state,
// reason, start, exit code and signal, and the user it filters on.
const sacctSkip = store.SkipAll &^ (store.SkipReason | store.SkipStart | store.SkipExit | store.SkipUser)

// acctQueries are accounting queries of every shape the indexes serve.
var acctQueries = []store.JobQuery{
	{},
	{User: "alice", SinceS: storetest.T0 + 5, Skip: sacctSkip},
	{SinceS: storetest.T0 + 5, UntilS: storetest.T0 + 15, Skip: sacctSkip},
	{User: "bob", Skip: store.SkipSpec | store.SkipRequest | store.SkipAllocs},
	{SinceS: storetest.T0 + 5},
	{User: "alice", Limit: 3},
	{Project: "p2", SinceS: storetest.T0, States: []job.State{job.Failed}},
}

func acctJobs(t *testing.T, s store.Store) [][]store.JobRecord {
	t.Helper()
	var out [][]store.JobRecord
	for _, q := range acctQueries {
		recs, err := s.Jobs(context.Background(), q)
		if err != nil {
			t.Fatalf("Jobs(%+v): %v", q, err)
		}
		out = append(out, recs)
	}
	return out
}

// TestVersion3DatabaseGainsAcctIndexes opens a database written at
// version 3 (before the accounting indexes) and checks that it reads the
// same after the upgrade, with the new indexes in place of the old.
func TestVersion3DatabaseGainsAcctIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gefion.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:3]
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var b store.Batch
	states := []job.State{job.Completed, job.Failed, job.Running, job.Cancelled, job.Pending, job.Timeout}
	for i := 1; i <= 24; i++ {
		r := storetest.Job(job.ID(i), []string{"alice", "bob", "carol"}[i%3], fmt.Sprintf("p%d", i%2+1),
			states[i%len(states)], storetest.T0+int64(i), storetest.T0+int64(30-i))
		r.ExitCode, r.Reason, r.StartS = i%4, fmt.Sprintf("r%d", i%5), storetest.T0+int64(i)+1
		b.NewJobs = append(b.NewJobs, r)
	}
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// This gefion's queries name the new indexes, so the version 3
	// database cannot be read before the upgrade; the in-memory store,
	// which keeps the same contract, says what it holds.
	mem := store.NewMemory()
	if err := mem.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	want := acctJobs(t, mem)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	migrations = saved
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open of a version 3 database: %v", err)
	}
	defer s.Close()
	if v, err := version(ctx, s.r); err != nil || v != len(migrations) {
		t.Errorf("schema version after the upgrade = %d, %v; want %d", v, err, len(migrations))
	}
	got := acctJobs(t, s)
	for i := range acctQueries {
		if diff := cmp.Diff(want[i], got[i], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Jobs(%+v) after the upgrade (-as written +after the upgrade):\n%s", acctQueries[i], diff)
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' AND name LIKE 'jobs_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var idx []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		idx = append(idx, n)
	}
	if err := closeRows(rows); err != nil {
		t.Fatal(err)
	}
	wantIdx := []string{"jobs_active", "jobs_end_acct", "jobs_project", "jobs_state", "jobs_submit", "jobs_user_acct", "jobs_user_idem"}
	if diff := cmp.Diff(wantIdx, idx); diff != "" {
		t.Errorf("indexes of jobs after the upgrade (-want +got):\n%s", diff)
	}
	// A job finishing after the upgrade enters the new indexes.
	r := got[0][2]
	r.State, r.EndS = job.Completed, storetest.T0+7
	if err := s.Apply(ctx, &store.Batch{Jobs: []store.JobRecord{r}}); err != nil {
		t.Fatal(err)
	}
	fin, err := s.Jobs(ctx, store.JobQuery{User: r.User, SinceS: storetest.T0 + 7, UntilS: storetest.T0 + 8, Skip: sacctSkip})
	if err != nil || len(fin) != 1 || fin[0].ID != r.ID {
		t.Errorf("Jobs of the job finished after the upgrade = %v, %v; want job %d", fin, err, r.ID)
	}
}

// TestAcctQueriesReadOneIndex checks that SQLite answers lean accounting
// queries from the accounting indexes alone, never reading the table.
func TestAcctQueriesReadOneIndex(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, tt := range []struct {
		q     store.JobQuery
		index string
	}{
		{store.JobQuery{User: "alice", SinceS: storetest.T0, Skip: sacctSkip}, "jobs_user_acct"},
		{store.JobQuery{User: "alice", Skip: sacctSkip &^ (store.SkipName | store.SkipProject | store.SkipPartition | store.SkipQOS)}, "jobs_user_acct"},
		{store.JobQuery{SinceS: storetest.T0, Skip: sacctSkip}, "jobs_end_acct"},
		{store.JobQuery{SinceS: storetest.T0, UntilS: storetest.T0 + 10, Skip: store.SkipAll}, "jobs_end_acct"},
	} {
		query, args, err := jobsQuery(tt.q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
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
		if err := closeRows(rows); err != nil {
			t.Fatal(err)
		}
		if want := "COVERING INDEX " + tt.index; !strings.Contains(strings.Join(plan, "\n"), want) {
			t.Errorf("plan of Jobs(%+v):\n%s\nwant the finished jobs read through %s", tt.q, strings.Join(plan, "\n"), want)
		}
	}
}
