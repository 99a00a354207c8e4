//go:build !client

package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/twin"
)

// TestBenchForecastTinySlice replays four jobs on one 8-GPU node through
// the live controller under FIFO: the first holds the node for 1,200 s, so
// the others wait for it (and the last two for the second too). With exact
// time limits and no job overtaking, the twin knows every start; the
// figures must come from the real starts.
func TestBenchForecastTinySlice(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a trace through a live controller for a few seconds")
	}
	dir := t.TempDir()
	tr := tiresiasTrace(t, dir, "0,8,0,1,a,1200,10", "1,8,10,1,b,600,10", "2,4,20,1,c,900,10", "3,4,30,1,d,300,0")
	perJob := filepath.Join(dir, "jobs.csv")
	report := filepath.Join(dir, "report.html")
	code, out, errb := runGefion("bench", "forecast", "--trace", tr, "--format", "tiresias", "--preset", "gefion:1",
		"--time-limit-model", "exact", "--policy", "fifo", "--speedup", "400", "--min-wait", "5m", "--json", "--csv", perJob, "--report", report)
	if code != 0 {
		t.Fatalf("bench forecast exited %d: %s", code, errb.String())
	}
	var res struct {
		Jobs    int `json:"jobs"`
		Waited  int `json:"waited"`
		Methods map[string]map[string]float64
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if res.Jobs != 4 {
		t.Errorf("jobs = %d; want 4", res.Jobs)
	}
	for _, m := range []string{"twin", "reservation"} {
		for _, k := range []string{"median_abs_err_frac", "p90_abs_err_frac", "within_10pct", "within_30min", "forecasts"} {
			if _, ok := res.Methods[m][k]; !ok {
				t.Errorf("methods.%s has no %s: %v", m, k, res.Methods[m])
			}
		}
	}

	// The per-job file holds the real starts; recompute from it.
	f, err := os.Open(perJob)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	get := func(r []string, k string) int64 {
		v, err := strconv.ParseInt(r[col[k]], 10, 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", k, r[col[k]], err)
		}
		return v
	}
	waited := 0
	var errs []float64
	for _, r := range recs[1:] {
		sub, start := get(r, "submit_s"), get(r, "start_s")
		if start < sub {
			t.Errorf("job %s started at %d, before its submission at %d", r[0], start, sub)
		}
		if start-sub >= 300 {
			waited++
			if tw := get(r, "twin_s"); tw != 0 {
				errs = append(errs, math.Abs(float64(tw-start))/float64(start-sub))
			}
		}
	}
	// Jobs 2 to 4 wait for the first (1,200 s) and the 4-GPU ones for
	// the second too; a scheduling pass takes a few trace seconds here.
	first := recs[1]
	if w := get(first, "start_s") - get(first, "submit_s"); w > 60 {
		t.Errorf("the first job waited %d s on an idle node; want at most a pass", w)
	}
	second := recs[2]
	if w := get(second, "start_s") - get(second, "submit_s"); w < 1100 || w > 1300 {
		t.Errorf("the second job waited %d s; want about 1,190 (the first job's run)", w)
	}
	if waited != 3 || res.Waited != 3 {
		t.Fatalf("waited = %d in the JSON, %d from the per-job starts; want 3", res.Waited, waited)
	}
	if int(res.Methods["twin"]["forecasts"]) != len(errs) {
		t.Fatalf("twin forecasts = %v; the per-job file has %d", res.Methods["twin"]["forecasts"], len(errs))
	}
	if len(errs) > 0 {
		want := quantile(errs, 0.5)
		if got := res.Methods["twin"]["median_abs_err_frac"]; math.Abs(got-want) > 1e-9 {
			t.Errorf("twin median_abs_err_frac = %v; the real starts give %v", got, want)
		}
		// Exact limits and an empty machine ahead: the twin knows.
		if want > 0.1 {
			t.Errorf("twin median error %.1f%% of the wait with exact limits; want at most 10%%", 100*want)
		}
	}
	if b, err := os.ReadFile(report); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("report: %v; want an HTML page with a chart", err)
	}
}

