package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

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
				an.ContainerRuntime, an.NoContainers = n.inv.ContainerRuntime, n.inv.NoContainers
				an.GPUStats = slices.Clone(cr.gpuStats[n.name])
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

// NodesFor is Nodes as user may see it: each node's jobs list only the
// jobs the user may see.
func (c *Controller) NodesFor(ctx context.Context, user string) ([]api.Node, error) {
	if c.isOperator(user) {
		return c.Nodes(ctx)
	}
	v, err := c.doNow(ctx, func(cr *core) (any, error) {
		a := c.accessOf(cr.projects, user)
		see := map[job.ID]bool{}
		for _, j := range cr.jobs {
			if j.State == job.Running && a.seeJob(j.User, j.Project) {
				see[j.ID] = true
			}
		}
		return see, nil
	})
	if err != nil {
		return nil, err
	}
	see := v.(map[job.ID]bool)
	ns, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ns {
		ns[i].Jobs = slices.DeleteFunc(ns[i].Jobs, func(id job.ID) bool { return !see[id] })
	}
	return ns, nil
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
				UsedGPUHours: p.UsedGPUSeconds / 3600, PeriodStart: p.PeriodStartS, GrantEnd: p.GrantEndS, MaxGPUs: p.MaxGPUs,
				FairShareUsage: cr.decay(p.UsageGPUS, p.UsageAtS, tx.nowS) / 3600,
				RunningGPUs:    run[p.Name], PendingJobs: pend[p.Name], Managers: slices.Clone(p.Managers),
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

// ProjectsFor is Projects as user may see them: the members and managers
// of a project are shown to its members and managers, operators and
// admins; everyone sees every project's name, grant and counts.
func (c *Controller) ProjectsFor(ctx context.Context, user string) ([]api.Project, error) {
	ps, err := c.Projects(ctx)
	if err != nil || c.isOperator(user) {
		return ps, err
	}
	a, err := c.access(ctx, user)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if !a.member[ps[i].Name] && !a.manages[ps[i].Name] {
			// A project open to everyone says so, and no more.
			users := []string{}
			if slices.Contains(ps[i].Users, "*") {
				users = []string{"*"}
			}
			ps[i].Users, ps[i].Managers = users, nil
		}
	}
	return ps, nil
}

// ChangeProject creates a project or changes it. Admins may do anything;
// a project's managers may add and remove its users.
func (c *Controller) ChangeProject(ctx context.Context, user string, ch api.ProjectChange, create bool) error {
	onlyUsers := !create && ch.Parent == "" && ch.GrantGPUHours == nil && ch.GrantEnd == nil && ch.MaxGPUs == nil &&
		len(ch.AddManagers) == 0 && len(ch.RemoveManagers) == 0
	admin := c.isAdmin(user)
	if !admin && !onlyUsers {
		return forbidden("only admins create projects or change their parent, grant, grant's end, limits or managers (you are %s)", user)
	}
	if err := checkProjectChange(ch); err != nil {
		return err
	}
	_, err := c.do(ctx, func(tx *txn) (any, error) {
		if !admin {
			if p := tx.project(ch.Name); p == nil || !slices.Contains(p.Managers, user) {
				return nil, forbidden("you (%s) do not manage project %s; its managers and admins add and remove its users", user, ch.Name)
			}
		}
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
		if old := tx.project(ch.Name); old != nil {
			for _, u := range ch.RemoveUsers {
				if !slices.Contains(old.Users, u) {
					return nil, notFound("user %s is not a member of project %s; its members are %s", u, ch.Name, strings.Join(old.Users, ", "))
				}
			}
			for _, u := range ch.RemoveManagers {
				if !slices.Contains(old.Managers, u) {
					return nil, notFound("user %s does not manage project %s", u, ch.Name)
				}
			}
		}
		if e := ch.GrantEnd; e != nil && *e != 0 {
			start := tx.nowS
			if old := tx.project(ch.Name); old != nil && ch.GrantGPUHours == nil {
				start = old.PeriodStartS
			}
			if *e <= start {
				return nil, invalid("grant_end=%s: the grant's period starts %s; give an end after that (or 0 for none)",
					time.Unix(*e, 0).UTC().Format(time.DateOnly), time.Unix(start, 0).UTC().Format(time.DateOnly))
			}
		}
		p := tx.editProject(ch.Name)
		p.Managers = slices.Clone(p.Managers)
		if ch.Parent != "" {
			p.Parent = ch.Parent
		}
		for _, u := range ch.AddUsers {
			if !slices.Contains(p.Users, u) {
				p.Users = append(p.Users, u)
			}
		}
		p.Users = slices.DeleteFunc(p.Users, func(u string) bool { return slices.Contains(ch.RemoveUsers, u) })
		sort.Strings(p.Users)
		for _, u := range ch.AddManagers {
			if !slices.Contains(p.Managers, u) {
				p.Managers = append(p.Managers, u)
			}
		}
		p.Managers = slices.DeleteFunc(p.Managers, func(u string) bool { return slices.Contains(ch.RemoveManagers, u) })
		sort.Strings(p.Managers)
		if ch.GrantGPUHours != nil {
			// A new grant starts a new period.
			p.GrantGPUHours, p.PeriodStartS, p.UsedGPUSeconds = *ch.GrantGPUHours, tx.nowS, 0
		}
		if ch.GrantEnd != nil {
			p.GrantEndS = *ch.GrantEnd
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

// maxGrantEnd is the latest end a grant may have (the year 3000).
const maxGrantEnd = 32503680000

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
	if e := ch.GrantEnd; e != nil && (*e < 0 || *e > maxGrantEnd) {
		errs = append(errs, fmt.Errorf("grant_end=%d: give a time in Unix seconds before the year 3000, or 0 for none", *e))
	}
	if m := ch.MaxGPUs; m != nil && (*m < 0 || *m > job.MaxCount) {
		errs = append(errs, fmt.Errorf("max_gpus=%d: give 0 (no limit) or a number of GPUs up to %d", *m, job.MaxCount))
	}
	for _, u := range ch.AddUsers {
		if !validName(u) && u != "*" {
			errs = append(errs, fmt.Errorf("user name %q is not valid: use letters, digits, '-', '_' and '.' (at most 64), or * for everyone", u))
		}
	}
	for _, l := range [][]string{ch.RemoveUsers, ch.AddManagers, ch.RemoveManagers} {
		for _, u := range l {
			if !validName(u) && u != "*" {
				errs = append(errs, fmt.Errorf("user name %q is not valid: use letters, digits, '-', '_' and '.' (at most 64)", u))
			}
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
// ones, for the user (or a named user, or everyone), of the jobs the user
// may see.
func (c *Controller) Acct(ctx context.Context, user string, q store.JobQuery) (*api.Acct, error) {
	a, err := c.access(ctx, user)
	if err != nil {
		return nil, err
	}
	if q.User == "" && !a.operator && (q.Project == "" || !a.seeJob("", q.Project)) {
		q.User = user
	}
	recs, err := c.st.Jobs(ctx, q)
	if err != nil {
		return nil, err
	}
	recs = slices.DeleteFunc(recs, func(r store.JobRecord) bool { return !a.seeJob(r.User, r.Project) })
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
