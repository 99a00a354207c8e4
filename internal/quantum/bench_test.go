package quantum

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// BenchmarkStateVector measures one gate on 26 qubits in single precision
// (a 512 MiB state) against copying the same vector, the memory-bandwidth
// reference: a gate reads and writes the state once, as a copy does. Every
// sub-benchmark sets bytes to the state's size, so MB/s compare directly.
func BenchmarkStateVector(b *testing.B) {
	const n = 26
	s, err := NewState[float32](n)
	if err != nil {
		b.Fatal(err)
	}
	s.Apply(NewGate("h", []int{3}, nil, UMatrix(math.Pi/2, 0, math.Pi)))
	bytes := int64(8) << n
	b.Run("copy-26", func(b *testing.B) {
		dst, _ := NewState[float32](n)
		// Touch every page once first, so that the loop measures copying
		// and not the kernel's first-touch page faults.
		dst.CopyFrom(s)
		b.SetBytes(bytes)
		for b.Loop() {
			dst.CopyFrom(s)
		}
	})
	hm := UMatrix(math.Pi/2, 0, math.Pi)
	for _, tc := range []struct {
		name string
		g    *Gate
	}{
		{"h-low-26", NewGate("h", []int{0}, nil, hm)},
		{"h-high-26", NewGate("h", []int{n - 1}, nil, hm)},
		{"cx-26", NewGate("cx", []int{n / 2}, []int{1}, xMatrix)},
		{"rz-26", NewGate("rz", []int{7}, nil, []complex128{complex(math.Cos(0.15), -math.Sin(0.15)), 0, 0, complex(math.Cos(0.15), math.Sin(0.15))})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				s.Apply(tc.g)
			}
		})
	}
}

// randomCircuit28 writes a random circuit: depth layers, each a random
// rotation (rx, ry or rz with a random angle) on every qubit followed by CZ
// on neighbouring pairs, alternately starting at qubit 0 and qubit 1.
func randomCircuit(n, depth int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed))
	src := fmt.Sprintf("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[%d];\n", n)
	rot := []string{"rx", "ry", "rz"}
	for l := 0; l < depth; l++ {
		for q := 0; q < n; q++ {
			src += fmt.Sprintf("%s(%.6f) q[%d];\n", rot[rng.IntN(3)], rng.Float64()*2*math.Pi, q)
		}
		for q := l % 2; q+1 < n; q += 2 {
			src += fmt.Sprintf("cz q[%d],q[%d];\n", q, q+1)
		}
	}
	return src
}

// BenchmarkRandomCircuit28 runs a 28-qubit random circuit of depth 20 in
// single precision (a 2 GiB state): parse, compile and simulate.
func BenchmarkRandomCircuit28(b *testing.B) {
	benchRandom(b, 28, 20)
}

// BenchmarkRandomCircuit20 is the same shape at 20 qubits, quick enough
// for routine runs.
func BenchmarkRandomCircuit20(b *testing.B) {
	benchRandom(b, 20, 20)
}

func benchRandom(b *testing.B, n, depth int) {
	src := randomCircuit(n, depth, 1)
	c := mustCompile(b, src)
	gates := 0
	for _, op := range c.Ops {
		if op.Kind == OpGate {
			gates++
		}
	}
	s, err := NewState[float32](n)
	if err != nil {
		b.Fatal(err)
	}
	gs := make([]*Gate, 0, len(c.Ops))
	for _, op := range c.Ops {
		gs = append(gs, op.Gate)
	}
	b.ResetTimer()
	for b.Loop() {
		s.Reset()
		s.ApplyGates(gs)
	}
	b.StopTimer()
	// A unitary circuit keeps the norm: a cheap check that the blocked
	// run did not lose or duplicate amplitudes.
	if norm := s.Norm(); math.Abs(norm-1) > 1e-3 {
		b.Fatalf("norm after the circuit is %v, want 1", norm)
	}
	b.ReportMetric(float64(gates), "gates")
}

