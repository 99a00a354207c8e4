package slurmfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
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

// TestSacctJSONMatchesSlurm compares sacct --json for the failed job 3
// with Slurm 22.05's recording, value for value where Gefion has the
// data; the exit codes differ on purpose (see SacctJSON), and every key
// Gefion prints must be one Slurm prints, with the same JSON type.
func TestSacctJSONMatchesSlurm(t *testing.T) {
	rec := recordedJSON(t, "sacct_json")
	var sel []api.Job
	for _, j := range referenceJobs() {
		if j.ID == 3 {
			sel = append(sel, j)
		}
	}
	e := refEnv("10:20:09")
	e.Group = func(string) (string, int, bool) { return "root", 0, true }
	b, err := json.Marshal(SacctJSON(sel, false, nil, e))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["meta"].(map[string]any)["plugin"].(map[string]any)["type"] != "openapi/dbv0.0.38" {
		t.Errorf("meta = %v; want Slurm's dbv0.0.38 plugin type", got["meta"])
	}
	w := rec["jobs"].([]any)[0].(map[string]any)
	g := got["jobs"].([]any)[0].(map[string]any)
	for _, path := range []string{
		"account", "allocation_nodes", "array.job_id", "array.task_id", "array.task", "association.account",
		"association.cluster", "association.user", "association.partition", "cluster", "group", "job_id", "name", "nodes",
		"partition", "qos", "required.CPUs", "required.memory", "state.current", "state.reason", "user",
		"time.elapsed", "time.eligible", "time.end", "time.start", "time.submission", "time.suspended", "time.limit",
		"steps.0.step.id", "steps.0.step.name", "steps.0.step.job_id", "steps.0.state", "steps.0.nodes.range",
		"steps.0.nodes.count", "steps.0.nodes.list", "steps.0.tasks.count", "steps.0.time.start", "steps.0.time.end",
		"steps.0.time.elapsed", "steps.0.tres.allocated", "tres.requested",
	} {
		wv, gv := fmt.Sprint(dig(w, path)), fmt.Sprint(dig(g, path))
		if strings.HasPrefix(path, "tres.") {
			wv = fmt.Sprint(withoutTRES(dig(w, path), "billing"))
		}
		if wv != gv {
			t.Errorf("job 3: %s = %s; Slurm's is %s", path, gv, wv)
		}
	}
	if ec := fmt.Sprint(dig(g, "exit_code")); ec != "map[return_code:3 status:FAILED]" {
		t.Errorf("job 3: exit_code = %s; want FAILED with 3", ec)
	}
	sameKeys(t, "job 3", w, g)
}

// dig follows a dotted path of keys and list indexes.
func dig(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// withoutTRES drops the TRES of a type from a JSON TRES list.
func withoutTRES(v any, typ string) []any {
	var keep []any
	list, _ := v.([]any)
	for _, x := range list {
		if m, ok := x.(map[string]any); ok && m["type"] == typ {
			continue
		}
		keep = append(keep, x)
	}
	return keep
}

// sameKeys checks, recursively through objects, that every key of got is
// in want with the same JSON type.
func sameKeys(t *testing.T, where string, want, got map[string]any) {
	t.Helper()
	for k, gv := range got {
		wv, ok := want[k]
		if !ok {
			t.Errorf("%s: key %s is not in Slurm's record", where, k)
			continue
		}
		if wv == nil || gv == nil {
			continue
		}
		if fmt.Sprintf("%T", wv) != fmt.Sprintf("%T", gv) {
			t.Errorf("%s: %s is a %T; Slurm's is a %T", where, k, gv, wv)
			continue
		}
		switch x := gv.(type) {
		case map[string]any:
			sameKeys(t, where+"."+k, wv.(map[string]any), x)
		case []any:
			wl := wv.([]any)
			for i := range x {
				wm, ok1 := firstObject(wl)
				gm, ok2 := x[i].(map[string]any)
				if ok1 && ok2 {
					sameKeys(t, where+"."+k+"[]", wm, gm)
				}
			}
		}
	}
}

func firstObject(l []any) (map[string]any, bool) {
	for _, v := range l {
		if m, ok := v.(map[string]any); ok {
			return m, true
		}
	}
	return nil, false
}

// TestSacctJSONGolden prints every reference job and Gefion's own (a
// job out of memory), two srun steps of job 6 (one done, one running)
// and, with -X, no steps at all.
func TestSacctJSONGolden(t *testing.T) {
	e := refEnv("10:20:09")
	e.Group = func(string) (string, int, bool) { return "root", 0, true }
	steps := map[job.ID][]api.Step{6: {
		{JobID: 6, StepID: 0, Name: "hostname", State: job.Completed, NodeList: "gpu[01-02]", Nodes: 2, Tasks: 4,
			StartS: at("10:19:10"), EndS: at("10:19:11"), ElapsedS: 1},
		{JobID: 6, StepID: 1, Name: "train", State: job.Running, NodeList: "gpu[01-02]", Nodes: 2, Tasks: 8,
			StartS: at("10:19:12"), ElapsedS: 57},
	}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(SacctJSON(gefionJobs(), false, steps, e)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(SacctJSON(gefionJobs()[5:6], true, steps, e)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("control characters reached the output")
	}
	golden(t, "sacct_json", b.Bytes())
}

// TestSinfoJSONMatchesSlurm compares sinfo --json with Slurm 22.05's
// recording of a mixed node (8 CPUs and 2 GPUs in use) and a drained
// one, value for value where Gefion has the data.
func TestSinfoJSONMatchesSlurm(t *testing.T) {
	rec := recordedJSON(t, "sinfo_json")
	nodes := []api.Node{
		{Name: "gpu01", State: "mixed", CPUs: 112, CPUsUsed: 8, GPUs: 8, GPUsUsed: 2, MemoryMB: 2000000, Partitions: []string{"gpu"}},
		{Name: "gpu02", State: "drained", Reason: "xid 79", CPUs: 112, GPUs: 8, MemoryMB: 2000000, Partitions: []string{"gpu"}},
	}
	b, err := json.Marshal(SinfoJSON(nodes))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := rec["nodes"].([]any)
	have := got["nodes"].([]any)
	if len(have) != len(want) {
		t.Fatalf("%d nodes; Slurm's document has %d", len(have), len(want))
	}
	for i := range want {
		w, g := want[i].(map[string]any), have[i].(map[string]any)
		for _, k := range []string{"name", "state", "state_flags", "cpus", "alloc_cpus", "idle_cpus", "gres", "gres_used",
			"partitions", "reason", "real_memory"} {
			if wv, gv := fmt.Sprint(w[k]), fmt.Sprint(g[k]); wv != gv {
				t.Errorf("node %v: %s = %s; Slurm's is %s", w["name"], k, gv, wv)
			}
		}
		sameKeys(t, fmt.Sprint(w["name"]), w, g)
	}
	if _, ok := rec["meta"]; !ok || got["meta"].(map[string]any)["plugin"].(map[string]any)["type"] != "openapi/v0.0.38" {
		t.Errorf("meta = %v", got["meta"])
	}
}
