package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Nodes lists the nodes with their state and use.
func (c *Controller) Nodes(ctx context.Context) ([]api.Node, error) {
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		cr := tx.c
		out := make([]api.Node, len(cr.nodes))
		usedG := make([]int, len(cr.nodes))
		usedC := make([]int, len(cr.nodes))
		jobsOn := make([][]job.ID, len(cr.nodes))
		for _, j := range cr.jobs {
			if j.State != job.Running {
				continue
			}
			for _, a := range j.Allocs {
				if i, ok := cr.nodeByName[a.Node]; ok {
					usedG[i] += len(a.GPUs)
					usedC[i] += a.CPUs
					jobsOn[i] = append(jobsOn[i], j.ID)
				}
			}
		}
		for i, n := range cr.nodes {
			cn := &cr.cluster.Nodes[i]
			an := api.Node{
				Name: n.name, SU: cr.cluster.SUs[cn.SU].Name, GPUs: cn.Model.GPUs, GPUsUsed: usedG[i],
				GPUType: cn.Model.GPU.Name, CPUs: cn.Model.CPUs, CPUsUsed: usedC[i], MemoryMB: cn.Model.MemoryBytes >> 20,
				Reason: n.reason, Jobs: jobsOn[i], Partitions: []string{},
			}
			if cn.Model.GPUs == 0 {
				an.GPUType = ""
			}
			slices.Sort(an.Jobs)
			for _, p := range cn.Partitions {
				an.Partitions = append(an.Partitions, cr.cluster.Partitions[p].Name)
			}
			if n.session != nil {
				an.Agent = n.session.agentID
				an.LastSeen = n.session.lastSeen.Unix()
				an.Virtual = n.inv.Virtual
			}
			busy := usedG[i] > 0 || usedC[i] > 0
			full := (cn.Model.GPUs > 0 && usedG[i] >= cn.Model.GPUs) || usedC[i] >= cn.Model.CPUs
			switch {
			case n.session == nil || n.session.lost:
				an.State = "down"
				if an.Reason == "" {
					an.Reason = "no agent"
				}
			case n.avail == sched.Drained || (n.avail == sched.Draining && !busy):
				an.State = "drained"
			case n.avail == sched.Draining:
				an.State = "draining"
			case full:
				an.State = "allocated"
			case busy:
				an.State = "mixed"
			default:
				an.State = "idle"
			}
			out[i] = an
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]api.Node), nil
}

