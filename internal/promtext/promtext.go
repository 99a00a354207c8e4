// Package promtext serves metrics in the Prometheus text exposition format
// (version 0.0.4): counters, gauges and histograms, with or without labels,
// and the Go runtime and process metrics under the names the Prometheus Go
// client gives them. The controller imports it; nothing else should.
//
// Why not the Prometheus Go client: it is linked into the one gefion binary,
// and so into every client command (sbatch, squeue...), and at package
// initialisation it builds a default registry with Go and process
// collectors and pulls in protobuf, procfs and YAML, whose own
// initialisation costs more than a minimal Go program takes to run
// (DESIGN: client commands start fast). The controller needs only the text
// format and a handful of metric kinds, which this package writes; its
// tests read the output back with the Prometheus text parser.
//
// Nothing here runs at package initialisation.
package promtext

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Registry holds metric families and writes them, sorted by name. The zero
// value is an empty registry ready to use.
type Registry struct {
	mu   sync.Mutex
	fams map[string]family
}

// family is one metric name with its HELP, TYPE and samples.
type family interface {
	write(b *strings.Builder)
}

// register adds f under name; a name registered twice is a programming
// error, as it is for the Prometheus client.
func (r *Registry) register(name string, f family) {
	if !validName(name) {
		panic("promtext: invalid metric name " + strconv.Quote(name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fams == nil {
		r.fams = map[string]family{}
	}
	if _, dup := r.fams[name]; dup {
		panic("promtext: metric registered twice: " + name)
	}
	r.fams[name] = f
}

// WriteTo writes every family in the text format, sorted by name.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	names := make([]string, 0, len(r.fams))
	for n := range r.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	fams := make([]family, len(names))
	for i, n := range names {
		fams[i] = r.fams[n]
	}
	r.mu.Unlock()
	var b strings.Builder
	for _, f := range fams {
		f.write(&b)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Handler serves the registry's metrics for a Prometheus scrape.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		r.WriteTo(w) //nolint:errcheck // a scraper that went away needs no answer
	})
}

// Counter is a value that only goes up.
type Counter struct {
	bits atomic.Uint64 // math.Float64bits of the value
}

// NewCounter registers a counter without labels.
func (r *Registry) NewCounter(name, help string) *Counter {
	c := &Counter{}
	r.register(name, &scalar{name: name, help: help, kind: "counter", value: c.Value})
	return c
}

// Add adds v, which must not be negative (a counter never goes down); a
// negative v is ignored.
func (c *Counter) Add(v float64) {
	if v < 0 || math.IsNaN(v) {
		return
	}
	addFloat(&c.bits, v)
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Value returns the counter's value.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// Gauge is a value that goes up and down.
type Gauge struct {
	bits atomic.Uint64
}

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v (negative to subtract).
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Value returns the gauge's value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// NewGauge registers a gauge without labels.
func (r *Registry) NewGauge(name, help string) *Gauge {
	g := &Gauge{}
	r.register(name, &scalar{name: name, help: help, kind: "gauge", value: g.Value})
	return g
}

// NewGaugeFunc registers a gauge whose value is read from f at each scrape.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) {
	r.register(name, &scalar{name: name, help: help, kind: "gauge", value: f})
}

// NewCounterFunc registers a counter whose value is read from f at each
// scrape.
func (r *Registry) NewCounterFunc(name, help string, f func() float64) {
	r.register(name, &scalar{name: name, help: help, kind: "counter", value: f})
}

func addFloat(bits *atomic.Uint64, v float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// scalar is a family of one unlabelled sample.
type scalar struct {
	name, help, kind string
	value            func() float64
}

func (s *scalar) write(b *strings.Builder) {
	writeHeader(b, s.name, s.help, s.kind)
	writeSample(b, s.name, nil, nil, "", 0, s.value())
}

// GaugeVec is a gauge family with labels.
type GaugeVec struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	children   map[string]*labelled[*Gauge]
}

// labelled is one child of a vector: its label values and its metric.
type labelled[M any] struct {
	values []string
	m      M
}

// NewGaugeVec registers a gauge family with the given label names.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	checkLabels(name, labels)
	v := &GaugeVec{name: name, help: help, labels: labels, children: map[string]*labelled[*Gauge]{}}
	r.register(name, v)
	return v
}

// WithLabelValues returns the gauge for these label values, in the order of
// the label names, creating it at zero. A wrong number of values is a
// programming error and panics, as in the Prometheus client.
func (v *GaugeVec) WithLabelValues(values ...string) *Gauge {
	return child(&v.mu, v.children, v.name, v.labels, values, func() *Gauge { return &Gauge{} })
}

// Reset removes every child, so that label values no longer seen stop
// being exported.
func (v *GaugeVec) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.children)
}

func (v *GaugeVec) write(b *strings.Builder) {
	writeHeader(b, v.name, v.help, "gauge")
	for _, c := range sortedChildren(&v.mu, v.children) {
		writeSample(b, v.name, v.labels, c.values, "", 0, c.m.Value())
	}
}

// Histogram counts observations in buckets by upper bound.
type Histogram struct {
	upper  []float64 // sorted, without +Inf
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	count  uint64
	sum    float64
}

