package slurmfmt

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// sprioReference are the pending jobs of the sprio recordings (see
// testdata/slurm-22.05/README), with the factors Slurm computed for them:
// on two nodes of 112 cores a one-node job's size factor is 0.2522321 and
// a two-node job's 0.5044643; every job is in the one partition; job 5
// has nice 100.
func sprioReference() ([]api.JobPriority, *api.PriorityWeights) {
	w := &api.PriorityWeights{Age: 1000, FairShare: 10000, JobSize: 1000, Partition: 10000, QOS: 1000}
	var jobs []api.JobPriority
	for _, j := range []struct {
		id   job.ID
		size float64
		nice int
	}{{3, 0.2522321, 0}, {4, 0.5044643, 0}, {5, 0.2522321, 100}, {6, 0.2522321, 0}, {7, 0.2522321, 0}} {
		f := api.PriorityFactors{JobSize: w.JobSize * j.size, Partition: w.Partition, Nice: j.nice,
			Norm: &api.PriorityFactors{JobSize: j.size, Partition: 1}}
		jobs = append(jobs, api.JobPriority{JobID: j.id, User: "root", Project: "default", Partition: "gpu", QOS: "normal",
			Factors: f, Priority: f.JobSize + f.Partition - float64(f.Nice)})
	}
	return jobs, w
}

// TestSprioMatchesSlurm prints the reference jobs as the recorded sprio
// calls did and compares line for line.
func TestSprioMatchesSlurm(t *testing.T) {
	jobs, w := sprioReference()
	for _, tc := range []struct {
		rec, format         string
		long, norm, weights bool
		users               bool
		noHeader            bool
		ids                 []job.ID
		// skip drops the recording's first lines (Slurm's complaint about
		// a code it does not know, which Gefion refuses instead).
		skip int
	}{
		{rec: "sprio_default"},
		{rec: "sprio_u", users: true},
		{rec: "sprio_p"},
		{rec: "sprio_l", long: true},
		{rec: "sprio_n", norm: true},
		{rec: "sprio_n_l", norm: true, long: true},
		{rec: "sprio_h", noHeader: true},
		{rec: "sprio_j", ids: []job.ID{3, 5}},
		{rec: "sprio_w", weights: true},
		{rec: "sprio_w_n", weights: true, norm: true},
		{rec: "sprio_l_w", weights: true, long: true},
		{rec: "sprio_h_w", weights: true, noHeader: true},
		{rec: "sprio_o_weighted", format: "%i|%r|%Y|%S|%A|%F|%J|%P|%Q|%N|%u"},
		{rec: "sprio_o_codes", format: "%.15i%.10a%.10f%.10j%.10p%.10q%.10y%.10N%.10u%.10c%.10b%.10B%.10t%.10T", skip: 1},
	} {
		t.Run(tc.rec, func(t *testing.T) {
			f, err := SprioFormat(tc.format, tc.long, tc.norm, tc.users, w)
			if err != nil {
				t.Fatal(err)
			}
			sel := jobs
			if tc.ids != nil {
				sel = nil
				for _, j := range jobs {
					if slices.Contains(tc.ids, j.JobID) {
						sel = append(sel, j)
					}
				}
			}
			var b bytes.Buffer
			if err := f.WritePrio(&b, sel, w, tc.noHeader, tc.weights); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			header := 1
			if tc.noHeader {
				header = 0
			}
			sameRows(t, tc.rec, header, recording(t, tc.rec)[tc.skip:], got)
		})
	}
}

// TestSprioFormatErrors checks that a code sprio does not have, and an
// empty format, are refused with what to write instead.
func TestSprioFormatErrors(t *testing.T) {
	for _, f := range []string{"%o", "%.15i %-8u", "", "%.15"} {
		_, err := ParsePrioFormat(f)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "%") {
			t.Errorf("ParsePrioFormat(%q) = %v; want ErrFormat naming the codes", f, err)
		}
	}
}

// TestSprioGolden prints factors under Gefion's own policy: its short-job
// and slowdown terms add up in SITE, fractions round, a job whose nice
// takes it below zero prints priority 0, and user text is escaped.
func TestSprioGolden(t *testing.T) {
	w := &api.PriorityWeights{Age: 5000, FairShare: 1000, QOS: 10000, ShortJob: 80000, Slowdown: 20000}
	mk := func(id job.ID, user string, n api.PriorityFactors, nice int) api.JobPriority {
		f := api.PriorityFactors{Age: w.Age * n.Age, FairShare: w.FairShare * n.FairShare, QOS: w.QOS * n.QOS,
			ShortJob: w.ShortJob * n.ShortJob, Slowdown: w.Slowdown * n.Slowdown, Nice: nice, Norm: &n}
		return api.JobPriority{JobID: id, User: user, Project: "medicine", Partition: "gpu",
			Factors: f, Priority: f.Age + f.FairShare + f.QOS + f.ShortJob + f.Slowdown - float64(nice)}
	}
	jobs := []api.JobPriority{
		mk(101, "alice", api.PriorityFactors{Age: 0.125, FairShare: 0.5, QOS: 0.1, ShortJob: 0.6666667, Slowdown: 0.02}, 0),
		mk(102, "bob\x1b[31m", api.PriorityFactors{Age: 1, FairShare: 0.25, QOS: 1, ShortJob: 0.0543, Slowdown: 1}, 0),
		mk(103, "carol", api.PriorityFactors{ShortJob: 0.001}, 10000),
	}
	var b bytes.Buffer
	for _, tc := range []struct {
		long, norm, weights bool
	}{{}, {long: true}, {norm: true}, {weights: true}, {long: true, weights: true}} {
		f, err := SprioFormat("", tc.long, tc.norm, false, w)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.WritePrio(&b, jobs, w, false, tc.weights); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("control characters reached the output:\n%q", b.String())
	}
	golden(t, "sprio_gefion", b.Bytes())
}
