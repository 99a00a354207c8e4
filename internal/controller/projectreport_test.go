package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

// reportHarness is a controller whose store holds project med (alice and
// amy, managed by mia; 100 GPU-hours granted ten days ago, 30 used) and
// quant (bob; 100 granted, a third of med's fair-share usage), with
// finished jobs of alice (10 GPU-hours, 5 kWh, two days ago) and amy (20
// GPU-hours, one day ago) and one of alice's from before the report.
func reportHarness(t *testing.T) (*harness, int64) {
	t.Helper()
	now := time.Now().Unix()
	st := store.NewMemory()
	a := storetest.Job(1, "alice", "med", job.Completed, now-3*86400, now-2*86400)
	a.GPUSeconds, a.EnergyJ = 10*3600, 5*3.6e6
	b := storetest.Job(2, "amy", "med", job.Completed, now-2*86400, now-86400)
	b.GPUSeconds = 20 * 3600
	old := storetest.Job(3, "alice", "med", job.Completed, now-40*86400, now-30*86400)
	old.GPUSeconds = 1000 * 3600
	err := st.Apply(context.Background(), &store.Batch{
		NewJobs: []store.JobRecord{a, b, old},
		Projects: []store.ProjectRecord{
			{Name: "med", Users: []string{"alice", "amy"}, Managers: []string{"mia"}, GrantGPUHours: 100,
				PeriodStartS: now - 10*86400, GrantEndS: now + 20*86400, UsedGPUSeconds: 30 * 3600, UsageGPUS: 300 * 3600, UsageAtS: now},
			{Name: "quant", Users: []string{"bob"}, GrantGPUHours: 100, PeriodStartS: now - 10*86400, UsageGPUS: 100 * 3600, UsageAtS: now},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, Config{Operators: []string{"op"}}, st, 0), now
}

func getReport(t *testing.T, h *harness, user, query string) (int, *api.ProjectReport, string) {
	t.Helper()
	code, body := h.raw("GET", "/v1/projects/med/report"+query, user, "")
	if code != http.StatusOK {
		return code, nil, string(body)
	}
	var rep api.ProjectReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("report as %s: %v in %s", user, err, body)
	}
	return code, &rep, string(body)
}

func TestProjectReportBurnDownAndSplit(t *testing.T) {
	h, now := reportHarness(t)

	code, rep, body := getReport(t, h, "alice", "")
	if code != http.StatusOK {
		t.Fatalf("report as alice = %d %s; want 200", code, body)
	}
	if len(rep.Days) != defaultReportDays {
		t.Errorf("days = %d; want %d (the period started ten days ago, within them)", len(rep.Days), defaultReportDays)
	}
	last := rep.Days[len(rep.Days)-1]
	if last.Day != time.Unix(now, 0).UTC().Format(time.DateOnly) || math.Abs(last.CumGPUHours-30) > 1e-9 {
		t.Errorf("last day = %+v; want today with 30 GPU-hours used since the period began", last)
	}
	if d := rep.Days[len(rep.Days)-3]; d.Jobs != 1 || math.Abs(d.GPUHours-10) > 1e-9 || math.Abs(d.EnergyKWh-5) > 1e-9 ||
		math.Abs(d.CO2LocationKg-0.5) > 1e-9 || d.CO2MarketKg != 0 {
		t.Errorf("two days ago = %+v; want alice's job: 10 GPU-hours, 5 kWh, 0.5 kg CO2 location-based, 0 market-based", d)
	}
	// alice, a member, sees her own row and the total, not amy's.
	if rep.AllUsers || len(rep.Users) != 1 || rep.Users[0].User != "alice" || math.Abs(rep.Users[0].GPUHours-10) > 1e-9 {
		t.Errorf("alice's users = %+v (all %v); want only her own row of 10 GPU-hours", rep.Users, rep.AllUsers)
	}
	if strings.Contains(body, `"amy"`) && strings.Contains(body, `"user":"amy"`) {
		t.Errorf("alice's report carries amy's row: %s", body)
	}
	if math.Abs(rep.Total.GPUHours-30) > 1e-9 || rep.Total.Jobs != 2 {
		t.Errorf("total = %+v; want 2 jobs, 30 GPU-hours (the job of 30 days ago is outside)", rep.Total)
	}
	// 30 GPU-hours over the last 7 days: 70 left at 30/7 a day is 16.3 days.
	if math.Abs(rep.RatePerDay-30.0/7) > 1e-9 {
		t.Errorf("rate = %v GPU-hours/day; want 30/7", rep.RatePerDay)
	}
	if want := now + int64(70/(30.0/7)*86400); rep.RunsOut < want-2 || rep.RunsOut > want+2 {
		t.Errorf("runs out at now%+ds; want now%+ds", rep.RunsOut-now, want-now)
	}
	if rep.Project.GrantEnd != now+20*86400 {
		t.Errorf("grant end = %d; want now+20 days", rep.Project.GrantEnd)
	}
	// Fair share: grants of 100 for med and quant and the open default
	// project's one share; med used three quarters of the usage, so it
	// ranks last of three.
	fs := rep.FairShare
	if math.Abs(fs.ShareFrac-100.0/201) > 1e-9 || math.Abs(fs.UsageFrac-0.75) > 1e-3 || math.Abs(fs.Factor-1.0/3) > 1e-9 ||
		strings.Join(fs.Above, ",") != "default,quant" {
		t.Errorf("fair share = %+v; want share 100/201, usage 0.75, factor 1/3, below default and quant", fs)
	}
	for _, want := range []string{"project med used 151% of its share over the last 7 days", "rank below projects default's and quant's"} {
		if !strings.Contains(fs.Why, want) {
			t.Errorf("why = %q; want it to say %q", fs.Why, want)
		}
	}

	// The manager and an operator see every user's row.
	for _, u := range []string{"mia", "op"} {
		_, rep, body := getReport(t, h, u, "?days=3")
		if rep == nil {
			t.Fatalf("report as %s: %s", u, body)
		}
		if !rep.AllUsers || len(rep.Users) != 2 || rep.Users[0].User != "amy" || rep.Users[1].User != "alice" {
			t.Errorf("%s's users = %+v; want amy (20) then alice (10)", u, rep.Users)
		}
		if len(rep.Days) != 11 {
			t.Errorf("%s's days = %d; want 11 (from the period's start, before the 3 asked)", u, len(rep.Days))
		}
	}
}

func TestProjectReportRefusals(t *testing.T) {
	h, _ := reportHarness(t)
	for _, c := range []struct {
		user, path string
		code       int
		says       string
	}{
		{"bob", "/v1/projects/med/report", http.StatusForbidden, "not a member of project med"},
		{"alice", "/v1/projects/med/report?days=0", http.StatusBadRequest, "give a number of days from 1"},
		{"alice", "/v1/projects/med/report?days=x", http.StatusBadRequest, "whole number of days"},
		{"alice", "/v1/projects/nope/report", http.StatusNotFound, "project nope does not exist"},
	} {
		code, body := h.raw("GET", c.path, c.user, "")
		if code != c.code || !strings.Contains(string(body), c.says) {
			t.Errorf("GET %s as %s = %d %s; want %d saying %q", c.path, c.user, code, body, c.code, c.says)
		}
	}
}

func TestGrantEnd(t *testing.T) {
	h, now := reportHarness(t)
	patch := func(body string) (int, string) {
		code, b := h.raw("PATCH", "/v1/projects/quant", "op", body)
		return code, string(b)
	}
	// Before the period's start: refused, nothing changed.
	if code, body := patch(fmt.Sprintf(`{"grant_end":%d}`, now-20*86400)); code != http.StatusBadRequest || !strings.Contains(body, "give an end after that") {
		t.Errorf("grant end before the period = %d %s; want 400 saying to give an end after the start", code, body)
	}
	if code, body := patch(`{"grant_end":-1}`); code != http.StatusBadRequest || !strings.Contains(body, "grant_end=-1") {
		t.Errorf("grant end -1 = %d %s; want 400 naming grant_end", code, body)
	}
	end := now + 90*86400
	if code, body := patch(fmt.Sprintf(`{"grant_end":%d}`, end)); code != http.StatusOK {
		t.Fatalf("grant end in 90 days = %d %s; want 200", code, body)
	}
	ps, err := h.client("bob").Projects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == "quant" && p.GrantEnd != end {
			t.Errorf("quant's grant end = %d; want %d", p.GrantEnd, end)
		}
	}
	// Only admins set it; a manager may not.
	if code, body := h.raw("PATCH", "/v1/projects/med", "mia", fmt.Sprintf(`{"grant_end":%d}`, end)); code != http.StatusForbidden {
		t.Errorf("grant end by a manager = %d %s; want 403", code, body)
	}
}

