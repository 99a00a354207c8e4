package controller

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

// defaultReportDays is how many days back a project report reaches when
// the request does not say (the grant's period may reach further).
const defaultReportDays = 14

// ProjectReport returns project name's use over its grant's period and the
// last daysBack days, per day and per user, with its burn-down rate and
// fair-share standing (GET /v1/projects/{name}/report). Its members, its
// managers and operators may read it; a member who does not manage it
// gets their own per-user row and the project's total, not the other
// members' rows.
func (c *Controller) ProjectReport(ctx context.Context, user, name string, daysBack int) (*api.ProjectReport, error) {
	if daysBack <= 0 || daysBack > api.MaxReportDays {
		return nil, invalid("days=%d: give a number of days from 1 to %d", daysBack, api.MaxReportDays)
	}
	type head struct {
		p      store.ProjectRecord
		all    bool
		fs     api.FairShareStanding
		nowS   int64
		policy string
	}
	v, err := c.doNow(ctx, func(cr *core) (any, error) {
		p := cr.projects[name]
		if p == nil {
			return nil, notFound("project %s does not exist; 'gefion project usage' lists the projects", name)
		}
		a := c.accessOf(cr.projects, user)
		if !a.operator && !a.member[name] && !a.manages[name] && !slices.Contains(p.Users, "*") {
			return nil, forbidden("you (%s) are not a member of project %s; its members, its managers and operators read its report", user, name)
		}
		now := c.clk.Now().Unix()
		h := &head{p: *p, all: a.operator || a.manages[name], nowS: now, policy: c.policy.Name}
		h.fs = c.standing(cr, name, now)
		return h, nil
	})
	if err != nil {
		return nil, err
	}
	h := v.(*head)
	now := time.Unix(h.nowS, 0).UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -(daysBack - 1))
	if h.p.PeriodStartS > 0 {
		ps := time.Unix(h.p.PeriodStartS, 0).UTC()
		if ps = time.Date(ps.Year(), ps.Month(), ps.Day(), 0, 0, 0, 0, time.UTC); ps.Before(first) {
			first = ps
		}
	}
	if limit := today.AddDate(0, 0, -(api.MaxReportDays - 1)); first.Before(limit) {
		first = limit
	}
	recs, err := c.st.Jobs(ctx, store.JobQuery{Project: name, SinceS: first.Unix(),
		Skip: store.SkipAll &^ (store.SkipUsage | store.SkipStart | store.SkipUser)})
	if err != nil {
		return nil, err
	}
	// Finished jobs are summed here, off the controller's loop; only the
	// running ones, whose use grows, are read on it.
	type use struct {
		user string
		endS int64
		gpuS float64
		kwh  float64
	}
	uses := make([]use, 0, len(recs))
	seen := make(map[job.ID]bool, len(recs))
	for i := range recs {
		r := &recs[i]
		if !r.State.Final() {
			continue // the live record below is newer
		}
		seen[r.ID] = true
		uses = append(uses, use{r.User, r.EndS, r.GPUSeconds, r.EnergyJ / 3.6e6})
	}
	v, err = c.doNow(ctx, func(cr *core) (any, error) {
		var live []use
		for _, r := range cr.jobs {
			if r.Project == name && r.State == job.Running && !seen[r.ID] {
				gs := r.GPUSeconds + float64(allocGPUs(r.Allocs))*float64(max(cr.planAt-r.StartS, 0))
				live = append(live, use{r.User, h.nowS, gs, r.EnergyJ / 3.6e6})
			}
		}
		return live, nil
	})
	if err != nil {
		return nil, err
	}
	uses = append(uses, v.([]use)...)

	out := &api.ProjectReport{AtS: h.nowS, Users: []api.ProjectUse{}, AllUsers: h.all, FairShare: h.fs}
	ps, err := c.ProjectsFor(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Name == name {
			out.Project = p
		}
	}
	nDays := int(today.Sub(first).Hours()/24+0.5) + 1
	out.Days = make([]api.ProjectDay, nDays)
	for i := range out.Days {
		d := first.AddDate(0, 0, i)
		out.Days[i] = api.ProjectDay{Day: d.Format(time.DateOnly), StartS: d.Unix()}
	}
	users := map[string]*api.ProjectUse{}
	firstS := first.Unix()
	add := func(pu *api.ProjectUse, u *use) {
		pu.Jobs++
		pu.GPUHours += u.gpuS / 3600
		pu.EnergyKWh += u.kwh
		pu.CO2LocationKg += u.kwh * c.cfg.CarbonGPerKWh / 1000
		pu.CO2MarketKg += u.kwh * c.cfg.MarketGPerKWh / 1000
	}
	for i := range uses {
		j := &uses[i]
		if j.endS < firstS {
			continue
		}
		k := int((j.endS - firstS) / 86400)
		if k >= nDays {
			continue
		}
		d := &out.Days[k]
		d.Jobs++
		d.GPUHours += j.gpuS / 3600
		d.EnergyKWh += j.kwh
		d.CO2LocationKg += j.kwh * c.cfg.CarbonGPerKWh / 1000
		d.CO2MarketKg += j.kwh * c.cfg.MarketGPerKWh / 1000
		u := users[j.user]
		if u == nil {
			u = &api.ProjectUse{User: j.user}
			users[j.user] = u
		}
		add(u, j)
		add(&out.Total, j)
	}
	if !h.all && users[user] == nil {
		users[user] = &api.ProjectUse{User: user}
	}
	for name, u := range users {
		if h.all || name == user {
			out.Users = append(out.Users, *u)
		}
	}
	sort.Slice(out.Users, func(i, j int) bool {
		if out.Users[i].GPUHours != out.Users[j].GPUHours {
			return out.Users[i].GPUHours > out.Users[j].GPUHours
		}
		return out.Users[i].User < out.Users[j].User
	})
	// Cumulative use from the period's start, and the rate of the last
	// seven days (or of the period so far).
	cum := 0.0
	for i := range out.Days {
		d := &out.Days[i]
		if d.StartS+86400 > h.p.PeriodStartS {
			cum += d.GPUHours
			d.CumGPUHours = cum
		}
	}
	winStart := max(h.nowS-7*86400, h.p.PeriodStartS)
	if span := float64(h.nowS-winStart) / 86400; span > 0 {
		used := 0.0
		for _, d := range out.Days {
			if d.StartS+86400 > winStart {
				used += d.GPUHours
			}
		}
		out.RatePerDay = used / max(span, 1.0/24)
	}
	if g := h.p.GrantGPUHours; g > 0 {
		left := g - h.p.UsedGPUSeconds/3600
		switch {
		case left <= 0:
			out.RunsOut = h.nowS
		case out.RatePerDay > 0:
			out.RunsOut = h.nowS + int64(math.Min(left/out.RatePerDay*86400, float64(maxGrantEnd)))
		}
	}
	return out, nil
}

