package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func simCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(append([]string{"gefion"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

const tiresiasSlice = "../twin/testdata/tiresias_60_job.csv"

func TestSimCompareJSON(t *testing.T) {
	report := filepath.Join(t.TempDir(), "r.html")
	code, out, errs := simCLI(t, "sim", "--preset", "gefion", "--trace", tiresiasSlice, "--format", "tiresias",
		"--compare", "fifo,backfill,default", "--load", "0.5,0.9", "--json", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(doc.Runs) != 6 {
		t.Fatalf("%d runs; want 3 policies x 2 loads", len(doc.Runs))
	}
	keys := []string{"jobs", "completed", "gpus", "policy", "makespan_s", "avg_jct_s", "p50_jct_s", "p99_jct_s", "avg_wait_s", "p99_wait_s",
		"utilization", "avg_bounded_slowdown", "jain_fairness", "multi_node_in_one_su", "energy_kwh", "co2_kg", "wall_s"}
	for _, r := range doc.Runs {
		for _, k := range keys {
			if _, ok := r[k]; !ok {
				t.Errorf("run %v lacks key %q", r["policy"], k)
			}
		}
		if r["jobs"].(float64) != 60 || r["completed"].(float64) != 60 {
			t.Errorf("run %v: %v of %v jobs completed; want 60", r["policy"], r["completed"], r["jobs"])
		}
	}
	if doc.Runs[2]["policy"] != "gefion" {
		t.Errorf("default policy ran as %v; want gefion", doc.Runs[2]["policy"])
	}
	if b, err := os.ReadFile(report); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("report %s: %v; want an HTML page with charts", report, err)
	}
}

func TestSimSingleJSONAndTable(t *testing.T) {
	code, out, errs := simCLI(t, "sim", "--trace", tiresiasSlice, "--format", "csv", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || m["policy"] != "gefion" || m["jobs"].(float64) != 60 {
		t.Errorf("single-run JSON %v (%v); want the default policy's figures at top level", m, err)
	}
	code, out, _ = simCLI(t, "sim", "--trace", tiresiasSlice, "--compare", "fifo,gefion")
	if code != 0 || !strings.Contains(out, "avg wait") || !strings.Contains(out, "fifo") {
		t.Errorf("table output (exit %d):\n%s", code, out)
	}
}

func TestSimErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("submit_time,duration,num_gpu\n0,10,1\n5,ten,1\n9,10,1\n"), 0o644)
	code, _, errs := simCLI(t, "sim", "--trace", bad)
	if code != 1 || !strings.Contains(errs, "bad.csv:3:3: duration") || !strings.Contains(errs, "--skip-bad") {
		t.Errorf("bad row: exit %d, %q; want 1 and the row's file:line:column", code, errs)
	}
	code, out, errs := simCLI(t, "sim", "--trace", bad, "--skip-bad", "--json")
	if code != 0 || !strings.Contains(out, `"completed": 2`) {
		t.Errorf("--skip-bad: exit %d, %s %s; want 2 jobs replayed", code, out, errs)
	}
	for _, args := range [][]string{
		{"sim"},
		{"sim", "--trace", bad, "--policy", "lottery"},
		{"sim", "--trace", bad, "--load", "-1"},
		{"sim", "--trace", bad, "--time-limit-model", "psychic"},
		{"sim", "--trace", bad, "--shares", "a=0"},
	} {
		if code, _, errs := simCLI(t, args...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d (%q); want a usage error", args, code, errs)
		}
	}
	if code, _, errs := simCLI(t, "sim", "--trace", bad, "--shares", "nobody=2", "--skip-bad"); code != 1 || !strings.Contains(errs, "nobody") {
		t.Errorf("unknown project in --shares: exit %d, %q", code, errs)
	}
}

// TestSimReportNoWaits replays one job that waits 0 s and writes its
// report: the wait charts say "no waits" in place of a log-scale plot that
// has no positive range to draw.
func TestSimReportNoWaits(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.csv")
	if err := os.WriteFile(one, []byte("submit,duration,gpus\n0,100,8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "r.html")
	code, _, errs := simCLI(t, "sim", "--preset", "gefion", "--trace", one, "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("No waits")); n != 2 {
		t.Errorf("report says %q %d times; want 2 (wait distribution, wait by job size)", "No waits", n)
	}
	if n := bytes.Count(b, []byte("<svg")); n != 4 {
		t.Errorf("report has %d charts; want 4", n)
	}
}

// TestSimRefusesNonsense: flags and trace headers that used to be taken
// silently (or hang, or fail only when the JSON was written) are refused
// before anything runs, with a message naming the flag or column.
func TestSimRefusesNonsense(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	dup := filepath.Join(dir, "dup.csv")
	os.WriteFile(good, []byte("submit,duration,gpus\n0,100,8\n5,100,8\n"), 0o644)
	os.WriteFile(dup, []byte("submit,duration,gpus,duration\n0,100,8,50\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--trace", dup}, 1, `column "duration" appears 2 times in the header (columns 2, 4)`},
		{[]string{"--trace", good, "--max-jobs", "-5"}, 2, "--max-jobs -5: give a number of jobs, or 0 for all"},
		{[]string{"--trace", good, "--compare", ","}, 2, "names no policy"},
		{[]string{"--trace", good, "--compare", "fifo,fifo"}, 2, "names policy fifo twice"},
		{[]string{"--trace", good, "--compare", "default,gefion"}, 2, "names policy gefion twice"},
		{[]string{"--trace", good, "--compare", "fifo,lottery"}, 2, `unknown policy "lottery"`},
		{[]string{"--trace", good, "--policy", "fifo", "--compare", "backfill,gefion"}, 2, "not both"},
		{[]string{"--trace", good, "--load", ","}, 2, "names no load"},
		{[]string{"--trace", good, "--load", "0.9,0.9"}, 2, "--load 0.9 is given twice"},
		{[]string{"--trace", good, "--load", "NaN"}, 2, "--load \"NaN\""},
		{[]string{"--trace", good, "--load", "-0.5"}, 2, "--load \"-0.5\""},
		{[]string{"--trace", good, "--load", "1e-300"}, 1, "stretches the trace's arrivals"},
		{[]string{"--trace", good, "--node-mtbf", "Inf"}, 2, "--node-mtbf +Inf"},
		{[]string{"--trace", good, "--node-mtbf", "NaN"}, 2, "--node-mtbf NaN"},
		{[]string{"--trace", good, "--gpu-busy-w", "NaN"}, 2, "--gpu-busy-w NaN"},
		{[]string{"--trace", good, "--node-base-w", "-1"}, 2, "--node-base-w -1"},
		{[]string{"--trace", good, "--market-co2", "NaN"}, 2, "--market-co2 NaN"},
		{[]string{"--trace", good, "--pue", "NaN"}, 2, "--pue NaN"},
		{[]string{"--trace", good, "--pue", "Inf"}, 2, "--pue +Inf"},
		{[]string{"--trace", good, "--pue", "0"}, 2, "--pue 0"},
		{[]string{"--trace", good, "--co2", "NaN"}, 2, "--co2 NaN"},
		{[]string{"--trace", good, "--co2", "Inf"}, 2, "--co2 +Inf"},
		{[]string{"--trace", good, "--co2-area", "DK1"}, 2, "--co2-area DK1"},
		{[]string{"--trace", good, "--shares", "default=1,default=2"}, 2, "names project default twice"},
		{[]string{"--trace", good, "--sched-interval", "99999999999999"}, 2, "--sched-interval 99999999999999: give 1 to 86400 seconds"},
		{[]string{"--trace", good, "--seed", "-1"}, 2, "-seed"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			code, out, errs := simCLI(t, append([]string{"sim", "--json"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.want) || out != "" {
				t.Errorf("sim %q: exit %d, stderr %q, stdout %q; want exit %d saying %q and no output", tt.args, code, errs, out, tt.code, tt.want)
			}
		})
	}
	// The same flags within bounds still run.
	code, _, errs := simCLI(t, "sim", "--json", "--trace", good, "--compare", "fifo,gefion", "--load", "0.5,0.9", "--max-jobs", "1",
		"--pue", "1", "--node-mtbf", "1e300", "--co2", "0", "--sched-interval", "86400")
	if code != 0 {
		t.Errorf("sim within bounds: exit %d: %s", code, errs)
	}
}

// TestProgressToALogIsPlainLines: progress written to something that is
// not a terminal comes as whole lines, without the bar's carriage
// returns.
func TestProgressToALogIsPlainLines(t *testing.T) {
	defer func(d time.Duration) { plainProgressEvery = d }(plainProgressEvery)
	plainProgressEvery = 100 * time.Millisecond
	var buf syncBuffer
	var done atomic.Int64
	done.Store(500)
	stop := startProgress(&buf, &done, 1000, false)
	time.Sleep(1300 * time.Millisecond)
	stop()
	out := buf.String()
	if strings.Contains(out, "\r") || !strings.Contains(out, "sim: 50.0% 500/1000 jobs") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress to a log = %q; want plain lines", out)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
