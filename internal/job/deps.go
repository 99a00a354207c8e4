package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DepType is a kind of job dependency, named as in Slurm's --dependency.
type DepType string

// Dependency types.
const (
	// After: the referenced job started (or was cancelled), plus an
	// optional delay.
	After DepType = "after"
	// AfterAny: the referenced job ended, in any state.
	AfterAny DepType = "afterany"
	// AfterOK: the referenced job completed with exit code 0.
	AfterOK DepType = "afterok"
	// AfterNotOK: the referenced job ended in any other way.
	AfterNotOK DepType = "afternotok"
	// AfterCorr: array task i waits for task i of the referenced array to
	// complete successfully.
	AfterCorr DepType = "aftercorr"
	// AfterBurstBuffer: the referenced job ended and its burst buffer was
	// staged out. There are no burst buffers here, so it behaves as
	// AfterAny.
	AfterBurstBuffer DepType = "afterburstbuffer"
	// Singleton: no other job of the same user and name is running or
	// earlier in the queue.
	Singleton DepType = "singleton"
)

// NoTask marks a JobRef that names a whole job, not one array task.
const NoTask = -1

// JobRef names a job or one task of an array job ("12" or "12_3").
type JobRef struct {
	ID   ID  `json:"id"`
	Task int `json:"task"` // NoTask for the whole job
}

// String formats the reference as --dependency takes it.
func (r JobRef) String() string {
	if r.Task == NoTask {
		return strconv.FormatInt(int64(r.ID), 10)
	}
	return fmt.Sprintf("%d_%d", r.ID, r.Task)
}

// Dep is one condition: a type and the jobs it refers to. For After,
// DelayS[i] is the delay after Jobs[i] starts ("after:12+5" is 5 minutes).
type Dep struct {
	Type   DepType  `json:"type"`
	Jobs   []JobRef `json:"jobs,omitempty"`
	DelayS []int64  `json:"delay_s,omitempty"`
}

// Dependencies is a parsed --dependency expression. Conditions joined by
// ',' must all hold; joined by '?' (Any), one is enough. Slurm does not let
// the two be mixed.
type Dependencies struct {
	Any   bool  `json:"any,omitempty"`
	Conds []Dep `json:"conds"`
}

// ErrBadDependency marks a --dependency expression Slurm would reject.
var ErrBadDependency = errors.New("invalid dependency")

// ParseDependency parses a --dependency expression such as
// "afterok:12:13,afterany:14", "afterok:12?afternotok:12", "singleton" or
// "after:12+5". A bare list of job IDs ("12:13") means afterany, as in
// Slurm. The empty string is no dependency.
func ParseDependency(s string) (Dependencies, error) {
	var d Dependencies
	if s == "" {
		return d, nil
	}
	bad := func(format string, a ...any) (Dependencies, error) {
		return Dependencies{}, fmt.Errorf("%w %q: %s", ErrBadDependency, s, fmt.Sprintf(format, a...))
	}
	hasAll, hasAny := strings.Contains(s, ","), strings.Contains(s, "?")
	if hasAll && hasAny {
		return bad("use either ',' (all must hold) or '?' (any may hold), not both")
	}
	sep := ","
	if hasAny {
		sep, d.Any = "?", true
	}
	for _, part := range strings.Split(s, sep) {
		if part == "" {
			return bad("empty condition: remove the extra %q", sep)
		}
		if strings.EqualFold(part, string(Singleton)) {
			d.Conds = append(d.Conds, Dep{Type: Singleton})
			continue
		}
		typ, ids, ok := strings.Cut(part, ":")
		var dep Dep
		if !ok || (typ != "" && typ[0] >= '0' && typ[0] <= '9') {
			// A bare job list: afterany.
			dep.Type, ids = AfterAny, part
		} else {
			switch t := DepType(strings.ToLower(typ)); t {
			case After, AfterAny, AfterOK, AfterNotOK, AfterCorr, AfterBurstBuffer:
				dep.Type = t
			default:
				return bad("unknown type %q: use after, afterany, afterok, afternotok, aftercorr, afterburstbuffer or singleton", typ)
			}
		}
		for _, js := range strings.Split(ids, ":") {
			ref, delay, err := parseDepJob(js, dep.Type)
			if err != nil {
				return bad("%v", err)
			}
			dep.Jobs = append(dep.Jobs, ref)
			if dep.Type == After {
				dep.DelayS = append(dep.DelayS, delay)
			}
		}
		d.Conds = append(d.Conds, dep)
	}
	return d, nil
}

// parseDepJob parses one job reference: ID, ID_TASK, and for after also
// ID+MINUTES.
func parseDepJob(s string, t DepType) (JobRef, int64, error) {
	ref := JobRef{Task: NoTask}
	var delay int64
	idPart := s
	if t == After {
		if id, d, ok := strings.Cut(s, "+"); ok {
			m, err := strconv.ParseInt(d, 10, 64)
			if err != nil || m < 0 || m > 1<<31 {
				return ref, 0, fmt.Errorf("delay %q in %q must be whole minutes", d, s)
			}
			idPart, delay = id, m*60
		}
	}
	id, task, isTask := strings.Cut(idPart, "_")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return ref, 0, fmt.Errorf("%q is not a job ID (a positive number, or ID_TASK for an array task)", s)
	}
	ref.ID = ID(n)
	if isTask {
		tk, err := strconv.Atoi(task)
		if err != nil || tk < 0 {
			return ref, 0, fmt.Errorf("%q: array task %q must be a number from 0", s, task)
		}
		ref.Task = tk
	}
	return ref, delay, nil
}

