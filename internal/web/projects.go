package web

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// projectView is one project's report on the Projects page: the burn-down
// of its grant, its use per user and per day, and its fair-share standing,
// all from the controller's report (which decides what the viewer sees).
type projectView struct {
	*api.ProjectReport
	// Refused says why the viewer may not read the report, instead of it.
	Refused string
	// Used is the grant's share used (0..1); UsedPct its text.
	Used float64
	// Start and End are the grant's dates; RunsOut when it runs out at
	// the current rate, and RunsOutNote how that compares with the end.
	Start, End, RunsOut, RunsOutNote string
	BurnDown                         template.HTML
	Energy, CO2                      template.HTML
}

// reportFor renders project name's report as v may see it; a refusal of
// the controller's (not a member) is shown in its place.
func (s *Server) reportFor(r *http.Request, v *viewer, name string) (*projectView, error) {
	rep, err := s.ctl.ProjectReport(r.Context(), v.User, name, usageDays)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeForbidden {
			return &projectView{Refused: ae.Message}, nil
		}
		return nil, err
	}
	pv := &projectView{ProjectReport: rep}
	p := &rep.Project
	pv.Start = day(p.PeriodStart)
	pv.End = day(p.GrantEnd)
	if p.GrantGPUHours > 0 {
		pv.Used = min(p.UsedOfGrant, 1)
	}
	if rep.RunsOut > 0 {
		pv.RunsOut = day(rep.RunsOut)
		switch {
		case rep.RunsOut <= rep.AtS:
			pv.RunsOutNote = "the grant is used up"
		case p.GrantEnd > 0 && rep.RunsOut < p.GrantEnd:
			pv.RunsOutNote = fmt.Sprintf("%.0f days before the grant ends", float64(p.GrantEnd-rep.RunsOut)/86400)
		case p.GrantEnd > 0:
			pv.RunsOutNote = "after the grant ends: at this rate some of it will be left"
		}
	}
	pv.BurnDown = burnDown(rep)
	pv.Energy, pv.CO2 = dayCharts(rep)
	return pv, nil
}

// day writes a Unix time as a date (UTC), "" for 0.
func day(s int64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(s, 0).UTC().Format(time.DateOnly)
}

// burnDown draws the GPU-hours used since the grant's period began against
// even use to the grant's end and the projection at the current rate, in
// days since the period began. Nil without a grant.
func burnDown(rep *api.ProjectReport) template.HTML {
	p := &rep.Project
	if p.GrantGPUHours <= 0 || p.PeriodStart == 0 {
		return ""
	}
	start := float64(p.PeriodStart)
	at := func(s int64) float64 { return (float64(s) - start) / 86400 }
	used := twin.ChartLine{Name: "used", X: []float64{0}, Y: []float64{0}}
	for _, d := range rep.Days {
		end := min(d.StartS+86400, rep.AtS)
		if end <= p.PeriodStart {
			continue
		}
		used.X, used.Y = append(used.X, at(end)), append(used.Y, d.CumGPUHours)
	}
	c := &twin.Chart{
		Title: fmt.Sprintf("Burn-down of project %s's grant: %.1f of %.1f GPU-hours used since %s; the table below has the figures",
			p.Name, p.UsedGPUHours, p.GrantGPUHours, day(p.PeriodStart)),
		XLabel: "days since the grant began (" + day(p.PeriodStart) + ")", YLabel: "GPU-hours used",
		Lines: []twin.ChartLine{used}, YMin: new(float64),
	}
	horizon := at(rep.AtS)
	if p.GrantEnd > 0 {
		horizon = at(p.GrantEnd)
		c.Lines = append(c.Lines, twin.ChartLine{Name: "even use to the grant's end (" + day(p.GrantEnd) + ")",
			X: []float64{0, horizon}, Y: []float64{0, p.GrantGPUHours}, Dashed: true})
	}
	if rep.RatePerDay > 0 && rep.RunsOut > rep.AtS {
		now, cum := at(rep.AtS), used.Y[len(used.Y)-1]
		// The projection runs to the grant's end, or to the day it runs
		// out, whichever comes first (to a year ahead without an end).
		to := at(rep.RunsOut)
		if p.GrantEnd > 0 {
			to = min(to, horizon)
		} else {
			to = min(to, now+365)
		}
		c.Lines = append(c.Lines, twin.ChartLine{Name: fmt.Sprintf("at the last 7 days' rate (%.1f GPU-hours a day)", rep.RatePerDay),
			X: []float64{now, to}, Y: []float64{cum, cum + (to-now)*rep.RatePerDay}, Dashed: true})
	}
	c.Lines = append(c.Lines, twin.ChartLine{Name: fmt.Sprintf("granted (%.1f GPU-hours)", p.GrantGPUHours),
		X: []float64{0, math.Max(horizon, at(rep.AtS))}, Y: []float64{p.GrantGPUHours, p.GrantGPUHours}})
	return template.HTML(c.SVG()) // built from numbers and escaped names
}

// dayCharts draws the project's energy per day and its CO2 per day,
// location- and market-based, over the report's last usageDays days.
func dayCharts(rep *api.ProjectReport) (energy, co2 template.HTML) {
	days := rep.Days[max(len(rep.Days)-usageDays, 0):]
	var cats []string
	var kwh, loc, mkt []float64
	for _, d := range days {
		cats = append(cats, d.Day[5:])
		kwh = append(kwh, d.EnergyKWh)
		loc = append(loc, d.CO2LocationKg)
		mkt = append(mkt, d.CO2MarketKg)
	}
	name := rep.Project.Name
	e := &twin.Chart{Title: fmt.Sprintf("Energy of project %s's jobs per day, last %d days; the table below has the figures", name, len(days)),
		XLabel: "day (UTC, month-day)", YLabel: "energy (kWh)", Categories: cats, Bars: []twin.ChartBars{{Name: "energy (kWh)", Values: kwh}}}
	c := &twin.Chart{Title: fmt.Sprintf("CO2 of project %s's jobs per day, location- and market-based, last %d days; the table below has the figures", name, len(days)),
		XLabel: "day (UTC, month-day)", YLabel: "CO2 (kg)", Categories: cats,
		Bars: []twin.ChartBars{{Name: "location-based (kg)", Values: loc}, {Name: "market-based (kg)", Values: mkt}}}
	return template.HTML(e.SVG()), template.HTML(c.SVG()) // built from numbers and escaped names
}

// chosenProject is the project whose report the page shows: the one asked
// for, else the first the viewer is a member or manager of.
func chosenProject(r *http.Request, v *viewer, ps []api.Project) string {
	if p := r.URL.Query().Get("p"); p != "" {
		return p
	}
	for _, p := range ps {
		if slices.Contains(p.Users, v.User) || slices.Contains(p.Managers, v.User) {
			return p.Name
		}
	}
	return ""
}
