package client

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// CreateStep asks for a step of a running job (srun).
func (c *Client) CreateStep(ctx context.Context, id job.ID, req api.StepRequest) (*api.StepResponse, error) {
	var out api.StepResponse
	return &out, c.do(ctx, "POST", "/v1/jobs/"+itoa(id)+"/steps", nil, req, &out)
}

// Steps lists a job's steps.
func (c *Client) Steps(ctx context.Context, id job.ID) ([]api.Step, error) {
	var out []api.Step
	return out, c.do(ctx, "GET", "/v1/jobs/"+itoa(id)+"/steps", nil, nil, &out)
}

// StepsOf lists the steps of many jobs (those the caller may see), asking
// for at most 1000 jobs a request.
func (c *Client) StepsOf(ctx context.Context, ids []job.ID) ([]api.Step, error) {
	out := []api.Step{}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		var b strings.Builder
		for i, id := range ids[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(itoa(id))
		}
		var part []api.Step
		if err := c.do(ctx, "GET", "/v1/steps?ids="+b.String(), nil, nil, &part); err != nil {
			return nil, err
		}
		out = append(out, part...)
		ids = ids[n:]
	}
	return out, nil
}

// CancelStep cancels a step, or with a signal only signals its tasks.
func (c *Client) CancelStep(ctx context.Context, id job.ID, step int, signal string) error {
	p := "/v1/jobs/" + itoa(id) + "/steps/" + strconv.Itoa(step) + "/cancel"
	if signal != "" {
		p += "?signal=" + url.QueryEscape(signal)
	}
	return c.do(ctx, "POST", p, nil, nil, nil)
}
