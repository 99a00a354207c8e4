package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gefion-hpc/gefion/internal/job"
)

// The job lists (GET /v1/jobs and GET /v1/acct) answer in a compact table
// when the caller names the fields it will print (fields=id,state,...):
//
//	{"fields":["id","state","start_time"],
//	 "rows":[[12,"PENDING",0],[13,"RUNNING",1733480000],...],
//	 "totals":{...}}
//
// The header row names each column once, instead of once per job as the
// array of Job objects does, and carries only the named fields: squeue
// -o '%i %t %M' over 100,000 jobs reads about 3 MB instead of 50. "fields"
// always comes before "rows", so that a reader can decode each row as it
// comes; "totals" (accounting only, when asked with totals=1) comes last.
// Field names are Job's JSON names; request.X are the fields of Job's
// request; allocs is the list of node shares as Job holds them. Values are
// those Job would hold (0 and "" where Job's JSON leaves a key out).
// Without fields= the lists answer as before, with whole Job objects.

// TableField is one column a job table can carry.
type tableField struct {
	name string
	put  func(b []byte, j *Job) []byte
	set  func(j *Job, v []byte, t *TableDecoder) error
}

func intCol(name string, get func(*Job) int64, set func(*Job, int64)) tableField {
	return tableField{name,
		func(b []byte, j *Job) []byte { return strconv.AppendInt(b, get(j), 10) },
		func(j *Job, v []byte, _ *TableDecoder) error {
			n, err := parseInt(v)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			set(j, n)
			return nil
		}}
}

func strCol(name string, get func(*Job) string, set func(*Job, string)) tableField {
	return tableField{name,
		func(b []byte, j *Job) []byte { return appendQuoted(b, get(j)) },
		func(j *Job, v []byte, t *TableDecoder) error {
			s, err := t.str(v)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			set(j, s)
			return nil
		}}
}

func floatCol(name string, get func(*Job) float64, set func(*Job, float64)) tableField {
	return tableField{name,
		func(b []byte, j *Job) []byte {
			f := get(j)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return append(b, "null"...) // JSON has no NaN; null reads back as 0
			}
			return strconv.AppendFloat(b, f, 'g', -1, 64)
		},
		func(j *Job, v []byte, _ *TableDecoder) error {
			if string(v) == "null" {
				set(j, 0)
				return nil
			}
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return fmt.Errorf("%s: %q is not a number", name, v)
			}
			set(j, f)
			return nil
		}}
}

