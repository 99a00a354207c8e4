package slurmfmt

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
)

// AcctRow is one line of sacct: a job, or (Batch) its batch step, which
// Slurm lists under every job that started.
type AcctRow struct {
	J     *api.Job
	Batch bool
	// IsStep marks the line of job step Step (srun); J is then the job
	// as the step saw it (its name, state, times, nodes and exit).
	IsStep bool
	Step   int
	// mgr is a sacctmgr row, laid out by the same code.
	mgr MgrRow
}

// acctField is one sacct field: its name as Slurm spells it, its default
// width (negative: left-aligned, as Slurm's own sign convention) and how
// to print it.
type acctField struct {
	name  string
	width int
	get   func(r *AcctRow, e *Env) string
}

// jobOnly prints a field on the job line and leaves it empty on the batch
// step's, as sacct does for job-level fields.
func jobOnly(f func(j *api.Job, e *Env) string) func(r *AcctRow, e *Env) string {
	return func(r *AcctRow, e *Env) string {
		if r.Batch || r.IsStep {
			return ""
		}
		return f(r.J, e)
	}
}

// sacctFields is sacct's table of field names, in Slurm's spelling and
// default widths (recorded from Slurm 22.05). MaxRSS is empty: Gefion
// measures no step memory. It is built on first use, so that a client
// command does no work at start-up for a table it may not use.
var sacctFields = sync.OnceValue(func() []acctField {
	return []acctField{
		{"Account", 10, func(r *AcctRow, _ *Env) string { return safe(r.J.Project) }},
		{"AllocCPUS", 10, func(r *AcctRow, _ *Env) string { return strconv.Itoa(acctCPUs(r)) }},
		{"AllocNodes", 10, func(r *AcctRow, _ *Env) string { return strconv.Itoa(allocNodes(r)) }},
		{"AllocTRES", 10, func(r *AcctRow, _ *Env) string { return allocTRES(r) }},
		{"Cluster", 10, func(_ *AcctRow, e *Env) string { return safe(e.Cluster) }},
		{"CPUTime", 10, func(r *AcctRow, e *Env) string { return clockLong(runTime(r.J, e) * int64(acctCPUs(r))) }},
		{"CPUTimeRAW", 10, func(r *AcctRow, e *Env) string { return strconv.FormatInt(runTime(r.J, e)*int64(acctCPUs(r)), 10) }},
		{"DerivedExitCode", 15, jobOnly(func(_ *api.Job, _ *Env) string { return "0:0" })},
		{"Elapsed", 10, func(r *AcctRow, e *Env) string { return clockLong(runTime(r.J, e)) }},
		{"ElapsedRaw", 10, func(r *AcctRow, e *Env) string { return strconv.FormatInt(runTime(r.J, e), 10) }},
		{"Eligible", 19, func(r *AcctRow, e *Env) string {
			if r.Batch || r.IsStep {
				return e.stamp(r.J.StartTime, "Unknown")
			}
			return e.stamp(eligible(r.J), "Unknown")
		}},
		{"End", 19, func(r *AcctRow, e *Env) string { return e.stamp(r.J.EndTime, "Unknown") }},
		{"ExitCode", 8, func(r *AcctRow, _ *Env) string { return exitCode(r) }},
		{"JobID", -12, func(r *AcctRow, _ *Env) string { return stepID(JobIDText(r.J), r) }},
		{"JobIDRaw", -12, func(r *AcctRow, _ *Env) string { return stepID(strconv.FormatInt(int64(r.J.ID), 10), r) }},
		{"JobName", 10, func(r *AcctRow, _ *Env) string {
			if r.Batch {
				return "batch"
			}
			return safe(r.J.Name)
		}},
		{"MaxRSS", 10, func(*AcctRow, *Env) string { return "" }},
		{"NCPUS", 10, func(r *AcctRow, _ *Env) string { return strconv.Itoa(acctCPUs(r)) }},
		{"NNodes", 8, func(r *AcctRow, _ *Env) string { return strconv.Itoa(acctNodes(r)) }},
		{"NodeList", 15, func(r *AcctRow, _ *Env) string { return acctNodeList(r) }},
		{"Partition", 10, jobOnly(func(j *api.Job, _ *Env) string { return safe(j.Partition) })},
		{"Priority", 10, jobOnly(func(j *api.Job, _ *Env) string { return priorityText(j.Priority) })},
		{"QOS", 10, jobOnly(func(j *api.Job, _ *Env) string { return safe(j.QOS) })},
		{"Reason", 22, jobOnly(func(j *api.Job, _ *Env) string { return safe(reasonOf(j)) })},
		{"ReqCPUS", 8, func(r *AcctRow, _ *Env) string { return strconv.Itoa(acctCPUs(r)) }},
		{"ReqMem", 10, jobOnly(func(j *api.Job, _ *Env) string { return reqMem(j) })},
		{"ReqNodes", 8, func(r *AcctRow, _ *Env) string { return strconv.Itoa(acctNodes(r)) }},
		{"ReqTRES", 10, jobOnly(func(j *api.Job, _ *Env) string { return jobTRES(j) })},
		{"Start", 19, func(r *AcctRow, e *Env) string { return e.stamp(r.J.StartTime, "Unknown") }},
		{"State", 10, func(r *AcctRow, e *Env) string { return acctState(r, e) }},
		{"Submit", 19, func(r *AcctRow, e *Env) string {
			if r.Batch || r.IsStep {
				return e.stamp(r.J.StartTime, "Unknown")
			}
			return e.stamp(r.J.SubmitTime, "Unknown")
		}},
		{"Timelimit", 10, jobOnly(func(j *api.Job, _ *Env) string { return limitLong(j.TimeLimitS) })},
		{"TimelimitRaw", 10, jobOnly(func(j *api.Job, _ *Env) string {
			if j.TimeLimitS <= 0 {
				return "UNLIMITED"
			}
			return strconv.FormatInt(j.TimeLimitS/60, 10)
		})},
		{"UID", 6, jobOnly(func(j *api.Job, e *Env) string { return e.uid(j.User) })},
		{"User", 9, jobOnly(func(j *api.Job, _ *Env) string { return safe(j.User) })},
	}
})

