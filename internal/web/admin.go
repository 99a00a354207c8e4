package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

type projectsData struct {
	Projects []projectRow
	// Days is the energy and CO2 of the jobs the viewer may account
	// (their own; every user's for operators), per day, oldest first.
	Days  []dayUse
	Chart chart
	// Whose says whose jobs Days counts.
	Whose string
	// Report is the chosen project's report; nil when none is chosen.
	Report *projectView
}

// dayUse is one day's use.
type dayUse struct {
	Day       string
	Jobs      int
	GPUHours  float64
	EnergyKWh float64
	CO2LocKg  float64
	CO2MktKg  float64
}

// chart is a bar chart of energy per day, drawn as inline SVG (no script,
// no style attribute: the Content Security Policy allows neither).
type chart struct {
	W, H  int
	Bars  []bar
	Max   string
	Label string
}

type bar struct {
	X, Y, W, H int
	Title      string
	Day        string
	LabelX     int
}

// usageDays is how many days the Projects page charts.
const usageDays = 14

type projectRow struct {
	api.Project
	// Used is the share of the grant used, 0..1 for the meter; Over says
	// the grant is spent.
	Used float64
	Over bool
}

func (s *Server) projectsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ps, err := s.ctl.ProjectsFor(r.Context(), v.User)
	if err != nil {
		return err
	}
	d := &projectsData{}
	if name := chosenProject(r, v, ps); name != "" {
		if d.Report, err = s.reportFor(r, v, name); err != nil {
			return err
		}
	}
	for _, p := range ps {
		d.Projects = append(d.Projects, projectRow{Project: p, Used: min(p.UsedOfGrant, 1), Over: p.GrantGPUHours > 0 && p.UsedOfGrant >= 1})
	}
	if err := s.usage(r, v, d); err != nil {
		return err
	}
	s.render(w, http.StatusOK, "projects", v, "Projects", d)
	return nil
}

// usage sums the viewer's accounting per day over the last usageDays,
// reading from the store only the columns it needs.
func (s *Server) usage(r *http.Request, v *viewer, d *projectsData) error {
	now := time.Now()
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location()).AddDate(0, 0, -(usageDays - 1))
	acct, err := s.ctl.Acct(r.Context(), v.User, store.JobQuery{SinceS: first.Unix(), Skip: store.SkipAll &^ (store.SkipUsage | store.SkipStart | store.SkipUser)})
	if err != nil {
		return err
	}
	d.Whose = "your jobs"
	byDay := map[string]*dayUse{}
	for i := range usageDays {
		day := first.AddDate(0, 0, i).Format("2006-01-02")
		d.Days = append(d.Days, dayUse{Day: day})
	}
	for i := range d.Days {
		byDay[d.Days[i].Day] = &d.Days[i]
	}
	for _, j := range acct.Jobs {
		if j.User != v.User {
			d.Whose = "every user's jobs"
		}
		t := j.EndTime
		if t == 0 {
			t = now.Unix()
		}
		du := byDay[time.Unix(t, 0).Format("2006-01-02")]
		if du == nil {
			continue
		}
		du.Jobs++
		du.GPUHours += j.GPUSeconds / 3600
		du.EnergyKWh += j.EnergyKWh
		du.CO2LocKg += j.CO2LocationG / 1000
		du.CO2MktKg += j.CO2MarketG / 1000
	}
	top := 0.0
	for _, du := range d.Days {
		top = max(top, du.EnergyKWh)
	}
	c := chart{W: 14 * 40, H: 140, Label: fmt.Sprintf("Energy per day over the last %d days; the table below has the figures", usageDays)}
	c.Max = fmt.Sprintf("%.1f kWh", top)
	for i, du := range d.Days {
		h := 0
		if top > 0 {
			h = int(math.Round(100 * du.EnergyKWh / top))
		}
		c.Bars = append(c.Bars, bar{X: i*40 + 6, Y: 110 - h, W: 28, H: h, Title: fmt.Sprintf("%s: %.2f kWh, %.2f kg CO2", du.Day, du.EnergyKWh, du.CO2LocKg), Day: du.Day[8:], LabelX: i*40 + 20})
	}
	d.Chart = c
	return nil
}

type operatorsData struct {
	// Unavailable are the nodes that are not in service, with reasons.
	Unavailable []api.Node
	Nodes       int
	Done        string
	// Warned are running jobs with something noticed about them (an
	// allocated GPU idle for long), of those the viewer may see.
	Warned []warnedJob
	// Audit is the newest part of the audit trail, newest first; nil
	// when the controller does not let the viewer read it.
	Audit []auditRow
}

type auditRow struct {
	Time, User, Via, Action, Target, Outcome, Detail string
	Status                                           int
}

// auditRows is how much of the audit trail the Operators page shows.
const auditRows = 50

type warnedJob struct {
	ID, User string
	Warnings []string
}

// maxWarnLooks bounds how many running jobs the Operators page asks
// about, so that a full machine costs a bounded page.
const maxWarnLooks = 1000