// tableFields is every column a table can carry, by name.
var tableFields = []tableField{
	intCol("id", func(j *Job) int64 { return int64(j.ID) }, func(j *Job, n int64) { j.ID = job.ID(n) }),
	intCol("array_job_id", func(j *Job) int64 { return int64(j.ArrayJobID) }, func(j *Job, n int64) { j.ArrayJobID = job.ID(n) }),
	intCol("array_task_id", func(j *Job) int64 { return int64(j.ArrayTaskID) }, func(j *Job, n int64) { j.ArrayTaskID = int(n) }),
	intCol("array_max_running", func(j *Job) int64 { return int64(j.ArrayMaxRunning) }, func(j *Job, n int64) { j.ArrayMaxRunning = int(n) }),
	strCol("name", func(j *Job) string { return j.Name }, func(j *Job, s string) { j.Name = s }),
	strCol("user", func(j *Job) string { return j.User }, func(j *Job, s string) { j.User = s }),
	strCol("project", func(j *Job) string { return j.Project }, func(j *Job, s string) { j.Project = s }),
	strCol("partition", func(j *Job) string { return j.Partition }, func(j *Job, s string) { j.Partition = s }),
	strCol("qos", func(j *Job) string { return j.QOS }, func(j *Job, s string) { j.QOS = s }),
	strCol("state", func(j *Job) string { return string(j.State) }, func(j *Job, s string) { j.State = job.State(s) }),
	strCol("reason", func(j *Job) string { return j.Reason }, func(j *Job, s string) { j.Reason = s }),
	strCol("why", func(j *Job) string { return j.Why }, func(j *Job, s string) { j.Why = s }),
	{"held", func(b []byte, j *Job) []byte { return strconv.AppendBool(b, j.Held) },
		func(j *Job, v []byte, _ *TableDecoder) error {
			switch string(v) {
			case "true":
				j.Held = true
			case "false", "null":
				j.Held = false
			default:
				return fmt.Errorf("held: %q is not true or false", v)
			}
			return nil
		}},
	intCol("submit_time", func(j *Job) int64 { return j.SubmitTime }, func(j *Job, n int64) { j.SubmitTime = n }),
	intCol("eligible_time", func(j *Job) int64 { return j.EligibleTime }, func(j *Job, n int64) { j.EligibleTime = n }),
	intCol("start_time", func(j *Job) int64 { return j.StartTime }, func(j *Job, n int64) { j.StartTime = n }),
	intCol("end_time", func(j *Job) int64 { return j.EndTime }, func(j *Job, n int64) { j.EndTime = n }),
	intCol("estimated_start", func(j *Job) int64 { return j.EstimatedStart }, func(j *Job, n int64) { j.EstimatedStart = n }),
	intCol("time_limit_s", func(j *Job) int64 { return j.TimeLimitS }, func(j *Job, n int64) { j.TimeLimitS = n }),
	intCol("nodes", func(j *Job) int64 { return int64(j.Nodes) }, func(j *Job, n int64) { j.Nodes = int(n) }),
	intCol("gpus", func(j *Job) int64 { return int64(j.GPUs) }, func(j *Job, n int64) { j.GPUs = int(n) }),
	intCol("cpus", func(j *Job) int64 { return int64(j.CPUs) }, func(j *Job, n int64) { j.CPUs = int(n) }),
	strCol("node_list", func(j *Job) string { return j.NodeList }, func(j *Job, s string) { j.NodeList = s }),
	{"allocs", appendAllocs, func(j *Job, v []byte, _ *TableDecoder) error {
		j.Allocs = nil
		if err := json.Unmarshal(v, &j.Allocs); err != nil {
			return fmt.Errorf("allocs: %w", err)
		}
		return nil
	}},
	intCol("exit_code", func(j *Job) int64 { return int64(j.ExitCode) }, func(j *Job, n int64) { j.ExitCode = int(n) }),
	strCol("signal", func(j *Job) string { return j.Signal }, func(j *Job, s string) { j.Signal = s }),
	intCol("restarts", func(j *Job) int64 { return int64(j.Restarts) }, func(j *Job, n int64) { j.Restarts = int(n) }),
	floatCol("gpu_seconds", func(j *Job) float64 { return j.GPUSeconds }, func(j *Job, f float64) { j.GPUSeconds = f }),
	floatCol("energy_j", func(j *Job) float64 { return j.EnergyJ }, func(j *Job, f float64) { j.EnergyJ = f }),
	floatCol("energy_kwh", func(j *Job) float64 { return j.EnergyKWh }, func(j *Job, f float64) { j.EnergyKWh = f }),
	floatCol("co2_location_g", func(j *Job) float64 { return j.CO2LocationG }, func(j *Job, f float64) { j.CO2LocationG = f }),
	floatCol("co2_market_g", func(j *Job) float64 { return j.CO2MarketG }, func(j *Job, f float64) { j.CO2MarketG = f }),
	floatCol("priority", func(j *Job) float64 { return j.Priority }, func(j *Job, f float64) { j.Priority = f }),
	intCol("request.nodes", func(j *Job) int64 { return int64(j.Request.Nodes) }, func(j *Job, n int64) { j.Request.Nodes = int(n) }),
	intCol("request.gpus_per_node", func(j *Job) int64 { return int64(j.Request.GPUsPerNode) }, func(j *Job, n int64) { j.Request.GPUsPerNode = int(n) }),
	intCol("request.cpus_per_node", func(j *Job) int64 { return int64(j.Request.CPUsPerNode) }, func(j *Job, n int64) { j.Request.CPUsPerNode = int(n) }),
	intCol("request.mem_per_node_mb", func(j *Job) int64 { return j.Request.MemPerNodeMB }, func(j *Job, n int64) { j.Request.MemPerNodeMB = n }),
	strCol("request.gpu_type", func(j *Job) string { return j.Request.GPUType }, func(j *Job, s string) { j.Request.GPUType = s }),
	intCol("request.time_limit_s", func(j *Job) int64 { return j.Request.TimeLimitS }, func(j *Job, n int64) { j.Request.TimeLimitS = n }),
}

// TableFieldNames lists every field a job table can carry, in the order of
// the API reference.
func TableFieldNames() []string {
	out := make([]string, len(tableFields))
	for i := range tableFields {
		out[i] = tableFields[i].name
	}
	return out
}

func fieldByName(name string) *tableField {
	for i := range tableFields {
		if tableFields[i].name == name {
			return &tableFields[i]
		}
	}
	return nil
}

// ErrUnknownField marks a fields= list naming a field no table carries.
var ErrUnknownField = errors.New("unknown field")

// Table writes job tables with a fixed set of fields.
type Table struct {
	cols []*tableField
}

// NewTable checks a list of field names (each once; a repeat is dropped)
// and returns a table of those columns. An unknown name is an error that
// lists the known ones.
func NewTable(fields []string) (*Table, error) {
	t := &Table{}
	seen := map[string]bool{}
	for _, name := range fields {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		f := fieldByName(name)
		if f == nil {
			return nil, fmt.Errorf("%w %q; the fields are %s", ErrUnknownField, name, strings.Join(TableFieldNames(), ","))
		}
		seen[name] = true
		t.cols = append(t.cols, f)
	}
	if len(t.cols) == 0 {
		return nil, fmt.Errorf("%w: no fields named; the fields are %s", ErrUnknownField, strings.Join(TableFieldNames(), ","))
	}
	return t, nil
}

