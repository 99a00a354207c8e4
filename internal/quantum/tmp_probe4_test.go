package quantum

import (
	"math"
	"testing"
)

func BenchmarkProbeDiag(b *testing.B) {
	const nl = 16
	p := newPass(func() []int { q := make([]int, nl); for i := range q { q[i] = i }; return q }())
	var ops []blockOp
	for q := 0; q+1 < nl; q += 2 {
		ops = append(ops, p.localOp(NewGate("cz", []int{q + 1}, []int{q}, []complex128{1, 0, 0, -1})))
	}
	p.ops = ops
	p.groupDiagonals()
	g := p.ops
	if len(g) != 1 || g[0].diag == nil {
		b.Fatal("not grouped")
	}
	s := &State[float32]{n: nl, v: make([]float32, 2<<nl), serial: true}
	s.v[0] = 1
	sc := []diagScratch[float32]{{}}
	b.Run("czgroup", func(b *testing.B) {
		for b.Loop() {
			s.applyDiag(g[0].diag, 0, &sc[0])
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(1<<nl), "ns/amp")
	})
	ry := NewGate("ry", []int{5}, nil, UMatrix(0.3, 0, 0))
	b.Run("ry5", func(b *testing.B) {
		for b.Loop() {
			s.applyLocal(ry)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(1<<nl), "ns/amp")
	})
	rx := NewGate("rx", []int{1}, nil, UMatrix(0.3, -math.Pi/2, math.Pi/2))
	b.Run("rx1", func(b *testing.B) {
		for b.Loop() {
			s.applyLocal(rx)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(1<<nl), "ns/amp")
	})
	cz := NewGate("cz", []int{9}, []int{8}, []complex128{1, 0, 0, -1})
	b.Run("cz-single", func(b *testing.B) {
		for b.Loop() {
			s.applyLocal(cz)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(1<<nl), "ns/amp")
	})
}