func TestScoreForecasts(t *testing.T) {
	fcs := []jobForecast{
		{SubmitS: 0, StartS: 1000, AskedS: 10, Twin: 1100, TwinLow: 900, TwinHigh: 1200, Reservation: 2000}, // +10%, +100%, in range
		{SubmitS: 0, StartS: 2000, AskedS: 30, Twin: 1000, TwinLow: 800, TwinHigh: 1500, Reservation: 0},    // -50%, none, outside
		{SubmitS: 0, StartS: 4000, AskedS: 20, Twin: 4000, Reservation: 4000},                               // exact, no range
		{SubmitS: 100, StartS: 110, AskedS: 900, Twin: 500, TwinLow: 100, TwinHigh: 900, Reservation: 500},  // waited too little
		{SubmitS: 0, StartS: 700, AskedS: 800, startedBeforeAsking: true},                                   // asked too late
	}
	r := scoreForecasts(fcs, 600, false)
	if _, ok := r.Methods[knownMethod]; ok {
		t.Errorf("%s scored without --known-runtimes", knownMethod)
	}
	if r.Jobs != 5 || r.Waited != 4 {
		t.Fatalf("jobs, waited = %d, %d; want 5, 4", r.Jobs, r.Waited)
	}
	// The delays of the jobs that waited: 10, 30, 20 and 800 s.
	if r.AskDelayS != 25 || r.StartedBeforeAsked != 1 {
		t.Errorf("ask delay %v s, started before asked %d; want 25 s (of 10, 20, 30, 800), 1", r.AskDelayS, r.StartedBeforeAsked)
	}
	tw, rs := r.Methods["twin"], r.Methods["reservation"]
	if tw.Forecasts != 3 || rs.Forecasts != 2 {
		t.Fatalf("forecasts = %d, %d; want 3, 2", tw.Forecasts, rs.Forecasts)
	}
	if math.Abs(tw.MedianAbsErrFrac-0.1) > 1e-9 || math.Abs(tw.Within10Pct-2.0/3) > 1e-9 || tw.Within30Min != 1 {
		t.Errorf("twin = %+v; want median 0.1, 2/3 within 10%%, all within 30 min", *tw)
	}
	if math.Abs(rs.MedianAbsErrFrac-0.5) > 1e-9 || rs.Within10Pct != 0.5 {
		t.Errorf("reservation = %+v; want median 0.5 (of 1 and 0), half within 10%%", *rs)
	}
	// Two of the jobs that waited had a range; one start fell inside.
	if tw.Ranges != 2 || tw.InRange != 0.5 || rs.Ranges != 0 {
		t.Errorf("twin ranges, in range = %d, %v (reservation %d); want 2, 0.5 (0)", tw.Ranges, tw.InRange, rs.Ranges)
	}
}

// TestScoreForecastsKnownRuntimes: the diagnostic is scored like the
// others, over the same jobs, from its own forecasts.
func TestScoreForecastsKnownRuntimes(t *testing.T) {
	fcs := []jobForecast{
		{SubmitS: 0, StartS: 1000, Twin: 1500, Known: 1050, Reservation: 2000}, // known +5%
		{SubmitS: 0, StartS: 2000, Twin: 1000, Known: 0, Reservation: 3000},    // known none
		{SubmitS: 0, StartS: 4000, Twin: 4000, Known: 2000, Reservation: 4000}, // known -50%
		{SubmitS: 0, StartS: 5000, Twin: 4000, Known: 5000, Reservation: 4000}, // known exact
	}
	r := scoreForecasts(fcs, 600, true)
	if d := cmp.Diff([]string{"twin", knownMethod, clairMethod, hindsightMethod, "reservation"}, scoredMethods(true)); d != "" {
		t.Errorf("scoredMethods(true) (-want +got):\n%s", d)
	}
	k := r.Methods[knownMethod]
	if k == nil {
		t.Fatalf("methods = %v; want %s", r.Methods, knownMethod)
	}
	if k.Forecasts != 3 || math.Abs(k.MedianAbsErrFrac-0.05) > 1e-9 || math.Abs(k.Within10Pct-2.0/3) > 1e-9 || math.Abs(k.MedianErrFrac-0) > 1e-9 {
		t.Errorf("%s = %+v; want 3 forecasts, median |err| 5%%, 2/3 within 10%%, median signed 0", knownMethod, *k)
	}
	if tw := r.Methods["twin"]; tw.Forecasts != 4 || math.Abs(tw.MedianAbsErrFrac-0.35) > 1e-9 {
		t.Errorf("twin = %+v; want 4 forecasts, median |err| 35%% (of 0.5, 0.5, 0, 0.2)", *tw)
	}
}

