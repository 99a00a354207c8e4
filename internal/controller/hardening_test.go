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
		if st != w.st || (st == job.Pending && held != w.held) {
			t.Errorf("task %d: state %s held %v; want %s held %v", i, st, held, w.st, w.held)
		}
	}
	// The array's ID names all its tasks.
	if code, body := h.raw("DELETE", fmt.Sprintf("/v1/jobs/%d", first), "alice", ""); code != 200 {
		t.Fatalf("cancel array = %d %s", code, body)
	}
	for i := range 4 {
		if st, _ := state(first + job.ID(i)); st != job.Cancelled {
			t.Errorf("task %d = %s after cancelling the array; want CANCELLED", i, st)
		}
	}
}
