package quantum

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// denseDistribution is the reference for circuits with mid-circuit
// measurements: it follows every outcome of every measurement and reset on
// dense state vectors (denseApply), with no code of the simulator's own
// but the compiled gates, and returns the probability of each final
// classical register.
func denseDistribution(c *Circuit) map[uint64]float64 {
	out := map[uint64]float64{}
	var walk func(psi []complex128, ops []Op, cl uint64, w float64)
	walk = func(psi []complex128, ops []Op, cl uint64, w float64) {
		for i, op := range ops {
			switch op.Kind {
			case OpGate:
				psi = denseApply(psi, c.Qubits, op.Gate)
				continue
			case OpIf:
				if op.Cond.holds(cl) {
					rest := append(append([]Op{}, op.Then...), ops[i+1:]...)
					walk(psi, rest, cl, w)
					return
				}
				continue
			}
			for b := 0; b < 2; b++ {
				proj := make([]complex128, len(psi))
				var p float64
				for k, a := range psi {
					if k>>op.Qubit&1 == b {
						proj[k] = a
						p += real(a)*real(a) + imag(a)*imag(a)
					}
				}
				if p < 1e-15 {
					continue
				}
				for k := range proj {
					proj[k] /= complex(math.Sqrt(p), 0)
				}
				ncl := cl
				if op.Kind == OpMeasure {
					ncl = cl&^(1<<op.Clbit) | uint64(b)<<op.Clbit
				} else if b == 1 {
					flipped := make([]complex128, len(proj))
					for k, a := range proj {
						flipped[k^1<<op.Qubit] = a
					}
					proj = flipped
				}
				walk(proj, ops[i+1:], ncl, w*p)
			}
			return
		}
		out[cl] += w
	}
	psi := make([]complex128, 1<<c.Qubits)
	psi[0] = 1
	walk(psi, c.Ops, 0, 1)
	return out
}

// randomDynamicCircuit writes a circuit on n qubits with gates, mid-circuit
// measurements, resets and conditionals drawn at random.
func randomDynamicCircuit(rng *rand.Rand, n, ops int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sqreg q[%d];\ncreg c[%d];\n", header, n, n)
	for range ops {
		q, r := rng.IntN(n), rng.IntN(n)
		for r == q {
			r = rng.IntN(n)
		}
		switch k := rng.IntN(10); {
		case k < 3:
			fmt.Fprintf(&b, "ry(%.3f) q[%d];\n", rng.Float64()*math.Pi, q)
		case k < 5:
			fmt.Fprintf(&b, "cx q[%d],q[%d];\n", q, r)
		case k == 5:
			fmt.Fprintf(&b, "h q[%d];\n", q)
		case k == 6:
			fmt.Fprintf(&b, "measure q[%d] -> c[%d];\n", q, rng.IntN(n))
		case k == 7:
			fmt.Fprintf(&b, "reset q[%d];\n", q)
		default:
			fmt.Fprintf(&b, "if(c==%d) x q[%d];\n", rng.IntN(1<<n), q)
		}
	}
	b.WriteString("measure q -> c;\n")
	return b.String()
}

// TestShotTreeMatchesTheExactDistribution: shots drawn through the branch
// tree, with copies and with the one-by-one fallback, fall as the dense
// reference says, on random circuits with measurements, resets and
// conditionals.
func TestShotTreeMatchesTheExactDistribution(t *testing.T) {
	defer func(b int64) { exactCopyBytes = b }(exactCopyBytes)
	rng := rand.New(rand.NewPCG(5, 6))
	const shots = 6000
	for i := range 12 {
		src := randomDynamicCircuit(rng, 4, 24)
		c := mustCompile(t, src)
		want := denseDistribution(c)
		for _, copyBytes := range []int64{1 << 30, 0} {
			exactCopyBytes = copyBytes
			r := mustRun(t, src, Options{Shots: shots, Seed: uint64(i)})
			format := c.formatter()
			for k, p := range want {
				if !binomialOK(r.Counts[format(k)], shots, p) {
					t.Errorf("circuit %d (copies up to %d bytes): %s came %d times in %d; want probability %.4f\n%s", i, copyBytes, format(k), r.Counts[format(k)], shots, p, src)
				}
			}
			for k, n := range r.Counts {
				found := false
				for kk, p := range want {
					found = found || (format(kk) == k && p > 0)
				}
				if !found {
					t.Errorf("circuit %d: outcome %s (%d shots) is impossible\n%s", i, k, n, src)
				}
			}
		}
	}
}

// resetAncillasQASM is a circuit of the kind arithmetic benchmarks are:
// data qubits in superposition, ancillas computed from them with Toffolis,
// used as controls, uncomputed and reset for reuse. Every reset is of a
// qubit that is certainly |0>.
func resetAncillasQASM(data, ancillas, rounds int) string {
	var b strings.Builder
	n := data + ancillas
	fmt.Fprintf(&b, "%sqreg q[%d];\ncreg c[%d];\n", header, n, data)
	rng := rand.New(rand.NewPCG(1, 2))
	for q := range data {
		fmt.Fprintf(&b, "h q[%d];\n", q)
	}
	for r := range rounds {
		a := data + r%ancillas
		x, y, z := rng.IntN(data), rng.IntN(data), rng.IntN(data)
		for y == x {
			y = rng.IntN(data)
		}
		for z == x || z == y {
			z = rng.IntN(data)
		}
		fmt.Fprintf(&b, "ccx q[%d],q[%d],q[%d];\n", x, y, a)
		fmt.Fprintf(&b, "crz(%.3f) q[%d],q[%d];\n", rng.Float64()*math.Pi, a, z)
		// Work on the other data qubits while the ancilla holds x AND y:
		// x and y stay as they were, so the second Toffoli uncomputes it.
		free := func() int {
			for {
				if q := rng.IntN(data); q != x && q != y {
					return q
				}
			}
		}
		for range 26 {
			q, r := free(), free()
			for r == q {
				r = free()
			}
			fmt.Fprintf(&b, "ry(%.3f) q[%d];\ncx q[%d],q[%d];\n", rng.Float64(), q, q, r)
		}
		fmt.Fprintf(&b, "ccx q[%d],q[%d],q[%d];\n", x, y, a)
		fmt.Fprintf(&b, "reset q[%d];\n", a)
	}
	for q := range data {
		fmt.Fprintf(&b, "measure q[%d] -> c[%d];\n", q, q)
	}
	return b.String()
}

