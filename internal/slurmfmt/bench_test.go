package slurmfmt

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

func manyJobs(n int, st job.State) []api.Job {
	jobs := make([]api.Job, n)
	for i := range jobs {
		j := &jobs[i]
		*j = api.Job{ID: job.ID(i + 1), Name: "train", User: "alice", Project: "medicine", Partition: "gpu", QOS: "normal",
			State: st, SubmitTime: at("10:00:00"), Nodes: 1, CPUs: 16, GPUs: 8, TimeLimitS: 3600, Reason: "Priority", Priority: 1000,
			Request: job.Request{Nodes: 1, GPUsPerNode: 8, CPUsPerNode: 16, MemPerNodeMB: 65536, TimeLimitS: 3600}}
		if st.Final() {
			j.StartTime, j.EndTime, j.NodeList = at("10:01:00"), at("10:31:00"), "dgx001"
			j.Allocs = []api.Alloc{{Node: "dgx001", CPUs: 16, GPUs: []int{0, 1, 2, 3, 4, 5, 6, 7}, MemMB: 65536}}
		}
	}
	return jobs
}

// BenchmarkSqueuePending formats squeue -h -o '%i %t %M' over 100,000
// pending jobs: ordering and folding the rows, then printing them.
func BenchmarkSqueuePending(b *testing.B) {
	jobs := manyJobs(100_000, job.Pending)
	f, err := ParseJobFormat("%i %t %M")
	if err != nil {
		b.Fatal(err)
	}
	e := refEnv("10:19:38")
	b.ResetTimer()
	for b.Loop() {
		if err := f.WriteJobs(io.Discard, SqueueRows(jobs, false), e, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
}

// BenchmarkSacctFinished formats sacct -P -n -X -o JobID,State,ExitCode
// over 100,000 finished jobs.
func BenchmarkSacctFinished(b *testing.B) {
	jobs := manyJobs(100_000, job.Completed)
	f, err := ParseAcctFormat("JobID,State,ExitCode")
	if err != nil {
		b.Fatal(err)
	}
	e := refEnv("10:19:38")
	b.ResetTimer()
	for b.Loop() {
		if err := f.WriteAcct(io.Discard, AcctRows(jobs, true, nil), e, Parsable2, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
}

// BenchmarkDecodeJobs decodes the API's answer for 100,000 jobs, the
// client's other cost before formatting (the controller's own is measured
// in package controller).
func BenchmarkDecodeJobs(b *testing.B) {
	data, err := json.Marshal(manyJobs(100_000, job.Completed))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		var out []api.Job
		if err := json.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}
