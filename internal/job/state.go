package job

// State is a job's state, named as Slurm names it.
type State string

// Job states.
const (
	Pending    State = "PENDING"
	Running    State = "RUNNING"
	Completing State = "COMPLETING"
	Completed  State = "COMPLETED"
	Failed     State = "FAILED"
	Cancelled  State = "CANCELLED"
	Timeout    State = "TIMEOUT"
	NodeFail   State = "NODE_FAIL"
	Preempted  State = "PREEMPTED"
	OutOfMem   State = "OUT_OF_MEMORY"
)

// Final reports whether a job in state s will never run again.
func (s State) Final() bool {
	switch s {
	case Pending, Running, Completing:
		return false
	}
	return true
}

// Short is squeue's two-letter code.
func (s State) Short() string {
	switch s {
	case Pending:
		return "PD"
	case Running:
		return "R"
	case Completing:
		return "CG"
	case Completed:
		return "CD"
	case Failed:
		return "F"
	case Cancelled:
		return "CA"
	case Timeout:
		return "TO"
	case NodeFail:
		return "NF"
	case Preempted:
		return "PR"
	case OutOfMem:
		return "OOM"
	}
	return string(s)
}
