package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// usageRecorder is a step recorder that also reports set step usage
// samples, as a measuring executor would.
type usageRecorder struct {
	*stepRecorder
	mu    sync.Mutex
	usage []api.StepUsage
}

func (r *usageRecorder) SampleSteps() []api.StepUsage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]api.StepUsage(nil), r.usage...)
}

func (r *usageRecorder) set(u []api.StepUsage) {
	r.mu.Lock()
	r.usage = u
	r.mu.Unlock()
}

var _ agent.StepSampler = (*usageRecorder)(nil)

// TestStepUsageReachesStepsList checks that the usage an agent samples
// reaches the steps list of a running step through the sync, that
// samples for nodes the agent does not serve or for steps that do not
// run are dropped, and that a sample no longer sent is forgotten.
func TestStepUsageReachesStepsList(t *testing.T) {
	h := newHarness(t, Config{Heartbeat: 200 * time.Millisecond}, nil, 0)
	rec := &usageRecorder{stepRecorder: &stepRecorder{Virtual: &agent.Virtual{GPU: cluster.H100SXM}, cmds: make(chan api.StepCommand, 64)}}
	ctx, cancel := context.WithCancel(context.Background())
	h.agentC = cancel
	h.agent = &agent.Agent{Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "usage-test",
		Nodes: agent.VirtualNodes("dgx", 2, &cluster.DGXH100, 1), Exec: rec}
	go func() { _ = h.agent.Run(ctx) }()
	h.waitFor("nodes up", func() bool {
		ns, err := h.client("admin").Nodes(context.Background())
		return err == nil && len(ns) == 2
	})
	alice := h.client("alice")
	spec := gpuSpec(8, "duration=1000")
	spec.NodesMin = 2
	resp, err := alice.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ID
	h.waitState("alice", id, job.Running)
	if _, err := alice.CreateStep(ctx, id, api.StepRequest{Tasks: 2, Argv: []string{"true"}, IOAddr: "127.0.0.1:4000"}); err != nil {
		t.Fatal(err)
	}
	util := 50.0
	sample := func(node string, step int) api.StepUsage {
		return api.StepUsage{JobID: id, StepID: step, Node: node, TimeS: 1, GPUUtil: &util,
			Tasks: []api.TaskUsage{{Rank: 0, RSSKB: 1000, MaxRSSKB: 2000, CPUS: 1.5}}}
	}
	rec.set([]api.StepUsage{sample("dgx002", 0), sample("dgx001", 0), sample("nowhere", 0), sample("dgx001", 9)})
	var steps []api.Step
	h.waitFor("the usage on the steps list", func() bool {
		steps, err = alice.Steps(ctx, id)
		return err == nil && len(steps) == 1 && len(steps[0].Usage) > 0
	})
	u := steps[0].Usage
	if len(u) != 2 || u[0].Node != "dgx001" || u[1].Node != "dgx002" || u[0].Tasks[0].MaxRSSKB != 2000 || *u[0].GPUUtil != 50 {
		t.Errorf("Steps()[0].Usage = %+v; want the samples of dgx001 and dgx002 only", u)
	}
	rec.set(nil)
	h.waitFor("the usage to be forgotten", func() bool {
		steps, err = alice.Steps(ctx, id)
		return err == nil && len(steps) == 1 && len(steps[0].Usage) == 0
	})
}
