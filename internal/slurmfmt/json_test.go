package slurmfmt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
)

// recordedJSON reads a recorded JSON document: the text after the
// command line, up to the exit status (which Slurm's JSON, lacking a last
// newline, runs into).
func recordedJSON(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "slurm-22.05", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(b), "\n")
	if i := strings.LastIndex(body, "[exit "); i >= 0 {
		body = body[:i]
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// squeueJSONKeys are the keys of squeue --json's job records that tools
// read and Gefion has the data for, compared value for value.
var squeueJSONKeys = []string{
	"job_id", "name", "job_state", "user_name", "account", "partition", "nodes", "node_count", "cpus",
	"submit_time", "time_limit", "array_job_id", "array_task_id", "array_max_tasks", "state_reason", "qos",
	"tres_req_str", "tres_alloc_str", "tres_per_node", "cluster", "exit_code",
}

// TestSqueueJSONMatchesSlurm compares squeue --json with Slurm 22.05's
// recording key for key and value for value for the fields above, for
// every job both list (Slurm keeps array 8's pending tasks in one record,
// ID 8, which Gefion's record of task 8_2 shares), and checks that every
// key Gefion prints is one Slurm prints, with the same JSON type.
func TestSqueueJSONMatchesSlurm(t *testing.T) {
	rec := recordedJSON(t, "squeue_json")
	var active []job.ID
	jobs := referenceJobs()
	sel := jobs[:0:0]
	// Slurm's squeue still lists the jobs that ended within MinJobAge,
	// as Gefion's does.
	for _, j := range jobs {
		sel = append(sel, j)
		active = append(active, j.ID)
	}
	b, err := json.Marshal(SqueueJSON(sel, refEnv("10:19:38")))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if errs, ok := got["errors"].([]any); !ok || len(errs) != 0 {
		t.Errorf("errors = %v; want an empty list", got["errors"])
	}
	plugin := got["meta"].(map[string]any)["plugin"].(map[string]any)
	if want := rec["meta"].(map[string]any)["plugin"].(map[string]any)["type"]; plugin["type"] != want {
		t.Errorf("meta.plugin.type = %v; want %v", plugin["type"], want)
	}
	byID := func(doc map[string]any) map[float64]map[string]any {
		out := map[float64]map[string]any{}
		for _, j := range doc["jobs"].([]any) {
			m := j.(map[string]any)
			out[m["job_id"].(float64)] = m
		}
		return out
	}
	want, have := byID(rec), byID(got)
	compared := 0
	for id, w := range want {
		g, ok := have[id]
		if !ok {
			t.Errorf("job %v: in Slurm's document, not in Gefion's", id)
			continue
		}
		compared++
		for _, k := range squeueJSONKeys {
			wv, gv := fmt.Sprint(w[k]), fmt.Sprint(g[k])
			if strings.HasPrefix(k, "tres_") {
				// Gefion has no billing TRES (scontrol leaves it out too).
				wv = withoutBilling(wv)
			}
			if id == 8 && (k == "array_task_id" || k == "array_task_string") {
				continue // Slurm's record of the pending tasks, Gefion's of one task
			}
			if wv != gv {
				t.Errorf("job %v: %s = %s; Slurm's is %s", id, k, gv, wv)
			}
		}
		var keys []string
		for k, gv := range g {
			wv, ok := w[k]
			if !ok {
				keys = append(keys, k)
				continue
			}
			if wv != nil && gv != nil && fmt.Sprintf("%T", wv) != fmt.Sprintf("%T", gv) {
				t.Errorf("job %v: %s is a %T; Slurm's is a %T", id, k, gv, wv)
			}
		}
		if len(keys) > 0 {
			sort.Strings(keys)
			t.Errorf("job %v: keys %v are not in Slurm's record", id, keys)
		}
	}
	if compared < 8 {
		t.Errorf("compared %d jobs; want the recording's active ones", compared)
	}
}

func withoutBilling(tres string) string {
	var keep []string
	for _, p := range strings.Split(tres, ",") {
		if !strings.HasPrefix(p, "billing=") {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}