// TestBenchForecastKnownRuntimes replays a slice whose limits are three
// times the run times under FIFO. Too few jobs end early enough to teach
// the run-time model, so the twin's forecast runs each job to its limit
// and is late; the diagnostic knows the run times and must be close to
// the real starts, and is labelled as a diagnostic.
func TestBenchForecastKnownRuntimes(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a trace through a live controller for a few seconds")
	}
	dir := t.TempDir()
	tr := filepath.Join(dir, "tiny.csv")
	rows := "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n" +
		"0,8,0,1,a,1200,10\n" +
		"1,8,10,1,b,600,10\n" +
		"2,8,20,1,c,900,10\n" +
		"3,8,30,1,d,300,0\n"
	if err := os.WriteFile(tr, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"gefion", "bench", "forecast", "--trace", tr, "--format", "tiresias", "--preset", "gefion:1",
		"--time-limit-model", "factor:3", "--policy", "fifo", "--speedup", "400", "--min-wait", "5m", "--known-runtimes"}
	var out, errb bytes.Buffer
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	if code := RunEnv(e, append(args, "--json")); code != 0 {
		t.Fatalf("bench forecast exited %d: %s", code, errb.String())
	}
	var res struct {
		Waited  int                       `json:"waited"`
		Methods map[string]*forecastStats `json:"methods"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	k, tw, hs := res.Methods[knownMethod], res.Methods["twin"], res.Methods[hindsightMethod]
	if k == nil || tw == nil || hs == nil || res.Methods["reservation"] == nil {
		t.Fatalf("methods = %v; want twin, %s, %s and reservation", res.Methods, knownMethod, hindsightMethod)
	}
	// The twin's replay of these four jobs under FIFO, and its forecast
	// with the later jobs known too, are what the live controller does
	// but for its pass timing.
	for m, s := range map[string]*forecastStats{hindsightMethod: hs, clairMethod: res.Methods[clairMethod]} {
		if s == nil || s.Forecasts != 3 || s.MedianAbsErrFrac > 0.1 {
			t.Errorf("%s: %+v; want 3 forecasts, median error within 10%%", m, s)
		}
	}
	if res.Waited != 3 || k.Forecasts != 3 {
		t.Fatalf("waited %d, %s forecasts %d; want 3 and 3", res.Waited, knownMethod, k.Forecasts)
	}
	if k.MedianAbsErrFrac > 0.1 {
		t.Errorf("%s median error %.1f%% with true run times and FIFO; want at most 10%%", knownMethod, 100*k.MedianAbsErrFrac)
	}
	if tw.MedianErrFrac < 0.5 {
		t.Errorf("twin median signed error %+.1f%% with limits three times the run times and no history; want late by more than 50%%", 100*tw.MedianErrFrac)
	}

	// The table says what the diagnostic is.
	out.Reset()
	if code := RunEnv(e, args); code != 0 {
		t.Fatalf("bench forecast exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), knownMethod) || !strings.Contains(out.String(), hindsightMethod) || !strings.Contains(out.String(), clairMethod) || !strings.Contains(out.String(), "are diagnostics") {
		t.Errorf("table does not show and explain %s:\n%s", knownMethod, out.String())
	}
}

// TestBenchForecastRefusesSliceTooBig: a job larger than the machine is
// refused before anything starts, and no report is written.
func TestBenchForecastRefusesSliceTooBig(t *testing.T) {
	dir := t.TempDir()
	tr := filepath.Join(dir, "big.csv")
	rows := "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n" +
		"0,8,0,1,a,100,10\n" +
		"1,16,10,1,b,100,0\n"
	if err := os.WriteFile(tr, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.html")
	var out, errb bytes.Buffer
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := RunEnv(e, []string{"gefion", "bench", "forecast", "--trace", tr, "--format", "tiresias", "--preset", "gefion:1", "--report", report})
	if code != 1 || !strings.Contains(errb.String(), "do not fit") || !strings.Contains(errb.String(), "--preset gefion:N") {
		t.Fatalf("exit %d, stderr %q; want 1 and a message that the slice does not fit and what to give", code, errb.String())
	}
	if _, err := os.Stat(report); !os.IsNotExist(err) {
		t.Errorf("a report was written for a refused slice: %v", err)
	}
}

// TestBenchForecastTail: after the scored jobs the bench submits the
// trace's next ones, unscored, only until every scored job has started.
// Under FIFO on one 8-GPU node the three scored jobs have all started by
// 1,800 s; the fourth job comes while they wait and is submitted, the
// fifth (at 3,000 s) and sixth are not. Only the scored jobs are in the
// figures and the per-job file.
func TestBenchForecastTail(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a trace through a live controller for a few seconds")
	}
	dir := t.TempDir()
	tr := tiresiasTrace(t, dir, "0,8,0,1,a,1200,10", "1,8,10,1,b,600,10", "2,4,20,1,c,300,10",
		"3,4,30,1,d,100,2970", "4,4,3000,1,e,100,2000", "5,4,5000,1,f,100,0")
	perJob := filepath.Join(dir, "jobs.csv")
	code, out, errb := runGefion("bench", "forecast", "--trace", tr, "--format", "tiresias", "--preset", "gefion:1",
		"--jobs", "3", "--tail", "3", "--time-limit-model", "exact", "--policy", "fifo", "--speedup", "400", "--json", "--csv", perJob)
	if code != 0 {
		t.Fatalf("bench forecast exited %d: %s", code, errb.String())
	}
	var res struct {
		Jobs   int `json:"jobs"`
		Tail   int `json:"tail_jobs"`
		Waited int `json:"waited"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if res.Jobs != 3 || res.Tail != 1 || res.Waited != 2 {
		t.Errorf("jobs %d, tail %d, waited %d; want 3 scored, 1 more submitted, 2 that waited", res.Jobs, res.Tail, res.Waited)
	}
	b, err := os.ReadFile(perJob)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != 4 {
		t.Errorf("the per-job file has %d lines; want a header and the 3 scored jobs:\n%s", lines, b)
	}
	for _, bad := range []string{"--tail -2", "--tail x"} {
		args := append([]string{"bench", "forecast", "--trace", tr, "--format", "tiresias"}, strings.Fields(bad)...)
		if code, _, eb := runGefion(args...); code != 2 || !strings.Contains(eb.String(), "tail") {
			t.Errorf("%s: exit %d, %q; want a usage error naming --tail", bad, code, eb.String())
		}
	}
}

