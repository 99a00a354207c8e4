package controller

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/store"
)

func wantCode(t *testing.T, what string, err error, code, text string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != code || !strings.Contains(ae.Message, text) {
		t.Errorf("%s = %v; want %s saying %q", what, err, code, text)
	}
}

func heldSpec() job.Spec {
	s := gpuSpec(1, "")
	s.Hold = true
	return s
}

func TestSubmitRateLimit(t *testing.T) {
	h := newHarness(t, Config{SubmitRate: 0.001, SubmitBurst: 2}, nil, 1)
	ctx := context.Background()
	for i := range 2 {
		if _, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, ""); err != nil {
			t.Fatalf("submission %d within the burst: %v", i+1, err)
		}
	}
	_, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, "")
	wantCode(t, "third submission past the burst", err, api.CodeRateLimited, "faster than the limit")
	if code, body := h.raw("POST", "/v1/jobs", "alice", `{"spec":{"gpus_per_node":1}}`); code != http.StatusTooManyRequests {
		t.Errorf("over the rate: status %d %s; want 429", code, body)
	}
	// The limit is per user.
	if _, err := h.client("bob").Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, ""); err != nil {
		t.Errorf("bob's first submission: %v", err)
	}
	jobs, _ := h.client("alice").Jobs(ctx, false)
	if len(jobs) != 2 {
		t.Errorf("alice has %d jobs; want the 2 accepted", len(jobs))
	}
	recs, _ := h.st.Audit(ctx, store.AuditQuery{User: "alice"})
	if len(recs) != 4 || recs[2].Outcome != api.CodeRateLimited {
		t.Errorf("alice's audit = %+v; want 2 ok, then 2 rate_limited", recs)
	}
}

func TestMaxSubmitJobs(t *testing.T) {
	h := newHarness(t, Config{MaxSubmitJobs: 3}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	var ids []job.ID
	for range 2 {
		r, err := alice.Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	arr := heldSpec()
	arr.Array = "0-1"
	_, err := alice.Submit(ctx, api.SubmitRequest{Spec: arr}, "")
	wantCode(t, "an array of 2 past the limit", err, api.CodeConflict, "have 2 jobs pending or running and may have at most 3 (MaxSubmitJobs); this submission adds 2")
	if _, err := alice.Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, ""); err != nil {
		t.Fatalf("third job, at the limit: %v", err)
	}
	_, err = alice.Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, "")
	wantCode(t, "fourth job", err, api.CodeConflict, "MaxSubmitJobs")
	if _, err := h.client("bob").Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, ""); err != nil {
		t.Errorf("bob's job: %v", err)
	}
	// An ended job makes room.
	if err := alice.Cancel(ctx, ids[0], ""); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Submit(ctx, api.SubmitRequest{Spec: heldSpec()}, ""); err != nil {
		t.Errorf("after a cancel: %v", err)
	}
}

func TestMaxJobsPerUser(t *testing.T) {
	h := newHarness(t, Config{MaxJobs: 1}, nil, 1)
	ctx := context.Background()
	a, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=1000")}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("alice", a.ID, job.Running)
	b, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=1000")}, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.client("bob").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=1000")}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.waitState("bob", c.ID, job.Running)
	var w *api.Why
	h.waitFor("alice's second job to wait on MaxJobs", func() bool {
		w, err = h.client("alice").Why(ctx, b.ID)
		return err == nil && w.Reason == string(sched.ReasonAssocMaxJobs)
	})
	if !strings.Contains(w.Sentence, "limit of 1 jobs") {
		t.Errorf("why = %+v; want the MaxJobs limit named", w)
	}
}

// noRead is a body that fails the test if anything reads it.
type noRead struct{ t *testing.T }

func (n noRead) Read([]byte) (int, error) {
	n.t.Error("the body of a request over its bounds was read")
	return 0, io.EOF
}

func TestRequestBoundsBeforeParsing(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	handler := h.ctl.Handler()
	for _, c := range []struct {
		name  string
		setup func(r *http.Request)
		code  int
	}{
		{"body", func(r *http.Request) { r.ContentLength = maxBody + 1 }, http.StatusRequestEntityTooLarge},
		{"headers", func(r *http.Request) { r.Header.Set("X-Bomb", strings.Repeat("a", maxHeader)) }, http.StatusRequestHeaderFieldsTooLarge},
		{"URL", func(r *http.Request) { r.URL.RawQuery = "x=" + strings.Repeat("1", maxURL) }, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/jobs", noRead{t})
			r.Header.Set(api.HeaderUser, "alice")
			c.setup(r)
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			if w.Code != c.code {
				t.Errorf("status %d %s; want %d", w.Code, w.Body, c.code)
			}
		})
	}
	recs, err := h.st.Audit(context.Background(), store.AuditQuery{User: "alice"})
	if err != nil || len(recs) != 3 {
		t.Errorf("audit = %+v, %v; want the 3 refusals", recs, err)
	}
	for _, r := range recs {
		if r.Outcome == "ok" {
			t.Errorf("audit record %+v; want a refusal", r)
		}
	}
}
