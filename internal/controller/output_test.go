package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// tailExec is a virtual executor whose nodes answer tail requests from
// files it keeps in memory, by output path, and records what it was sent.
type tailExec struct {
	agent.Virtual
	mu    sync.Mutex
	files map[string]string // "node:path" -> content
	asked []api.Assignment
}

func (e *tailExec) Tail(a api.Assignment, limit int) (string, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.asked = append(e.asked, a)
	out, _, _ := agent.OutputPaths(a, "/home/"+a.Spec.User, a.Spec.User)
	text, ok := e.files[a.Node+":"+out]
	if !ok {
		return "", true, fmt.Errorf("no output file %s (yet)", out)
	}
	return text[max(len(text)-limit, 0):], false, nil
}

func TestOutputIsReadByTheJobsNode(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	ex := &tailExec{Virtual: agent.Virtual{GPU: cluster.H100SXM}, files: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ag := &agent.Agent{Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "tail-test",
		Nodes: agent.VirtualNodes("dgx", 2, &cluster.DGXH100, 1), Exec: ex}
	go func() { _ = ag.Run(ctx) }()
	h.waitFor("nodes up", func() bool { ns, err := h.client("admin").Nodes(ctx); return err == nil && len(ns) == 2 })

	spec := gpuSpec(8, "duration=600")
	spec.Script, spec.Output = "#!/bin/sh\necho SCRIPT-SECRET\n", "/scratch/train-%j.out"
	resp, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	j := h.waitState("alice", resp.ID, job.Running)
	node := j.Allocs[0].Node
	path := fmt.Sprintf("/scratch/train-%d.out", resp.ID)

	// Not written yet: the node says so.
	code, body := h.raw("GET", fmt.Sprintf("/v1/jobs/%d/output", resp.ID), "alice", "")
	if code != http.StatusNotFound || !strings.Contains(string(body), "no output file "+path) {
		t.Errorf("output before the file exists = %d %s; want 404 naming %s", code, body, path)
	}
	big := strings.Repeat("x", 2*api.MaxTail) + "epoch 3 loss 0.1\n"
	ex.mu.Lock()
	ex.files[node+":"+path] = big
	ex.mu.Unlock()
	code, body = h.raw("GET", fmt.Sprintf("/v1/jobs/%d/output", resp.ID), "alice", "")
	var out api.Output
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("output = %d %s; want 200", code, body)
	}
	if out.Node != node || len(out.Text) != api.MaxTail || !strings.HasSuffix(out.Text, "epoch 3 loss 0.1\n") {
		t.Errorf("output = node %q, %d bytes ending %q; want node %s, the last %d bytes", out.Node, len(out.Text), out.Text[max(len(out.Text)-20, 0):], node, api.MaxTail)
	}
	code, body = h.raw("GET", fmt.Sprintf("/v1/jobs/%d/output?max=6", resp.ID), "alice", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"text":"s 0.1\n"`) {
		t.Errorf("output?max=6 = %d %s; want the last 6 bytes", code, body)
	}
	// The node was told what names the file, never the script.
	ex.mu.Lock()
	for _, a := range ex.asked {
		if a.Node != node || a.Spec.Script != "" || a.Spec.User != "alice" || a.Spec.Output != spec.Output {
			t.Errorf("tail request = node %s, spec %+v; want node %s, alice's output pattern and no script", a.Node, a.Spec, node)
		}
	}
	ex.mu.Unlock()
	// Others are refused before any node is asked.
	if code, body := h.raw("GET", fmt.Sprintf("/v1/jobs/%d/output", resp.ID), "bob", ""); code != http.StatusForbidden || strings.Contains(string(body), "epoch") {
		t.Errorf("bob reads alice's output: %d %s; want 403", code, body)
	}
	if code, body := h.raw("GET", fmt.Sprintf("/v1/jobs/%d/output?max=x", resp.ID), "alice", ""); code != http.StatusBadRequest {
		t.Errorf("max=x = %d %s; want 400", code, body)
	}
}
