package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Record is one job of a trace, in the trace's own terms. Times are seconds
// from the trace's own epoch (Unix time for traces with dates, else the
// trace's start).
type Record struct {
	// Name is the job's name or id in the trace, or "".
	Name string
	// SubmitS is when the job was submitted.
	SubmitS float64
	// DurationS is how long the job ran (its run time, not its wait).
	DurationS float64
	// GPUs is the number of whole GPUs the job used (fractional GPU shares
	// count as one GPU: the machine does not share GPUs).
	GPUs int
	// CPUs and MemMB are the job's CPU and memory request (all nodes
	// together) where the trace gives them, else 0.
	CPUs  float64
	MemMB int64
	// Tenant is the project, account, virtual cluster or user the job
	// belongs to for fair share; "" when the trace has none.
	Tenant string
	// User is the submitting user, or "".
	User string
	// TimeLimitS is the user's time limit where the trace records one
	// (gefion accounting export), else 0.
	TimeLimitS int64
	// Line is the 1-based line of the row in the file.
	Line int
}

// Reader streams records. Next returns io.EOF after the last one.
type Reader interface {
	Next() (Record, error)
}

// Format names a trace layout.
type Format string

// Known formats.
const (
	Philly   Format = "philly"   // timestamp,duration,num_gpus,gpu_time,cluster (Pollux/Sia copy of Philly)
	Tiresias Format = "tiresias" // job_id,num_gpu,submit_time,...,duration,...
	Alibaba  Format = "alibaba"  // Alibaba cluster-trace-gpu-v2023 pod list
	Pollux   Format = "pollux"   // Pollux/Sia workload files: name,time,application,num_replicas,batch_size
	Helios   Format = "helios"   // Helios Slurm log: job_id,user,vc,gpu_num,...,submit_time,start_time,end_time,duration
	Gefion   Format = "gefion"   // gefion's accounting export (see GefionColumns)
	Generic  Format = "csv"      // any CSV with recognisable column names
)

// Formats lists the formats Open accepts.
func Formats() []Format {
	return []Format{Philly, Tiresias, Alibaba, Pollux, Helios, Gefion, Generic}
}

// Options says how to read a trace. The zero value reads a generic CSV and
// stops at the first bad row.
type Options struct {
	Format Format
	// Name is the file name used in messages.
	Name string
	// Columns maps a field (submit, duration, end, start, gpus, tenant,
	// user, name, cpus, mem_mb, time_limit) to a column name of the file,
	// overriding the recognised names. Generic, helios and tiresias formats
	// honour it.
	Columns map[string]string
	// SkipBad skips rows that cannot be read and counts them (Skipped)
	// instead of returning the first one's error.
	SkipBad bool
}

// RowError is a row that cannot be read.
type RowError struct {
	File   string
	Line   int
	Column int // 1-based, in bytes; 0 when the whole row is at fault
	Field  string
	Msg    string
}

// Error formats the error as file:line:column: field: message.
func (e *RowError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	fmt.Fprintf(&b, ":%d", e.Line)
	if e.Column > 0 {
		fmt.Fprintf(&b, ":%d", e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrFormat marks a file whose header does not fit the format asked for; the
// message names the missing columns and what the file has.
var ErrFormat = errors.New("trace format")

// Open returns a streaming reader of r in the given format. The header is
// read at once, so a file of the wrong format fails here.
func Open(r io.Reader, opt Options) (*CSVReader, error) {
	if opt.Name == "" {
		opt.Name = "trace"
	}
	if opt.Format == "" {
		opt.Format = Generic
	}
	var p rowParser
	switch opt.Format {
	case Philly:
		p = &phillyParser{}
	case Alibaba:
		p = &alibabaParser{}
	case Pollux, "sia":
		p = &polluxParser{}
	case Gefion:
		p = &gefionParser{}
	case Generic, Tiresias, Helios:
		p = &genericParser{columns: opt.Columns}
	default:
		names := make([]string, 0, len(Formats()))
		for _, f := range Formats() {
			names = append(names, string(f))
		}
		return nil, fmt.Errorf("%w: unknown format %q: choose one of %s", ErrFormat, opt.Format, strings.Join(names, ", "))
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: %s is empty: a trace starts with a header line", ErrFormat, opt.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading the header: %v", ErrFormat, opt.Name, err)
	}
	h := newHeader(header)
	if err := p.init(h); err != nil {
		return nil, fmt.Errorf("%w: %s (format %s): %v; the file has columns %s", ErrFormat, opt.Name, opt.Format, err, strings.Join(h.names, ","))
	}
	if err := h.ambiguous(); err != nil {
		return nil, fmt.Errorf("%w: %s (format %s): %v", ErrFormat, opt.Name, opt.Format, err)
	}
	return &CSVReader{cr: cr, p: p, opt: opt, width: len(header)}, nil
}

// CSVReader is the streaming reader Open returns.
type CSVReader struct {
	cr      *csv.Reader
	p       rowParser
	opt     Options
	width   int
	skipped int
	first   []error
	rows    int
}

var _ Reader = (*CSVReader)(nil)

// Skipped returns how many bad rows were skipped so far (SkipBad only).
func (r *CSVReader) Skipped() int { return r.skipped }

// SkippedErrors returns the first few skipped rows' errors, to show a user.
func (r *CSVReader) SkippedErrors() []error { return r.first }

// Rows returns how many data rows were read, good and bad.
func (r *CSVReader) Rows() int { return r.rows }

// Next returns the next record, io.EOF at the end, or the first bad row's
// *RowError unless SkipBad.
func (r *CSVReader) Next() (Record, error) {
	for {
		row, err := r.cr.Read()
		if err == io.EOF {
			return Record{}, io.EOF
		}
		var rec Record
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				err = &RowError{File: r.opt.Name, Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error()}
			} else {
				return Record{}, err
			}
		} else {
			r.rows++
			line, _ := r.cr.FieldPos(0)
			if isBlank(row) {
				continue
			}
			c := rowCtx{r: r, row: row, line: line}
			rec, err = r.p.parse(&c)
			rec.Line = line
		}
		if err == nil {
			return rec, nil
		}
		if errors.Is(err, errSkipRow) {
			continue
		}
		if !r.opt.SkipBad {
			return Record{}, err
		}
		r.skipped++
		if len(r.first) < 5 {
			r.first = append(r.first, err)
		}
	}
}

