package controller

import (
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/promtext"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// metrics are the controller's Prometheus metrics. Gauges that describe the
// whole state are refreshed after each scheduling pass. They are written by
// package promtext rather than the Prometheus Go client, whose package
// initialisation every gefion command would pay for (see promtext's doc).
type metrics struct {
	reg           *promtext.Registry
	submissions   *promtext.Counter
	passSeconds   *promtext.Histogram
	commitSeconds *promtext.Histogram
	apiSeconds    *promtext.HistogramVec
	jobs          *promtext.GaugeVec
	pendingReason *promtext.GaugeVec
	gpus          *promtext.GaugeVec
	mu            sync.Mutex
	lastObserve   time.Time
}

func newMetrics() *metrics {
	r := &promtext.Registry{}
	m := &metrics{
		reg:         r,
		submissions: r.NewCounter("gefion_submissions_total", "Jobs accepted (array tasks count one each)."),
		passSeconds: r.NewHistogram("gefion_sched_pass_seconds", "Time of one scheduling pass.",
			promtext.ExponentialBuckets(0.0001, 2, 16)),
		commitSeconds: r.NewHistogram("gefion_store_commit_seconds", "Time to commit one batch to the store.",
			promtext.ExponentialBuckets(0.0001, 2, 16)),
		apiSeconds: r.NewHistogramVec("gefion_api_request_seconds", "API request latency by route and status code.",
			promtext.ExponentialBuckets(0.0001, 2, 18), "route", "code"),
		jobs:          r.NewGaugeVec("gefion_jobs", "Jobs in memory by state (pending, running, recently finished).", "state"),
		pendingReason: r.NewGaugeVec("gefion_pending_jobs", "Pending jobs by reason.", "reason"),
		gpus:          r.NewGaugeVec("gefion_gpus", "GPUs by state: allocated, idle, unavailable (nodes drained or down).", "state"),
	}
	r.RegisterRuntime()
	return m
}

// observePlan refreshes the state gauges after a pass.
func (m *metrics) observePlan(cr *core, plan *sched.Plan) {
	// Counting every job is not free on a deep queue: once a second is
	// enough for a scrape interval of seconds.
	if time.Since(m.lastObserve) < time.Second {
		return
	}
	m.lastObserve = time.Now()
	byState := map[job.State]float64{}
	alloc := 0
	for _, r := range cr.jobs {
		byState[r.State]++
		if r.State == job.Running {
			alloc += allocGPUs(r.Allocs)
		}
	}
	for _, r := range cr.recent {
		byState[r.State]++
	}
	reasons := map[sched.Reason]float64{}
	for i := range plan.Waiting {
		reasons[plan.Waiting[i].Reason]++
	}
	total, unavail := 0, 0
	for i, n := range cr.nodes {
		g := cr.cluster.Nodes[i].Model.GPUs
		total += g
		if n.avail != sched.Up || n.session == nil || n.session.lost {
			unavail += g
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs.Reset()
	for s, v := range byState {
		m.jobs.WithLabelValues(string(s)).Set(v)
	}
	m.pendingReason.Reset()
	for r, v := range reasons {
		m.pendingReason.WithLabelValues(string(r)).Set(v)
	}
	m.gpus.WithLabelValues("allocated").Set(float64(alloc))
	m.gpus.WithLabelValues("unavailable").Set(float64(unavail))
	m.gpus.WithLabelValues("idle").Set(float64(max(total-alloc-unavail, 0)))
}
