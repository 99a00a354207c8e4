package controller

import (
	"context"
	"slices"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// noteUsage keeps the step usage an agent measured (sstat), replacing
// what its nodes sent before: a poller's sync carries every running step
// of the agent's nodes, so a step missing from it has ended there. A
// reports-only sync carries none and changes nothing. Samples for nodes
// the agent does not serve are dropped. It runs on the loop.
func (c *Controller) noteUsage(cr *core, s *session, req *api.SyncRequest) {
	if req.ReportsOnly {
		return
	}
	if cr.usage == nil {
		if len(req.Usage) == 0 {
			return
		}
		cr.usage = map[string][]api.StepUsage{}
	}
	for _, i := range s.nodes {
		delete(cr.usage, cr.nodes[i].name)
	}
	for _, u := range req.Usage {
		if i, ok := cr.nodeByName[u.Node]; !ok || !slices.Contains(s.nodes, i) {
			continue
		}
		if st := cr.stepsOf(u.JobID)[u.StepID]; st == nil || st.State.Final() {
			continue
		}
		cr.usage[u.Node] = append(cr.usage[u.Node], u)
	}
}

// noteGPUs keeps the GPU measures an agent sent, replacing what its nodes
// sent before; measures for nodes the agent does not serve, or for GPUs
// a node does not have, are dropped. A reports-only sync changes nothing.
// It runs on the loop.
func (c *Controller) noteGPUs(cr *core, s *session, req *api.SyncRequest) {
	if req.ReportsOnly || len(req.GPUs) == 0 && cr.gpuStats == nil {
		return
	}
	if cr.gpuStats == nil {
		cr.gpuStats = map[string][]api.GPUStat{}
	}
	for _, i := range s.nodes {
		delete(cr.gpuStats, cr.nodes[i].name)
	}
	for _, g := range req.GPUs {
		i, ok := cr.nodeByName[g.Node]
		if !ok || !slices.Contains(s.nodes, i) || g.Index < 0 || g.Index >= cr.cluster.Nodes[i].Model.GPUs {
			continue
		}
		cr.gpuStats[g.Node] = append(cr.gpuStats[g.Node], g)
	}
}

// withUsage adds the latest usage samples to the running steps among
// steps.
func (c *Controller) withUsage(ctx context.Context, steps []api.Step) ([]api.Step, error) {
	running := false
	for i := range steps {
		running = running || !steps[i].State.Final()
	}
	if !running {
		return steps, nil
	}
	_, err := c.doNow(ctx, func(cr *core) (any, error) {
		for i := range steps {
			st := &steps[i]
			if st.State.Final() {
				continue
			}
			for _, us := range cr.usage {
				for _, u := range us {
					if u.JobID == st.JobID && u.StepID == st.StepID {
						st.Usage = append(st.Usage, u)
					}
				}
			}
			slices.SortFunc(st.Usage, func(a, b api.StepUsage) int { return strings.Compare(a.Node, b.Node) })
		}
		return nil, nil
	})
	return steps, err
}