func newHistogram(name string, buckets []float64) *Histogram {
	if len(buckets) == 0 || !slices.IsSorted(buckets) {
		panic("promtext: histogram " + name + " needs buckets in increasing order")
	}
	upper := slices.Clone(buckets)
	if math.IsInf(upper[len(upper)-1], +1) {
		upper = upper[:len(upper)-1]
	}
	return &Histogram{upper: upper, counts: make([]uint64, len(upper)+1)}
}

// NewHistogram registers a histogram without labels. buckets are the upper
// bounds, in increasing order; +Inf is added.
func (r *Registry) NewHistogram(name, help string, buckets []float64) *Histogram {
	h := newHistogram(name, buckets)
	r.register(name, &histFamily{name: name, help: help, one: h})
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.upper, v) // first bound >= v: "le" is inclusive
	h.mu.Lock()
	h.counts[i]++
	h.count++
	h.sum += v
	h.mu.Unlock()
}

func (h *Histogram) write(b *strings.Builder, name string, labels, values []string) {
	h.mu.Lock()
	counts := slices.Clone(h.counts)
	count, sum := h.count, h.sum
	h.mu.Unlock()
	var cum uint64
	for i, u := range h.upper {
		cum += counts[i]
		writeSample(b, name+"_bucket", labels, values, formatFloat(u), 1, float64(cum))
	}
	writeSample(b, name+"_bucket", labels, values, "+Inf", 1, float64(count))
	writeSample(b, name+"_sum", labels, values, "", 0, sum)
	writeSample(b, name+"_count", labels, values, "", 0, float64(count))
}

// HistogramVec is a histogram family with labels.
type HistogramVec struct {
	name, help string
	labels     []string
	buckets    []float64
	mu         sync.Mutex
	children   map[string]*labelled[*Histogram]
}

// NewHistogramVec registers a histogram family with the given buckets and
// label names.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	checkLabels(name, labels)
	newHistogram(name, buckets) // check the buckets now, not at the first observation
	v := &HistogramVec{name: name, help: help, labels: labels, buckets: buckets, children: map[string]*labelled[*Histogram]{}}
	r.register(name, v)
	return v
}

// WithLabelValues returns the histogram for these label values, creating
// it empty.
func (v *HistogramVec) WithLabelValues(values ...string) *Histogram {
	return child(&v.mu, v.children, v.name, v.labels, values, func() *Histogram { return newHistogram(v.name, v.buckets) })
}

func (v *HistogramVec) write(b *strings.Builder) {
	writeHeader(b, v.name, v.help, "histogram")
	for _, c := range sortedChildren(&v.mu, v.children) {
		c.m.write(b, v.name, v.labels, c.values)
	}
}

// histFamily is a family of one unlabelled histogram.
type histFamily struct {
	name, help string
	one        *Histogram
}

func (f *histFamily) write(b *strings.Builder) {
	writeHeader(b, f.name, f.help, "histogram")
	f.one.write(b, f.name, nil, nil)
}

// ExponentialBuckets returns n upper bounds: start, start*factor,
// start*factor^2...
func ExponentialBuckets(start, factor float64, n int) []float64 {
	if n < 1 || start <= 0 || factor <= 1 {
		panic(fmt.Sprintf("promtext: ExponentialBuckets(%v, %v, %d) needs n >= 1, start > 0 and factor > 1", start, factor, n))
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

func child[M any](mu *sync.Mutex, children map[string]*labelled[M], name string, labels, values []string, mk func() M) M {
	if len(values) != len(labels) {
		panic(fmt.Sprintf("promtext: %s has labels %v; got %d values %q", name, labels, len(values), values))
	}
	key := strings.Join(values, "\xff")
	mu.Lock()
	defer mu.Unlock()
	c, ok := children[key]
	if !ok {
		c = &labelled[M]{values: slices.Clone(values), m: mk()}
		children[key] = c
	}
	return c.m
}

func sortedChildren[M any](mu *sync.Mutex, children map[string]*labelled[M]) []*labelled[M] {
	mu.Lock()
	out := make([]*labelled[M], 0, len(children))
	for _, c := range children {
		out = append(out, c)
	}
	mu.Unlock()
	slices.SortFunc(out, func(a, b *labelled[M]) int { return slices.Compare(a.values, b.values) })
	return out
}

func checkLabels(name string, labels []string) {
	for _, l := range labels {
		if !validName(l) || strings.Contains(l, ":") || l == "le" || strings.HasPrefix(l, "__") {
			panic("promtext: " + name + ": invalid label name " + strconv.Quote(l))
		}
	}
}

// validName reports whether s is a metric name of the classic format:
// [a-zA-Z_:][a-zA-Z0-9_:]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func writeHeader(b *strings.Builder, name, help, kind string) {
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(escape(help, false))
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(kind)
	b.WriteByte('\n')
}

// writeSample writes one line. le, when hasLE is 1, is added as the last
// label (a histogram bucket's upper bound).
func writeSample(b *strings.Builder, name string, labels, values []string, le string, hasLE int, v float64) {
	b.WriteString(name)
	if len(labels)+hasLE > 0 {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l)
			b.WriteString(`="`)
			b.WriteString(escape(values[i], true))
			b.WriteByte('"')
		}
		if hasLE == 1 {
			if len(labels) > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`le="`)
			b.WriteString(le)
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

// escape escapes a HELP text (backslash and newline) or, with quote, a
// label value (also the double quote), as the text format requires.
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// formatFloat writes v as the Prometheus client does: the shortest
// representation, and +Inf, -Inf and NaN by name.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