// tiresiasTrace writes a trace of the given rows in the tiresias format
// under dir and returns its path.
func tiresiasTrace(t *testing.T, dir string, rows ...string) string {
	t.Helper()
	path := filepath.Join(dir, "trace.csv")
	text := "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n" + strings.Join(rows, "\n") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runGefion runs the command line gefion args and returns its exit code,
// standard output and standard error.
func runGefion(args ...string) (code int, stdout, stderr *bytes.Buffer) {
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	e := &Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: func(string) string { return "" }}
	return RunEnv(e, append([]string{"gefion"}, args...)), stdout, stderr
}

// TestDenseCore: a slice whose first jobs trickle in over days before the
// rest come within hours is found, with the stretch that holds 95% of its
// jobs; an even slice is not.
func TestDenseCore(t *testing.T) {
	var sparse []twin.Job
	for k := range 10 {
		sparse = append(sparse, twin.Job{SubmitS: int64(k) * 86400}) // ten days, a job a day
	}
	for k := range 190 {
		sparse = append(sparse, twin.Job{SubmitS: 10*86400 + int64(k)*60}) // then one a minute
	}
	from, to, ok := denseCore(sparse)
	if !ok || from != 10 || to != 200 {
		t.Errorf("denseCore(sparse head) = %d, %d, %v; want the 190 jobs from 10, true", from, to, ok)
	}
	var even []twin.Job
	for k := range 200 {
		even = append(even, twin.Job{SubmitS: int64(k) * 600})
	}
	if _, _, ok := denseCore(even); ok {
		t.Errorf("denseCore(even arrivals) found a dense core")
	}
	if _, _, ok := denseCore(sparse[:5]); ok {
		t.Errorf("denseCore of 5 jobs found a dense core")
	}
}
