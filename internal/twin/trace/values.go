package trace

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dateLayouts are the date-time forms accepted where a time may be a date.
// Dates without a zone are read as UTC: only differences matter to a replay.
var dateLayouts = []string{
	"2006-01-02 15:04:05",
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// parseTime reads seconds, or a date-time as Unix seconds.
func parseTime(s string) (float64, bool) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, false
		}
		return v, true
	}
	if len(s) == len("2006-01-02 15:04:05") && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') {
		if v, ok := fastDate(s); ok {
			return v, true
		}
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return float64(t.Unix()) + float64(t.Nanosecond())/1e9, true
		}
	}
	return 0, false
}

// fastDate parses "YYYY-MM-DD HH:MM:SS" without allocating; the Philly trace
// has 82k of them.
func fastDate(s string) (float64, bool) {
	num := func(a, b int) (int, bool) {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	h, ok4 := num(11, 13)
	mi, ok5 := num(14, 16)
	se, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 {
		return 0, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC)
	if t.Day() != d { // 31 February and the like
		return 0, false
	}
	return float64(t.Unix()), true
}

// parseSeconds reads a non-negative number of seconds.
func parseSeconds(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > maxSeconds {
		return 0, false
	}
	return v, true
}

// maxSeconds bounds any time in a trace (about 3,000 years), so that later
// integer arithmetic cannot overflow.
const maxSeconds = 1e11

// parseCount reads a non-negative whole number; "4.0" is accepted because
// some traces write counts as floats.
func parseCount(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n <= 1<<24
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 1<<24 || v != math.Trunc(v) {
		return 0, false
	}
	return int(v), true
}

// fieldNames are the fields a --columns mapping may name.
var fieldNames = []string{"submit", "duration", "end", "start", "gpus", "tenant", "user", "name", "cpus", "mem_mb", "time_limit"}

// aliases are the column names recognised for each field, in order of
// preference. The map is built when a trace is first read, not at package
// initialisation (every gefion command links this package).
var aliases = sync.OnceValue(func() map[string][]string {
	return map[string][]string{
		"submit":     {"submit_time", "timestamp", "submission_time", "submitted", "submit", "arrival", "arrival_time", "time", "creation_time"},
		"duration":   {"duration", "runtime", "run_time", "elapsed", "duration_s"},
		"end":        {"end_time", "end", "finish_time", "completion_time", "deletion_time"},
		"start":      {"start_time", "start", "scheduled_time"},
		"gpus":       {"num_gpu", "num_gpus", "gpus", "gpu_num", "ngpus", "num_replicas", "gpu"},
		"tenant":     {"project", "account", "vc", "cluster", "tenant", "group"},
		"user":       {"user", "username", "user_name", "user_id"},
		"name":       {"job_id", "jobid", "id", "name", "job_name"},
		"cpus":       {"cpu_num", "num_cpu", "cpus", "ncpus"},
		"mem_mb":     {"mem_mb", "memory_mib", "mem"},
		"time_limit": {"time_limit_s", "time_limit", "timelimit"},
	}
})

// Fields lists the field names a Columns mapping may use.
func Fields() []string { return append([]string(nil), fieldNames...) }

// ParseColumns parses a --columns value "field=column,field=column".
func ParseColumns(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, errBadColumns(kv)
		}
		if _, known := aliases()[k]; !known {
			return nil, errBadColumns(kv)
		}
		m[k] = v
	}
	return m, nil
}

func errBadColumns(kv string) error {
	return &columnsError{kv: kv}
}

type columnsError struct{ kv string }

func (e *columnsError) Error() string {
	return "--columns entry " + strconv.Quote(e.kv) + ": write field=column with field one of " + strings.Join(fieldNames, ", ")
}
