package slurmfmt

import (
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
)

// sacct --json: Slurm 22.05's document (OpenAPI dbv0.0.38) with the keys
// tools read. One deliberate difference: Slurm 22.05.8 prints every exit
// code as {"status": "SUCCESS", "return_code": 0}, a failed job's too;
// Gefion prints the job's real one (FAILED with its code, SIGNALED with
// the signal's number), as later Slurm releases do.

// SacctJSONDoc is the whole sacct --json document.
type SacctJSONDoc struct {
	Meta   jsonMeta       `json:"meta"`
	Errors []string       `json:"errors"`
	Jobs   []SacctJSONJob `json:"jobs"`
}

// SacctJSONJob is one job of sacct --json.
type SacctJSONJob struct {
	Account         string          `json:"account"`
	AllocationNodes int             `json:"allocation_nodes"`
	Array           jsonArray       `json:"array"`
	Association     jsonAssociation `json:"association"`
	Cluster         string          `json:"cluster"`
	DerivedExitCode jsonExit        `json:"derived_exit_code"`
	Time            jsonJobTime     `json:"time"`
	ExitCode        jsonExit        `json:"exit_code"`
	Group           string          `json:"group"`
	JobID           int64           `json:"job_id"`
	Name            string          `json:"name"`
	Nodes           string          `json:"nodes"`
	Partition       string          `json:"partition"`
	QOS             string          `json:"qos"`
	Required        jsonRequired    `json:"required"`
	State           jsonState       `json:"state"`
	Steps           []jsonStep      `json:"steps"`
	TRES            jsonJobTRES     `json:"tres"`
	User            string          `json:"user"`
	WorkingDir      string          `json:"working_directory"`
}

type jsonArray struct {
	JobID  int64 `json:"job_id"`
	Limits struct {
		Max struct {
			Running struct {
				Tasks int `json:"tasks"`
			} `json:"running"`
		} `json:"max"`
	} `json:"limits"`
	Task   *string `json:"task"`
	TaskID *int    `json:"task_id"`
}

type jsonAssociation struct {
	Account   string  `json:"account"`
	Cluster   string  `json:"cluster"`
	Partition *string `json:"partition"`
	User      string  `json:"user"`
}

type jsonExit struct {
	Status     string `json:"status"`
	ReturnCode int    `json:"return_code"`
}

type jsonJobTime struct {
	Elapsed    int64  `json:"elapsed"`
	Eligible   int64  `json:"eligible"`
	End        int64  `json:"end"`
	Start      int64  `json:"start"`
	Submission int64  `json:"submission"`
	Suspended  int64  `json:"suspended"`
	Limit      *int64 `json:"limit"`
}

type jsonRequired struct {
	CPUs   int   `json:"CPUs"`
	Memory int64 `json:"memory"`
}

type jsonState struct {
	Current string `json:"current"`
	Reason  string `json:"reason"`
}

type jsonTRES struct {
	Type  string  `json:"type"`
	Name  *string `json:"name"`
	ID    int     `json:"id"`
	Count int64   `json:"count"`
}

type jsonJobTRES struct {
	Allocated []jsonTRES `json:"allocated"`
	Requested []jsonTRES `json:"requested"`
}

type jsonStep struct {
	Nodes struct {
		List  []string `json:"list"`
		Count int      `json:"count"`
		Range string   `json:"range"`
	} `json:"nodes"`
	TRES struct {
		Allocated []jsonTRES `json:"allocated"`
	} `json:"tres"`
	Time struct {
		Elapsed   int64 `json:"elapsed"`
		End       int64 `json:"end"`
		Start     int64 `json:"start"`
		Suspended int64 `json:"suspended"`
	} `json:"time"`
	ExitCode jsonExit `json:"exit_code"`
	Tasks    struct {
		Count int `json:"count"`
	} `json:"tasks"`
	State string `json:"state"`
	Step  struct {
		JobID int64  `json:"job_id"`
		ID    string `json:"id"`
		Name  string `json:"name"`
	} `json:"step"`
}

// tresList is a TRES list in Slurm's JSON: cpu, mem (MiB), node, GPUs.
func tresList(cpus, gpus int, memMB int64, nodes int) []jsonTRES {
	out := []jsonTRES{{Type: "cpu", ID: 1, Count: int64(cpus)}}
	if memMB > 0 {
		out = append(out, jsonTRES{Type: "mem", ID: 2, Count: memMB})
	}
	out = append(out, jsonTRES{Type: "node", ID: 4, Count: int64(nodes)})
	if gpus > 0 {
		gpu := "gpu"
		out = append(out, jsonTRES{Type: "gres", Name: &gpu, ID: 1001, Count: int64(gpus)})
	}
	return out
}

// exitJSON is an exit as the JSON gives it (see the note above).
func exitJSON(code int, signal string, st job.State) jsonExit {
	switch {
	case signal != "":
		n, _, _ := job.SignalNumber(signal)
		return jsonExit{Status: "SIGNALED", ReturnCode: n}
	case code != 0 || st == job.Failed:
		return jsonExit{Status: "FAILED", ReturnCode: code}
	}
	return jsonExit{Status: "SUCCESS"}
}

