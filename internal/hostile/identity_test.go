package hostile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The escalation: gefion dev started as root ran a job as root for any local
// user who claimed to be root in a header.
func TestDevServesOnlyItsOwner(t *testing.T) {
	d := startDev(t)
	canary := filepath.Join(t.TempDir(), "escalated")
	script := "#!/bin/sh\nid > " + canary + "\n"
	body := `{"spec":{"script":` + quote(script) + `,"chdir":"/tmp"}}`

	t.Run("owner without a header", func(t *testing.T) {
		code, resp := d.do("GET", "/v1/jobs", "", map[string]string{"X-Gefion-User": ""})
		if code != 200 {
			t.Fatalf("GET /v1/jobs as the owner = %d %s; want 200", code, resp)
		}
	})
	t.Run("owner claiming another name", func(t *testing.T) {
		code, resp := d.do("POST", "/v1/jobs", body, map[string]string{"X-Gefion-User": "someoneelse"})
		if code != 403 || errorCode(t, resp) != "forbidden" {
			t.Fatalf("POST /v1/jobs claiming someoneelse = %d %s; want 403 forbidden", code, resp)
		}
	})
	t.Run("another user claiming root", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root, to send requests as uid 65534")
		}
		for _, hdr := range []map[string]string{{"X-Gefion-User": "root"}, nil, {"X-Gefion-User": "nobody"}} {
			code, resp := d.doAs(65534, 65534, peerRequest{Method: "POST", URL: "/v1/jobs", Body: body, Header: hdr})
			if code != 403 || !strings.Contains(resp, "serves only") {
				t.Errorf("POST /v1/jobs as uid 65534 with %v = %d %s; want 403 naming the owner", hdr, code, resp)
			}
			code, resp = d.doAs(65534, 65534, peerRequest{Method: "GET", URL: "/v1/jobs?all=1", Header: hdr})
			if code != 403 {
				t.Errorf("GET /v1/jobs as uid 65534 with %v = %d %s; want 403", hdr, code, resp)
			}
		}
		code, resp := d.doAs(65534, 65534, peerRequest{Method: "POST", URL: "/v1/nodes/drain", Body: `{"nodes":"probe1","reason":"x"}`, Header: map[string]string{"X-Gefion-User": "root"}})
		if code != 403 {
			t.Errorf("drain as uid 65534 = %d %s; want 403", code, resp)
		}
		if js := d.jobs(); len(js) != 0 {
			t.Errorf("refused callers left %d jobs: %v", len(js), js)
		}
		time.Sleep(200 * time.Millisecond)
		if _, err := os.Stat(canary); err == nil {
			t.Errorf("a refused caller's job ran: %s exists", canary)
		}
	})
}

// Agents register only with the join token, on loopback too: before, a
// rogue agent registered node rogue1 and re-registered the dev node.
func TestAgentRegistrationNeedsTheToken(t *testing.T) {
	d := startDev(t)
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
	}{
		{"new node, no token", `{"version":2,"agent_id":"rogue","nodes":[{"name":"rogue1","cpus":4,"memory_mb":1024}]}`, nil},
		{"new node, wrong token", `{"version":2,"agent_id":"rogue","nodes":[{"name":"rogue1","cpus":4,"memory_mb":1024}]}`, map[string]string{"X-Gefion-Token": "guess"}},
		{"the dev node, no token", `{"version":2,"agent_id":"rogue","nodes":[{"name":"probe1","cpus":1,"memory_mb":1}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := d.do("POST", "/v1/agent/register", tc.body, tc.hdr)
			if code != 401 || errorCode(t, resp) != "unauthorized" {
				t.Errorf("register = %d %s; want 401 unauthorized", code, resp)
			}
			code, resp = d.do("POST", "/v1/agent/sync", `{"session":"guess","wait_ms":0}`, tc.hdr)
			if code != 401 {
				t.Errorf("sync = %d %s; want 401", code, resp)
			}
		})
	}
	_, nodes := d.do("GET", "/v1/nodes", "", nil)
	if strings.Contains(nodes, "rogue1") {
		t.Errorf("a rogue node registered: %s", nodes)
	}
	var ns []struct {
		Name     string `json:"name"`
		MemoryMB int    `json:"memory_mb"`
	}
	if err := json.Unmarshal([]byte(nodes), &ns); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.Name == "probe1" && n.MemoryMB == 1 {
			t.Errorf("the dev node was re-registered by a rogue agent: %s", nodes)
		}
	}
}

// quote returns s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
