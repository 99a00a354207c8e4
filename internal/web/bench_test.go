package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// fillQueue submits n held jobs of user, so that they stay in the queue.
func fillQueue(b *testing.B, h *harness, user string, n int) {
	b.Helper()
	spec := job.Spec{Name: "sweep", GPUsPerNode: 1, TimeLimitS: 3600, Hold: true, Script: "#!/bin/sh\necho\n"}
	for range n {
		if _, err := h.ctl.Submit(context.Background(), user, "", api.SubmitRequest{Spec: spec}); err != nil {
			b.Fatal(err)
		}
	}
}

// getTimed fetches a page as user and returns the time to its first byte
// and its size.
func getTimed(b *testing.B, h *harness, user, path string) (time.Duration, int) {
	var first time.Time
	start := time.Now()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}))
	req.Header.Set(testUserHeader, user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s = %d, %v", path, resp.StatusCode, err)
	}
	return first.Sub(start), int(n)
}

// BenchmarkMyJobs10k serves My jobs to a user with 10,000 jobs in the
// queue: ms-to-first-byte is what the browser waits before it can draw.
func BenchmarkMyJobs10k(b *testing.B) {
	h := newHarness(b, 1)
	fillQueue(b, h, "alice", 10000)
	var ttfb time.Duration
	var size int
	b.ResetTimer()
	for b.Loop() {
		d, n := getTimed(b, h, "alice", "/")
		ttfb += d
		size = n
	}
	b.ReportMetric(float64(ttfb.Milliseconds())/float64(b.N), "ms-to-first-byte")
	b.ReportMetric(float64(size), "page-bytes")
}

// BenchmarkClusterPage serves the map of a 191-node machine.
func BenchmarkClusterPage(b *testing.B) {
	h := newHarness(b, 191)
	var ttfb time.Duration
	var size int
	for b.Loop() {
		d, n := getTimed(b, h, "admin", "/cluster")
		ttfb += d
		size = n
	}
	b.ReportMetric(float64(ttfb.Microseconds())/1000/float64(b.N), "ms-to-first-byte")
	b.ReportMetric(float64(size), "page-bytes")
}

// BenchmarkClusterLook is one look of the cluster stream at a 191-node
// machine with 40 running jobs: what each open Cluster page costs the
// controller twice a second.
func BenchmarkClusterLook(b *testing.B) {
	h := newHarness(b, 191)
	for i := range 40 {
		spec := job.Spec{Name: "train", NodesMin: 1 + i%4, GPUsPerNode: 8, TimeLimitS: 3600, Comment: "duration=600", Script: "#!/bin/sh\n"}
		if _, err := h.ctl.Submit(context.Background(), "alice", "", api.SubmitRequest{Spec: spec}); err != nil {
			b.Fatal(err)
		}
	}
	s := New(h.ctl, Options{})
	r := httptest.NewRequest("GET", "/events/cluster", nil)
	v := &viewer{User: "admin"}
	for b.Loop() {
		d, err := s.clusterView(r, v)
		if err != nil {
			b.Fatal(err)
		}
		for _, su := range d.SUs {
			for _, n := range su.Nodes {
				if _, err := json.Marshal(n); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkBrowserMyJobs10k loads My jobs of a user with 10,000 jobs in
// Chromium: ms-to-load is from navigation to the load event (the page
// drawn, its script and styles in), as the browser's own timing says.
func BenchmarkBrowserMyJobs10k(b *testing.B) {
	h := newHarness(b, 1)
	fillQueue(b, h, "alice", 10000)
	ctx := browserTab(b, "alice")
	var total float64
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+"/")); err != nil {
			b.Fatal(err)
		}
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64]("performance.getEntriesByType('navigation')[0].loadEventEnd"))
		if err != nil {
			b.Fatal(err)
		}
		total += ms
	}
	b.ReportMetric(total/float64(b.N), "ms-to-load")
}
