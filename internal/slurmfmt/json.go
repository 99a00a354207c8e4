package slurmfmt

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// JSONJob is one job of squeue --json, with the keys and value shapes of
// Slurm's OpenAPI v0.0.38 job record that tools read. Times are Unix
// seconds (0: none); time_limit is minutes, null when unlimited;
// array_task_id is null for a job that is not an array task.
type JSONJob struct {
	Account          string  `json:"account"`
	ArrayJobID       int64   `json:"array_job_id"`
	ArrayTaskID      *int    `json:"array_task_id"`
	ArrayMaxTasks    int     `json:"array_max_tasks"`
	ArrayTaskString  string  `json:"array_task_string"`
	Cluster          string  `json:"cluster"`
	CPUs             int     `json:"cpus"`
	EligibleTime     int64   `json:"eligible_time"`
	EndTime          int64   `json:"end_time"`
	ExitCode         int     `json:"exit_code"`
	JobID            int64   `json:"job_id"`
	JobState         string  `json:"job_state"`
	Name             string  `json:"name"`
	NodeCount        int     `json:"node_count"`
	Nodes            string  `json:"nodes"`
	Partition        string  `json:"partition"`
	Priority         float64 `json:"priority"`
	QOS              string  `json:"qos"`
	StartTime        int64   `json:"start_time"`
	StateReason      string  `json:"state_reason"`
	SubmitTime       int64   `json:"submit_time"`
	TimeLimit        *int64  `json:"time_limit"`
	TresPerNode      string  `json:"tres_per_node"`
	TresReqStr       string  `json:"tres_req_str"`
	TresAllocStr     string  `json:"tres_alloc_str"`
	UserName         string  `json:"user_name"`
	CurrentDirectory string  `json:"current_working_directory"`
}

// JSONDoc is the whole squeue --json document.
type JSONDoc struct {
	Meta   jsonMeta  `json:"meta"`
	Errors []string  `json:"errors"`
	Jobs   []JSONJob `json:"jobs"`
}

type jsonMeta struct {
	Plugin struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"plugin"`
}

// SqueueJSON builds squeue --json's document: one record per job, as
// Slurm's JSON lists array tasks (JSON is read by programs, so nothing is
// folded).
func SqueueJSON(jobs []api.Job, e *Env) *JSONDoc {
	d := &JSONDoc{Errors: []string{}, Jobs: make([]JSONJob, 0, len(jobs))}
	d.Meta.Plugin.Type = "openapi/v0.0.38"
	d.Meta.Plugin.Name = "Gefion"
	for i := range jobs {
		j := &jobs[i]
		r := &AcctRow{J: j}
		x := JSONJob{
			Account: j.Project, ArrayJobID: int64(j.ArrayJobID), ArrayMaxTasks: j.ArrayMaxRunning, Cluster: e.Cluster,
			CPUs: j.CPUs, EligibleTime: eligible(j), EndTime: endTime(j), ExitCode: waitStatus(j), JobID: int64(j.ID),
			JobState: string(j.State), Name: j.Name, NodeCount: j.Nodes, Nodes: j.NodeList, Partition: j.Partition,
			Priority: float64(int64(j.Priority)), QOS: j.QOS, StartTime: startTime(j), StateReason: reasonOf(j),
			SubmitTime: j.SubmitTime, TresPerNode: tresPerNode(j), TresReqStr: scontrolTRES(j), TresAllocStr: tresIDOrder(allocTRES(r)),
			UserName: j.User,
		}
		if x.TresPerNode == "N/A" {
			x.TresPerNode = ""
		}
		if x.Priority < 0 {
			x.Priority = 0
		}
		if j.ArrayJobID != 0 {
			t := j.ArrayTaskID
			x.ArrayTaskID = &t
		}
		if j.TimeLimitS > 0 {
			m := j.TimeLimitS / 60
			x.TimeLimit = &m
		}
		if j.Spec != nil {
			x.CurrentDirectory = firstNonEmpty(j.Spec.Chdir, j.Spec.SubmitDir)
		}
		d.Jobs = append(d.Jobs, x)
	}
	return d
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tresRank is the place of a TRES in Slurm's own order (its TRES IDs:
// cpu, mem, energy, node, billing, fs/disk, vmem, pages, then GRES),
// which squeue's JSON and scontrol print; sacct sorts by name.
func tresRank(name string) int {
	switch name {
	case "cpu":
		return 1
	case "mem":
		return 2
	case "energy":
		return 3
	case "node":
		return 4
	case "billing":
		return 5
	case "fs/disk":
		return 6
	case "vmem":
		return 7
	case "pages":
		return 8
	}
	return 9
}

// tresIDOrder reorders a TRES string (name=value,...) into Slurm's TRES
// ID order; GRES keep their order after the rest.
func tresIDOrder(s string) string {
	if s == "" {
		return s
	}
	parts := strings.Split(s, ",")
	slices.SortStableFunc(parts, func(a, b string) int {
		na, _, _ := strings.Cut(a, "=")
		nb, _, _ := strings.Cut(b, "=")
		return tresRank(na) - tresRank(nb)
	})
	return strings.Join(parts, ",")
}

// waitStatus is a job's exit as squeue's JSON gives it: the wait status
// (exit code x 256 + signal), with the signal Slurm's own cancel, time
// limit or preemption sent (TERM) when none was recorded, as sacct's
// batch line shows it.
func waitStatus(j *api.Job) int {
	var sig int
	if _, s, ok := strings.Cut(exitCode(&AcctRow{J: j, Batch: true}), ":"); ok {
		sig, _ = strconv.Atoi(s)
	}
	return j.ExitCode<<8 | sig
}