// SacctJSON builds sacct --json's document from jobs and their steps (by
// job ID): a started job lists its batch step and its srun steps, unless
// jobsOnly (-X).
func SacctJSON(jobs []api.Job, jobsOnly bool, steps map[job.ID][]api.Step, e *Env) *SacctJSONDoc {
	d := &SacctJSONDoc{Errors: []string{}, Jobs: make([]SacctJSONJob, 0, len(jobs))}
	d.Meta.Plugin.Type = "openapi/dbv0.0.38"
	d.Meta.Plugin.Name = "Gefion"
	for i := range jobs {
		j := &jobs[i]
		x := SacctJSONJob{
			Account: j.Project, AllocationNodes: max(len(j.Allocs), 0), Cluster: e.Cluster, JobID: int64(j.ID),
			Name: j.Name, Nodes: noneAssigned(j.NodeList), Partition: j.Partition, QOS: j.QOS, User: j.User,
			State:    jsonState{Current: string(j.State), Reason: "None"},
			ExitCode: exitJSON(j.ExitCode, j.Signal, j.State), DerivedExitCode: jsonExit{Status: "SUCCESS"},
			Required: jsonRequired{CPUs: j.CPUs, Memory: j.Request.MemPerNodeMB},
			Steps:    []jsonStep{},
		}
		// The accounting records keep why a job waits, not why it ended.
		if j.State == job.Pending {
			x.State.Reason = reasonOf(j)
		}
		if len(j.Allocs) == 0 && j.StartTime > 0 {
			x.AllocationNodes = j.Nodes
		}
		x.Association = jsonAssociation{Account: j.Project, Cluster: e.Cluster, User: j.User}
		if e.Group != nil {
			if g, _, ok := e.Group(j.User); ok {
				x.Group = g
			}
		}
		if j.Spec != nil {
			x.WorkingDir = firstNonEmpty(j.Spec.Chdir, j.Spec.SubmitDir)
		}
		if j.ArrayJobID != 0 {
			x.Array.JobID = int64(j.ArrayJobID)
			t := j.ArrayTaskID
			x.Array.TaskID = &t
			s := strconv.Itoa(t)
			x.Array.Task = &s
			x.Array.Limits.Max.Running.Tasks = j.ArrayMaxRunning
		}
		end := endTime(j)
		x.Time = jsonJobTime{Eligible: eligible(j), End: end, Start: startTime(j), Submission: j.SubmitTime}
		if j.State.Final() && j.StartTime == 0 {
			x.Time.Start = 0
		}
		if j.StartTime > 0 {
			stop := end
			if !j.State.Final() {
				stop = e.Now
			}
			x.Time.Elapsed = max(stop-j.StartTime, 0)
		}
		if j.TimeLimitS > 0 {
			m := j.TimeLimitS / 60
			x.Time.Limit = &m
		}
		r := &AcctRow{J: j}
		x.TRES.Requested = tresList(j.CPUs, j.GPUs, j.Request.MemPerNodeMB*int64(max(j.Nodes, 1)), j.Nodes)
		x.TRES.Allocated = []jsonTRES{}
		if allocTRES(r) != "" {
			var mem int64
			cpus, gpus := 0, 0
			for _, a := range j.Allocs {
				mem, cpus, gpus = mem+a.MemMB, cpus+a.CPUs, gpus+len(a.GPUs)
			}
			if len(j.Allocs) == 0 {
				x.TRES.Allocated = x.TRES.Requested
			} else {
				x.TRES.Allocated = tresList(cpus, gpus, mem, len(j.Allocs))
			}
		}
		if !jobsOnly && j.StartTime > 0 && len(j.Allocs) > 0 {
			x.Steps = append(x.Steps, batchStepJSON(j, e))
		}
		for _, s := range steps[j.ID] {
			x.Steps = append(x.Steps, stepJSON(&s, e))
		}
		d.Jobs = append(d.Jobs, x)
	}
	return d
}

// noneAssigned is sacct's JSON node list of a job that never ran.
func noneAssigned(s string) string {
	if s == "" {
		return "None assigned"
	}
	return s
}

// batchStepJSON is a started job's batch step: the script on the first
// node, ending with the job.
func batchStepJSON(j *api.Job, e *Env) jsonStep {
	var s jsonStep
	a := j.Allocs[0]
	s.Nodes.List, s.Nodes.Count, s.Nodes.Range = []string{a.Node}, 1, a.Node
	s.TRES.Allocated = tresList(a.CPUs, len(a.GPUs), a.MemMB, 1)
	s.Time.Start = j.StartTime
	if j.State.Final() {
		s.Time.End = endTime(j)
		s.Time.Elapsed = max(s.Time.End-j.StartTime, 0)
	} else {
		s.Time.Elapsed = max(e.Now-j.StartTime, 0)
	}
	// The batch line's exit carries the signal Slurm's own cancel or time
	// limit sent, as sacct's ExitCode column shows it.
	c, sig, _ := strings.Cut(exitCode(&AcctRow{J: j, Batch: true}), ":")
	code, _ := strconv.Atoi(c)
	if n, _ := strconv.Atoi(sig); n != 0 {
		s.ExitCode = jsonExit{Status: "SIGNALED", ReturnCode: n}
	} else {
		s.ExitCode = exitJSON(code, "", j.State)
	}
	s.Tasks.Count = 1
	s.State = string(j.State)
	s.Step.JobID, s.Step.ID, s.Step.Name = int64(j.ID), "batch", "batch"
	return s
}

// stepJSON is an srun step.
func stepJSON(st *api.Step, e *Env) jsonStep {
	var s jsonStep
	s.Nodes.Range, s.Nodes.Count = st.NodeList, st.Nodes
	if names, err := hostlist.Expand(st.NodeList); err == nil {
		s.Nodes.List = names
	} else {
		s.Nodes.List = []string{st.NodeList}
	}
	s.TRES.Allocated = []jsonTRES{}
	s.Time.Start, s.Time.End, s.Time.Elapsed = st.StartS, st.EndS, st.ElapsedS
	s.ExitCode = exitJSON(st.ExitCode, st.Signal, st.State)
	s.Tasks.Count = st.Tasks
	s.State = string(st.State)
	s.Step.JobID, s.Step.ID, s.Step.Name = int64(st.JobID), strconv.Itoa(st.StepID), st.Name
	return s
}
