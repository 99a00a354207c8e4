package slurmfmt

import (
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// at is a wall-clock time on the day the Slurm 22.05 recordings in
// testdata/slurm-22.05 were made (UTC).
func at(hms string) int64 {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", "2026-12-06T"+hms, time.UTC)
	if err != nil {
		panic(err)
	}
	return t.Unix()
}

// referenceJobs are Gefion records of the jobs submitted to the reference
// Slurm for the recordings (see testdata/slurm-22.05/README): the same
// IDs, names, shapes, times and outcomes. Slurm keeps the pending tasks of
// array 8 in one record (ID 8); Gefion gives each task a record, so tasks
// 8_3 to 8_9 have IDs of their own.
func referenceJobs() []api.Job {
	one := func(node string, cpus int, gpus ...int) []api.Alloc {
		return []api.Alloc{{Node: node, CPUs: cpus, GPUs: gpus, MemMB: 4096}}
	}
	req := func(nodes, gpusPerNode int, limit int64) job.Request {
		return job.Request{Nodes: nodes, GPUsPerNode: gpusPerNode, CPUsPerNode: 1, MemPerNodeMB: 4096, TimeLimitS: limit}
	}
	base := func(id job.ID, name string, st job.State, submit int64) api.Job {
		return api.Job{ID: id, Name: name, User: "root", Project: "default", Partition: "gpu", QOS: "normal", State: st,
			SubmitTime: submit, EligibleTime: submit, Nodes: 1, CPUs: 1, Request: req(1, 0, 0)}
	}
	var jobs []api.Job
	j := base(1, "wrap", job.Completed, at("10:18:50"))
	j.StartTime, j.EndTime, j.GPUs, j.Request, j.Allocs, j.NodeList = at("10:18:53"), at("10:18:53"), 1, req(1, 1, 0), one("gpu01", 1, 0), "gpu01"
	jobs = append(jobs, j)
	j = base(2, "done", job.Completed, at("10:19:06"))
	j.StartTime, j.EndTime, j.Allocs, j.NodeList = at("10:19:07"), at("10:19:07"), one("gpu01", 1), "gpu01"
	jobs = append(jobs, j)
	j = base(3, "fail", job.Failed, at("10:19:06"))
	j.StartTime, j.EndTime, j.ExitCode, j.Allocs, j.NodeList = at("10:19:07"), at("10:19:07"), 3, one("gpu01", 1), "gpu01"
	jobs = append(jobs, j)
	j = base(4, "tocancel", job.Cancelled, at("10:19:06"))
	j.StartTime, j.EndTime, j.Reason, j.Allocs, j.NodeList = at("10:19:07"), at("10:19:14"), "cancelled by root", one("gpu01", 1), "gpu01"
	jobs = append(jobs, j)
	j = base(5, "timeout", job.Running, at("10:19:06"))
	j.StartTime, j.Request, j.TimeLimitS, j.Allocs, j.NodeList = at("10:19:07"), req(1, 0, 60), 60, one("gpu01", 1), "gpu01"
	jobs = append(jobs, j)
	j = base(6, "long job name with spaces", job.Running, at("10:19:06"))
	j.StartTime, j.Nodes, j.CPUs, j.GPUs, j.TimeLimitS, j.Request = at("10:19:07"), 2, 2, 4, 3600, req(2, 2, 3600)
	j.Allocs = append(one("gpu01", 1, 0, 1), one("gpu02", 1, 0, 1)...)
	j.NodeList = "gpu[01-02]"
	jobs = append(jobs, j)
	for _, t := range []struct {
		id    job.ID
		array job.ID
		task  int
		name  string
		limit int64
	}{{11, 7, 1, "arr", 1800}, {12, 7, 2, "arr", 1800}, {7, 7, 3, "arr", 1800}, {13, 8, 0, "arrpd", 600}, {14, 8, 1, "arrpd", 600}} {
		j = base(t.id, t.name, job.Running, at("10:19:06"))
		j.ArrayJobID, j.ArrayTaskID, j.TimeLimitS, j.Request = t.array, t.task, t.limit, req(1, 0, t.limit)
		j.StartTime, j.EligibleTime, j.Allocs, j.NodeList = at("10:19:07"), at("10:19:07"), one("gpu01", 1), "gpu01"
		if t.array == 8 {
			j.ArrayMaxRunning = 2
		}
		jobs = append(jobs, j)
	}
	for task, id := range []job.ID{2: 8, 3: 15, 4: 16, 5: 17, 6: 18, 7: 19, 8: 20, 9: 21} {
		if id == 0 {
			continue
		}
		j = base(id, "arrpd", job.Pending, at("10:19:06"))
		j.ArrayJobID, j.ArrayTaskID, j.ArrayMaxRunning, j.TimeLimitS, j.Request = 8, task, 2, 600, req(1, 0, 600)
		j.Reason, j.Priority = "JobArrayTaskLimit", 1
		jobs = append(jobs, j)
	}
	j = base(9, "held", job.Pending, at("10:19:06"))
	j.Reason = "JobHeldUser"
	jobs = append(jobs, j)
	j = base(10, "big", job.Pending, at("10:19:07"))
	j.Nodes, j.CPUs, j.TimeLimitS, j.Request, j.Reason, j.Priority = 8, 8, 2*86400, req(8, 0, 2*86400), "Resources", 1
	j.EstimatedStart = at("11:19:07")
	jobs = append(jobs, j)
	return jobs
}
