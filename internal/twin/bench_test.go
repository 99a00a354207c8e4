package twin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

// sharedTrace returns the path of a trace in ../shared/traces (relative to
// the repository root), or skips the test when it is absent.
func sharedTrace(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join("..", "..", "..", "shared", "traces", name)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("trace %s is absent (%v): the shared traces are not on this machine", p, err)
	}
	return p
}

func loadWorkload(tb testing.TB, name string, format trace.Format, opt MapOptions) *Workload {
	tb.Helper()
	f, err := os.Open(sharedTrace(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := trace.Open(f, trace.Options{Format: format, Name: name})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := cluster.Preset("gefion")
	if err != nil {
		tb.Fatal(err)
	}
	w, err := Map(r, c, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// BenchmarkTwinPhilly replays the whole Philly trace on the gefion preset at
// load 0.9 under each built-in policy, reading and mapping the trace
// included.
func BenchmarkTwinPhilly(b *testing.B) {
	path := sharedTrace(b, "philly_pollux.csv")
	c, err := cluster.Preset("gefion")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"default", "fifo", "backfill"} {
		p, err := sched.PolicyByName(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var jobs int
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				r, err := trace.Open(f, trace.Options{Format: trace.Philly, Name: path})
				if err != nil {
					b.Fatal(err)
				}
				w, err := Map(r, c, MapOptions{Load: 0.9, Seed: 1})
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				res, err := Run(w, Config{Policy: p})
				if err != nil {
					b.Fatal(err)
				}
				jobs = len(res.Jobs)
			}
			b.ReportMetric(float64(jobs)*float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}
