package controller

import (
	"bytes"
	"context"
	"encoding/json"
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