// String formats the dependencies as --dependency takes them.
func (d Dependencies) String() string {
	parts := make([]string, len(d.Conds))
	for i, c := range d.Conds {
		if c.Type == Singleton {
			parts[i] = string(Singleton)
			continue
		}
		var b strings.Builder
		b.WriteString(string(c.Type))
		for j, r := range c.Jobs {
			b.WriteByte(':')
			b.WriteString(r.String())
			if c.Type == After && j < len(c.DelayS) && c.DelayS[j] > 0 {
				fmt.Fprintf(&b, "+%d", c.DelayS[j]/60)
			}
		}
		parts[i] = b.String()
	}
	sep := ","
	if d.Any {
		sep = "?"
	}
	return strings.Join(parts, sep)
}

// DepStatus is the outcome of evaluating dependencies.
type DepStatus uint8

// Dependency outcomes.
const (
	DepSatisfied DepStatus = iota // the job may start
	DepWaiting                    // not yet; it still may be satisfied
	DepNever                      // it can never be satisfied
)

// String names the outcome.
func (s DepStatus) String() string {
	switch s {
	case DepSatisfied:
		return "satisfied"
	case DepWaiting:
		return "waiting"
	case DepNever:
		return "never"
	}
	return "unknown"
}

// DepJob is what a dependency needs to know about a referenced job.
type DepJob struct {
	State    State
	ExitCode int
	// StartS is when the job started (Unix seconds), 0 if it has not.
	StartS int64
}

// OK reports whether the job finished successfully: COMPLETED with exit
// code 0.
func (j DepJob) OK() bool { return j.State == Completed && j.ExitCode == 0 }

// DepContext is what evaluating dependencies reads from the driver, which
// knows the jobs; the job package keeps no state.
type DepContext struct {
	// Now is the current time in Unix seconds (for after:ID+delay).
	Now int64
	// Lookup returns a referenced job; ok is false when the job is not
	// known (never was, or was purged after it ended). Slurm lifts a
	// dependency on a job it no longer knows, and so does Evaluate; the
	// controller rejects unknown IDs at submission.
	Lookup func(ref JobRef) (j DepJob, ok bool)
	// ArrayTask is the evaluating job's array task index, for aftercorr;
	// NoTask when it is not an array task.
	ArrayTask int
	// SingletonFree reports whether no other job of the same user and name
	// is running or ahead in the queue; nil means free.
	SingletonFree func() bool
}

// Evaluate reports whether the dependencies are satisfied, may still be,
// or never will be. With ',' every condition must be satisfied (one that
// never will makes the whole never); with '?' one satisfied condition is
// enough (never only when all are never). No conditions is satisfied.
func (d Dependencies) Evaluate(ctx DepContext) DepStatus {
	if len(d.Conds) == 0 {
		return DepSatisfied
	}
	waiting, never := 0, 0
	for _, c := range d.Conds {
		switch c.evaluate(ctx) {
		case DepSatisfied:
			if d.Any {
				return DepSatisfied
			}
		case DepWaiting:
			waiting++
		case DepNever:
			if !d.Any {
				return DepNever
			}
			never++
		}
	}
	switch {
	case d.Any && never == len(d.Conds):
		return DepNever
	case waiting > 0 || d.Any:
		return DepWaiting
	}
	return DepSatisfied
}

// evaluate evaluates one condition: every job it names must satisfy it.
func (c Dep) evaluate(ctx DepContext) DepStatus {
	if c.Type == Singleton {
		if ctx.SingletonFree == nil || ctx.SingletonFree() {
			return DepSatisfied
		}
		return DepWaiting
	}
	out := DepSatisfied
	for i, ref := range c.Jobs {
		if c.Type == AfterCorr && ref.Task == NoTask && ctx.ArrayTask != NoTask {
			ref.Task = ctx.ArrayTask
		}
		j, ok := DepJob{}, false
		if ctx.Lookup != nil {
			j, ok = ctx.Lookup(ref)
		}
		if !ok {
			continue // unknown: lifted, as in Slurm
		}
		var s DepStatus
		switch c.Type {
		case After:
			var delay int64
			if i < len(c.DelayS) {
				delay = c.DelayS[i]
			}
			switch {
			case j.StartS > 0 && ctx.Now >= j.StartS+delay:
				s = DepSatisfied
			case j.StartS > 0:
				s = DepWaiting
			case j.State.Final():
				s = DepSatisfied // ended (cancelled) before it started
			default:
				s = DepWaiting
			}
		case AfterAny, AfterBurstBuffer:
			s = finalOr(j, DepSatisfied)
		case AfterOK, AfterCorr:
			if !j.State.Final() {
				s = DepWaiting
			} else if j.OK() {
				s = DepSatisfied
			} else {
				s = DepNever
			}
		case AfterNotOK:
			if !j.State.Final() {
				s = DepWaiting
			} else if j.OK() {
				s = DepNever
			} else {
				s = DepSatisfied
			}
		}
		switch s {
		case DepNever:
			return DepNever
		case DepWaiting:
			out = DepWaiting
		}
	}
	return out
}

func finalOr(j DepJob, s DepStatus) DepStatus {
	if j.State.Final() {
		return s
	}
	return DepWaiting
}