// Fields returns the table's field names in column order.
func (t *Table) Fields() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

// Has reports whether the table carries the named field.
func (t *Table) Has(name string) bool {
	return slices.ContainsFunc(t.cols, func(c *tableField) bool { return c.name == name })
}

// AppendHead appends the document's start: the header row and the opening
// of the rows.
func (t *Table) AppendHead(b []byte) []byte {
	b = append(b, `{"fields":[`...)
	for i, c := range t.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, c.name)
	}
	return append(b, `],"rows":[`...)
}

// AppendRow appends job j's row; first says whether it is the first row.
func (t *Table) AppendRow(b []byte, j *Job, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '\n', '[')
	for i, c := range t.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.put(b, j)
	}
	return append(b, ']')
}

// AppendTail closes the document, with the totals where they are given.
func (t *Table) AppendTail(b []byte, totals *AcctTotal) []byte {
	b = append(b, '\n', ']')
	if totals != nil {
		enc, _ := json.Marshal(totals) // plain numbers: cannot fail
		b = append(b, `,"totals":`...)
		b = append(b, enc...)
	}
	return append(b, '}', '\n')
}

func appendAllocs(b []byte, j *Job) []byte {
	b = append(b, '[')
	for i, a := range j.Allocs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"node":`...)
		b = appendQuoted(b, a.Node)
		b = append(b, `,"gpus":[`...)
		for k, g := range a.GPUs {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(g), 10)
		}
		b = append(b, `],"cpus":`...)
		b = strconv.AppendInt(b, int64(a.CPUs), 10)
		b = append(b, `,"mem_mb":`...)
		b = strconv.AppendInt(b, a.MemMB, 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendQuoted appends s as a JSON string. Plain printable ASCII, which
// names and states are, is copied as it is; anything else is left to
// encoding/json, so that control bytes and invalid UTF-8 are escaped as in
// the Job objects.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func parseInt(v []byte) (int64, error) {
	if string(v) == "null" {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		// A whole number written with an exponent or a fraction (as
		// some JSON writers do) is still a whole number.
		f, ferr := strconv.ParseFloat(string(v), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, fmt.Errorf("%q is not a whole number", v)
		}
		return int64(f), nil
	}
	return n, nil
}

// TableDecoder reads a job table. Strings that repeat from row to row
// (users, partitions, states) are kept once.
type TableDecoder struct {
	intern map[string]string
}

// str decodes a JSON string value.
func (t *TableDecoder) str(v []byte) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("%.40q is not a string", v)
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	if s, ok := t.intern[string(in)]; ok {
		return s, nil
	}
	s := string(in)
	if len(t.intern) < 1<<16 {
		t.intern[s] = s
	}
	return s, nil
}

// DecodeTable reads a job table: the jobs, each with the table's fields
// set and the rest zero, the field names and the totals (nil where the
// table has none). A whole Job array (what a controller without tables
// answers) is read too, with fields nil.
func DecodeTable(data []byte) (jobs []Job, fields []string, totals *AcctTotal, err error) {
	s := &scanner{b: data}
	s.space()
	if s.peek() == '[' {
		if err := json.Unmarshal(data, &jobs); err != nil {
			return nil, nil, nil, err
		}
		return jobs, nil, nil, nil
	}
	d := &TableDecoder{intern: map[string]string{}}
	var cols []*tableField
	if err := s.expect('{'); err != nil {
		return nil, nil, nil, err
	}
	for more := s.peek() != '}'; more; {
		key, err := s.value()
		if err != nil {
			return nil, nil, nil, err
		}
		if err := s.expect(':'); err != nil {
			return nil, nil, nil, err
		}
		switch string(key) {
		case `"fields"`:
			raw, err := s.value()
			if err != nil {
				return nil, nil, nil, err
			}
			if err := json.Unmarshal(raw, &fields); err != nil {
				return nil, nil, nil, fmt.Errorf("job table: fields: %w", err)
			}
			cols = make([]*tableField, len(fields))
			for i, n := range fields {
				// A field this client does not know is skipped, so
				// that a newer controller's table still reads.
				cols[i] = fieldByName(n)
			}
		case `"rows"`:
			if fields == nil {
				return nil, nil, nil, errors.New("job table: rows before fields")
			}
			if jobs, err = s.rows(cols, d); err != nil {
				return nil, nil, nil, err
			}
		case `"jobs"`:
			// A controller without tables answers accounting as an
			// Acct object: read its whole jobs.
			raw, err := s.value()
			if err != nil {
				return nil, nil, nil, err
			}
			if err := json.Unmarshal(raw, &jobs); err != nil {
				return nil, nil, nil, fmt.Errorf("job table: jobs: %w", err)
			}
		case `"totals"`:
			raw, err := s.value()
			if err != nil {
				return nil, nil, nil, err
			}
			totals = &AcctTotal{}
			if err := json.Unmarshal(raw, totals); err != nil {
				return nil, nil, nil, fmt.Errorf("job table: totals: %w", err)
			}
		default:
			if _, err := s.value(); err != nil {
				return nil, nil, nil, err
			}
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			more = false
		default:
			return nil, nil, nil, s.errorf("',' or '}'")
		}
	}
	s.i++
	if jobs == nil {
		jobs = []Job{}
	}
	return jobs, fields, totals, nil
}

// scanner reads the restricted JSON of a table: it finds each value's
// extent and leaves decoding it to the column.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.space()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) errorf(want string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("job table: the answer ends early; want %s", want)
	}
	return fmt.Errorf("job table: at byte %d: want %s, found %q", s.i, want, s.b[s.i])
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.errorf(strconv.QuoteRune(rune(c)))
	}
	s.i++
	return nil
}

// value returns the bytes of the next JSON value: a string, a number, a
// literal or a whole array or object.
func (s *scanner) value() ([]byte, error) {
	s.space()
	start := s.i
	depth := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			for s.i < len(s.b) && s.b[s.i] != '"' {
				if s.b[s.i] == '\\' {
					s.i++
				}
				s.i++
			}
			if s.i >= len(s.b) {
				return nil, s.errorf("the end of a string")
			}
			s.i++
		case c == '[' || c == '{':
			depth++
			s.i++
		case c == ']' || c == '}':
			if depth == 0 {
				return s.b[start:s.i], s.checkEmpty(start)
			}
			depth--
			s.i++
		case c == ',' || c == ':' || c == ' ' || c == '\n' || c == '\t' || c == '\r':
			if depth == 0 {
				return s.b[start:s.i], s.checkEmpty(start)
			}
			s.i++
		default:
			s.i++
		}
		if depth == 0 && (c == '"' || c == ']' || c == '}') {
			return s.b[start:s.i], nil
		}
	}
	if depth > 0 || s.i == start {
		return nil, s.errorf("a value")
	}
	return s.b[start:s.i], nil
}

func (s *scanner) checkEmpty(start int) error {
	if s.i == start {
		return s.errorf("a value")
	}
	return nil
}

// rows reads the rows array into jobs.
// countRows counts the rows of the array s is inside (just after its
// '['), without moving s: the arrays, and other values, at its top level.
// On a malformed array the count may be off; the decoding that follows
// reports the fault.
func (s *scanner) countRows() int {
	n, depth := 0, 0
	for i := s.i; i < len(s.b); i++ {
		switch s.b[i] {
		case '"':
			for i++; i < len(s.b) && s.b[i] != '"'; i++ {
				if s.b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth == 0 {
				n++
			}
			depth++
		case ']', '}':
			if depth == 0 {
				return n
			}
			depth--
		}
	}
	return n
}

func (s *scanner) rows(cols []*tableField, d *TableDecoder) ([]Job, error) {
	if err := s.expect('['); err != nil {
		return nil, err
	}
	// Count the rows first, to allocate once: a Job is large, and growing
	// a slice of 100,000 of them by appending copies it over and over.
	jobs := make([]Job, 0, s.countRows())
	if s.peek() == ']' {
		s.i++
		return jobs, nil
	}
	for {
		if err := s.expect('['); err != nil {
			return nil, err
		}
		jobs = append(jobs, Job{})
		j := &jobs[len(jobs)-1]
		for k := 0; ; k++ {
			if k == 0 && s.peek() == ']' {
				if len(cols) > 0 {
					return nil, fmt.Errorf("job table: row %d is empty; want %d values", len(jobs), len(cols))
				}
				break
			}
			v, err := s.value()
			if err != nil {
				return nil, err
			}
			if k >= len(cols) {
				return nil, fmt.Errorf("job table: row %d has more values than the %d fields", len(jobs), len(cols))
			}
			if c := cols[k]; c != nil {
				if err := c.set(j, v, d); err != nil {
					return nil, fmt.Errorf("job table: row %d: %w", len(jobs), err)
				}
			}
			if s.peek() == ',' {
				s.i++
				continue
			}
			if k+1 != len(cols) {
				return nil, fmt.Errorf("job table: row %d has %d values for %d fields", len(jobs), k+1, len(cols))
			}
			break
		}
		if err := s.expect(']'); err != nil {
			return nil, err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return jobs, nil
		default:
			return nil, s.errorf("',' or ']'")
		}
	}
}
