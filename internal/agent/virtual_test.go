package agent

import (
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

func TestVirtualNewRunWhileTheLastIsEnding(t *testing.T) {
	v := &Virtual{GPU: cluster.H100SXM}
	var got []api.Report
	report := func(r api.Report) { got = append(got, r) }
	a := api.Assignment{JobID: 7, Node: "n1", BatchHost: true, GPUs: []int{0}, TimeLimit: 1000, Spec: job.Spec{Comment: "duration=1000"}}
	v.Start(a, report)
	again := a
	again.Restarts = 1
	v.Start(again, report)
	var fail *api.Report
	for i := range got {
		if got[i].Kind == api.ReportEnd {
			fail = &got[i]
		}
	}
	if fail == nil || fail.State != job.NodeFail || fail.Restart != 1 {
		t.Fatalf("reports = %+v; want run 1 refused with NODE_FAIL", got)
	}
	// The same run twice is one share and says nothing.
	n := len(got)
	v.Start(a, report)
	if len(got) != n {
		t.Errorf("a repeated assignment of the same run reported %+v", got[n:])
	}
	v.Signal(api.Signal{JobID: 7, Node: "n1", Release: true}, report)
	if last := got[len(got)-1]; last.Kind != api.ReportEnd || last.Restart != 0 {
		t.Errorf("the old run ended with %+v; want its end report for run 0", last)
	}
}
