package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "scontrol", summary: "Slurm's scontrol for scripts: show hostnames [LIST], show job [ID]", run: runScontrol})
	aliases["scontrol"] = "scontrol"
}

// runScontrol answers the scontrol calls batch scripts make: `scontrol
// show hostnames` expands a node list (SLURM_JOB_NODELIST by default), one
// name a line, to build MPI host files; `scontrol show job ID` prints a job
// as Slurm's key=value lines.
func runScontrol(e *Env, args []string) error {
	fs := newFlags(e, "scontrol")
	var r remote
	r.register(fs, true)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || pos[0] != "show" {
		return usagef("usage: scontrol show hostnames [LIST] | scontrol show job [ID]")
	}
	switch strings.ToLower(pos[1]) {
	case "hostnames", "hostname":
		list := strings.Join(pos[2:], ",")
		if list == "" {
			list = e.getenv("SLURM_JOB_NODELIST")
		}
		if list == "" {
			return usagef("scontrol show hostnames: give a node list (dgx[001-004]) or run inside a job, where SLURM_JOB_NODELIST is set")
		}
		names, err := hostlist.Expand(list)
		if err != nil {
			return fmt.Errorf("%q is not a node list: %v", list, err)
		}
		for _, n := range names {
			fmt.Fprintln(e.Stdout, textsafe.Field(n))
		}
		return nil
	case "job", "jobs", "jobid":
		addr := resolveAddr(e, r.addr)
		c := r.client(e)
		ctx, cancel := ctxTimeout()
		defer cancel()
		var jobs []api.Job
		if len(pos) > 2 {
			refs, err := parseJobRefs(pos[2:])
			if err != nil {
				return err
			}
			for _, ref := range refs {
				js, err := showRef(ctx, c, ref)
				if err != nil {
					return explain(err, addr)
				}
				jobs = append(jobs, js...)
			}
		} else {
			if jobs, err = c.Jobs(ctx, false); err != nil {
				return explain(err, addr)
			}
		}
		if r.asJSON {
			return writeJSON(e.Stdout, jobs)
		}
		for i := range jobs {
			if i > 0 {
				fmt.Fprintln(e.Stdout)
			}
			showJob(e.Stdout, &jobs[i])
		}
		return nil
	default:
		return usagef("scontrol show %s: only hostnames and job are supported", pos[1])
	}
}

// showJob prints a job as `scontrol show job` does: key=value pairs,
// several to a line.
func showJob(w io.Writer, j *api.Job) {
	ts := func(s int64) string {
		if s == 0 {
			return "Unknown"
		}
		return time.Unix(s, 0).Format("2006-01-02T15:04:05")
	}
	limit := "UNLIMITED"
	if j.TimeLimitS > 0 {
		limit = slurmDuration(j.TimeLimitS)
	}
	run := int64(0)
	switch {
	case j.StartTime > 0 && j.EndTime > 0:
		run = j.EndTime - j.StartTime
	case j.StartTime > 0:
		run = max(time.Now().Unix()-j.StartTime, 0)
	}
	reason := j.Reason
	if reason == "" {
		reason = "None"
	}
	exit := fmt.Sprintf("%d:0", j.ExitCode)
	if j.Signal != "" {
		exit = fmt.Sprintf("%d:%s", j.ExitCode, j.Signal)
	}
	lines := [][]string{
		{"JobId=" + fmt.Sprint(j.ID), "JobName=" + j.Name},
		{"UserId=" + j.User, "Account=" + j.Project, "QOS=" + j.QOS},
		{"JobState=" + string(j.State), "Reason=" + strings.ReplaceAll(reason, " ", "_"), "Dependency=(null)"},
		{"Restarts=" + fmt.Sprint(j.Restarts), "ExitCode=" + exit},
		{"RunTime=" + slurmDuration(run), "TimeLimit=" + limit},
		{"SubmitTime=" + ts(j.SubmitTime), "StartTime=" + ts(j.StartTime), "EndTime=" + ts(j.EndTime)},
		{"Partition=" + j.Partition},
		{"NodeList=" + orNull(j.NodeList)},
		{"NumNodes=" + fmt.Sprint(j.Nodes), "NumCPUs=" + fmt.Sprint(j.CPUs), fmt.Sprintf("TRES=cpu=%d,node=%d,gres/gpu=%d", j.CPUs, j.Nodes, j.GPUs)},
	}
	if j.ArrayJobID != 0 {
		lines[0] = append(lines[0], "ArrayJobId="+fmt.Sprint(j.ArrayJobID), "ArrayTaskId="+fmt.Sprint(j.ArrayTaskID))
	}
	if s := j.Spec; s != nil {
		lines = append(lines, []string{"WorkDir=" + orNull(firstOf(s.Chdir, s.SubmitDir))},
			[]string{"StdOut=" + orNull(s.Output)}, []string{"StdErr=" + orNull(firstOf(s.Error, s.Output))})
	}
	for _, l := range lines {
		// Every value may hold user text (a job name, a path, a reason):
		// escaped, it can neither break the key=value lines nor drive the
		// terminal.
		fmt.Fprintf(w, "   %s\n", textsafe.Field(strings.Join(l, " ")))
	}
}

// slurmDuration formats seconds as Slurm does: [D-]HH:MM:SS.
func slurmDuration(s int64) string {
	d, s := s/86400, s%86400
	if d > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, s/3600, s%3600/60, s%60)
	}
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s%3600/60, s%60)
}

func orNull(s string) string {
	if s == "" {
		return "(null)"
	}
	return s
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// showRef fetches the jobs a reference names, as scontrol show job lists
// them: one job, one task, each task of a list, or every task of an array
// named by its ID.
func showRef(ctx context.Context, c *client.Client, ref job.Ref) ([]api.Job, error) {
	if ref.Tasks != nil {
		out := make([]api.Job, 0, len(ref.Tasks))
		for _, t := range ref.Tasks {
			j, err := c.JobRef(ctx, job.Ref{ID: ref.ID, Tasks: []int{t}})
			if err != nil {
				return nil, err
			}
			out = append(out, *j)
		}
		return out, nil
	}
	j, err := c.JobRef(ctx, ref)
	if err != nil {
		return nil, err
	}
	if j.ArrayJobID != j.ID {
		return []api.Job{*j}, nil
	}
	// The array's ID: list its tasks that are still in view, as Slurm does.
	all, err := c.Jobs(ctx, true)
	if err != nil {
		return nil, err
	}
	var out []api.Job
	for _, t := range all {
		if t.ArrayJobID != ref.ID {
			continue
		}
		// The list leaves out the spec, which show prints.
		full, err := c.Job(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, *full)
	}
	if len(out) == 0 {
		out = []api.Job{*j}
	}
	return out, nil
}