// errSkipRow marks a well-formed row that holds no job to replay (an
// Alibaba pod that was never scheduled, a cancelled job that never ran).
var errSkipRow = errors.New("row holds no job")

func isBlank(row []string) bool {
	for _, f := range row {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// header maps lower-cased, trimmed column names to indexes.
type header struct {
	names []string
	index map[string]int
	// dups holds the indexes of every name that heads more than one
	// column, and used the names a parser looked up and found.
	dups map[string][]int
	used []string
}

func newHeader(cols []string) *header {
	h := &header{index: make(map[string]int, len(cols))}
	for i, c := range cols {
		c = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(c, "\ufeff")))
		h.names = append(h.names, c)
		first, dup := h.index[c]
		if !dup {
			h.index[c] = i
			continue
		}
		if h.dups == nil {
			h.dups = map[string][]int{}
		}
		if h.dups[c] == nil {
			h.dups[c] = []int{first}
		}
		h.dups[c] = append(h.dups[c], i)
	}
	return h
}

// find returns the index of the first of names present, or -1.
func (h *header) find(names ...string) int {
	for _, n := range names {
		n = strings.ToLower(n)
		if i, ok := h.index[n]; ok {
			h.used = append(h.used, n)
			return i
		}
	}
	return -1
}

// ambiguous reports a column the parser reads whose name heads more than
// one column: which of them holds the data is a guess, so the file must
// say. A repeated name the parser does not read is no one's concern.
func (h *header) ambiguous() error {
	for _, n := range h.used {
		if at := h.dups[n]; at != nil {
			pos := make([]string, len(at))
			for k, i := range at {
				pos[k] = strconv.Itoa(i + 1)
			}
			return fmt.Errorf("column %q appears %d times in the header (columns %s): keep one, or rename the others so that one column holds each field",
				n, len(at), strings.Join(pos, ", "))
		}
	}
	return nil
}

// require returns the indexes of the named columns or an error listing the
// missing ones.
func (h *header) require(names ...string) ([]int, error) {
	idx := make([]int, len(names))
	var missing []string
	for i, n := range names {
		idx[i] = h.find(n)
		if idx[i] < 0 {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("missing column(s) %s", strings.Join(missing, ", "))
	}
	return idx, nil
}

// rowParser turns one row into a record.
type rowParser interface {
	init(h *header) error
	parse(c *rowCtx) (Record, error)
}

// rowCtx is one row being parsed, with helpers that report the position of
// a bad field.
type rowCtx struct {
	r    *CSVReader
	row  []string
	line int
}

// field returns column i, or "" when the row is short (i < 0 too).
func (c *rowCtx) field(i int) string {
	if i < 0 || i >= len(c.row) {
		return ""
	}
	return strings.TrimSpace(c.row[i])
}

// errorf reports a bad value in column i named name.
func (c *rowCtx) errorf(i int, name, format string, a ...any) error {
	col := 0
	if i >= 0 && i < len(c.row) {
		_, col = c.r.cr.FieldPos(i)
	}
	return &RowError{File: c.r.opt.Name, Line: c.line, Column: col, Field: name, Msg: fmt.Sprintf(format, a...)}
}

// ReadAll reads every record of r. It stops at the first error other than
// io.EOF.
func ReadAll(r Reader) ([]Record, error) {
	var out []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
