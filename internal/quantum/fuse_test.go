package quantum

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// brickGates returns depth cycles of random one-qubit gates of every kind
// on every qubit, each cycle closed by two-qubit gates on alternating
// pairs (cz, or a random kind from randomGate's two-qubit ones), with a
// random gate of any kind now and then.
func brickGates(rng *rand.Rand, n, depth int) []*Gate {
	var gs []*Gate
	for l := 0; l < depth; l++ {
		for q := 0; q < n; q++ {
			g := randomGate(rng, n)
			for len(g.Targets)+len(g.Controls) != 1 {
				g = randomGate(rng, n)
			}
			gs = append(gs, NewGate(g.Name, []int{q}, nil, g.M))
		}
		for q := l % 2; q+1 < n; q += 2 {
			switch rng.IntN(4) {
			case 0:
				gs = append(gs, NewGate("g2", []int{q, q + 1}, nil, kron(UMatrix(1, 2, 3), UMatrix(0.5, 0.1, 0.2))))
			case 1:
				gs = append(gs, NewGate("cx", []int{q + 1}, []int{q}, xMatrix))
			default:
				gs = append(gs, NewGate("cz", []int{q + 1}, []int{q}, []complex128{1, 0, 0, -1}))
			}
		}
		if rng.IntN(2) == 0 {
			gs = append(gs, randomGate(rng, n))
		}
	}
	return gs
}

func countFused(gs []*Gate) int {
	k := 0
	for _, g := range gs {
		if g.Name == "fused" && len(g.Targets) == 2 {
			k++
		}
	}
	return k
}

func TestFuseGatesMatchesUnfused(t *testing.T) {
	// fuseGates' output applied gate by gate against the input applied
	// gate by gate, in double precision, on random gate lists of every
	// kind and on brick walls (where groups form).
	const n = 9
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		var gs []*Gate
		if seed%2 == 0 {
			for range 200 {
				gs = append(gs, randomGate(rng, n))
			}
		} else {
			gs = brickGates(rng, n, 10)
		}
		fused := fuseGates(gs, 2)
		if seed%2 == 1 && countFused(fused) == 0 {
			t.Errorf("seed %d: no group fused in a brick wall", seed)
		}
		psi := randomState(rng, n)
		want, got := psi, psi
		for _, g := range gs {
			want = denseApply(want, n, g)
		}
		for _, g := range fused {
			got = denseApply(got, n, g)
		}
		for i := range want {
			if d := math.Hypot(real(want[i]-got[i]), imag(want[i]-got[i])); d > 1e-10 {
				t.Fatalf("seed %d: amplitude %d differs by %g after fusion", seed, i, d)
			}
		}
	}
}

func TestFuseGroupsHalveBrickWallWork(t *testing.T) {
	// In the comparison circuit every other CZ takes the four one-qubit
	// gates around it (pairs on qubits 0 and 1 excepted).
	const n, depth = 12, 8
	c := mustCompile(t, cycleCircuit(n, depth, 4))
	var gs []*Gate
	for _, op := range c.Ops {
		gs = append(gs, op.Gate)
	}
	fused := fuseGates(gs, 2)
	// Pairs (2,3), (4,5) ... (10,11) in cycles 0, 2, 4, 6: 5 per cycle,
	// but for the top pair every other time (its top qubit has no CZ in
	// odd cycles, so the compiler merges its gates of two cycles, and the
	// group that takes them leaves the next group nothing on that qubit).
	if k := countFused(fused); k < 5*depth/2-depth/4 {
		t.Errorf("%d groups fused, want at least %d", k, 5*depth/2-depth/4)
	}
	if len(fused) >= len(gs)*3/4 {
		t.Errorf("%d gates fused into %d", len(gs), len(fused))
	}
}

func TestFusedBlockedMatchesGateByGate(t *testing.T) {
	// The dense kernel inside blocked passes, with the vector kernels and
	// without, against gate by gate in double precision.
	for _, k := range kernelSets() {
		restore := useKernels(k)
		for _, tc := range []struct{ n, local, low int }{{14, 8, 5}, {16, 10, 4}, {17, 15, 9}} {
			rng := rand.New(rand.NewPCG(uint64(tc.n), 11))
			gs := brickGates(rng, tc.n, 12)
			if countFused(fuseGates(gs, 2)) == 0 {
				t.Fatal("no group fused")
			}
			name := fmt.Sprintf("n%d-local%d-%s", tc.n, tc.local, k.name)
			t.Run(name+"-single", func(t *testing.T) { blockedAgrees[float32](t, tc.n, tc.local, tc.low, gs, 1e-5) })
			t.Run(name+"-double", func(t *testing.T) { blockedAgrees[float64](t, tc.n, tc.local, tc.low, gs, 1e-10) })
		}
		restore()
	}
}

func TestDense2KernelEveryStride(t *testing.T) {
	// mat4c64AVX (and mat4c64AVX512 where it runs) on every pair of
	// target qubits of a 9-qubit state, both orders, against the portable
	// multi-target kernel.
	if !haveSIMD {
		t.Skip("needs AVX2 and FMA")
	}
	for _, k := range kernelSets()[1:] {
		t.Run(k.name, func(t *testing.T) {
			defer useKernels(k)()
			testDense2KernelEveryStride(t)
		})
	}
}

