package controller

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/clock"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// listServer is a controller with held jobs of alice (an array of 5 and
// two single jobs, one cancelled) and of bob (two jobs, one cancelled).
func listServer(t *testing.T) (string, func(user string) *client.Client) {
	t.Helper()
	c, err := cluster.Preset("dgx-h100")
	if err != nil {
		t.Fatal(err)
	}
	// A clock that stands still: a pass between two reads must not age
	// the pending jobs' priorities.
	ctl, err := New(Config{Cluster: c, DefaultProject: "default", Operators: []string{"ops"}}, store.NewMemory(), clock.NewFake(time.Now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	srv := httptest.NewServer(ctl.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	as := func(user string) *client.Client { return client.New(srv.URL, user) }
	submit := func(user, name, array string) job.ID {
		spec := job.Spec{Name: name, NTasks: 1, TimeLimitS: 60, Hold: true, Array: array, Script: "#!/bin/sh\ntrue\n"}
		r, err := as(user).Submit(ctx, api.SubmitRequest{Spec: spec}, "")
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	submit("alice", "arr", "0-4") // 1-5
	submit("alice", "one", "")    // 6
	a := submit("alice", "gone", "")
	submit("bob", "b1", "")
	b := submit("bob", "b2", "")
	for user, id := range map[string]job.ID{"alice": a, "bob": b} {
		if err := as(user).Cancel(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	return srv.URL, as
}

func ids(jobs []api.Job) []job.ID {
	out := []job.ID{}
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestJobTableFiltersAndVisibility(t *testing.T) {
	_, as := listServer(t)
	ctx := context.Background()
	f := []string{"id", "state", "user"}
	tests := []struct {
		name string
		user string
		q    client.ListQuery
		want []job.ID
	}{
		{"own jobs only", "alice", client.ListQuery{All: true}, []job.ID{1, 2, 3, 4, 5, 6, 7}},
		{"no all: own jobs", "ops", client.ListQuery{}, []job.ID{}},
		{"operator all", "ops", client.ListQuery{All: true}, []job.ID{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"another user's jobs are not shown to a user", "alice", client.ListQuery{All: true, Users: []string{"bob"}}, []job.ID{}},
		{"operator filters by user", "ops", client.ListQuery{All: true, Users: []string{"bob"}}, []job.ID{8, 9}},
		{"active only", "ops", client.ListQuery{All: true, ActiveOnly: true}, []job.ID{1, 2, 3, 4, 5, 6, 8}},
		{"state", "ops", client.ListQuery{All: true, States: []job.State{job.Cancelled}}, []job.ID{7, 9}},
		{"array ID selects its tasks", "alice", client.ListQuery{All: true, IDs: []job.ID{1, 6}}, []job.ID{1, 2, 3, 4, 5, 6}},
		{"name", "ops", client.ListQuery{All: true, Names: []string{"one", "b1"}}, []job.ID{6, 8}},
		{"partition", "ops", client.ListQuery{All: true, Partitions: []string{"nope"}}, []job.ID{}},
		{"account", "ops", client.ListQuery{All: true, Accounts: []string{"default"}, States: []job.State{job.Pending}}, []job.ID{1, 2, 3, 4, 5, 6, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Fields = f
			jobs, err := as(tt.user).JobTable(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(jobs)); diff != "" {
				t.Errorf("JobTable(%+v) as %s: IDs (-want +got):\n%s", tt.q, tt.user, diff)
			}
			for _, j := range jobs {
				if j.User == "" || j.State == "" || j.Name != "" {
					t.Errorf("job %d: want only id, state and user set; got %+v", j.ID, j)
				}
			}
		})
	}
}

// TestJobTableMatchesJobs checks that every field of the table holds what
// the whole Job objects of the old list hold, each job once.
func TestJobTableMatchesJobs(t *testing.T) {
	_, as := listServer(t)
	ctx := context.Background()
	old, err := as("ops").Jobs(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := as("ops").JobTable(ctx, client.ListQuery{All: true, Fields: api.TableFieldNames()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range old {
		old[i].Spec = nil
	}
	if diff := cmp.Diff(old, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("JobTable with every field (-Jobs +JobTable):\n%s", diff)
	}
	if len(got) != 9 || !slices.IsSortedFunc(ids(got), func(a, b job.ID) int { return int(a - b) }) {
		t.Errorf("JobTable: %v; want jobs 1 to 9, each once, in order", ids(got))
	}
}

func TestAcctTable(t *testing.T) {
	_, as := listServer(t)
	ctx := context.Background()
	jobs, totals, err := as("alice").AcctTable(ctx, client.ListQuery{Fields: []string{"id", "state", "exit_code"}, States: []job.State{job.Cancelled}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]job.ID{7}, ids(jobs)); diff != "" || totals != nil {
		t.Errorf("AcctTable as alice: IDs (-want +got):\n%s totals %v (want none)", diff, totals)
	}
	jobs, totals, err = as("ops").AcctTable(ctx, client.ListQuery{Fields: []string{"id"}, Users: []string{"alice", "bob"}, Totals: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]job.ID{1, 2, 3, 4, 5, 6, 7, 8, 9}, ids(jobs)); diff != "" || totals == nil || totals.Jobs != 9 {
		t.Errorf("AcctTable as ops: IDs (-want +got):\n%s totals %+v (want 9 jobs)", diff, totals)
	}
	// Bob's jobs are in no project of alice's: asking for them is no
	// error, and shows none.
	jobs, _, err = as("alice").AcctTable(ctx, client.ListQuery{Fields: []string{"id"}, Users: []string{"bob"}})
	if err != nil || len(jobs) != 0 {
		t.Errorf("AcctTable of bob's jobs as alice = %v, %v; want none", ids(jobs), err)
	}
}

func TestJobTableRefusesBadQueries(t *testing.T) {
	_, as := listServer(t)
	ctx := context.Background()
	for _, q := range []client.ListQuery{
		{Fields: []string{"id", "colour"}},
		{Fields: []string{"id"}, States: []job.State{"ASLEEP"}},
	} {
		_, err := as("alice").JobTable(ctx, q)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeInvalid {
			t.Errorf("JobTable(%+v): %v; want an invalid-request error", q, err)
		}
	}
}
