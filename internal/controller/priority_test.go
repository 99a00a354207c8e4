package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// TestPriorityMatchesJobList checks GET /v1/priority: every pending job
// that is not held has its factors, they sum to its priority, and that
// priority is the one the job list shows (the pass's ordering priority).
func TestPriorityMatchesJobList(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	var ids []job.ID
	for i, spec := range []job.Spec{gpuSpec(8, "duration=600"), gpuSpec(8, ""), gpuSpec(2, ""), gpuSpec(1, ""), gpuSpec(4, "")} {
		spec.Nice = []int{0, 0, 100, 0, 0}[i]
		spec.TimeLimitS = []int64{600, 3600, 600, 60, 86400}[i]
		r, err := alice.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if i == 0 {
			// The first job fills the node, so that the rest wait.
			h.waitState("alice", r.ID, job.Running)
		}
	}
	held := gpuSpec(1, "")
	held.Hold = true
	r, err := alice.Submit(ctx, api.SubmitRequest{Spec: held}, "")
	if err != nil {
		t.Fatal(err)
	}
	var problem string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if problem = priorityProblem(ctx, alice, ids[1:], r.ID); problem == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Error(problem)
}

// priorityProblem compares GET /v1/priority with the job list once; it
// returns what differs, or "".
func priorityProblem(ctx context.Context, c interface {
	Priority(context.Context) (*api.PriorityList, error)
	Jobs(context.Context, bool) ([]api.Job, error)
}, pending []job.ID, held job.ID) string {
	jobs, err := c.Jobs(ctx, false)
	if err != nil {
		return err.Error()
	}
	pl, err := c.Priority(ctx)
	if err != nil {
		return err.Error()
	}
	if pl.Policy != "gefion" || pl.Weights.ShortJob == 0 {
		return fmt.Sprintf("Priority() policy %q, weights %+v; want the default policy's", pl.Policy, pl.Weights)
	}
	listed := map[job.ID]float64{}
	for _, j := range jobs {
		if j.State == job.Pending {
			listed[j.ID] = j.Priority
		}
	}
	got := map[job.ID]api.JobPriority{}
	for _, jp := range pl.Jobs {
		got[jp.JobID] = jp
	}
	if _, ok := got[held]; ok {
		return fmt.Sprintf("Priority() lists held job %d; want only jobs the scheduler orders", held)
	}
	if len(got) != len(pending) {
		return fmt.Sprintf("Priority() lists %d jobs; want the %d pending ones", len(got), len(pending))
	}
	for _, id := range pending {
		jp, ok := got[id]
		if !ok {
			return fmt.Sprintf("Priority() lacks pending job %d", id)
		}
		f := jp.Factors
		sum := f.Age + f.FairShare + f.JobSize + f.Partition + f.QOS + f.ShortJob + f.Slowdown - float64(f.Nice)
		if sum != jp.Priority {
			return fmt.Sprintf("job %d: factors %+v sum to %v; Priority() says %v", id, f, sum, jp.Priority)
		}
		if jp.Priority != listed[id] {
			return fmt.Sprintf("job %d: Priority() says %v; the job list %v", id, jp.Priority, listed[id])
		}
		if jp.User != "alice" || jp.Partition == "" || f.Norm == nil {
			return fmt.Sprintf("job %d: %+v; want alice's job with its partition and normalized factors", id, jp)
		}
	}
	if got[pending[1]].Factors.Nice != 100 {
		return fmt.Sprintf("job %d: nice %d; want 100", pending[1], got[pending[1]].Factors.Nice)
	}
	return ""
}