func TestRandomCircuitSmallAgreesWithReference(t *testing.T) {
	// The benchmark circuit's shape, small enough for the dense reference.
	c := mustCompile(t, randomCircuit(8, 6, 2))
	s := stateOf[float64](t, c)
	ref := make([]complex128, 1<<8)
	ref[0] = 1
	for _, op := range c.Ops {
		ref = denseApply(ref, 8, op.Gate)
	}
	if d := maxDiff(s, ref); d > 1e-12 {
		t.Errorf("random circuit off by %g", d)
	}
}

// cycleCircuit writes the random circuit of the side-by-side comparison
// with qsim: depth cycles, each one gate chosen at random among h, rx and
// ry (with a random angle) on every qubit, then CZ on (i, i+1) for i even
// in even cycles and odd in odd ones.
func cycleCircuit(n, depth int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed))
	var b strings.Builder
	fmt.Fprintf(&b, "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[%d];\n", n)
	for l := 0; l < depth; l++ {
		for q := 0; q < n; q++ {
			switch k, a := rng.IntN(3), rng.Float64()*2*math.Pi; k {
			case 0:
				fmt.Fprintf(&b, "h q[%d];\n", q)
			case 1:
				fmt.Fprintf(&b, "rx(%.6f) q[%d];\n", a, q)
			default:
				fmt.Fprintf(&b, "ry(%.6f) q[%d];\n", a, q)
			}
		}
		for q := l % 2; q+1 < n; q += 2 {
			fmt.Fprintf(&b, "cz q[%d],q[%d];\n", q, q+1)
		}
	}
	return b.String()
}

// BenchmarkRandomCircuit runs the comparison circuit (see cycleCircuit) in
// single precision at 26 and 28 qubits, gates only (the state allocated
// once), and copies a state of the same size in the same run: copy-GB/s
// is the machine's memory bandwidth at that moment, sweeps the circuit's
// time in units of one copy of the state.
func BenchmarkRandomCircuit(b *testing.B) {
	for _, n := range []int{26, 28} {
		b.Run(fmt.Sprintf("q%d", n), func(b *testing.B) {
			c := mustCompile(b, cycleCircuit(n, 20, 1))
			var gs []*Gate
			for _, op := range c.Ops {
				gs = append(gs, op.Gate)
			}
			s, err := NewState[float32](n)
			if err != nil {
				b.Fatal(err)
			}
			dst, _ := NewState[float32](n)
			dst.CopyFrom(s)
			var copyS, runS time.Duration
			for b.Loop() {
				t0 := time.Now()
				dst.CopyFrom(s)
				t1 := time.Now()
				s.Reset()
				s.ApplyGates(gs)
				copyS += t1.Sub(t0)
				runS += time.Since(t1)
			}
			if norm := s.Norm(); math.Abs(norm-1) > 1e-3 {
				b.Fatalf("norm after the circuit is %v, want 1", norm)
			}
			bytes := float64(int64(8) << n)
			b.ReportMetric(bytes*float64(b.N)/copyS.Seconds()/1e9, "copy-GB/s")
			b.ReportMetric(runS.Seconds()/float64(b.N), "circuit-s")
			b.ReportMetric(runS.Seconds()/copyS.Seconds(), "sweeps")
			b.ReportMetric(float64(len(gs)), "gates")
		})
	}
}

// BenchmarkParseCompile parses and compiles the 20-qubit random circuit of
// depth 20 with a few gate definitions and parameter expressions on top:
// the front end's cost, which a circuit pays once per run.
func BenchmarkParseCompile(b *testing.B) {
	src := randomCircuit(20, 20, 1) +
		"gate pair(a, b) x, y { rx(-a/2 + b*pi) x; cx x, y; ry(sin(a)^2 - (b - 1)) y; }\n" +
		"gate quad(a) w, x, y, z { pair(a, -a) w, x; pair(2*a, a) y, z; cx x, y; }\n"
	for k := 0; k < 200; k++ {
		src += fmt.Sprintf("quad(%d*pi/64) q[%d], q[%d], q[%d], q[%d];\n", k, k%20, (k+5)%20, (k+10)%20, (k+15)%20)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		p, err := Parse("bench.qasm", []byte(src), nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}
