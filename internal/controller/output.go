package controller

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// The web view's live tail of a job's output file. The controller never
// reads its users' files (on a real machine it cannot: they live on the
// nodes and shared file systems, readable by their owners). It asks the
// agent of the node that runs, or ran, the job's batch script: the request
// goes out with the agent's next sync reply (its long poll is woken), the
// agent reads the file's end with the job user's rights and answers in its
// next sync request. Nothing of this is durable; a request whose answer is
// lost times out and the page asks again.

// tailWait is a tail request waiting for its answer.
type tailWait struct {
	s   *session
	ans chan api.TailAnswer
}

// tailTimeout is how long Output waits for the agent's answer.
const tailTimeout = 5 * time.Second

// Output returns the last max bytes (at most api.MaxTail) of job id's
// output file, read by the agent of its batch host (GET
// /v1/jobs/{id}/output). The job's owner, its project's managers and admins
// may read it: those who may read its script.
func (c *Controller) Output(ctx context.Context, user string, ref job.Ref, max int) (*api.Output, error) {
	if max <= 0 || max > api.MaxTail {
		max = api.MaxTail
	}
	j, err := c.Job(ctx, user, ref)
	if err != nil {
		return nil, err
	}
	id := j.ID
	if j.Spec == nil {
		return nil, forbidden("the output of job %d is for its owner, its project's managers and admins, like its script", id)
	}
	if len(j.Allocs) == 0 {
		return nil, notFound("job %d has not started: it has no output yet", id)
	}
	// The batch script runs on the job's first node; the request carries
	// what names its output file, not the script or the environment.
	spec := job.Spec{User: j.Spec.User, Name: j.Spec.Name, Output: j.Spec.Output, Error: j.Spec.Error,
		Chdir: j.Spec.Chdir, SubmitDir: j.Spec.SubmitDir}
	if spec.User == "" {
		spec.User = j.User
	}
	a := api.Assignment{JobID: j.ID, ArrayJob: j.ArrayJobID, ArrayTask: j.ArrayTaskID, Node: j.Allocs[0].Node, Spec: spec}
	v, err := c.doNow(ctx, func(cr *core) (any, error) {
		i, ok := cr.nodeByName[a.Node]
		if !ok || cr.nodes[i].session == nil || cr.nodes[i].session.lost {
			return nil, unavailable("node %s, where job %d's batch script ran, is not connected: its output cannot be read now", a.Node, id)
		}
		s := cr.nodes[i].session
		if cr.tails == nil {
			cr.tails = map[uint64]*tailWait{}
		}
		cr.tailSeq++
		w := &tailWait{s: s, ans: make(chan api.TailAnswer, 1)}
		cr.tails[cr.tailSeq] = w
		s.tails = append(s.tails, api.TailRequest{Seq: cr.tailSeq, Job: a, Max: max})
		s.poke()
		return [2]any{cr.tailSeq, w}, nil
	})
	if err != nil {
		return nil, err
	}
	seq, w := v.([2]any)[0].(uint64), v.([2]any)[1].(*tailWait)
	t := time.NewTimer(tailTimeout)
	defer t.Stop()
	select {
	case ans := <-w.ans:
		switch {
		case ans.Missing:
			return nil, &api.Error{Code: api.CodeNotFound, Message: ans.Error}
		case ans.Error != "":
			return nil, &api.Error{Code: api.CodeUnavailable, Message: "node " + a.Node + ": " + ans.Error}
		}
		return &api.Output{JobID: id, Node: a.Node, Text: ans.Text}, nil
	case <-t.C:
		err = unavailable("node %s did not send job %d's output within %s; try again", a.Node, id, tailTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	_, _ = c.doNow(context.Background(), func(cr *core) (any, error) {
		delete(cr.tails, seq)
		return nil, nil
	})
	return nil, err
}

// noteTails hands the answers of a sync request to the requests waiting
// for them. An answer from a session the request was not sent to is
// dropped: an agent answers only for its own nodes.
func noteTails(cr *core, s *session, req *api.SyncRequest) {
	for _, ans := range req.Tails {
		w := cr.tails[ans.Seq]
		if w == nil || w.s != s {
			continue
		}
		delete(cr.tails, ans.Seq)
		if len(ans.Text) > api.MaxTail {
			ans.Text = ans.Text[len(ans.Text)-api.MaxTail:]
		}
		w.ans <- ans
	}
}

func (c *Controller) hOutput(r *http.Request, user string) (any, error) {
	ref, err := pathRef(r)
	if err != nil {
		return nil, err
	}
	max := api.MaxTail
	if s := r.URL.Query().Get("max"); s != "" {
		if max, err = strconv.Atoi(s); err != nil || max <= 0 {
			return nil, invalid("max=%q: give a number of bytes from 1 to %d", s, api.MaxTail)
		}
	}
	return c.Output(r.Context(), user, ref, max)
}

func unavailable(format string, a ...any) error {
	return &api.Error{Code: api.CodeUnavailable, Message: fmt.Sprintf(format, a...)}
}
