package trace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openFile(t *testing.T, name string, opt Options) *CSVReader {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	opt.Name = name
	r, err := Open(f, opt)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	return r
}

func readAll(t *testing.T, r Reader) []Record {
	t.Helper()
	recs, err := ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestPhilly(t *testing.T) {
	recs := readAll(t, openFile(t, "philly_slice.csv", Options{Format: Philly}))
	if len(recs) != 40 {
		t.Fatalf("read %d records; want 40", len(recs))
	}
	// First data row: 2017-10-09 07:01:55,66.0,1,66.0,11cb48
	want := Record{SubmitS: 1507532515, DurationS: 66, GPUs: 1, Tenant: "11cb48", Line: 2}
	if recs[0] != want {
		t.Errorf("record 0 = %+v; want %+v", recs[0], want)
	}
	if recs[2].DurationS != 860662 || recs[2].Tenant != "6c71a0" {
		t.Errorf("record 2 = %+v; want duration 860662 in 6c71a0", recs[2])
	}
}

func TestTiresias(t *testing.T) {
	recs := readAll(t, openFile(t, "tiresias_60_job.csv", Options{Format: Tiresias}))
	if len(recs) != 60 {
		t.Fatalf("read %d records; want 60", len(recs))
	}
	// 1,8,30,133,vgg11,147,23
	if r := recs[1]; r.Name != "1" || r.GPUs != 8 || r.SubmitS != 30 || r.DurationS != 147 {
		t.Errorf("record 1 = %+v; want job 1, 8 GPUs, submit 30, duration 147", r)
	}
	gpus := map[int]int{}
	for _, r := range recs {
		gpus[r.GPUs]++
	}
	if gpus[1] != 30 || gpus[2] != 10 || gpus[4] != 10 || gpus[8] != 10 {
		t.Errorf("GPU histogram %v; want 1:30 2:10 4:10 8:10", gpus)
	}
}

func TestAlibaba(t *testing.T) {
	r := openFile(t, "alibaba_slice.csv", Options{Format: Alibaba})
	recs := readAll(t, r)
	// 38 pods, 3 of them never scheduled (Pending).
	if r.Rows() != 38 || len(recs) != 35 {
		t.Fatalf("rows %d, records %d; want 38 rows, 35 records (Pending pods passed over)", r.Rows(), len(recs))
	}
	// openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061
	got := recs[1]
	want := Record{Name: "openb-pod-0001", SubmitS: 427061, DurationS: 12902960 - 427061, GPUs: 1, CPUs: 6, MemMB: 12288, Tenant: "LS", Line: 3}
	if got != want {
		t.Errorf("record 1 = %+v; want %+v", got, want)
	}
	var cpuOnly, eight int
	for _, rec := range recs {
		switch rec.GPUs {
		case 0:
			cpuOnly++
		case 8:
			eight++
		}
	}
	if cpuOnly != 2 || eight != 4 {
		t.Errorf("%d CPU-only and %d 8-GPU pods; want 2 and 4 (one 8-GPU pod is among the first rows)", cpuOnly, eight)
	}
}

func TestPolluxAndSia(t *testing.T) {
	for _, name := range []string{"pollux_workload6_slice.csv", "sia_saturn_workload1_slice.csv"} {
		recs := readAll(t, openFile(t, name, Options{Format: Pollux}))
		if len(recs) != 20 {
			t.Fatalf("%s: %d records; want 20", name, len(recs))
		}
		for _, r := range recs {
			app, _, _ := strings.Cut(r.Name, "-")
			gh, _ := AppGPUHours(app)
			want := gh * 3600 / float64(r.GPUs)
			if r.DurationS < want-0.5 || r.DurationS > want+0.5 {
				t.Errorf("%s line %d: %s on %d GPUs runs %v s; want %v", name, r.Line, app, r.GPUs, r.DurationS, want)
			}
		}
	}
}

func TestGenericColumns(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
		data string
		want Record
	}{
		{"helios names", Options{Format: Helios},
			"job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue\n" +
				"j1,u7,vcA,16,32,2,COMPLETED,2020-04-01 00:00:10,2020-04-01 00:01:00,2020-04-01 01:01:00,3600,50\n",
			Record{Name: "j1", User: "u7", Tenant: "vcA", GPUs: 16, CPUs: 32, SubmitS: 1585699210, DurationS: 3600, Line: 2}},
		{"end minus start", Options{},
			"id,arrival,start_time,end_time,gpus,account\n7,100,150,400,2,physics\n",
			Record{Name: "7", SubmitS: 100, DurationS: 250, GPUs: 2, Tenant: "physics", Line: 2}},
		{"end minus submit", Options{},
			"submitted,end,ngpus,user\n100,400,4,ann\n",
			Record{SubmitS: 100, DurationS: 300, GPUs: 4, Tenant: "ann", User: "ann", Line: 2}},
		{"--columns", Options{Columns: map[string]string{"submit": "t0", "duration": "len", "gpus": "g", "tenant": "lab"}},
			"t0,len,g,lab\n5,60,1,bio\n",
			Record{SubmitS: 5, DurationS: 60, GPUs: 1, Tenant: "bio", Line: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(strings.NewReader(tt.data), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, r)
			if len(recs) != 1 || recs[0] != tt.want {
				t.Errorf("records = %+v; want [%+v]", recs, tt.want)
			}
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name, data string
		opt        Options
		want       string
	}{
		{"philly missing", "timestamp,duration\n", Options{Format: Philly}, "missing column(s) cluster, num_gpus"},
		{"generic no gpus", "submit_time,duration\n1,2\n", Options{}, "a GPU count"},
		{"bad mapping", "a,b,c\n", Options{Columns: map[string]string{"submit": "zz"}}, `maps submit to "zz"`},
		{"empty", "", Options{}, "is empty"},
		{"unknown format", "a\n", Options{Format: "slurm"}, "unknown format"},
		// A repeated column the format reads: which one holds the data
		// is a guess.
		{"generic duplicate", "submit,duration,gpus,Duration\n0,100,8,50\n", Options{}, `column "duration" appears 2 times in the header (columns 2, 4)`},
		{"philly duplicate", "timestamp,duration,num_gpus,cluster,num_gpus,num_gpus\n", Options{Format: Philly}, `column "num_gpus" appears 3 times in the header (columns 3, 5, 6)`},
		{"mapped duplicate", "t,t,g,d\n", Options{Columns: map[string]string{"submit": "t", "gpus": "g", "duration": "d"}}, `column "t" appears 2 times`},
		{"gefion optional duplicate", strings.Join(GefionColumns, ",") + ",cpus\n", Options{Format: Gefion}, `column "cpus" appears 2 times`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(strings.NewReader(tt.data), tt.opt)
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v; want an ErrFormat saying %q", err, tt.want)
			}
		})
	}
}