// SacctDefault is sacct's default field list; SacctBrief is -b's.
const (
	SacctDefault = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode"
	SacctBrief   = "JobID,State,ExitCode"
)

// AcctStyle is how sacct lays fields out.
type AcctStyle int

// The layouts: padded columns with a dashed rule under the header, -p
// (every field followed by |) and -P (fields separated by |).
const (
	Columns AcctStyle = iota
	Parsable
	Parsable2
)

type acctColumn struct {
	f     *acctField
	width int
}

// AcctFormat is a parsed sacct field list (-o).
type AcctFormat struct{ cols []acctColumn }

// ParseAcctFormat parses sacct's -o list: names in any case, each with an
// optional %WIDTH (negative: left-aligned).
func ParseAcctFormat(s string) (*AcctFormat, error) {
	f := &AcctFormat{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, width, hasWidth := strings.Cut(item, "%")
		var c acctColumn
		table := sacctFields()
		for k := range table {
			if strings.EqualFold(table[k].name, name) {
				c.f = &table[k]
			}
		}
		if c.f == nil {
			return nil, fmt.Errorf("%w: sacct field %q is not one Gefion knows; known fields: %s", ErrFormat, name, acctNames())
		}
		c.width = c.f.width
		if hasWidth {
			w, err := strconv.Atoi(width)
			if err != nil || w == 0 {
				return nil, fmt.Errorf("%w: %s: the width after %% must be a whole number other than 0 (negative aligns left)", ErrFormat, item)
			}
			c.width = w
		}
		f.cols = append(f.cols, c)
	}
	if len(f.cols) == 0 {
		return nil, fmt.Errorf("%w: no sacct fields given; for example --format=JobID,State,ExitCode", ErrFormat)
	}
	return f, nil
}

func acctNames() string {
	table := sacctFields()
	names := make([]string, len(table))
	for i, f := range table {
		names[i] = f.name
	}
	return strings.Join(names, ",")
}

