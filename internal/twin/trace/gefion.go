package trace

import (
	"encoding/csv"
	"io"
	"math"
	"strconv"
	"time"
)

// GefionColumns is the header of gefion's accounting export, one job per
// row (a requeued job's last run):
//
//	job_id        the job's id
//	user          the submitting user
//	project       the project (Slurm account) charged
//	submit        submit time: Unix seconds or RFC 3339
//	start         start of the last run, or empty if it never started
//	end           end of the last run, or empty if still running
//	gpus          GPUs held (all nodes together)
//	nodes         nodes held
//	cpus          CPUs held (all nodes together)
//	mem_mb        memory held (MiB, all nodes together)
//	time_limit_s  the job's time limit in seconds (0: unlimited)
//	state         the job state as Slurm names it (COMPLETED, TIMEOUT, ...)
//	energy_j      energy measured for the job in joules, or empty
//
// The reader replays every job that started: run time is end minus start;
// a job never started is passed over; one still running is an error.
var GefionColumns = []string{"job_id", "user", "project", "submit", "start", "end", "gpus", "nodes", "cpus", "mem_mb", "time_limit_s", "state", "energy_j"}

// GefionRow is one job of the accounting export.
type GefionRow struct {
	JobID      int64
	User       string
	Project    string
	SubmitS    int64
	StartS     int64 // 0: never started
	EndS       int64 // 0: not ended
	GPUs       int
	Nodes      int
	CPUs       int
	MemMB      int64
	TimeLimitS int64
	State      string
	EnergyJ    float64 // <0: not measured
}

// GefionWriter writes the accounting export.
type GefionWriter struct{ w *csv.Writer }

// NewGefionWriter writes the header to w and returns a writer of rows.
func NewGefionWriter(w io.Writer) (*GefionWriter, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(GefionColumns); err != nil {
		return nil, err
	}
	return &GefionWriter{w: cw}, nil
}

// Write writes one row.
func (g *GefionWriter) Write(r GefionRow) error {
	opt := func(v int64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatInt(v, 10)
	}
	energy := ""
	if r.EnergyJ >= 0 {
		energy = strconv.FormatFloat(r.EnergyJ, 'f', -1, 64)
	}
	return g.w.Write([]string{
		strconv.FormatInt(r.JobID, 10), r.User, r.Project,
		strconv.FormatInt(r.SubmitS, 10), opt(r.StartS), opt(r.EndS),
		strconv.Itoa(r.GPUs), strconv.Itoa(r.Nodes), strconv.Itoa(r.CPUs),
		strconv.FormatInt(r.MemMB, 10), strconv.FormatInt(r.TimeLimitS, 10), r.State, energy,
	})
}

// Flush writes buffered rows and returns any write error.
func (g *GefionWriter) Flush() error {
	g.w.Flush()
	return g.w.Error()
}

type gefionParser struct {
	id, user, project, submit, start, end, gpus, nodes, cpus, mem, limit int
}

func (p *gefionParser) init(h *header) error {
	idx, err := h.require("job_id", "user", "project", "submit", "start", "end", "gpus", "time_limit_s")
	if err != nil {
		return err
	}
	p.id, p.user, p.project, p.submit, p.start, p.end, p.gpus, p.limit = idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6], idx[7]
	p.nodes, p.cpus, p.mem = h.find("nodes"), h.find("cpus"), h.find("mem_mb")
	return nil
}

// parseStamp reads Unix seconds or an RFC 3339 time.
func parseStamp(s string) (float64, bool) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return float64(v), v >= 0 && v < maxSeconds
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, false
	}
	return float64(t.Unix()), t.Unix() >= 0 && t.Unix() < maxSeconds
}

func (p *gefionParser) parse(c *rowCtx) (Record, error) {
	r := Record{Name: c.field(p.id), User: c.field(p.user), Tenant: c.field(p.project)}
	var ok bool
	if r.SubmitS, ok = parseStamp(c.field(p.submit)); !ok {
		return r, c.errorf(p.submit, "submit", "%q is not Unix seconds or an RFC 3339 time", c.field(p.submit))
	}
	if c.field(p.start) == "" {
		return r, errSkipRow
	}
	start, ok := parseStamp(c.field(p.start))
	if !ok {
		return r, c.errorf(p.start, "start", "%q is not Unix seconds or an RFC 3339 time", c.field(p.start))
	}
	if c.field(p.end) == "" {
		return r, c.errorf(p.end, "end", "the job has no end: export finished jobs only, or wait for it to end")
	}
	end, ok := parseStamp(c.field(p.end))
	if !ok {
		return r, c.errorf(p.end, "end", "%q is not Unix seconds or an RFC 3339 time", c.field(p.end))
	}
	if end < start {
		return r, c.errorf(p.end, "end", "%s is before start %s", c.field(p.end), c.field(p.start))
	}
	r.DurationS = end - start
	if r.GPUs, ok = parseCount(c.field(p.gpus)); !ok {
		return r, c.errorf(p.gpus, "gpus", "%q is not a whole number of GPUs", c.field(p.gpus))
	}
	lim, ok := parseSeconds(c.field(p.limit))
	if !ok {
		return r, c.errorf(p.limit, "time_limit_s", "%q is not a non-negative number of seconds", c.field(p.limit))
	}
	r.TimeLimitS = int64(math.Ceil(lim))
	if f := c.field(p.cpus); f != "" {
		n, ok := parseCount(f)
		if !ok {
			return r, c.errorf(p.cpus, "cpus", "%q is not a whole number of CPUs", f)
		}
		r.CPUs = float64(n)
	}
	if f := c.field(p.mem); f != "" {
		n, ok := parseCount(f)
		if !ok {
			return r, c.errorf(p.mem, "mem_mb", "%q is not a whole number of MiB", f)
		}
		r.MemMB = int64(n)
	}
	return r, nil
}
