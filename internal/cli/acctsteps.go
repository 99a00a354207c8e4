package cli

import (
	"context"
	"fmt"
	"github.com/gefion-hpc/gefion/internal/textsafe"
	"io"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
)

// maxStepJobs bounds the jobs whose steps acct lists without -j: each
// job's steps are one request.
const maxStepJobs = 50

// printStepLines writes a job's step lines under its own, as sacct does:
// ID.batch for the batch script (the job's own state and exit code), then
// ID.0, ID.1, ... for the steps srun ran.
func printStepLines(ctx context.Context, w io.Writer, c *client.Client, j api.Job, now int64) error {
	if j.StartTime == 0 {
		return nil
	}
	end := j.EndTime
	if end == 0 {
		end = now
	}
	fmt.Fprintf(w, "%s.batch\t%s\t%s\t%s\t%d:%s\t%s\t\t\t\t\t\t\n", jobID(j), "batch", textsafe.Field(j.Project), j.State,
		j.ExitCode, sigOrZero(j.Signal), elapsedText(max(end-j.StartTime, 0)))
	steps, err := c.Steps(ctx, j.ID)
	if err != nil {
		return err
	}
	for _, s := range steps {
		fmt.Fprintf(w, "%s.%d\t%s\t%s\t%s\t%d:%s\t%s\t\t\t\t\t\t\n", jobID(j), s.StepID, textsafe.Field(trunc(s.Name, 10)), textsafe.Field(j.Project), s.State,
			s.ExitCode, sigOrZero(s.Signal), elapsedText(s.ElapsedS))
	}
	return nil
}
