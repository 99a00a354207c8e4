package controller

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

// acctFieldsController is a controller on SQLite holding finished jobs of
// alice and bob with every field of their records set.
func acctFieldsController(t *testing.T) *Controller {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gefion.db"))
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	states := []job.State{job.Completed, job.Failed, job.Cancelled, job.Timeout, job.OutOfMem}
	for i := 1; i <= 10; i++ {
		r := storetest.FullJob(job.ID(i), states[i%len(states)], fmt.Sprintf("s%d", i))
		r.User = []string{"alice", "bob"}[i%2]
		r.ArrayJobID, r.ArrayTaskID = 0, 0
		if i > 6 {
			r.ArrayJobID, r.ArrayTaskID = 7, i-7
		}
		r.SubmitS, r.EligibleS, r.StartS, r.EndS = storetest.T0+int64(i), storetest.T0+int64(i)+1, storetest.T0+int64(i)+2, storetest.T0+int64(100-i)
		r.Spec.Hold = i%3 == 0
		r.Req.WholeNodes = i%2 == 0
		b.NewJobs = append(b.NewJobs, r)
	}
	if err := st.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Preset("dgx-h100")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := New(Config{Cluster: c, DefaultProject: "default", Operators: []string{"ops"}, CarbonGPerKWh: 100, MarketGPerKWh: 300}, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return ctl
}

// acctRows is the rows of an accounting table of fields, each encoded in
// the columns of out.
func acctRows(t *testing.T, c *Controller, user string, q ListQuery, fields []string, out *api.Table, totals bool) []string {
	t.Helper()
	tb, err := api.NewTable(fields)
	if err != nil {
		t.Fatal(err)
	}
	jt, err := c.AcctTable(context.Background(), user, q, tb, totals)
	if err != nil {
		t.Fatalf("AcctTable(%v): %v", fields, err)
	}
	var rows []string
	var j api.Job
	for i := range jt.entries {
		jt.fill(&j, &jt.entries[i])
		rows = append(rows, string(out.AppendRow(nil, &j, true)))
	}
	if totals {
		rows = append(rows, fmt.Sprintf("%+v", *jt.totals))
	}
	return rows
}

// TestAcctTableFieldsReadEnough checks that each field of an accounting
// table, asked alone, holds what it holds when the store is asked for
// whole records: the columns a field reads (fieldNeeds) are enough.
func TestAcctTableFieldsReadEnough(t *testing.T) {
	c := acctFieldsController(t)
	all := api.TableFieldNames()
	if got := skipFor(mustTable(t, all), true, &ListQuery{}); got != store.SkipIdemKey {
		t.Errorf("skipFor(every field) = %#x; want only the idempotency key skipped", got)
	}
	for _, f := range all {
		if _, ok := fieldNeeds[f]; !ok {
			t.Errorf("field %s is missing from fieldNeeds (it would read whole records)", f)
		}
		one := mustTable(t, []string{f})
		want := acctRows(t, c, "ops", ListQuery{}, all, one, false)
		got := acctRows(t, c, "ops", ListQuery{}, []string{f}, one, false)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("AcctTable(fields=%s):\n%v\nwant what the whole records give:\n%v", f, got, want)
		}
	}
	for f := range fieldNeeds {
		if !slices.Contains(all, f) {
			t.Errorf("fieldNeeds names %s, which is no table field", f)
		}
	}
	id := mustTable(t, []string{"id", "gpu_seconds", "energy_kwh"})
	if want, got := acctRows(t, c, "ops", ListQuery{}, all, id, true), acctRows(t, c, "ops", ListQuery{}, []string{"id"}, id, true); fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("AcctTable(fields=id, totals):\n%v\nwant what the whole records give:\n%v", got, want)
	}
}

// TestAcctTableFiltersReadTheirColumns checks that a filter on a field
// the table does not carry still selects by it.
func TestAcctTableFiltersReadTheirColumns(t *testing.T) {
	c := acctFieldsController(t)
	jt, err := c.AcctTable(context.Background(), "ops", ListQuery{}, mustTable(t, api.TableFieldNames()), false)
	if err != nil {
		t.Fatal(err)
	}
	whole := make([]api.Job, len(jt.entries))
	for i := range jt.entries {
		jt.fill(&whole[i], &jt.entries[i])
	}
	id := mustTable(t, []string{"id"})
	for _, tt := range []struct {
		name string
		q    ListQuery
	}{
		{"user", ListQuery{Users: []string{"bob"}}},
		{"project", ListQuery{Projects: []string{whole[2].Project}}},
		{"partition", ListQuery{Partitions: []string{whole[3].Partition}}},
		{"name", ListQuery{Names: []string{whole[4].Name}}},
		{"qos", ListQuery{QOS: []string{whole[5].QOS}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for i := range whole {
				if tt.q.match(&store.JobRecord{ID: whole[i].ID, User: whole[i].User, Project: whole[i].Project,
					Partition: whole[i].Partition, Name: whole[i].Name, QOS: whole[i].QOS, State: whole[i].State, EndS: whole[i].EndTime}) {
					want = append(want, string(id.AppendRow(nil, &whole[i], true)))
				}
			}
			got := acctRows(t, c, "ops", tt.q, []string{"id"}, id, false)
			if len(want) == 0 || fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("AcctTable(fields=id, %s filter) = %v; want %v (not none)", tt.name, got, want)
			}
		})
	}
}

func mustTable(t *testing.T, fields []string) *api.Table {
	t.Helper()
	tb, err := api.NewTable(fields)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}
