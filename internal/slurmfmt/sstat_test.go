package slurmfmt

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// sstatReference is step 2.0 of the sstat recordings (see
// testdata/slurm-22.05/README) as Gefion's agents would report it: four
// tasks, two on each node, with the sizes and CPU times Slurm measured.
func sstatReference() []api.Step {
	task := func(rank int, rss int64, cpu float64, pages int64) api.TaskUsage {
		return api.TaskUsage{Rank: rank, RSSKB: rss, MaxRSSKB: rss, VMSizeKB: 67772, MaxVMSizeKB: 67772, CPUS: cpu, Pages: pages}
	}
	return []api.Step{
		{JobID: 2, StepID: 0, State: job.Running, NodeList: "gpu[01-02]", Nodes: 2, Tasks: 4, Usage: []api.StepUsage{
			{JobID: 2, StepID: 0, Node: "gpu01", Tasks: []api.TaskUsage{task(0, 64540, 17.1, 9), task(1, 64540, 17.2, 1)}},
			{JobID: 2, StepID: 0, Node: "gpu02", Tasks: []api.TaskUsage{task(2, 64592, 17.4, 0), task(3, 64616, 17.3, 0)}},
		}},
		// An ended step and a running one without samples print nothing.
		{JobID: 2, StepID: 1, State: job.Completed, Usage: []api.StepUsage{{Node: "gpu01", Tasks: []api.TaskUsage{task(0, 1, 1, 1)}}}},
		{JobID: 2, StepID: 2, State: job.Running},
	}
}

// withoutUnmeasured drops from a recorded TRES string the parts Gefion's
// agents do not measure (energy, disk).
func withoutUnmeasured(tres string) string {
	var keep []string
	for _, p := range strings.Split(tres, ",") {
		if !strings.HasPrefix(p, "energy=") && !strings.HasPrefix(p, "fs/disk=") {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}

// TestSstatMatchesSlurm prints the reference step as the recorded sstat
// calls did and compares: whole lines where Gefion measures every field,
// and the header and rule of the default format.
func TestSstatMatchesSlurm(t *testing.T) {
	steps := sstatReference()
	for _, tc := range []struct {
		rec, format string
		st          AcctStyle
		noHeader    bool
		noConvert   bool
		// headerOnly compares the header lines alone (the default
		// format has fields Gefion leaves empty).
		headerOnly bool
		// tres names fields whose recorded TRES strings lose the parts
		// Gefion does not measure.
		tres []int
	}{
		{rec: "sstat_step", headerOnly: true},
		{rec: "sstat_P", format: "JobID,MaxRSS,MaxRSSNode,MaxRSSTask,AveRSS,AveCPU,MinCPU,NTasks,TRESUsageInTot,TRESUsageInMax", st: Parsable2, tres: []int{8, 9}},
		{rec: "sstat_p_n", format: "JobID,MaxRSS,AveCPU", st: Parsable, noHeader: true},
		{rec: "sstat_noconvert", format: "JobID,MaxRSS,AveRSS,MaxVMSize", st: Parsable2, noConvert: true},
		{rec: "sstat_widths", format: "JobID%20,MaxRSS%5,AveCPU"},
	} {
		t.Run(tc.rec, func(t *testing.T) {
			f, err := ParseStatFormat(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := f.WriteMgr(&b, StatRows(steps, !tc.noConvert), tc.st, tc.noHeader); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			want := recording(t, tc.rec)
			if tc.headerOnly {
				want, got = want[:2], got[:2]
			}
			for _, i := range tc.tres {
				last := len(want) - 1
				fields := strings.Split(want[last], "|")
				fields[i] = withoutUnmeasured(fields[i])
				want[last] = strings.Join(fields, "|")
			}
			sameRows(t, tc.rec, 0, want, got)
		})
	}
	if got, want := StatFieldList(), strings.Join(recording(t, "sstat_helpformat"), "\n")+"\n"; got != strings.Replace(want, "Pids                ", "", 1) &&
		!sameFieldNames(got, want) {
		t.Errorf("StatFieldList() =\n%s\nwant Slurm's list less Pids:\n%s", got, want)
	}
}

// sameFieldNames compares two field lists by their names in order.
func sameFieldNames(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	var keep []string
	for _, f := range fb {
		if f != "Pids" {
			keep = append(keep, f)
		}
	}
	return strings.Join(fa, " ") == strings.Join(keep, " ")
}

// TestSstatGolden prints every field of a step whose node measured its
// GPUs, with memory large enough to convert and a second node without a
// GPU meter.
func TestSstatGolden(t *testing.T) {
	util := 87.5
	steps := []api.Step{{JobID: 41, StepID: 3, State: job.Running, NodeList: "dgx[001-002]", Usage: []api.StepUsage{
		{JobID: 41, StepID: 3, Node: "dgx001", GPUUtil: &util, GPUMemMB: 40960, Tasks: []api.TaskUsage{
			{Rank: 0, RSSKB: 2 << 20, MaxRSSKB: 2 << 20, VMSizeKB: 3 << 20, MaxVMSizeKB: 3 << 20, CPUS: 3725.4, Pages: 12}}},
		{JobID: 41, StepID: 3, Node: "dgx002", Tasks: []api.TaskUsage{
			{Rank: 1, RSSKB: 1000, MaxRSSKB: 1500, VMSizeKB: 9000, MaxVMSizeKB: 9000, CPUS: 0.4}}},
	}}}
	var b bytes.Buffer
	f, err := ParseStatFormat("")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteMgr(&b, StatRows(steps, true), Columns, false); err != nil {
		t.Fatal(err)
	}
	all := make([]string, len(sstatFields))
	for i := range sstatFields {
		all[i] = sstatFields[i].name
	}
	f, err = ParseStatFormat(strings.Join(all, ","))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteMgr(&b, StatRows(steps, true), Parsable2, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "sstat_all_fields", b.Bytes())
}

// TestSstatFormatErrors checks that a field sstat Gefion does not know is
// refused, naming it.
func TestSstatFormatErrors(t *testing.T) {
	for _, f := range []string{"Bogus", "JobID,Pids", "MaxRSS%x", "MaxRSS%0"} {
		if _, err := ParseStatFormat(f); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStatFormat(%q) = %v; want ErrFormat", f, err)
		}
	}
}