func testDense2KernelEveryStride(t *testing.T) {
	const n = 9
	rng := rand.New(rand.NewPCG(1, 2))
	cz := NewGate("cz", []int{1}, []int{0}, []complex128{1, 0, 0, -1}).gateMatrix2()
	u := kron(UMatrix(1, 2, 3), UMatrix(0.5, 0.1, 0.2))
	u = matMul(cz, u, 4)
	u = matMul(kron(UMatrix(0.3, 0.7, 1.1), UMatrix(2, 0.4, 0.9)), u, 4)
	// h and ry are real, and so is their product with cz.
	r := matMul(cz, kron(UMatrix(0.4, 0, 0), UMatrix(math.Pi/2, 0, math.Pi)), 4)
	r = matMul(kron(UMatrix(1.3, 0, 0), UMatrix(2.2, 0, 0)), r, 4)
	for _, tc := range []struct {
		u    []complex128
		real bool
	}{{u, false}, {r, true}} {
		u := tc.u
		for a := 2; a < n; a++ {
			for b := 2; b < n; b++ {
				if a == b {
					continue
				}
				g := NewGate("fused", []int{a, b}, nil, u)
				if g.kind != kDenseK || g.lanes4 == nil {
					t.Fatalf("gate on %d,%d is %s without lanes", a, b, g.Kind())
				}
				psi := randomState(rng, n)
				want := denseApply(psi, n, g)
				s := loadState[float32](psi)
				if g.real4 != tc.real {
					t.Fatalf("gate on %d,%d: real %v, want %v", a, b, g.real4, tc.real)
				}
				if !s.simdDense2(g) {
					t.Fatalf("dense kernel refused targets %d,%d", a, b)
				}
				if d := maxDiff(s, want); d > 1e-5 {
					t.Errorf("targets %d,%d (real %v): off by %g", a, b, tc.real, d)
				}
			}
		}
	}
}

// gateMatrix2 is a two-qubit gate's unitary on (its first qubit, its
// second), for building test matrices.
func (g *Gate) gateMatrix2() []complex128 { return gateUnitary(g, g.Qubits()) }

func TestFusionStopsAtMeasurements(t *testing.T) {
	// A circuit larger than a block, so that its gates run through fused
	// blocked passes, with mid-circuit measurements, resets and a
	// conditional: the exact distribution with fusion equals the one
	// without.
	const n = 17
	src := cycleCircuit(n, 6, 9)
	var b strings.Builder
	b.WriteString(strings.Replace(src, "qreg q[17];", "qreg q[17];\ncreg c[17];", 1))
	b.WriteString("measure q[3] -> c[3];\nreset q[4];\nif(c==8) x q[5];\n")
	b.WriteString(strings.SplitN(cycleCircuit(n, 4, 10), "qreg q[17];\n", 2)[1])
	for q := range 6 {
		fmt.Fprintf(&b, "measure q[%d] -> c[%d];\n", q+8, q)
	}
	opt := Options{Shots: 1, Probabilities: true}
	fused := mustRun(t, b.String(), opt)
	fuseEnabled = false
	plain := mustRun(t, b.String(), opt)
	fuseEnabled = true
	if len(fused.Probabilities) == 0 || len(fused.Probabilities) != len(plain.Probabilities) {
		t.Fatalf("%d outcomes with fusion, %d without", len(fused.Probabilities), len(plain.Probabilities))
	}
	for k, p := range plain.Probabilities {
		if d := math.Abs(fused.Probabilities[k] - p); d > 1e-5 {
			t.Errorf("outcome %s: %g with fusion, %g without", k, fused.Probabilities[k], p)
		}
	}
}

// BenchmarkFuseKernels measures the cost model of fuseGates: ns per
// amplitude of a one-qubit complex kernel, a diagonal two-qubit gate and
// the dense 4x4 kernel on a 16-qubit single-precision state (one block in
// the L2 cache), on high qubits as in a blocked pass, with each set of
// vector kernels the machine has.
func BenchmarkFuseKernels(b *testing.B) {
	const n = 16
	s, err := NewState[float32](n)
	if err != nil {
		b.Fatal(err)
	}
	s.serial = true
	u := matMul(kron(UMatrix(0.3, 0.7, 1.1), UMatrix(2, 0.4, 0.9)), kron(UMatrix(1, 2, 3), UMatrix(0.5, 0.1, 0.2)), 4)
	for _, tc := range []struct {
		name string
		g    *Gate
	}{
		{"one-qubit", NewGate("u", []int{12}, nil, UMatrix(1, 2, 3))},
		{"ry", NewGate("ry", []int{12}, nil, UMatrix(1, 0, 0))},
		{"cz", NewGate("cz", []int{13}, []int{12}, []complex128{1, 0, 0, -1})},
		{"dense4x4", NewGate("fused", []int{12, 13}, nil, u)},
		{"real4x4", NewGate("fused", []int{12, 13}, nil, kron(UMatrix(1, 0, 0), UMatrix(0.5, 0, 0)))},
	} {
		for _, k := range kernelSets()[1:] {
			b.Run(tc.name+"/"+k.name, func(b *testing.B) {
				defer useKernels(k)()
				g := NewGate(tc.g.Name, tc.g.Targets, tc.g.Controls, tc.g.M)
				for b.Loop() {
					s.applyLocal(g)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(int(1)<<n), "ns/amp")
			})
		}
	}
}

// BenchmarkFuseRandomCircuit runs the comparison circuit at 26 qubits with
// fusion and without, for an interleaved comparison (-count).
func BenchmarkFuseRandomCircuit(b *testing.B) {
	const n = 26
	c := mustCompile(b, cycleCircuit(n, 20, 1))
	var gs []*Gate
	for _, op := range c.Ops {
		gs = append(gs, op.Gate)
	}
	s, err := NewState[float32](n)
	if err != nil {
		b.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("fuse=%v", on), func(b *testing.B) {
			fuseEnabled = on
			defer func() { fuseEnabled = true }()
			for b.Loop() {
				s.Reset()
				s.ApplyGates(gs)
			}
			if norm := s.Norm(); math.Abs(norm-1) > 1e-3 {
				b.Fatalf("norm after the circuit is %v, want 1", norm)
			}
		})
	}
}