func (s *Server) operatorsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	nodes, err := s.ctl.Nodes(r.Context())
	if err != nil {
		return err
	}
	d := &operatorsData{Nodes: len(nodes), Done: r.URL.Query().Get("done")}
	for _, n := range nodes {
		switch n.State {
		case "down", "drained", "draining":
			d.Unavailable = append(d.Unavailable, n)
		}
	}
	jobs, err := s.ctl.ListJobs(r.Context(), v.User, true, true)
	if err != nil {
		return err
	}
	looks := 0
	for i := range jobs {
		j := &jobs[i]
		if j.State != job.Running || looks >= maxWarnLooks {
			continue
		}
		looks++
		w, err := s.ctl.Why(r.Context(), v.User, job.Ref{ID: j.ID})
		if err != nil {
			continue // ended since the list: nothing to warn of
		}
		if len(w.Warnings) > 0 {
			d.Warned = append(d.Warned, warnedJob{ID: jobRef(j), User: j.User, Warnings: w.Warnings})
		}
	}
	// The controller decides who reads the trail (operators): for
	// others the section is left out.
	if recs, err := s.ctl.Audit(r.Context(), v.User, store.AuditQuery{Limit: auditRows}); err == nil {
		d.Audit = []auditRow{}
		for i := len(recs) - 1; i >= 0; i-- {
			a := &recs[i]
			d.Audit = append(d.Audit, auditRow{Time: time.Unix(a.TimeS, 0).UTC().Format("2006-01-02 15:04:05"), User: a.User, Via: a.Via,
				Action: a.Action, Target: a.Target, Outcome: a.Outcome, Status: a.Status, Detail: a.Detail})
		}
	}
	s.render(w, http.StatusOK, "operators", v, "Operators", d)
	return nil
}

// nodesPost drains or resumes nodes; the controller lets only operators.
func (s *Server) nodesPost(w http.ResponseWriter, r *http.Request, v *viewer) error {
	act := api.NodeAction{Nodes: strings.TrimSpace(r.PostFormValue("nodes")), Reason: r.PostFormValue("reason")}
	var drain bool
	switch r.PostFormValue("action") {
	case "drain":
		drain = true
	case "resume":
	default:
		return &api.Error{Code: api.CodeInvalid, Message: "choose drain or resume"}
	}
	var names []string
	err := s.audited(r, v, "POST /operators/nodes ("+r.PostFormValue("action")+")", act.Nodes, func(ctx context.Context) error {
		var err error
		names, err = s.ctl.SetNodes(ctx, v.User, act, drain)
		return err
	})
	if err != nil {
		return err
	}
	verb := "resumed"
	if drain {
		verb = "drained"
	}
	http.Redirect(w, r, "/operators?done="+url.QueryEscape(verb+" "+strings.Join(names, ", ")), http.StatusSeeOther)
	return nil
}

type whatIfData struct {
	Policies []string
	Chosen   string
	W        *controller.WhatIf
	// Rows are the jobs shown (at most pageRows), with their times.
	Rows    []whatIfRow
	AvgWait string
	Other   string
}

type whatIfRow struct {
	ID, User, Project string
	GPUs              int
	Start, Other      string
	Change            string
}

// whatIfPage replays the queue in the twin under another policy, one
// click from the form; the controller lets only operators.
func (s *Server) whatIfPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d := &whatIfData{Chosen: r.URL.Query().Get("policy")}
	for _, p := range sched.PolicyNames() {
		if p != "default" {
			d.Policies = append(d.Policies, p)
		}
	}
	if d.Chosen != "" {
		wi, err := s.ctl.WhatIf(r.Context(), v.User, d.Chosen)
		if err != nil {
			return err
		}
		d.W = wi
		d.AvgWait, d.Other = duration(int64(wi.AvgWaitS)), duration(int64(wi.OtherAvgWaitS))
		now := time.Unix(wi.Now, 0)
		show := func(t int64) string {
			if t == 0 {
				return "beyond the forecast"
			}
			return when(t, now)
		}
		for i, j := range wi.Jobs {
			if i == pageRows {
				break
			}
			row := whatIfRow{ID: fmt.Sprint(j.ID), User: j.User, Project: j.Project, GPUs: j.GPUs, Start: show(j.StartS), Other: show(j.OtherStart)}
			if j.StartS != 0 && j.OtherStart != 0 {
				switch diff := j.OtherStart - j.StartS; {
				case diff < 0:
					row.Change = duration(-diff) + " sooner"
				case diff > 0:
					row.Change = duration(diff) + " later"
				default:
					row.Change = "same"
				}
			}
			d.Rows = append(d.Rows, row)
		}
	}
	s.render(w, http.StatusOK, "whatif", v, "What if", d)
	return nil
}

// whatIfReport serves the twin's HTML report of the live queue replayed
// under the running policy and each policy named (policy=...); the
// controller lets only operators.
func (s *Server) whatIfReport(w http.ResponseWriter, r *http.Request, v *viewer) error {
	var buf bytes.Buffer
	if err := s.ctl.WhatIfReport(r.Context(), v.User, r.URL.Query()["policy"], &buf); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Security-Policy", reportCSP(buf.Bytes()))
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// reportCSP is the Content Security Policy of one twin report. The report
// is a self-contained page: its styles are one inline <style> element
// (the page's csp forbids inline style) and its charts inline SVG with
// presentation attributes, no style attributes. So this one response
// allows exactly that element, by its hash, and still no script, no
// connection, no form and no frame.
func reportCSP(page []byte) string {
	styleSrc := "'none'"
	if _, rest, ok := bytes.Cut(page, []byte("<style>")); ok {
		if css, _, ok := bytes.Cut(rest, []byte("</style>")); ok {
			sum := sha256.Sum256(css)
			styleSrc = "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		}
	}
	return "default-src 'none'; style-src " + styleSrc + "; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
}
