package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
)

// waitPoll is how often sbatch --wait first asks about its job; the wait
// doubles up to waitPollMax. Tests shorten both.
var (
	waitPoll    = time.Second
	waitPollMax = 10 * time.Second
)

// waitJob is sbatch --wait: it returns when the job (every task of an
// array) has ended, with the job's exit code as the exit status, the
// largest of an array's; a job that did not complete (cancelled, timed
// out, failed without a code) ends the wait with status 1 at least.
func waitJob(e *Env, addr string, id job.ID) error {
	c := newClient(e, addr)
	wait := waitPoll
	for {
		ctx, cancel := ctxTimeout()
		jobs, err := jobAndTasks(ctx, c, id)
		cancel()
		if err != nil {
			return fmt.Errorf("sbatch --wait: job %d: %w", id, explain(err, addr))
		}
		done, code, state := true, 0, job.Completed
		for _, j := range jobs {
			if !j.State.Final() {
				done = false
				break
			}
			c := j.ExitCode
			if c == 0 && j.State != job.Completed {
				c = 1
			}
			if c > code {
				code, state = c, j.State
			}
		}
		if done {
			if code == 0 {
				return nil
			}
			return &ExitError{Code: min(code, 255), Msg: fmt.Sprintf("job %d ended %s", id, state)}
		}
		time.Sleep(wait)
		wait = min(2*wait, waitPollMax)
	}
}

// jobAndTasks reads a job and, for an array, its other tasks.
func jobAndTasks(ctx context.Context, c *client.Client, id job.ID) ([]api.Job, error) {
	j, err := c.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []api.Job{*j}
	if j.ArrayJobID == 0 {
		return out, nil
	}
	a, err := c.Acct(ctx, client.AcctQuery{SinceS: j.SubmitTime})
	if err != nil {
		return nil, err
	}
	for _, t := range a.Jobs {
		if t.ArrayJobID == j.ArrayJobID && t.ID != j.ID {
			out = append(out, t)
		}
	}
	return out, nil
}
