package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// raw sends one request to the harness's API as user and returns the
// status and body, so that tests see exactly what a client would.
func (h *harness) raw(method, path, user, body string) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set(api.HeaderUser, user)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// submitJSON submits spec through the HTTP API as user.
func (h *harness) submitJSON(user string, spec job.Spec) (int, api.SubmitResponse, string) {
	h.t.Helper()
	b, err := json.Marshal(api.SubmitRequest{Spec: spec})
	if err != nil {
		h.t.Fatal(err)
	}
	code, body := h.raw("POST", "/v1/jobs", user, string(b))
	var resp api.SubmitResponse
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &resp); err != nil {
			h.t.Fatalf("submit: %v in %s", err, body)
		}
	}
	return code, resp, string(body)
}

// TestEmptyListsAreArrays checks that lists in responses are [] rather than
// null when there is nothing to list: scripts index them without checking.
func TestEmptyListsAreArrays(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	for _, tc := range []struct {
		path, key string
	}{
		{"/v1/jobs", ""},
		{"/v1/jobs?all=1&active=1", ""},
		{"/v1/acct", "jobs"},
		{"/v1/nodes", ""},
	} {
		code, body := h.raw("GET", tc.path, "admin", "")
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", tc.path, code, body)
		}
		got := body
		if tc.key != "" {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			got = m[tc.key]
		}
		if s := string(bytes.TrimSpace(got)); s != "[]" {
			t.Errorf("GET %s: %q = %s; want []", tc.path, tc.key, s)
		}
	}
	// A project made with no members lists "users": [].
	if code, body := h.raw("POST", "/v1/projects", "admin", `{"name":"lonely"}`); code != http.StatusOK {
		t.Fatalf("create project = %d %s", code, body)
	}
	code, body := h.raw("GET", "/v1/projects", "admin", "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/projects = %d %s", code, body)
	}
	var ps []map[string]json.RawMessage
	if err := json.Unmarshal(body, &ps); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if string(p["users"]) == "null" {
			t.Errorf("project %s: users = null; want a list", p["name"])
		}
	}
	_ = context.Background
}

// TestArrayTaskRefs checks that ID_TASK names one array task exactly, as in
// Slurm, and that anything else is refused rather than truncated to ID.
func TestArrayTaskRefs(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	arr := gpuSpec(1, "duration=1000")
	arr.Array, arr.Hold = "0-3", true
	code, resp, body := h.submitJSON("alice", arr)
	if code != http.StatusOK || len(resp.IDs) != 4 {
		t.Fatalf("submit array = %d %s", code, body)
	}
	first := resp.ID
	plain := gpuSpec(1, "duration=1000")
	plain.Hold = true
	code, single, body := h.submitJSON("alice", plain)
	if code != http.StatusOK {
		t.Fatalf("submit = %d %s", code, body)
	}
	state := func(id job.ID) (job.State, bool) {
		t.Helper()
		code, body := h.raw("GET", fmt.Sprintf("/v1/jobs/%d", id), "alice", "")
		if code != http.StatusOK {
			t.Fatalf("GET job %d = %d %s", id, code, body)
		}
		var j api.Job
		if err := json.Unmarshal(body, &j); err != nil {
			t.Fatal(err)
		}
		return j.State, j.Held
	}
	steps := []struct {
		method, path string
		code         int
		msg          string // in the body
	}{
		{"GET", "/v1/jobs/1_garbage", 400, "1048_[1,3,5-7]"},
		{"GET", "/v1/jobs/1x", 400, "job ID"},
		{"GET", "/v1/jobs/1_", 400, "array task"},
		{"GET", fmt.Sprintf("/v1/jobs/%d_2", first), 200, fmt.Sprintf(`"id":%d`, first+2)},
		{"GET", fmt.Sprintf("/v1/jobs/%d_2/why", first), 200, fmt.Sprintf(`"id":%d`, first+2)},
		{"GET", fmt.Sprintf("/v1/jobs/%d_9", first), 404, "has no task 9"},
		{"DELETE", fmt.Sprintf("/v1/jobs/%d_5", single.ID), 404, "not an array job"},
		{"DELETE", fmt.Sprintf("/v1/jobs/%d_[2,7-8]", first), 404, "has no task 7-8"},
		{"DELETE", fmt.Sprintf("/v1/jobs/%d_2", first), 200, fmt.Sprintf(`"cancelled":[%d]`, first+2)},
		{"POST", fmt.Sprintf("/v1/jobs/%d_%%5B0,3%%5D/release", first), 200, ""},
	}
	for _, s := range steps {
		code, body := h.raw(s.method, s.path, "alice", "")
		if code != s.code || !strings.Contains(string(body), s.msg) {
			t.Errorf("%s %s = %d %s; want %d with %q", s.method, s.path, code, body, s.code, s.msg)
		}
	}
	if st, _ := state(single.ID); st != job.Pending {
		t.Errorf("job %d = %s after cancelling %d_5; want it untouched", single.ID, st, single.ID)
	}
	want := []struct {
		st   job.State
		held bool
	}{{job.Pending, false}, {job.Pending, true}, {job.Cancelled, true}, {job.Pending, false}}
	for i, w := range want {
		st, held := state(first + job.ID(i))
		if st == job.Running && !w.held {
			continue // released, and started at once
		}
		if st != w.st || (st == job.Pending && held != w.held) {
			t.Errorf("task %d: state %s held %v; want %s held %v", i, st, held, w.st, w.held)
		}
	}
	// The array's ID names all its tasks.
	if code, body := h.raw("DELETE", fmt.Sprintf("/v1/jobs/%d", first), "alice", ""); code != 200 {
		t.Fatalf("cancel array = %d %s", code, body)
	}
	for i := range 4 {
		h.waitState("alice", first+job.ID(i), job.Cancelled)
	}
}

