package slurmfmt

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// Row is one line of squeue: a job, or (Tasks set) the pending tasks of an
// array that have not started yet, which squeue shows as one line
// ("8_[2-9%2]") unless asked for one line per task (-r).
type Row struct {
	J *api.Job
	// Tasks is the task list of such a line, as Slurm prints it ("2-9%2").
	Tasks string
}

// jobField is one squeue field: its % code, its -O name, its header and
// how to print it.
type jobField struct {
	code   byte
	name   string
	header string
	get    func(r *Row, e *Env) string
}

// squeueFields is squeue's table of % codes and -O names, with Slurm's
// headers. A code that Gefion has no data for is absent, so that it is
// refused instead of printed wrong.
var squeueFields = []jobField{
	{'a', "Account", "ACCOUNT", func(r *Row, _ *Env) string { return safe(r.J.Project) }},
	{'A', "JobID", "JOBID", func(r *Row, _ *Env) string { return strconv.FormatInt(int64(rawID(r)), 10) }},
	{'b', "tres-per-node", "TRES_PER_NODE", func(r *Row, _ *Env) string { return tresPerNode(r.J) }},
	{'C', "NumCPUs", "CPUS", func(r *Row, _ *Env) string { return strconv.Itoa(r.J.CPUs) }},
	{'D', "NumNodes", "NODES", func(r *Row, _ *Env) string { return strconv.Itoa(r.J.Nodes) }},
	{'e', "EndTime", "END_TIME", func(r *Row, e *Env) string { return e.stamp(endTime(r.J), "N/A") }},
	{'F', "ArrayJobID", "ARRAY_JOB_ID", func(r *Row, _ *Env) string { return strconv.FormatInt(int64(arrayJobID(r.J)), 10) }},
	{'i', "JobArrayID", "JOBID", func(r *Row, _ *Env) string { return jobIDText(r) }},
	{'j', "Name", "NAME", func(r *Row, _ *Env) string { return safe(r.J.Name) }},
	{'K', "ArrayTaskID", "ARRAY_TASK_ID", func(r *Row, _ *Env) string { return arrayTaskText(r) }},
	{'l', "TimeLimit", "TIME_LIMIT", func(r *Row, _ *Env) string { return limitShort(r.J.TimeLimitS) }},
	{'L', "TimeLeft", "TIME_LEFT", func(r *Row, e *Env) string { return timeLeft(r.J, e) }},
	{'M', "TimeUsed", "TIME", func(r *Row, e *Env) string { return clockShort(runTime(r.J, e)) }},
	{'N', "NodeList", "NODELIST", func(r *Row, _ *Env) string { return r.J.NodeList }},
	{'P', "Partition", "PARTITION", func(r *Row, _ *Env) string { return safe(r.J.Partition) }},
	{'q', "QOS", "QOS", func(r *Row, _ *Env) string { return safe(r.J.QOS) }},
	{'Q', "PriorityLong", "PRIORITY", func(r *Row, _ *Env) string { return priorityText(r.J.Priority) }},
	{'r', "Reason", "REASON", func(r *Row, _ *Env) string { return safe(reasonOf(r.J)) }},
	{'R', "ReasonList", "NODELIST(REASON)", func(r *Row, _ *Env) string { return reasonList(r.J) }},
	{'S', "StartTime", "START_TIME", func(r *Row, e *Env) string { return e.stamp(startTime(r.J), "N/A") }},
	{'t', "StateCompact", "ST", func(r *Row, _ *Env) string { return r.J.State.Short() }},
	{'T', "State", "STATE", func(r *Row, _ *Env) string { return string(r.J.State) }},
	{'u', "UserName", "USER", func(r *Row, _ *Env) string { return safe(r.J.User) }},
	{'U', "UserID", "UID", func(r *Row, e *Env) string { return e.uid(r.J.User) }},
	{'V', "SubmitTime", "SUBMIT_TIME", func(r *Row, e *Env) string { return e.stamp(r.J.SubmitTime, "N/A") }},
}

// SqueueDefault is squeue's default format; SqueueLong is -l's and
// SqueueStart is --start's.
const (
	SqueueDefault = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
	SqueueLong    = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"
	SqueueStart   = "%.18i %.9P %.8j %.8u %.2t %.19S %.6D %R"
)

