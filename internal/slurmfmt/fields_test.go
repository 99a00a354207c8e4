package slurmfmt

import (
	"bytes"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// throughTable keeps only the named fields of each job, as a job table
// from the controller would carry them.
func throughTable(t *testing.T, jobs []api.Job, fields []string) []api.Job {
	t.Helper()
	tb, err := api.NewTable(fields)
	if err != nil {
		t.Fatal(err)
	}
	b := tb.AppendHead(nil)
	for i := range jobs {
		b = tb.AppendRow(b, &jobs[i], i == 0)
	}
	out, _, _, err := api.DecodeTable(tb.AppendTail(b, nil))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fieldJobs() []api.Job {
	jobs := append(manyJobs(2, job.Pending), manyJobs(2, job.Completed)...)
	for i := range jobs {
		jobs[i].ID = job.ID(i + 1)
	}
	jobs[0].ArrayJobID, jobs[0].ArrayTaskID, jobs[0].ArrayMaxRunning, jobs[0].EstimatedStart = 1, 0, 2, at("11:00:00")
	jobs[2].State, jobs[2].Reason, jobs[2].Signal, jobs[2].ExitCode = job.Cancelled, "cancelled by bob", "TERM", 1
	jobs[3].EligibleTime, jobs[3].GPUs = at("09:00:00"), 4
	return jobs
}

// TestJobFormatFields checks that every squeue code prints the same from
// the fields Fields names as from the whole jobs.
func TestJobFormatFields(t *testing.T) {
	e := refEnv("10:19:38")
	for _, fld := range squeueFields {
		f, err := ParseJobFormat("%" + string(fld.code))
		if err != nil {
			t.Fatal(err)
		}
		jobs := fieldJobs()
		var want, got bytes.Buffer
		if err := f.WriteJobs(&want, SqueueRows(jobs, false), e, false); err != nil {
			t.Fatal(err)
		}
		lean := throughTable(t, jobs, f.Fields())
		if err := f.WriteJobs(&got, SqueueRows(lean, false), e, false); err != nil {
			t.Fatal(err)
		}
		if want.String() != got.String() {
			t.Errorf("%%%c from fields %v:\n%s\nwant\n%s", fld.code, f.Fields(), got.String(), want.String())
		}
	}
}

// TestAcctFormatFields does the same for every sacct field, with and
// without the batch steps.
func TestAcctFormatFields(t *testing.T) {
	e := refEnv("10:19:38")
	for _, fld := range sacctFields() {
		f, err := ParseAcctFormat(fld.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, jobsOnly := range []bool{true, false} {
			jobs := fieldJobs()
			var want, got bytes.Buffer
			if err := f.WriteAcct(&want, AcctRows(jobs, jobsOnly, nil), e, Parsable2, true); err != nil {
				t.Fatal(err)
			}
			lean := throughTable(t, jobs, f.Fields(jobsOnly))
			if err := f.WriteAcct(&got, AcctRows(lean, jobsOnly, nil), e, Parsable2, true); err != nil {
				t.Fatal(err)
			}
			if want.String() != got.String() {
				t.Errorf("%s (-X %v) from fields %v:\n%s\nwant\n%s", fld.name, jobsOnly, f.Fields(jobsOnly), got.String(), want.String())
			}
		}
	}
}
