package hostile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One live gefion dev serves the API probes; each probe checks the answer
// and that nothing was recorded.
func TestAPIRefusesNonsense(t *testing.T) {
	d := startDev(t)
	const ok = `"script":"#!/bin/sh\ntrue\n","chdir":"/tmp"`
	for _, tc := range []struct{ name, body string }{
		{"empty spec", `{"spec":{}}`},
		{"null", `null`},
		{"spec null", `{"spec":null}`},
		{"nice below Slurm's range", `{"spec":{` + ok + `,"nice":-9223372036854775808}}`},
		{"nice above Slurm's range", `{"spec":{` + ok + `,"nice":9223372036854775807}}`},
		{"mem per CPU overflowing", `{"spec":{` + ok + `,"mem_per_cpu_mb":9223372036854775807}}`},
		// -1 is "all of the node's memory" (sbatch --mem=0).
		{"negative mem per node", `{"spec":{` + ok + `,"mem_per_node_mb":-2}}`},
		{"negative time min", `{"spec":{` + ok + `,"time_min_s":-5}}`},
		{"begin at the end of time", `{"spec":{` + ok + `,"begin_s":9223372036854775807}}`},
		{"negative nodes", `{"spec":{` + ok + `,"nodes_min":-1}}`},
		{"negative GPUs", `{"spec":{` + ok + `,"gpus":-8}}`},
		{"huge name", `{"spec":{` + ok + `,"name":"` + strings.Repeat("n", 1<<20) + `"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := d.do("POST", "/v1/jobs", tc.body, nil)
			if code == 200 {
				t.Errorf("POST /v1/jobs %.80s = 200 %s; want a refusal", tc.body, resp)
				return
			}
			if code != 400 && code != 413 {
				t.Errorf("POST /v1/jobs %.80s = %d %s; want 400 or 413", tc.body, code, resp)
			}
			errorCode(t, resp)
		})
	}
	if js := d.jobs(); len(js) != 0 {
		t.Errorf("refused submissions left %d jobs", len(js))
	}

	for _, tc := range []struct{ name, method, path, body string }{
		{"negative max GPUs", "POST", "/v1/projects", `{"name":"p1","max_gpus":-5}`},
		{"infinite grant", "POST", "/v1/projects", `{"name":"p2","grant_gpu_hours":1e308}`},
		{"negative grant", "POST", "/v1/projects", `{"name":"p3","grant_gpu_hours":-1}`},
		{"parent that does not exist", "POST", "/v1/projects", `{"name":"p4","parent":"nosuch"}`},
		{"own parent", "POST", "/v1/projects", `{"name":"p5","parent":"p5"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := d.do(tc.method, tc.path, tc.body, nil)
			if code != 400 && code != 404 {
				t.Errorf("%s %s %s = %d %s; want 400 or 404", tc.method, tc.path, tc.body, code, resp)
			}
		})
	}
	// A cycle through two projects.
	for _, b := range []string{`{"name":"ca"}`, `{"name":"cb","parent":"ca"}`} {
		if code, resp := d.do("POST", "/v1/projects", b, nil); code != 200 {
			t.Fatalf("POST /v1/projects %s = %d %s", b, code, resp)
		}
	}
	if code, resp := d.do("PATCH", "/v1/projects/ca", `{"parent":"cb"}`, nil); code != 400 {
		t.Errorf("making ca a child of its own child = %d %s; want 400", code, resp)
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	d := startDev(t)
	if code, body := d.do("GET", "/v1/jobs", "", nil); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /v1/jobs with no jobs = %d %q; want 200 []", code, body)
	}
	code, body := d.do("GET", "/v1/acct", "", nil)
	var acct struct {
		Jobs json.RawMessage `json:"jobs"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &acct) != nil || string(acct.Jobs) != "[]" {
		t.Errorf("GET /v1/acct with no jobs = %d %s; want \"jobs\": []", code, body)
	}
}

// Array task IDs name one task exactly; anything else is refused.
func TestArrayTaskIDs(t *testing.T) {
	d := startDev(t)
	script := `"script":"#!/bin/sh\nsleep 300\n","chdir":"/tmp"`
	code, resp := d.do("POST", "/v1/jobs", `{"spec":{`+script+`,"array":"0-3","hold":true}}`, nil)
	if code != 200 {
		t.Fatalf("submitting an array = %d %s", code, resp)
	}
	var sub struct {
		ID  int64   `json:"id"`
		IDs []int64 `json:"ids"`
	}
	if err := json.Unmarshal([]byte(resp), &sub); err != nil || len(sub.IDs) != 4 {
		t.Fatalf("array submission answered %s", resp)
	}
	code, resp = d.do("POST", "/v1/jobs", `{"spec":{`+script+`,"hold":true}}`, nil)
	if code != 200 {
		t.Fatalf("submitting a job = %d %s", code, resp)
	}
	var single struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal([]byte(resp), &single)

	for _, tc := range []struct {
		path string
		want int
	}{
		{fmt.Sprintf("/v1/jobs/%d_garbage", sub.ID), 400},
		{fmt.Sprintf("/v1/jobs/%d_", sub.ID), 400},
		{fmt.Sprintf("/v1/jobs/%d_-1", sub.ID), 400},
		{fmt.Sprintf("/v1/jobs/%d_9", sub.ID), 404},
		{fmt.Sprintf("/v1/jobs/%d_5", single.ID), 404},
		{fmt.Sprintf("/v1/jobs/%dx", sub.ID), 400},
		{fmt.Sprintf("/v1/jobs/%d_2", sub.ID), 200},
	} {
		if code, resp := d.do("GET", tc.path, "", nil); code != tc.want {
			t.Errorf("GET %s = %d %s; want %d", tc.path, code, resp, tc.want)
		}
	}
	if code, resp := d.do("POST", fmt.Sprintf("/v1/jobs/%d_2/cancel", sub.ID), "", nil); code != 200 {
		t.Fatalf("cancel %d_2 = %d %s", sub.ID, code, resp)
	}
	if code, resp := d.do("POST", fmt.Sprintf("/v1/jobs/%d_5/cancel", single.ID), "", nil); code != 404 {
		t.Errorf("cancel %d_5 of a job that is no array = %d %s; want 404", single.ID, code, resp)
	}
	cancelled := 0
	for _, j := range d.jobs() {
		if j["state"] == "CANCELLED" {
			cancelled++
			if j["array_task_id"] != float64(2) {
				t.Errorf("cancelled the wrong job: %v", j)
			}
		}
	}
	if cancelled != 1 {
		t.Errorf("cancel %d_2 cancelled %d jobs; want 1", sub.ID, cancelled)
	}
}

// One array stores its script once: 101 tasks of a 200 KB script used to
// add about 20 MB to the database.
func TestArrayScriptStoredOnce(t *testing.T) {
	d := startDev(t)
	size := func() int64 {
		var n int64
		for _, f := range []string{"gefion.db", "gefion.db-wal"} {
			if fi, err := os.Stat(filepath.Join(d.dir, f)); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	before := size()
	script := "#!/bin/sh\n# " + strings.Repeat("x", 200<<10) + "\ntrue\n"
	code, resp := d.do("POST", "/v1/jobs", `{"spec":{"script":`+quote(script)+`,"chdir":"/tmp","array":"0-100","hold":true}}`, nil)
	if code != 200 {
		t.Fatalf("submitting a 101-task array = %d %.200s", code, resp)
	}
	if grew := size() - before; grew > 4<<20 {
		t.Errorf("a 101-task array of a 200 KB script grew the database by %d bytes; want under 4 MiB (one copy)", grew)
	}
}

// Probes that passed when first tried, kept so they go on passing.
func TestMalformedRequests(t *testing.T) {
	d := startDev(t)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"not JSON", `{"spec":`, 400},
		{"two values", `{"spec":{}} {}`, 400},
		{"unknown field", `{"spek":{}}`, 400},
		{"deep nesting", strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000), 400},
		{"NUL in the script", `{"spec":{"script":"#!/bin/sh\u0000\ntrue\n","chdir":"/tmp"}}`, 400},
		{"body over the limit", `{"spec":{"script":"#!/bin/sh\n` + strings.Repeat("x", 12<<20) + `"}}`, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := d.do("POST", "/v1/jobs", tc.body, nil)
			if code != tc.want {
				t.Errorf("POST /v1/jobs (%s) = %d %.200s; want %d", tc.name, code, resp, tc.want)
			}
		})
	}
	if js := d.jobs(); len(js) != 0 {
		t.Errorf("malformed requests left %d jobs", len(js))
	}
	if code, _ := d.do("GET", "/v1/nosuch", "", nil); code != 404 {
		t.Errorf("GET /v1/nosuch = %d; want 404", code)
	}
}