// BenchmarkProjectReport20k reads the report of a project whose members
// finished 20,000 jobs over its grant's last 30 days, as the web view's
// Projects page does on each load.
func BenchmarkProjectReport20k(b *testing.B) {
	now := time.Now().Unix()
	st := store.NewMemory()
	var recs []store.JobRecord
	for i := range 20000 {
		end := now - int64(i)*30*86400/20000
		r := storetest.Job(job.ID(i+1), fmt.Sprintf("u%d", i%50), "med", job.Completed, end-3600, end)
		r.GPUSeconds, r.EnergyJ = 8*3600, 8*700*3600
		recs = append(recs, r)
	}
	err := st.Apply(context.Background(), &store.Batch{NewJobs: recs, Projects: []store.ProjectRecord{
		{Name: "med", Users: []string{"u0"}, Managers: []string{"mia"}, GrantGPUHours: 1e6, PeriodStartS: now - 40*86400, GrantEndS: now + 300*86400},
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctl, err := New(Config{DefaultProject: "default"}, st, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	b.ResetTimer()
	for b.Loop() {
		rep, err := ctl.ProjectReport(context.Background(), "mia", "med", defaultReportDays)
		if err != nil || rep.Total.Jobs != 20000 || len(rep.Users) != 50 {
			b.Fatalf("report: %v jobs, %d users, %v", rep.Total.Jobs, len(rep.Users), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
}