// TestSubmitValidates checks that a spec sent to the API is held to the
// rules sbatch applies: nonsense is refused with 400 naming each field,
// and nothing is recorded.
func TestSubmitValidates(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	script := `"script":"#!/bin/sh\ntrue\n"`
	tests := []struct {
		name, user, body string
		code             int
		msgs             []string
	}{
		{"empty spec", "alice", `{"spec":{}}`, 400, []string{"script"}},
		{"null", "alice", `null`, 400, []string{"script"}},
		{"null spec", "alice", `{"spec":null}`, 400, []string{"script"}},
		{"memory per CPU overflows", "alice", `{"spec":{` + script + `,"mem_per_cpu_mb":9223372036854775807}}`, 400, []string{"mem_per_cpu_mb"}},
		{"memory below -1", "alice", `{"spec":{` + script + `,"mem_per_node_mb":-2}}`, 400, []string{"mem_per_node_mb"}},
		{"negative time-min", "alice", `{"spec":{` + script + `,"time_min_s":-5}}`, 400, []string{"time_min_s"}},
		{"begin at the end of time", "alice", `{"spec":{` + script + `,"begin_s":9223372036854775807}}`, 400, []string{"begin_s"}},
		{"several at once", "alice", `{"spec":{` + script + `,"time_min_s":-5,"begin_s":-1,"gpus":-3,"open_mode":"x"}}`, 400,
			[]string{"time_min_s", "begin_s", "gpus", "open_mode"}},
		{"user lowers nice to the minimum", "alice", `{"spec":{` + script + `,"nice":-9223372036854775808}}`, 400, []string{"nice"}},
		{"user lowers nice", "alice", `{"spec":{` + script + `,"nice":-5}}`, 400, []string{"only operators"}},
		{"operator below Slurm's range", "admin", `{"spec":{` + script + `,"nice":-2147483646}}`, 400, []string{"nice"}},
		{"user above Slurm's range", "alice", `{"spec":{` + script + `,"nice":2147483646}}`, 400, []string{"nice"}},
		{"operator at Slurm's minimum", "admin", `{"spec":{` + script + `,"nice":-2147483645,"hold":true}}`, 200, nil},
		{"user at Slurm's maximum", "alice", `{"spec":{` + script + `,"nice":2147483645,"hold":true}}`, 200, nil},
		{"all of the node's memory", "alice", `{"spec":{` + script + `,"mem_per_node_mb":-1,"hold":true}}`, 200, nil},
	}
	for _, tc := range tests {
		code, body := h.raw("POST", "/v1/jobs", tc.user, tc.body)
		if code != tc.code {
			t.Errorf("%s: POST /v1/jobs = %d %s; want %d", tc.name, code, body, tc.code)
			continue
		}
		for _, m := range tc.msgs {
			if !strings.Contains(string(body), m) {
				t.Errorf("%s: POST /v1/jobs = %s; want the message to name %q", tc.name, body, m)
			}
		}
	}
	code, body := h.raw("GET", "/v1/jobs?all=1", "admin", "")
	var jobs []api.Job
	if err := json.Unmarshal(body, &jobs); code != 200 || err != nil || len(jobs) != 3 {
		t.Errorf("GET /v1/jobs?all=1 = %d %s; want the 3 accepted jobs only", code, body)
	}
}

// TestProjectChangesValidate checks project limits and the parent tree.
func TestProjectChangesValidate(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	for _, p := range []string{`{"name":"a"}`, `{"name":"b","parent":"a"}`, `{"name":"c","parent":"b"}`} {
		if code, body := h.raw("POST", "/v1/projects", "admin", p); code != 200 {
			t.Fatalf("create %s = %d %s", p, code, body)
		}
	}
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"negative GPU limit", "PATCH", "/v1/projects/a", `{"max_gpus":-5}`, 400, "max_gpus=-5"},
		{"absurd grant", "PATCH", "/v1/projects/a", `{"grant_gpu_hours":1e308}`, 400, "grant_gpu_hours"},
		{"negative grant", "PATCH", "/v1/projects/a", `{"grant_gpu_hours":-1}`, 400, "grant_gpu_hours"},
		{"own parent", "PATCH", "/v1/projects/a", `{"parent":"a"}`, 400, "its own parent"},
		{"cycle", "PATCH", "/v1/projects/a", `{"parent":"c"}`, 400, "c under b under a"},
		{"missing parent", "POST", "/v1/projects", `{"name":"d","parent":"nope"}`, 404, "does not exist"},
		{"both at once", "PATCH", "/v1/projects/a", `{"max_gpus":-1,"grant_gpu_hours":-1}`, 400, "max_gpus"},
		{"a real grant", "PATCH", "/v1/projects/a", `{"grant_gpu_hours":5000,"max_gpus":64}`, 200, ""},
	}
	for _, tc := range tests {
		code, body := h.raw(tc.method, tc.path, "admin", tc.body)
		if code != tc.code || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s: %s %s %s = %d %s; want %d with %q", tc.name, tc.method, tc.path, tc.body, code, body, tc.code, tc.msg)
		}
	}
	code, body := h.raw("GET", "/v1/projects", "admin", "")
	var ps []api.Project
	if err := json.Unmarshal(body, &ps); code != 200 || err != nil {
		t.Fatalf("GET /v1/projects = %d %s", code, body)
	}
	for _, p := range ps {
		if p.Name == "a" && (p.Parent != "" || p.MaxGPUs != 64 || p.GrantGPUHours != 5000) {
			t.Errorf("project a = %+v; want no parent, max_gpus 64 and a grant of 5000", p)
		}
	}
}
