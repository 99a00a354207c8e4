package sched

import (
	"testing"
)

// BenchmarkSchedulePass measures one full pass (ordering, placement and
// backfill over every pending job) of the default policy.
func BenchmarkSchedulePass(b *testing.B) {
	cases := []struct {
		name           string
		nodes, pending int
	}{
		{"gefion-10k", 191, 10_000},
		{"100k-gpus-100k", 12_500, 100_000},
	}
	for _, pol := range []string{"gefion", "backfill"} {
		for _, tc := range cases {
			name := tc.name
			if pol != DefaultPolicy {
				name += "/" + pol
			}
			b.Run(name, func(b *testing.B) {
				s := synthSnapshot(tc.nodes, tc.pending, 0.5, 42)
				p, err := PolicyByName(pol)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				var plan *Plan
				for i := 0; i < b.N; i++ {
					plan = Schedule(s, p)
				}
				b.StopTimer()
				b.ReportMetric(float64(tc.pending)*float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
				b.ReportMetric(float64(plan.Stats.Started), "starts")
				b.ReportMetric(float64(plan.Stats.EstimateRuns), "estimates")
			})
		}
	}
}

// BenchmarkPriorities measures computing every pending job's priority
// factors and priority, the first step of a pass.
func BenchmarkPriorities(b *testing.B) {
	s := synthSnapshot(12_500, 100_000, 0.5, 42)
	p, err := PolicyByName(DefaultPolicy)
	if err != nil {
		b.Fatal(err)
	}
	qos := map[string]*QOS{}
	for i := range s.QOS {
		qos[s.QOS[i].Name] = &s.QOS[i]
	}
	var buf []qitem
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = priorities(s, &p, qos, buf)
	}
	b.ReportMetric(float64(len(s.Pending))*float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