// SetNodes drains (drain=true) or resumes nodes. Only operators may.
func (c *Controller) SetNodes(ctx context.Context, user string, act api.NodeAction, drain bool) ([]string, error) {
	if !c.isOperator(user) {
		return nil, forbidden("only operators drain or resume nodes (you are %s)", user)
	}
	names, err := hostlist.Expand(act.Nodes)
	if err != nil || len(names) == 0 {
		return nil, invalid("nodes %q: give a host list such as dgx[001-004]", act.Nodes)
	}
	if drain && strings.TrimSpace(act.Reason) == "" {
		return nil, invalid("give a --reason for draining, as Slurm requires")
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		var idx []int
		for _, n := range names {
			i, ok := tx.c.nodeByName[n]
			if !ok {
				return nil, notFound("node %s does not exist", n)
			}
			idx = append(idx, i)
		}
		for _, i := range idx {
			if drain {
				c.drainNode(tx, i, act.Reason+" ("+user+")", false)
			} else {
				n := tx.editNode(i)
				n.avail, n.reason, n.since = sched.Up, "", tx.nowS
			}
		}
		return names, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// Projects lists projects with their grants and use.
func (c *Controller) Projects(ctx context.Context) ([]api.Project, error) {
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		cr := tx.c
		run := map[string]int{}
		pend := map[string]int{}
		for _, j := range cr.jobs {
			switch j.State {
			case job.Running:
				run[j.Project] += allocGPUs(j.Allocs)
			case job.Pending:
				pend[j.Project]++
			}
		}
		out := []api.Project{}
		for _, p := range cr.projects {
			users := p.Users
			if users == nil {
				users = []string{}
			}
			ap := api.Project{
				Name: p.Name, Parent: p.Parent, Users: users, GrantGPUHours: p.GrantGPUHours,
				UsedGPUHours: p.UsedGPUSeconds / 3600, PeriodStart: p.PeriodStartS, MaxGPUs: p.MaxGPUs,
				FairShareUsage: cr.decay(p.UsageGPUS, p.UsageAtS, tx.nowS) / 3600,
				RunningGPUs:    run[p.Name], PendingJobs: pend[p.Name],
			}
			if p.GrantGPUHours > 0 {
				ap.UsedOfGrant = ap.UsedGPUHours / p.GrantGPUHours
			}
			out = append(out, ap)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]api.Project), nil
}

// ChangeProject creates a project or changes its members, grant or limit.
// Only operators may.
func (c *Controller) ChangeProject(ctx context.Context, user string, ch api.ProjectChange, create bool) error {
	if !c.isOperator(user) {
		return forbidden("only operators change projects (you are %s)", user)
	}
	if err := checkProjectChange(ch); err != nil {
		return err
	}
	_, err := c.do(ctx, func(tx *txn) (any, error) {
		exists := tx.project(ch.Name) != nil
		if create && exists {
			return nil, conflict("project %s exists; change it with 'gefion project grant' or 'add-user'", ch.Name)
		}
		if !create && !exists {
			return nil, notFound("project %s does not exist; create it with 'gefion project create %s'", ch.Name, ch.Name)
		}
		if ch.Parent != "" && tx.project(ch.Parent) == nil {
			return nil, notFound("parent project %s does not exist", ch.Parent)
		}
		if ch.Parent != "" {
			// The fair-share tree must stay a tree: walk up from the new
			// parent; meeting the project itself means a cycle.
			path := []string{ch.Parent}
			for p := tx.project(ch.Parent); p != nil && p.Parent != "" && len(path) <= len(tx.c.projects)+1; p = tx.project(p.Parent) {
				path = append(path, p.Parent)
				if p.Parent == ch.Name {
					return nil, invalid("parent %s: %s would be its own ancestor (%s); choose a parent outside its subtree", ch.Parent, ch.Name, strings.Join(path, " under "))
				}
			}
		}
		p := tx.editProject(ch.Name)
		if ch.Parent != "" {
			p.Parent = ch.Parent
		}
		for _, u := range ch.AddUsers {
			if !slices.Contains(p.Users, u) {
				p.Users = append(p.Users, u)
			}
		}
		sort.Strings(p.Users)
		if ch.GrantGPUHours != nil {
			// A new grant starts a new period.
			p.GrantGPUHours, p.PeriodStartS, p.UsedGPUSeconds = *ch.GrantGPUHours, tx.nowS, 0
		}
		if ch.MaxGPUs != nil {
			p.MaxGPUs = *ch.MaxGPUs
		}
		return nil, nil
	})
	return err
}

// MaxGrantGPUHours bounds a grant: a thousand years of a machine ten
// times Gefion's size, far above any real grant yet small enough that
// usage arithmetic stays exact enough to print.
const MaxGrantGPUHours = 1e11

// checkProjectChange checks what a project change says on its own,
// reporting every problem at once.
func checkProjectChange(ch api.ProjectChange) error {
	var errs []error
	if !validName(ch.Name) {
		errs = append(errs, fmt.Errorf("project name %q: use letters, digits, '-', '_' and '.' (at most 64)", ch.Name))
	}
	if ch.Parent != "" {
		if !validName(ch.Parent) {
			errs = append(errs, fmt.Errorf("parent %q: not a valid project name", ch.Parent))
		} else if ch.Parent == ch.Name {
			errs = append(errs, fmt.Errorf("parent %s: a project cannot be its own parent", ch.Parent))
		}
	}
	if g := ch.GrantGPUHours; g != nil && (math.IsNaN(*g) || *g < 0 || *g > MaxGrantGPUHours) {
		errs = append(errs, fmt.Errorf("grant_gpu_hours=%g: give GPU-hours from 0 (no grant limit) to %g", *g, MaxGrantGPUHours))
	}
	if m := ch.MaxGPUs; m != nil && (*m < 0 || *m > job.MaxCount) {
		errs = append(errs, fmt.Errorf("max_gpus=%d: give 0 (no limit) or a number of GPUs up to %d", *m, job.MaxCount))
	}
	for _, u := range ch.AddUsers {
		if !validName(u) && u != "*" {
			errs = append(errs, fmt.Errorf("user name %q is not valid: use letters, digits, '-', '_' and '.' (at most 64), or * for everyone", u))
		}
	}
	if len(errs) > 0 {
		return &api.Error{Code: api.CodeInvalid, Message: errors.Join(errs...).Error()}
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Acct returns accounting for jobs that ended in [since, until) plus running
// ones, for the user (every user for operators, or a named one).
func (c *Controller) Acct(ctx context.Context, user string, q store.JobQuery) (*api.Acct, error) {
	if q.User == "" && !c.isOperator(user) {
		q.User = user
	}
	if q.User != user && !c.isOperator(user) {
		return nil, forbidden("only operators read other users' accounting")
	}
	recs, err := c.st.Jobs(ctx, q)
	if err != nil {
		return nil, err
	}
	// Records of running jobs change in memory; prefer the live view.
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		out := &api.Acct{Jobs: []api.Job{}}
		for i := range recs {
			r := &jobRec{JobRecord: recs[i]}
			if live := tx.job(r.ID); live != nil {
				r = live
			}
			j := c.apiJob(tx.c, r, false)
			out.Jobs = append(out.Jobs, j)
			out.Totals.Jobs++
			out.Totals.GPUHours += j.GPUSeconds / 3600
			out.Totals.EnergyKWh += j.EnergyKWh
			out.Totals.CO2LocationKg += j.CO2LocationG / 1000
			out.Totals.CO2MarketKg += j.CO2MarketG / 1000
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*api.Acct), nil
}
