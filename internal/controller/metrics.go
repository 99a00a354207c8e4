package controller

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
)

// metrics are the controller's Prometheus metrics. Gauges that describe the
// whole state are refreshed after each scheduling pass.
type metrics struct {
	reg           *prometheus.Registry
	submissions   prometheus.Counter
	passSeconds   prometheus.Histogram
	commitSeconds prometheus.Histogram
	apiSeconds    *prometheus.HistogramVec
	jobs          *prometheus.GaugeVec
	pendingReason *prometheus.GaugeVec
	gpus          *prometheus.GaugeVec
	mu            sync.Mutex
	lastObserve   time.Time
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		submissions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gefion_submissions_total", Help: "Jobs accepted (array tasks count one each).",
		}),
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gefion_sched_pass_seconds", Help: "Time of one scheduling pass.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gefion_store_commit_seconds", Help: "Time to commit one batch to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		apiSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gefion_api_request_seconds", Help: "API request latency by route and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"route", "code"}),
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gefion_jobs", Help: "Jobs in memory by state (pending, running, recently finished).",
		}, []string{"state"}),
		pendingReason: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gefion_pending_jobs", Help: "Pending jobs by reason.",
		}, []string{"reason"}),
		gpus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gefion_gpus", Help: "GPUs by state: allocated, idle, unavailable (nodes drained or down).",
		}, []string{"state"}),
	}
	m.reg.MustRegister(m.submissions, m.passSeconds, m.commitSeconds, m.apiSeconds, m.jobs, m.pendingReason, m.gpus,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
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
