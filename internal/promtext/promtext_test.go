package promtext

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// newTestRegistry is a registry holding one metric of each kind, with
// values that exercise escaping, bucket bounds and sorting.
func newTestRegistry() *Registry {
	r := &Registry{}
	c := r.NewCounter("t_submissions_total", "Jobs accepted.")
	c.Add(3)
	c.Inc()
	c.Add(-5) // ignored: a counter never goes down
	h := r.NewHistogram("t_pass_seconds", "Time of one pass.", []float64{0.1, 0.2, 0.4})
	for _, v := range []float64{0.05, 0.1, 0.3, 1} {
		h.Observe(v)
	}
	hv := r.NewHistogramVec("t_api_seconds", "Latency by route\\code\nsecond line.", ExponentialBuckets(1, 2, 2), "route", "code")
	hv.WithLabelValues("jobs", "200").Observe(1.5)
	hv.WithLabelValues("agent/sync", "200").Observe(3)
	g := r.NewGaugeVec("t_jobs", "Jobs by state.", "state")
	g.WithLabelValues("stale").Set(9)
	g.Reset()
	g.WithLabelValues("running").Set(2)
	g.WithLabelValues(`we"ird\` + "\n").Add(1.5)
	r.NewGauge("t_plain", "A gauge.").Set(math.Inf(-1))
	return r
}

func TestWriteToMatchesTextFormat(t *testing.T) {
	want := `# HELP t_api_seconds Latency by route\\code\nsecond line.
# TYPE t_api_seconds histogram
t_api_seconds_bucket{route="agent/sync",code="200",le="1"} 0
t_api_seconds_bucket{route="agent/sync",code="200",le="2"} 0
t_api_seconds_bucket{route="agent/sync",code="200",le="+Inf"} 1
t_api_seconds_sum{route="agent/sync",code="200"} 3
t_api_seconds_count{route="agent/sync",code="200"} 1
t_api_seconds_bucket{route="jobs",code="200",le="1"} 0
t_api_seconds_bucket{route="jobs",code="200",le="2"} 1
t_api_seconds_bucket{route="jobs",code="200",le="+Inf"} 1
t_api_seconds_sum{route="jobs",code="200"} 1.5
t_api_seconds_count{route="jobs",code="200"} 1
# HELP t_jobs Jobs by state.
# TYPE t_jobs gauge
t_jobs{state="running"} 2
t_jobs{state="we\"ird\\\n"} 1.5
# HELP t_pass_seconds Time of one pass.
# TYPE t_pass_seconds histogram
t_pass_seconds_bucket{le="0.1"} 2
t_pass_seconds_bucket{le="0.2"} 2
t_pass_seconds_bucket{le="0.4"} 3
t_pass_seconds_bucket{le="+Inf"} 4
t_pass_seconds_sum 1.45
t_pass_seconds_count 4
# HELP t_plain A gauge.
# TYPE t_plain gauge
t_plain -Inf
# HELP t_submissions_total Jobs accepted.
# TYPE t_submissions_total counter
t_submissions_total 4
`
	var b strings.Builder
	if _, err := newTestRegistry().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteTo (-want +got):\n%s", diff)
	}
}

// TestPrometheusParserReadsOutput reads the exposition back with the
// Prometheus text parser: what a scraper sees must be what was recorded.
func TestPrometheusParserReadsOutput(t *testing.T) {
	r := newTestRegistry()
	r.RegisterRuntime()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type = %q; want %q", ct, ContentType)
	}
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects the output: %v\n%s", err, body)
	}
	if got := fams["t_submissions_total"].GetMetric()[0].GetCounter().GetValue(); got != 4 {
		t.Errorf("t_submissions_total = %v; want 4", got)
	}
	h := fams["t_pass_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 4 || h.GetSampleSum() != 1.45 || len(h.GetBucket()) != 4 || h.GetBucket()[2].GetCumulativeCount() != 3 {
		t.Errorf("t_pass_seconds = %v; want 4 samples summing to 1.45, 3 of them <= 0.4", h)
	}
	labels := func(m *dto.Metric) map[string]string {
		out := map[string]string{}
		for _, l := range m.GetLabel() {
			out[l.GetName()] = l.GetValue()
		}
		return out
	}
	jobs := fams["t_jobs"].GetMetric()
	if len(jobs) != 2 || labels(jobs[1])["state"] != "we\"ird\\\n" {
		t.Errorf("t_jobs = %v; want running and the escaped label read back unchanged", jobs)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "go_info", "go_gc_duration_seconds", "go_threads",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds", "process_virtual_memory_max_bytes", "go_memstats_mspan_inuse_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s in the runtime metrics", name)
		}
	}
	if g := fams["go_goroutines"]; g != nil && g.GetMetric()[0].GetGauge().GetValue() < 1 {
		t.Errorf("go_goroutines = %v; want at least 1", g.GetMetric()[0].GetGauge().GetValue())
	}
}

func TestMisuseIsCaught(t *testing.T) {
	tests := []struct {
		name string
		f    func(r *Registry)
	}{
		{"name twice", func(r *Registry) { r.NewCounter("x_total", ""); r.NewGauge("x_total", "") }},
		{"bad name", func(r *Registry) { r.NewCounter("1x", "") }},
		{"bad label", func(r *Registry) { r.NewGaugeVec("x", "", "le") }},
		{"unsorted buckets", func(r *Registry) { r.NewHistogram("x", "", []float64{2, 1}) }},
		{"wrong label count", func(r *Registry) { r.NewGaugeVec("x", "", "a", "b").WithLabelValues("1") }},
		{"bad exponential buckets", func(*Registry) { ExponentialBuckets(0, 2, 3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic; a programming error must be loud", tt.name)
				}
			}()
			tt.f(&Registry{})
		})
	}
}

func TestExponentialBuckets(t *testing.T) {
	if diff := cmp.Diff([]float64{0.0001, 0.0002, 0.0004}, ExponentialBuckets(0.0001, 2, 3)); diff != "" {
		t.Errorf("ExponentialBuckets(0.0001, 2, 3) (-want +got):\n%s", diff)
	}
}
