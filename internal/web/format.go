package web

import (
	"fmt"
	"html/template"
	"time"

	"github.com/gefion-hpc/gefion/internal/job"
)

// funcs are the templates' functions; a function, not a variable, so that
// the map is made when templates are first parsed, not at start-up.
func funcs() template.FuncMap {
	return template.FuncMap{
		"pct":  func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
		"f1":   func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"f2":   func(f float64) string { return fmt.Sprintf("%.2f", f) },
		"unix": fmtUnix,
		"dur":  duration,
	}
}

// duration writes seconds as Slurm does: [D-]HH:MM:SS.
func duration(s int64) string {
	if s < 0 {
		s = 0
	}
	d, h, m := s/86400, s/3600%24, s/60%60
	if d > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, h, m, s%60)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s%60)
}

// fmtUnix writes a Unix time in the controller's local time, "" for 0.
func fmtUnix(s int64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(s, 0).Format("2006-01-02 15:04:05")
}

// when writes a time near now briefly: the clock time today, else the
// date too.
func when(s int64, now time.Time) string {
	t := time.Unix(s, 0)
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// stateClass is the CSS class of a job state.
func stateClass(s job.State) string {
	switch {
	case s == job.Pending:
		return "st-pending"
	case s == job.Running:
		return "st-running"
	case s == job.Completed:
		return "st-completed"
	case s.Final():
		return "st-failed"
	}
	return "st-other"
}