// TestUnusedDuplicateColumns: a repeated name the format does not read
// (pandas writes "" for its index, exports repeat "notes") is no reason to
// refuse the file.
func TestUnusedDuplicateColumns(t *testing.T) {
	r, err := Open(strings.NewReader(",submit,duration,gpus,notes,,notes\n0,0,100,8,a,,b\n"), Options{})
	if err != nil {
		t.Fatalf("Open = %v; want the file read", err)
	}
	recs, err := ReadAll(r)
	if err != nil || len(recs) != 1 || recs[0].GPUs != 8 {
		t.Errorf("ReadAll = %v, %v; want one 8-GPU record", recs, err)
	}
}

func TestBadRows(t *testing.T) {
	data := "timestamp,duration,num_gpus,gpu_time,cluster\n" +
		"2017-10-09 07:01:55,66.0,1,66.0,a\n" +
		"2017-10-09 07:01:55,sixty,1,66.0,a\n" + // line 3, column 21
		"2017-13-09 07:01:55,66.0,1,66.0,a\n" + // line 4, column 1
		"2017-10-09 07:01:55,66.0,-2,66.0,a\n" + // line 5, column 26
		"2017-10-09 07:01:55,12,2,24,b\n"
	r, err := Open(strings.NewReader(data), Options{Format: Philly, Name: "p.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	var re *RowError
	if !errors.As(err, &re) || re.Line != 3 || re.Column != 21 || re.Field != "duration" {
		t.Fatalf("Next = %v; want a RowError at line 3 column 21 in duration", err)
	}
	if want := `p.csv:3:21: duration: "sixty" is not a non-negative number of seconds`; err.Error() != want {
		t.Errorf("message %q; want %q", err.Error(), want)
	}

	r, _ = Open(strings.NewReader(data), Options{Format: Philly, Name: "p.csv", SkipBad: true})
	recs := readAll(t, r)
	if len(recs) != 2 || r.Skipped() != 3 || r.Rows() != 5 {
		t.Fatalf("%d records, %d skipped, %d rows; want 2, 3, 5", len(recs), r.Skipped(), r.Rows())
	}
	var lines []int
	for _, err := range r.SkippedErrors() {
		if errors.As(err, &re) {
			lines = append(lines, re.Line, re.Column)
		}
	}
	if want := []int{3, 21, 4, 1, 5, 26}; !equalInts(lines, want) {
		t.Errorf("skipped line/columns %v; want %v", lines, want)
	}
}

func TestCSVSyntaxError(t *testing.T) {
	data := "submit_time,duration,num_gpu\n1,2,3\n4,\"5,6\n"
	r, _ := Open(strings.NewReader(data), Options{Name: "q.csv"})
	readErr := func() error {
		for {
			if _, err := r.Next(); err != nil {
				return err
			}
		}
	}()
	var re *RowError
	if !errors.As(readErr, &re) || re.Line != 3 {
		t.Errorf("error %v; want a RowError on line 3", readErr)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGefionRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewGefionWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rows := []GefionRow{
		{JobID: 1, User: "ann", Project: "bio", SubmitS: 1000, StartS: 1100, EndS: 4700, GPUs: 16, Nodes: 2, CPUs: 224, MemMB: 100, TimeLimitS: 7200, State: "COMPLETED", EnergyJ: 5e6},
		{JobID: 2, User: "bob", Project: "qc", SubmitS: 1200, GPUs: 1, Nodes: 1, TimeLimitS: 600, State: "CANCELLED", EnergyJ: -1},
		{JobID: 3, User: "bob", Project: "qc", SubmitS: 1300, StartS: 1300, EndS: 1900, GPUs: 1, Nodes: 1, CPUs: 14, TimeLimitS: 600, State: "TIMEOUT", EnergyJ: -1},
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(&buf, Options{Format: Gefion})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	want := []Record{
		{Name: "1", User: "ann", Tenant: "bio", SubmitS: 1000, DurationS: 3600, GPUs: 16, CPUs: 224, MemMB: 100, TimeLimitS: 7200, Line: 2},
		{Name: "3", User: "bob", Tenant: "qc", SubmitS: 1300, DurationS: 600, GPUs: 1, CPUs: 14, TimeLimitS: 600, Line: 4},
	}
	if len(recs) != len(want) {
		t.Fatalf("records %+v; want %+v", recs, want)
	}
	for i := range want {
		if recs[i] != want[i] {
			t.Errorf("record %d = %+v; want %+v", i, recs[i], want[i])
		}
	}
}

func TestParseColumns(t *testing.T) {
	m, err := ParseColumns("submit=t0, gpus = g")
	if err != nil || m["submit"] != "t0" || m["gpus"] != "g" {
		t.Errorf("ParseColumns = %v, %v", m, err)
	}
	for _, bad := range []string{"submit", "colour=x", "gpus="} {
		if _, err := ParseColumns(bad); err == nil {
			t.Errorf("ParseColumns(%q) = nil error; want one", bad)
		}
	}
}

// TestSharedTraces reads every shared trace whole, when present.
func TestSharedTraces(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "shared", "traces")
	tests := []struct {
		file   string
		format Format
		want   int
	}{
		{"philly_pollux.csv", Philly, 82247},
		{"tiresias_60_job.csv", Tiresias, 60},
		{"alibaba2023_openb_pod_list_default.csv", Alibaba, 8152 - 897},
		{"pollux_workloads/workload-6.csv", Pollux, 160},
		{"sia_saturn_workloads/workload-1.csv", Pollux, 160},
		{"philly_pollux.csv", Generic, 82247},
	}
	for _, tt := range tests {
		f, err := os.Open(filepath.Join(dir, tt.file))
		if err != nil {
			t.Skipf("shared traces absent: %v", err)
		}
		r, err := Open(f, Options{Format: tt.format, Name: tt.file})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.file, err)
			}
			n++
		}
		f.Close()
		if n != tt.want {
			t.Errorf("%s as %s: %d records; want %d", tt.file, tt.format, n, tt.want)
		}
	}
}
