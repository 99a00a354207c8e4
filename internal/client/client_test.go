package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/google/go-cmp/cmp"
)

// TestAcctForList checks that the lean decoding keeps every field a job
// list prints, and asks for the jobs it was told to.
func TestAcctForList(t *testing.T) {
	want := api.Job{ID: 12, ArrayJobID: 10, ArrayTaskID: 2, ArrayMaxRunning: 4, Name: "n", User: "u", Project: "p",
		Partition: "gpu", QOS: "normal", State: job.Running, Reason: "None", SubmitTime: 1, StartTime: 2, EndTime: 3,
		EligibleTime: 4, EstimatedStart: 5, TimeLimitS: 6, Nodes: 7, GPUs: 8, CPUs: 9, NodeList: "dgx[001-007]",
		ExitCode: 10, Signal: "TERM", Priority: 11.5,
		Request: job.Request{GPUsPerNode: 1, GPUType: "h100", MemPerNodeMB: 2, CPUsPerNode: 3, Nodes: 7, TimeLimitS: 6}}
	full := want
	full.Why, full.EnergyJ, full.Allocs = "waits", 99, []api.Alloc{{Node: "dgx001"}}
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		if r.URL.Path == "/v1/acct" {
			_ = json.NewEncoder(w).Encode(api.Acct{Jobs: []api.Job{full}})
			return
		}
		_ = json.NewEncoder(w).Encode([]api.Job{full})
	}))
	defer srv.Close()
	acct, err := New(srv.URL, "alice").AcctForList(context.Background(), AcctQuery{User: "alice", IDs: []job.ID{12}})
	if err != nil {
		t.Fatal(err)
	}
	want.Allocs = full.Allocs
	if d := cmp.Diff([]api.Job{want}, acct); d != "" {
		t.Errorf("AcctForList (-want +got):\n%s", d)
	}
	if query != "ids=12&user=alice" {
		t.Errorf("acct query %q; want ids=12&user=alice", query)
	}
}
