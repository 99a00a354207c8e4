package agent

import (
	"slices"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// logExec records what it is told to do.
type logExec struct{ started, signalled []job.ID }

func (l *logExec) Start(a api.Assignment, _ func(api.Report)) { l.started = append(l.started, a.JobID) }
func (l *logExec) Signal(s api.Signal, _ func(api.Report)) {
	l.signalled = append(l.signalled, s.JobID)
}
func (l *logExec) Running() []api.RunningOnNode { return nil }

func assigns(ids ...job.ID) []api.Assignment {
	var as []api.Assignment
	for _, id := range ids {
		as = append(as, api.Assignment{JobID: id})
	}
	return as
}

// TestCommandsHandledOnceInOrder feeds replies as the controller sends them
// when a reply was lost or both sync streams got commands: resent commands
// are skipped, new ones run in order, and the acknowledgements follow.
func TestCommandsHandledOnceInOrder(t *testing.T) {
	ex := &logExec{}
	a := &Agent{Exec: ex}
	a.handle(&api.SyncResponse{Assign: assigns(1, 2), AssignFrom: 1})
	a.handle(&api.SyncResponse{Assign: assigns(1, 2, 3), AssignFrom: 1}) // the first reply resent, and more
	a.handle(&api.SyncResponse{Assign: assigns(3, 4), AssignFrom: 3})
	a.handle(&api.SyncResponse{Signals: []api.Signal{{JobID: 2}, {JobID: 4}}, SignalFrom: 1})
	a.handle(&api.SyncResponse{Signals: []api.Signal{{JobID: 4}}, SignalFrom: 2})
	if want := []job.ID{1, 2, 3, 4}; !slices.Equal(ex.started, want) {
		t.Errorf("started %v; want %v", ex.started, want)
	}
	if want := []job.ID{2, 4}; !slices.Equal(ex.signalled, want) {
		t.Errorf("signalled %v; want %v", ex.signalled, want)
	}
	if a.assignDone != 4 || a.signalDone != 2 {
		t.Errorf("acknowledging assignments to %d and signals to %d; want 4 and 2", a.assignDone, a.signalDone)
	}
}
