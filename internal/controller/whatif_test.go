package controller

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
)

// TestWhatIfReportTooLarge: a live queue over the bound is refused with a
// message saying so, and no report is written.
func TestWhatIfReportTooLarge(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	for range 3 {
		if _, err := h.client("alice").Submit(ctx, api.SubmitRequest{Spec: gpuSpec(1, "duration=100")}, ""); err != nil {
			t.Fatal(err)
		}
	}
	defer func(n int) { maxWhatIfJobs = n }(maxWhatIfJobs)
	maxWhatIfJobs = 2
	var b bytes.Buffer
	err := h.ctl.WhatIfReport(ctx, "admin", []string{"fifo"}, &b)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeTooLarge || !strings.Contains(ae.Message, "holds 3 jobs") || b.Len() != 0 {
		t.Fatalf("report of 3 jobs with a bound of 2: %v (%d bytes written); want too large, nothing written", err, b.Len())
	}
	maxWhatIfJobs = 3
	if err := h.ctl.WhatIfReport(ctx, "admin", []string{"fifo", "backfill"}, &b); err != nil || !strings.Contains(b.String(), "<td>backfill</td>") {
		t.Fatalf("report at the bound: %v", err)
	}
}
