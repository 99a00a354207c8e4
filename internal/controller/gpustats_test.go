package controller

import (
	"context"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// TestNodesShowGPUStats: the GPU measures agents send with their
// heartbeats reach the nodes list, per GPU: on a virtual node the
// allocated GPUs at full use and TDP, the others idle.
func TestNodesShowGPUStats(t *testing.T) {
	h := newHarness(t, Config{Heartbeat: 100e6}, nil, 1)
	ctx := context.Background()
	resp, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(2, "duration=1000")}, "")
	if err != nil {
		t.Fatal(err)
	}
	j := h.waitState("alice", resp.ID, job.Running)
	busy := map[int]bool{}
	for _, g := range j.Allocs[0].GPUs {
		busy[g] = true
	}
	var n api.Node
	h.waitFor("GPU measures with the job's GPUs busy", func() bool {
		ns, err := h.ctl.Nodes(ctx)
		if err != nil || len(ns) != 1 || len(ns[0].GPUStats) != 8 {
			return false
		}
		n = ns[0]
		for _, g := range n.GPUStats {
			if g.UtilPct == nil || (*g.UtilPct == 100) != busy[g.Index] {
				return false
			}
		}
		return true
	})
	for _, g := range n.GPUStats {
		want := cluster.H100SXM.IdleWatts
		if busy[g.Index] {
			want = cluster.H100SXM.TDPWatts
		}
		if g.PowerW == nil || *g.PowerW != want || g.Node != n.Name {
			t.Errorf("GPU %d of %s: %+v; want %v W", g.Index, n.Name, g, want)
		}
	}
}
