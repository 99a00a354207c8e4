package sched

import (
	"fmt"
	"time"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

// Sentence says in words why the job waits and when it may start, for
// "gefion why" and squeue's reason column. now is the pass's time; times are
// shown in loc (nil: UTC).
func (w *Waiting) Sentence(c *cluster.Cluster, now Time, loc *time.Location) string {
	need := w.needText(c)
	when := ""
	if w.EstimatedStartS != Never && w.EstimatedStartS > 0 {
		when = " " + at(w.EstimatedStartS, now, loc)
		if w.BlockerID != 0 {
			when += fmt.Sprintf(", when job %d ends", w.BlockerID)
		}
	}
	su := ""
	if c != nil && w.SU >= 0 && w.SU < len(c.SUs) {
		su = " on " + c.SUs[w.SU].Name
	}
	switch w.Reason {
	case ReasonResources:
		return fmt.Sprintf("waiting for %s; reserved%s from%s", need, su, when)
	case ReasonPriority:
		if when == "" {
			return fmt.Sprintf("waiting behind higher-priority jobs for %s; no start time is in view", need)
		}
		return fmt.Sprintf("waiting behind higher-priority jobs for %s; the earliest it could fit is%s%s", need, su, when)
	case ReasonPreempting:
		return fmt.Sprintf("preempting lower-priority jobs for %s; they checkpoint and stop, then it starts%s%s", need, su, when)
	case ReasonDependency:
		return "waiting for the jobs it depends on (--dependency)"
	case ReasonDependencyNever:
		return "a job it depends on ended in a way that can never satisfy --dependency; cancel it or change the dependency"
	case ReasonHeld:
		return "held; release it with 'gefion release'"
	case ReasonBeginTime:
		return "waiting for its --begin time;" + when
	case ReasonArrayTaskLimit:
		return fmt.Sprintf("its array already runs %d tasks at once (--array ...%%%d)", w.Limit, w.Limit)
	case ReasonProjectGrantUsed:
		return fmt.Sprintf("the project has used its grant of %d GPU-hours for this period; ask for more or wait for the next period", w.Limit)
	case ReasonProjectMaxGPUs:
		return fmt.Sprintf("the project already runs its limit of %d GPUs; it starts when the project's jobs end", w.Limit)
	case ReasonAssocMaxJobs:
		return fmt.Sprintf("its user already runs the limit of %d jobs at once (MaxJobs); it starts when one of them ends", w.Limit)
	case ReasonQOSMaxGPUsPerUser:
		return fmt.Sprintf("you already run the QOS limit of %d GPUs per user; it starts when your jobs end", w.Limit)
	case ReasonQOSMaxGPUsPerProj:
		return fmt.Sprintf("the project already runs the QOS limit of %d GPUs; it starts when the project's jobs end", w.Limit)
	case ReasonReqNodeNotAvail:
		return fmt.Sprintf("not enough nodes are in service for %s (others are drained or down); it starts when an operator resumes them", need)
	}
	return string(w.Reason)
}

func (w *Waiting) needText(c *cluster.Cluster) string {
	switch {
	case w.WholeNodes && w.Nodes == 1:
		return "1 whole node"
	case w.WholeNodes:
		scope := ""
		switch {
		case w.MaxSUs == 1:
			scope = " in one scalable unit"
		case w.MaxSUs > 1:
			scope = fmt.Sprintf(" in at most %d scalable units", w.MaxSUs)
		}
		return fmt.Sprintf("%d whole nodes%s", w.Nodes, scope)
	case w.GPUsPerNode == 0:
		return "CPUs on one node"
	case w.GPUsPerNode == 1:
		return "1 GPU"
	}
	return fmt.Sprintf("%d GPUs on one node", w.GPUsPerNode)
}

func at(t, now Time, loc *time.Location) string {
	if t <= now {
		return "now"
	}
	if loc == nil {
		loc = time.UTC
	}
	tt := time.Unix(t, 0).In(loc)
	nt := time.Unix(now, 0).In(loc)
	if tt.YearDay() == nt.YearDay() && tt.Year() == nt.Year() {
		return tt.Format("15:04 MST")
	}
	return tt.Format("Jan 2 15:04 MST")
}