// ErrFormat marks a format string with a code or field Gefion does not
// know; the message names it and lists the known ones.
var ErrFormat = errors.New("invalid format")

// column is one field of a parsed format: the literal text before it, the
// field, and its width (0: as long as the value) and alignment.
type column struct {
	lit   string
	f     *jobField
	width int
	right bool
}

// JobFormat is a parsed squeue format (-o or -O).
type JobFormat struct {
	cols []column
	tail string
}

// ParseJobFormat parses squeue's -o format: literal text and fields
// %[.][width]code; "." aligns right, a width cuts and pads the value.
func ParseJobFormat(s string) (*JobFormat, error) {
	f := &JobFormat{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		col, n, err := parseCode(s[i:])
		if err != nil {
			return nil, err
		}
		if col.f == nil { // "%%"
			lit.WriteByte('%')
			i += n - 1
			continue
		}
		col.lit = lit.String()
		lit.Reset()
		f.cols = append(f.cols, col)
		i += n - 1
	}
	f.tail = lit.String()
	return f, nil
}

// parseCode reads one %[.][width]code at the start of s and returns the
// column and the bytes it used.
func parseCode(s string) (column, int, error) {
	var c column
	i := 1
	if i < len(s) && s[i] == '%' {
		return c, 2, nil
	}
	if i < len(s) && s[i] == '.' {
		c.right = true
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > start {
		c.width, _ = strconv.Atoi(s[start:i])
	}
	if i >= len(s) {
		return c, 0, fmt.Errorf("%w: %q ends inside a field; write %%[.][width]CODE, for example %%.18i", ErrFormat, s)
	}
	for k := range squeueFields {
		if squeueFields[k].code == s[i] {
			c.f = &squeueFields[k]
			return c, i + 1, nil
		}
	}
	return c, 0, fmt.Errorf("%w: %%%c is not a squeue format code Gefion knows; known codes: %s", ErrFormat, s[i], knownCodes())
}

func knownCodes() string {
	var b strings.Builder
	for i, f := range squeueFields {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('%')
		b.WriteByte(f.code)
	}
	return b.String()
}

// ParseJobFields parses squeue's -O list: comma-separated names, each with
// an optional :[.]width (default 20, left-aligned), printed with no
// separator as Slurm does.
func ParseJobFields(s string) (*JobFormat, error) {
	f := &JobFormat{}
	for _, item := range strings.Split(s, ",") {
		name, size, hasSize := strings.Cut(strings.TrimSpace(item), ":")
		c := column{width: 20}
		if hasSize {
			if strings.HasPrefix(size, ".") {
				c.right = true
				size = size[1:]
			}
			if size != "" {
				w, err := strconv.Atoi(size)
				if err != nil || w < 0 {
					return nil, fmt.Errorf("%w: -O %s: the width after ':' must be a whole number", ErrFormat, item)
				}
				c.width = w
			}
		}
		for k := range squeueFields {
			if strings.EqualFold(squeueFields[k].name, name) {
				c.f = &squeueFields[k]
			}
		}
		if c.f == nil {
			var names []string
			for _, f := range squeueFields {
				names = append(names, f.name)
			}
			return nil, fmt.Errorf("%w: -O %s is not a squeue field Gefion knows; known fields: %s", ErrFormat, name, strings.Join(names, ","))
		}
		f.cols = append(f.cols, c)
	}
	return f, nil
}

// WriteJobs writes the rows in format f, with the header line unless
// noHeader.
func (f *JobFormat) WriteJobs(w io.Writer, rows []Row, e *Env, noHeader bool) error {
	buf := make([]byte, 0, 64<<10)
	if !noHeader {
		for _, c := range f.cols {
			buf = append(buf, c.lit...)
			buf = appendPadded(buf, c.f.header, c.width, c.right)
		}
		buf = append(buf, f.tail...)
		buf = append(buf, '\n')
	}
	for i := range rows {
		buf = f.appendRow(buf, &rows[i], e)
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

func (f *JobFormat) appendRow(buf []byte, r *Row, e *Env) []byte {
	for _, c := range f.cols {
		buf = append(buf, c.lit...)
		v := c.f.get(r, e)
		if c.width > 0 && len(v) > c.width && noCut(c.f.code) {
			buf = append(buf, v...) // squeue widens, never cuts, a duration
			continue
		}
		buf = appendPadded(buf, v, c.width, c.right)
	}
	buf = append(buf, f.tail...)
	return append(buf, '\n')
}

// SqueueRows orders jobs as squeue does (partition, then pending before
// running, then priority, highest first, then ID) and, unless perTask,
// folds the pending tasks of each array that have not started into one
// row.
func SqueueRows(jobs []api.Job, perTask bool) []Row {
	idx := make([]int, len(jobs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		x, y := &jobs[a], &jobs[b]
		if c := cmp.Compare(x.Partition, y.Partition); c != 0 {
			return c
		}
		if c := cmp.Compare(stateOrder(x.State), stateOrder(y.State)); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Priority, x.Priority); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	rows := make([]Row, 0, len(jobs))
	folded := map[job.ID]int{} // array job ID -> index of its folded row
	var tasks map[job.ID][]int
	for _, i := range idx {
		j := &jobs[i]
		if !perTask && j.ArrayJobID != 0 && j.State == job.Pending && j.StartTime == 0 {
			if _, ok := folded[j.ArrayJobID]; ok {
				tasks[j.ArrayJobID] = append(tasks[j.ArrayJobID], j.ArrayTaskID)
				continue
			}
			if tasks == nil {
				tasks = map[job.ID][]int{}
			}
			folded[j.ArrayJobID] = len(rows)
			tasks[j.ArrayJobID] = []int{j.ArrayTaskID}
		}
		rows = append(rows, Row{J: j})
	}
	for id, k := range folded {
		r := &rows[k]
		r.Tasks = taskRanges(tasks[id])
		if r.J.ArrayMaxRunning > 0 {
			r.Tasks += "%" + strconv.Itoa(r.J.ArrayMaxRunning)
		}
	}
	return rows
}

// noCut reports whether squeue prints a field whole when it is wider than
// its column, as Slurm 22.05 does for durations (a TIME_LIMIT of
// 2-00:00:00 in a column of 9).
func noCut(code byte) bool { return code == 'l' || code == 'L' || code == 'M' }

// stateOrder sorts states as Slurm's state numbers do.
func stateOrder(s job.State) int {
	switch s {
	case job.Pending:
		return 0
	case job.Running:
		return 1
	case job.Completing:
		return 2
	}
	return 3
}

// taskRanges prints array indexes as Slurm's bitmaps print: 1,3,5-7.
func taskRanges(ids []int) string {
	slices.Sort(ids)
	var b []byte
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(ids[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(ids[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// JobIDText is a job's ID as squeue's %i and sacct's JobID print it: 12,
// 7_3 for a task of array 7.
func JobIDText(j *api.Job) string { return jobIDText(&Row{J: j}) }

func jobIDText(r *Row) string {
	j := r.J
	if r.Tasks != "" {
		return strconv.FormatInt(int64(j.ArrayJobID), 10) + "_[" + r.Tasks + "]"
	}
	if j.ArrayJobID != 0 {
		return strconv.FormatInt(int64(j.ArrayJobID), 10) + "_" + strconv.Itoa(j.ArrayTaskID)
	}
	return strconv.FormatInt(int64(j.ID), 10)
}

// rawID is the record's own ID; a folded row is the array's record.
func rawID(r *Row) job.ID {
	if r.Tasks != "" {
		return r.J.ArrayJobID
	}
	return r.J.ID
}

func arrayJobID(j *api.Job) job.ID {
	if j.ArrayJobID != 0 {
		return j.ArrayJobID
	}
	return j.ID
}

func arrayTaskText(r *Row) string {
	switch {
	case r.Tasks != "":
		return r.Tasks
	case r.J.ArrayJobID != 0:
		return strconv.Itoa(r.J.ArrayTaskID)
	}
	return "N/A"
}

// tresPerNode prints the GPUs a job asks per node as Slurm's
// TRES_PER_NODE does (gres:gpu:2, gres:gpu:h100:2), or N/A.
func tresPerNode(j *api.Job) string {
	n := j.Request.GPUsPerNode
	if n == 0 {
		return "N/A"
	}
	if t := j.Request.GPUType; t != "" {
		return "gres:gpu:" + t + ":" + strconv.Itoa(n)
	}
	return "gres:gpu:" + strconv.Itoa(n)
}

// runTime is how long a job has run: until its end, or until now.
func runTime(j *api.Job, e *Env) int64 {
	switch {
	case j.StartTime <= 0:
		return 0
	case j.EndTime > 0:
		return max(j.EndTime-j.StartTime, 0)
	}
	return max(e.Now-j.StartTime, 0)
}

func timeLeft(j *api.Job, e *Env) string {
	if j.TimeLimitS <= 0 {
		return "UNLIMITED"
	}
	return clockShort(max(j.TimeLimitS-runTime(j, e), 0))
}

// startTime is when a job started, or for a pending job the plan's
// estimate.
func startTime(j *api.Job) int64 {
	if j.StartTime > 0 {
		return j.StartTime
	}
	if j.State == job.Pending {
		return j.EstimatedStart
	}
	return 0
}

// endTime is when a job ended, or the end its time limit allows.
func endTime(j *api.Job) int64 {
	if j.EndTime > 0 {
		return j.EndTime
	}
	if s := startTime(j); s > 0 && j.TimeLimitS > 0 {
		return s + j.TimeLimitS
	}
	return 0
}

// priorityText prints a priority as Slurm's whole number; below zero
// (FIFO's negative eligibility times) prints 0.
func priorityText(p float64) string {
	if p <= 0 || math.IsNaN(p) {
		return "0"
	}
	return strconv.FormatUint(uint64(math.Round(min(p, math.MaxUint32))), 10)
}

// reasonOf is the reason Slurm gives for a job's state: the scheduler's
// for pending jobs, None for running ones, and for ended ones the reason
// Slurm records (NonZeroExitCode, TimeLimit, ...).
func reasonOf(j *api.Job) string {
	switch j.State {
	case job.Pending:
		if j.Reason == "" {
			return "None"
		}
		return j.Reason
	case job.Failed:
		if j.Reason != "" {
			// Why the node could not start it (chdir, output file): one
			// word, as key=value lines need, spaces written as Slurm
			// writes them in reasons.
			return strings.ReplaceAll(j.Reason, " ", "_")
		}
		return "NonZeroExitCode"
	case job.Timeout:
		return "TimeLimit"
	case job.NodeFail:
		return "NodeDown"
	case job.OutOfMem:
		return "OutOfMemory"
	}
	return "None"
}

// reasonList is squeue's %R: the nodes of a running job, or the reason in
// parentheses of one without nodes.
func reasonList(j *api.Job) string {
	if j.NodeList != "" && j.State != job.Pending && j.State != job.Failed {
		return j.NodeList
	}
	return "(" + safe(reasonOf(j)) + ")"
}

// squeueOrder is what SqueueRows reads to order and fold rows, whatever
// the format prints.
const squeueOrder = "id,array_job_id,array_task_id,array_max_running,partition,state,priority,start_time"

// squeueNeeds is the API fields (api.TableFieldNames) a % code prints.
func squeueNeeds(code byte) string {
	switch code {
	case 'a':
		return "project"
	case 'b':
		return "request.gpus_per_node,request.gpu_type"
	case 'C':
		return "cpus"
	case 'D':
		return "nodes"
	case 'e':
		return "end_time,estimated_start,time_limit_s"
	case 'j':
		return "name"
	case 'l':
		return "time_limit_s"
	case 'L':
		return "time_limit_s,end_time"
	case 'M':
		return "end_time"
	case 'N':
		return "node_list"
	case 'q':
		return "qos"
	case 'r':
		return "reason"
	case 'R':
		return "node_list,reason"
	case 'S':
		return "estimated_start"
	case 'u', 'U':
		return "user"
	case 'V':
		return "submit_time"
	}
	return "" // the ID, array and state codes read only squeueOrder's
}

// Fields returns the API fields (api.TableFieldNames) that printing the
// format reads, ordering and folding included, so that a list can ask the
// controller for those alone.
func (f *JobFormat) Fields() []string {
	out := strings.Split(squeueOrder, ",")
	for _, c := range f.cols {
		if n := squeueNeeds(c.f.code); n != "" {
			out = append(out, strings.Split(n, ",")...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