// TestCertainResetsDoNotBranch: resets of uncomputed ancillas and
// measurements of determined qubits collapse in place; the circuit is
// simulated once, whatever the number of shots.
func TestCertainResetsDoNotBranch(t *testing.T) {
	c := mustCompile(t, resetAncillasQASM(6, 2, 4))
	s, _ := NewState[float64](c.Qubits)
	rng := rand.New(rand.NewPCG(1, 1))
	n := 0
	tree := newShotTree(c, s, rng, func(uint64, int) error { n++; return nil })
	if err := tree.run(s, nil, 0, 0, 5000); err != nil {
		t.Fatal(err)
	}
	if tree.simulations != 1 || n == 0 {
		t.Errorf("%d simulations, %d outcomes tallied; want one simulation for every shot", tree.simulations, n)
	}
}

// BenchmarkResetAncillas is an 18-qubit circuit (13 data qubits, 5
// ancillas) of about 560 gates with 10 resets of uncomputed ancillas:
// 20,000 shots through the branch tree, and, for comparison, 100 shots
// simulated one by one as Run did before (its time per 100 shots).
func BenchmarkResetAncillas(b *testing.B) {
	src := resetAncillasQASM(13, 5, 10)
	gates := 0
	for _, line := range strings.Split(src, "\n") {
		if line != "" && !strings.HasPrefix(line, "OPENQASM") && !strings.HasPrefix(line, "include") &&
			!strings.HasPrefix(line, "qreg") && !strings.HasPrefix(line, "creg") &&
			!strings.HasPrefix(line, "measure") && !strings.HasPrefix(line, "reset") {
			gates++
		}
	}
	c := mustCompile(b, src)
	b.Run("tree-20000", func(b *testing.B) {
		for b.Loop() {
			if _, err := Run(c, Options{Shots: 20000, Seed: 1}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(gates), "gates")
	})
	b.Run("one-by-one-100", func(b *testing.B) {
		s, _ := NewState[float32](c.Qubits)
		work := s.Clone()
		rng := rand.New(rand.NewPCG(1, 1))
		for b.Loop() {
			for range 100 {
				work.CopyFrom(s)
				work.runShot(c.Ops, 0, rng)
			}
		}
	})
}

// BenchmarkTeleportation is teleportation with if, 20,000 shots.
func BenchmarkTeleportation(b *testing.B) {
	c := mustCompile(b, teleportQASM)
	for b.Loop() {
		if _, err := Run(c, Options{Shots: 20000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSampleAcrossPieces(t *testing.T) {
	// Weight in a few amplitudes spread over several of sampleSorted's
	// pieces, the last amplitude of the state among them, with pieces of
	// no weight between: the counts follow the probabilities, and every
	// index drawn has weight.
	const n = 15
	want := map[int]float64{5: 0.1, samplePiece + 7: 0.2, 3*samplePiece + 100: 0.3, 1<<n - 1: 0.4}
	s, err := NewState[float32](n)
	if err != nil {
		t.Fatal(err)
	}
	s.SetAmplitude(0, 0)
	for i, p := range want {
		s.SetAmplitude(i, complex(0, math.Sqrt(p)))
	}
	const shots = 40000
	counts := map[int]int{}
	for _, i := range s.sampleSorted(shots, rand.New(rand.NewPCG(4, 4))) {
		counts[int(i)]++
	}
	for i, c := range counts {
		if _, ok := want[i]; !ok {
			t.Errorf("drew index %d, which has no weight, %d times", i, c)
		}
	}
	for i, p := range want {
		if !binomialOK(counts[i], shots, p) {
			t.Errorf("index %d drawn %d of %d times; want about %.0f", i, counts[i], shots, shots*p)
		}
	}
	// One shot at a time: the pieces before the one drawn, weight and
	// all, are skipped unscanned.
	rng := rand.New(rand.NewPCG(6, 6))
	counts = map[int]int{}
	for range shots / 4 {
		counts[int(s.sampleSorted(1, rng)[0])]++
	}
	for i, p := range want {
		if !binomialOK(counts[i], shots/4, p) {
			t.Errorf("one shot at a time: index %d drawn %d of %d times; want about %.0f", i, counts[i], shots/4, shots/4*p)
		}
	}
	// Only the last amplitude has weight: every shot lands on it.
	s.Reset()
	s.SetAmplitude(0, 0)
	s.SetAmplitude(1<<n-1, 1)
	for _, i := range s.sampleSorted(100, rand.New(rand.NewPCG(5, 5))) {
		if i != 1<<n-1 {
			t.Fatalf("drew %d from a state with all weight on %d", i, 1<<n-1)
		}
	}
}