// WriteAcct writes the rows in style st, with the header (and, for
// columns, the dashed rule) unless noHeader.
func (f *AcctFormat) WriteAcct(w io.Writer, rows []AcctRow, e *Env, st AcctStyle, noHeader bool) error {
	buf := make([]byte, 0, 64<<10)
	if !noHeader {
		buf = f.appendLine(buf, st, true, func(c *acctColumn) string { return c.f.name })
		if st == Columns {
			for _, c := range f.cols {
				for range abs(c.width) {
					buf = append(buf, '-')
				}
				buf = append(buf, ' ')
			}
			buf = append(buf, '\n')
		}
	}
	for i := range rows {
		r := &rows[i]
		buf = f.appendLine(buf, st, false, func(c *acctColumn) string { return c.f.get(r, e) })
		if len(buf) > 60<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// appendLine lays out one line. In columns, a value too long for its
// width is cut and ends in '+', as sacct marks it; a header is only cut.
func (f *AcctFormat) appendLine(buf []byte, st AcctStyle, header bool, val func(*acctColumn) string) []byte {
	for i := range f.cols {
		c := &f.cols[i]
		v := val(c)
		switch st {
		case Parsable:
			buf = append(buf, v...)
			buf = append(buf, '|')
		case Parsable2:
			if i > 0 {
				buf = append(buf, '|')
			}
			buf = append(buf, v...)
		default:
			w := abs(c.width)
			if len(v) > w {
				if header {
					v = cut(v, w)
				} else {
					v = cut(v, w-1) + "+"
				}
			}
			buf = appendPadded(buf, v, w, c.width > 0)
			buf = append(buf, ' ')
		}
	}
	return append(buf, '\n')
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// AcctRows orders jobs as sacct lists them (by job, array tasks by
// index) and adds each started job's batch step and its job steps (steps,
// by job ID) unless jobsOnly (-X).
func AcctRows(jobs []api.Job, jobsOnly bool, steps map[job.ID][]api.Step) []AcctRow {
	idx := make([]int, len(jobs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		x, y := &jobs[a], &jobs[b]
		if c := cmp.Compare(arrayJobID(x), arrayJobID(y)); c != 0 {
			return c
		}
		return cmp.Compare(x.ArrayTaskID, y.ArrayTaskID)
	})
	n := len(jobs)
	if !jobsOnly {
		n *= 2
	}
	rows := make([]AcctRow, 0, n)
	for _, i := range idx {
		j := &jobs[i]
		rows = append(rows, AcctRow{J: j})
		if !jobsOnly && j.StartTime > 0 {
			rows = append(rows, AcctRow{J: j, Batch: true})
		}
		if !jobsOnly {
			for k := range steps[j.ID] {
				rows = append(rows, stepRow(j, &steps[j.ID][k]))
			}
		}
	}
	return rows
}

// stepRow is the line of job step st of j: the job's fields, with what the
// step has of its own.
func stepRow(j *api.Job, st *api.Step) AcctRow {
	c := *j
	c.Name, c.State, c.ExitCode, c.Signal = st.Name, st.State, st.ExitCode, st.Signal
	c.StartTime, c.EndTime, c.SubmitTime, c.EligibleTime = st.StartS, st.EndS, st.StartS, st.StartS
	c.NodeList, c.Nodes, c.CPUs = st.NodeList, st.Nodes, st.Tasks
	c.Allocs = nil
	names, _ := hostlist.Expand(st.NodeList)
	for _, a := range j.Allocs {
		if slices.Contains(names, a.Node) {
			c.Allocs = append(c.Allocs, a)
		}
	}
	return AcctRow{J: &c, IsStep: true, Step: st.StepID}
}

func stepID(id string, r *AcctRow) string {
	switch {
	case r.Batch:
		return id + ".batch"
	case r.IsStep:
		return id + "." + strconv.Itoa(r.Step)
	}
	return id
}

// acctState spells a state as sacct does: a cancelled job is "CANCELLED by
// UID"; its batch step, and that of a job ended by its time limit or by
// preemption, is CANCELLED (it was killed by a signal).
func acctState(r *AcctRow, e *Env) string {
	s := r.J.State
	if r.IsStep {
		return string(s)
	}
	if r.Batch {
		switch s {
		case job.Cancelled, job.Timeout, job.Preempted, job.NodeFail:
			return string(job.Cancelled)
		}
		return string(s)
	}
	if s == job.Cancelled {
		if by, ok := cancelledBy(r.J.Reason); ok {
			return "CANCELLED by " + e.uid(by)
		}
	}
	return string(s)
}

// cancelledBy reads the user from the controller's "cancelled by USER"
// reason.
func cancelledBy(reason string) (string, bool) {
	by, ok := strings.CutPrefix(reason, "cancelled by ")
	if !ok || by == "" || strings.ContainsAny(by, " \t\n") {
		return "", false
	}
	return by, true
}

// exitCode prints CODE:SIGNAL. A job killed by Slurm's own signal (cancel,
// time limit, preemption) shows 0:0 and its batch step the signal,
// as sacct does.
func exitCode(r *AcctRow) string {
	j := r.J
	sig := 0
	if j.Signal != "" {
		if n, _, err := job.SignalNumber(j.Signal); err == nil {
			sig = n
		}
	}
	killed := j.State == job.Cancelled || j.State == job.Timeout || j.State == job.Preempted
	switch {
	case killed && !r.Batch && !r.IsStep:
		return strconv.Itoa(j.ExitCode) + ":0"
	case killed && j.StartTime > 0 && sig == 0:
		sig = 15
	}
	return strconv.Itoa(j.ExitCode) + ":" + strconv.Itoa(sig)
}

func eligible(j *api.Job) int64 {
	if j.EligibleTime > 0 {
		return j.EligibleTime
	}
	return j.SubmitTime
}

func acctNodes(r *AcctRow) int {
	if r.Batch {
		return 1
	}
	return r.J.Nodes
}

func allocNodes(r *AcctRow) int {
	if r.Batch {
		return 1
	}
	if r.J.StartTime == 0 {
		return 0
	}
	return r.J.Nodes
}

// acctCPUs is the job's CPUs, or the batch step's: those on its first
// node.
func acctCPUs(r *AcctRow) int {
	if r.Batch && len(r.J.Allocs) > 0 {
		return r.J.Allocs[0].CPUs
	}
	return r.J.CPUs
}

func acctNodeList(r *AcctRow) string {
	switch {
	case r.Batch && len(r.J.Allocs) > 0:
		return r.J.Allocs[0].Node
	case r.J.NodeList == "":
		return "None assigned"
	}
	return r.J.NodeList
}

// reqMem is the job's memory request in all (22.05 prints the total).
func reqMem(j *api.Job) string {
	mb := j.Request.MemPerNodeMB * int64(max(j.Nodes, 1))
	if mb <= 0 {
		return "0"
	}
	return memText(mb)
}

// jobTRES is a job's TRES as Slurm lists them, in name order:
// cpu=,gres/gpu=,mem=,node=. Gefion has no billing TRES, so none is
// printed.
func jobTRES(j *api.Job) string {
	return tres(j.CPUs, j.GPUs, j.Request.MemPerNodeMB*int64(max(j.Nodes, 1)), j.Nodes)
}

// allocTRES is what a started job (or its batch step, on its first node)
// was given; empty before it starts.
func allocTRES(r *AcctRow) string {
	j := r.J
	if j.StartTime == 0 {
		return ""
	}
	if r.Batch {
		if len(j.Allocs) == 0 {
			return ""
		}
		a := j.Allocs[0]
		return tres(a.CPUs, len(a.GPUs), a.MemMB, 1)
	}
	var mem int64
	cpus, gpus := 0, 0
	for _, a := range j.Allocs {
		mem += a.MemMB
		cpus += a.CPUs
		gpus += len(a.GPUs)
	}
	if len(j.Allocs) == 0 {
		return jobTRES(j)
	}
	return tres(cpus, gpus, mem, len(j.Allocs))
}

func tres(cpus, gpus int, memMB int64, nodes int) string {
	b := make([]byte, 0, 48)
	b = append(b, "cpu="...)
	b = strconv.AppendInt(b, int64(cpus), 10)
	if gpus > 0 {
		b = append(b, ",gres/gpu="...)
		b = strconv.AppendInt(b, int64(gpus), 10)
	}
	if memMB > 0 {
		b = append(b, ",mem="...)
		b = append(b, memText(memMB)...)
	}
	b = append(b, ",node="...)
	b = strconv.AppendInt(b, int64(nodes), 10)
	return string(b)
}

// StateMatches reports whether state s is in a list of Slurm state names
// or short codes (sacct -s, squeue -t: "PD,R", "completed,failed";
// "all" matches every state).
func StateMatches(s job.State, list string) bool {
	for _, w := range strings.Split(list, ",") {
		w = strings.ToUpper(strings.TrimSpace(w))
		if w == "ALL" || w == string(s) || w == s.Short() || (w == "CANCELED" && s == job.Cancelled) {
			return true
		}
	}
	return false
}

// CheckStates reports the first name in a state list that is no Slurm job
// state, so that a typo is refused rather than matching nothing.
func CheckStates(list string) error {
	known := []job.State{job.Pending, job.Running, job.Completing, job.Completed, job.Failed, job.Cancelled,
		job.Timeout, job.NodeFail, job.Preempted, job.OutOfMem}
	for _, w := range strings.Split(list, ",") {
		w = strings.ToUpper(strings.TrimSpace(w))
		ok := w == "ALL" || w == "CANCELED"
		for _, s := range known {
			ok = ok || w == string(s) || w == s.Short()
		}
		if !ok {
			return fmt.Errorf("%w: %q is not a job state; use Slurm's names or codes: PENDING (PD), RUNNING (R), COMPLETING (CG), COMPLETED (CD), FAILED (F), CANCELLED (CA), TIMEOUT (TO), NODE_FAIL (NF), PREEMPTED (PR), OUT_OF_MEMORY (OOM) or all", ErrFormat, w)
		}
	}
	return nil
}

// acctOrder is what AcctRows reads to order rows and add batch steps, and
// the state, which sacct -s filters on again.
const acctOrder = "id,array_job_id,array_task_id,start_time,state"

// acctNeeds is the API fields (api.TableFieldNames) a sacct field prints;
// batch adds what the batch step's line reads.
func acctNeeds(name string, batch bool) string {
	switch name {
	case "Account":
		return "project"
	case "AllocCPUS", "NCPUS", "ReqCPUS":
		if batch {
			return "cpus,allocs"
		}
		return "cpus"
	case "AllocNodes", "NNodes", "ReqNodes":
		return "nodes"
	case "AllocTRES":
		return "cpus,gpus,nodes,request.mem_per_node_mb,allocs"
	case "CPUTime", "CPUTimeRAW":
		if batch {
			return "end_time,cpus,allocs"
		}
		return "end_time,cpus"
	case "Elapsed", "ElapsedRaw", "End":
		return "end_time"
	case "Eligible", "Submit":
		return "eligible_time,submit_time"
	case "ExitCode":
		return "exit_code,signal,state"
	case "JobName":
		return "name"
	case "NodeList":
		if batch {
			return "node_list,allocs"
		}
		return "node_list"
	case "Partition":
		return "partition"
	case "Priority":
		return "priority"
	case "QOS":
		return "qos"
	case "Reason":
		return "state,reason"
	case "ReqMem":
		return "request.mem_per_node_mb,nodes"
	case "ReqTRES":
		return "cpus,gpus,nodes,request.mem_per_node_mb"
	case "State":
		return "state,reason"
	case "Timelimit", "TimelimitRaw":
		return "time_limit_s"
	case "UID", "User":
		return "user"
	}
	return "" // Cluster, DerivedExitCode, JobID, JobIDRaw, MaxRSS, Start
}

// Fields returns the API fields (api.TableFieldNames) that printing the
// format reads, ordering included; jobsOnly (-X) leaves out what only the
// batch steps' lines read.
func (f *AcctFormat) Fields(jobsOnly bool) []string {
	out := strings.Split(acctOrder, ",")
	for _, c := range f.cols {
		if n := acctNeeds(c.f.name, !jobsOnly); n != "" {
			out = append(out, strings.Split(n, ",")...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// StateList returns the states a Slurm state list names (see
// StateMatches), each once; nil when it names all of them.
func StateList(list string) []job.State {
	var out []job.State
	for _, s := range []job.State{job.Pending, job.Running, job.Completing, job.Completed, job.Failed, job.Cancelled,
		job.Timeout, job.NodeFail, job.Preempted, job.OutOfMem} {
		if StateMatches(s, list) {
			out = append(out, s)
		}
	}
	if len(out) == 10 {
		return nil
	}
	return out
}