// standing is project name's fair-share standing, from the snapshot a pass
// would build now and the Fair Tree the queue is ordered by.
func (c *Controller) standing(cr *core, name string, now int64) api.FairShareStanding {
	snap := c.snapshot(cr, now, nil)
	out := api.FairShareStanding{Weight: c.policy.Weights.FairShare, HalfLifeS: int64(c.cfg.UsageHalfLife.Seconds())}
	if c.policy.FIFO {
		out.Weight = 0
	}
	var st *sched.FairShareStanding
	all := sched.FairShareStandings(snap)
	for i := range all {
		if all[i].Project == name {
			st = &all[i]
		}
	}
	if st == nil {
		return out
	}
	out.Factor, out.ShareFrac, out.UsageFrac, out.Above = st.Factor, st.ShareFrac, st.UsageFrac, st.Above
	out.Level = st.Level
	if math.IsInf(st.Level, 1) {
		out.Level = -1
	}
	if len(snap.Users) == 0 {
		out.Users = "fair share is kept per project here: its users' jobs share its factor, whoever used more"
	} else {
		out.Users = "its users rank among themselves by their own use against their shares"
	}
	out.Why = whySentence(name, st, out.Weight, c.cfg.UsageHalfLife, c.policy.Name)
	return out
}

// whySentence says why a project's jobs rank where they do in fair share.
func whySentence(name string, st *sched.FairShareStanding, weight float64, halfLife time.Duration, policy string) string {
	if weight == 0 {
		return fmt.Sprintf("the running policy (%s) gives fair share no weight, so project %s's use does not move its jobs in the queue", policy, name)
	}
	hl := halfLifeText(halfLife)
	level := "its sibling projects"
	if st.Parent != "" {
		level = "the other projects under " + st.Parent
	}
	var used string
	switch {
	case st.ShareFrac == 0:
		return fmt.Sprintf("project %s has no share (no grant and no shares), so its jobs rank below those of every project with one", name)
	case st.UsageFrac == 0:
		used = fmt.Sprintf("project %s used none of its share over the last %s (older use counts less: it halves every %s)", name, hl, hl)
	default:
		used = fmt.Sprintf("project %s used %.0f%% of its share over the last %s (older use counts less: it halves every %s)", name, 100*st.UsageFrac/st.ShareFrac, hl, hl)
	}
	if len(st.Above) == 0 {
		return used + ", so its jobs rank first among " + level + " on fair share"
	}
	names := st.Above
	more := ""
	if len(names) > 3 {
		more = fmt.Sprintf(" and %d more", len(names)-3)
		names = names[:3]
	}
	list := "project " + names[0] + "'s"
	if len(names) > 1 {
		list = "projects " + strings.Join(names[:len(names)-1], "'s, ") + "'s"
		if more == "" {
			list += " and " + names[len(names)-1] + "'s"
		} else {
			list += ", " + names[len(names)-1] + "'s" + more
		}
	}
	return fmt.Sprintf("%s, so its jobs rank below %s, which used less of their shares", used, list)
}

func halfLifeText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}

func (c *Controller) hProjectReport(r *http.Request, user string) (any, error) {
	days := defaultReportDays
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, invalid("days=%q: give a whole number of days from 1 to %d", s, api.MaxReportDays)
		}
		days = n
	}
	return c.ProjectReport(r.Context(), user, r.PathValue("name"), days)
}
