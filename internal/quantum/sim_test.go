package quantum

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"strings"
	"testing"
)

const header = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n"

func TestBellAndGHZ(t *testing.T) {
	for n := 2; n <= 6; n++ {
		var b strings.Builder
		fmt.Fprintf(&b, "%sqreg q[%d];\ncreg c[%d];\nh q[0];\n", header, n, n)
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, "cx q[%d],q[%d];\n", i-1, i)
		}
		b.WriteString("measure q -> c;\n")
		for _, prec := range []string{Single, Double} {
			const shots = 4000
			r := mustRun(t, b.String(), Options{Shots: shots, Seed: 1, Precision: prec, Probabilities: true})
			zeros, ones := strings.Repeat("0", n), strings.Repeat("1", n)
			if len(r.Counts) != 2 || r.Counts[zeros]+r.Counts[ones] != shots {
				t.Fatalf("GHZ(%d) %s counts = %v; want only %s and %s", n, prec, r.Counts, zeros, ones)
			}
			if !binomialOK(r.Counts[zeros], shots, 0.5) {
				t.Errorf("GHZ(%d) %s: %d of %d all-zeros; want about half", n, prec, r.Counts[zeros], shots)
			}
			if math.Abs(r.Probabilities[zeros]-0.5) > 1e-6 || math.Abs(r.Probabilities[ones]-0.5) > 1e-6 || len(r.Probabilities) != 2 {
				t.Errorf("GHZ(%d) probabilities = %v; want 0.5 each", n, r.Probabilities)
			}
			if !r.Sampled {
				t.Errorf("GHZ(%d): terminal measurements should be sampled from one simulation", n)
			}
		}
	}
}

func TestQiskitBitOrder(t *testing.T) {
	// x on qubit 0 only: classical bit 0 is the rightmost character.
	r := mustRun(t, header+"qreg q[3];\ncreg c[3];\nx q[0];\nmeasure q -> c;\n", Options{Shots: 10})
	if r.Counts["001"] != 10 {
		t.Errorf("counts = %v; want 001 x10", r.Counts)
	}
	// Two registers: the last declared is leftmost, separated by a space.
	r = mustRun(t, header+"qreg q[3];\ncreg a[1];\ncreg b[2];\nx q[0];\nx q[2];\nmeasure q[0] -> a[0];\nmeasure q[1] -> b[0];\nmeasure q[2] -> b[1];\n", Options{Shots: 5})
	if r.Counts["10 1"] != 5 {
		t.Errorf("counts = %v; want \"10 1\" x5", r.Counts)
	}
	// No measurement: qubit bitstrings, qubit 0 rightmost.
	r = mustRun(t, header+"qreg q[2];\nx q[1];\n", Options{Shots: 3})
	if r.Counts["10"] != 3 {
		t.Errorf("counts = %v; want 10 x3", r.Counts)
	}
}

// qftQASM writes the textbook QFT on n qubits (with the final swaps), after
// preparing basis state x.
func qftQASM(n, x int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sqreg q[%d];\n", header, n)
	for i := 0; i < n; i++ {
		if x>>i&1 == 1 {
			fmt.Fprintf(&b, "x q[%d];\n", i)
		}
	}
	for j := n - 1; j >= 0; j-- {
		fmt.Fprintf(&b, "h q[%d];\n", j)
		for k := j - 1; k >= 0; k-- {
			fmt.Fprintf(&b, "cu1(pi/%d) q[%d],q[%d];\n", 1<<(j-k), k, j)
		}
	}
	for i := 0; i < n/2; i++ {
		fmt.Fprintf(&b, "swap q[%d],q[%d];\n", i, n-1-i)
	}
	return b.String()
}

func TestQFTOfBasisStates(t *testing.T) {
	const n = 5
	N := 1 << n
	for x := 0; x < N; x++ {
		c := mustCompile(t, qftQASM(n, x))
		want := make([]complex128, N)
		for k := range want {
			want[k] = cmplx.Exp(complex(0, 2*math.Pi*float64(x*k)/float64(N))) / complex(math.Sqrt(float64(N)), 0)
		}
		s := stateOf[float64](t, c)
		got := make([]complex128, N)
		for i := range got {
			got[i] = s.Amplitude(i)
		}
		if !equalUpToPhase(got, want, 1e-9) {
			t.Fatalf("QFT|%d> = %v; want %v", x, got, want)
		}
		s32 := stateOf[float32](t, c)
		if d := maxDiff(s32, got); d > 1e-5 {
			t.Errorf("QFT|%d>: single and double precision differ by %g", x, d)
		}
	}
}

func TestGrover3(t *testing.T) {
	// Mark |101> (q2=1, q1=0, q0=1) with a CCZ made of H-CCX-H, and run two
	// Grover iterations: success probability sin^2(5 theta), with
	// sin(theta) = 1/sqrt(8).
	src := header + `qreg q[3];
creg c[3];
gate ccz a,b,c { h c; ccx a,b,c; h c; }
gate oracle a,b,c { x b; ccz a,b,c; x b; }
gate diffuse a,b,c { h a; h b; h c; x a; x b; x c; ccz a,b,c; x a; x b; x c; h a; h b; h c; }
h q;
oracle q[0],q[1],q[2];
diffuse q[0],q[1],q[2];
oracle q[0],q[1],q[2];
diffuse q[0],q[1],q[2];
measure q -> c;
`
	theta := math.Asin(1 / math.Sqrt(8))
	want := math.Pow(math.Sin(5*theta), 2)
	r := mustRun(t, src, Options{Shots: 2000, Seed: 3, Probabilities: true, Precision: Double})
	if math.Abs(r.Probabilities["101"]-want) > 1e-9 {
		t.Errorf("P(101) = %v; want %v", r.Probabilities["101"], want)
	}
	for k, p := range r.Probabilities {
		if k != "101" && math.Abs(p-(1-want)/7) > 1e-9 {
			t.Errorf("P(%s) = %v; want %v", k, p, (1-want)/7)
		}
	}
	if !binomialOK(r.Counts["101"], 2000, want) {
		t.Errorf("101 counted %d of 2000; want about %.0f", r.Counts["101"], 2000*want)
	}
}

// teleportQASM teleports u3(1.1, 0.3, -0.7)|0> from q0 to q2 with
// measurements and classically controlled corrections, then undoes the
// preparation on q2, which must then read 0.
const teleportQASM = header + `qreg q[3];
creg m0[1];
creg m1[1];
creg r[1];
u3(1.1,0.3,-0.7) q[0];
h q[1];
cx q[1],q[2];
cx q[0],q[1];
h q[0];
measure q[0] -> m0[0];
measure q[1] -> m1[0];
if(m1==1) x q[2];
if(m0==1) z q[2];
u3(-1.1,0.7,-0.3) q[2];
measure q[2] -> r[0];
`

func TestTeleportation(t *testing.T) {
	// Teleport u3(1.1, 0.3, -0.7)|0> from q0 to q2 with measurements and
	// classically controlled corrections, then undo the preparation on
	// q2: q2 must read 0 every time.
	src := teleportQASM
	for _, prec := range []string{Single, Double} {
		r := mustRun(t, src, Options{Shots: 800, Seed: 9, Probabilities: true, Precision: prec})
		if r.Sampled {
			t.Fatal("teleportation has mid-circuit measurements; it must be simulated shot by shot")
		}
		var total float64
		for k, p := range r.Probabilities {
			if !strings.HasPrefix(k, "0 ") {
				t.Errorf("%s: outcome %q has probability %v; want r=0 always", prec, k, p)
			}
			if math.Abs(p-0.25) > 1e-5 {
				t.Errorf("%s: P(%s) = %v; want 0.25 (the two Bell bits are uniform)", prec, k, p)
			}
			total += p
		}
		if math.Abs(total-1) > 1e-5 {
			t.Errorf("probabilities sum to %v", total)
		}
		n := 0
		for k, c := range r.Counts {
			if !strings.HasPrefix(k, "0 ") {
				t.Errorf("%s: shot outcome %q: teleported qubit read 1", prec, k)
			}
			n += c
		}
		if n != 800 {
			t.Errorf("%d shots counted; want 800", n)
		}
	}
}

func TestMeasureResetAndIf(t *testing.T) {
	// reset after h always leaves |0>; if on a measured register flips.
	src := header + `qreg q[2];
creg c[1];
creg d[1];
h q[0];
measure q[0] -> c[0];
if(c==1) x q[1];
reset q[0];
measure q[0] -> d[0];
measure q[1] -> c[0];
`
	r := mustRun(t, src, Options{Shots: 1000, Seed: 4, Probabilities: true})
	for k := range r.Counts {
		if k != "0 0" && k != "0 1" {
			t.Errorf("outcome %q: reset qubit read 1", k)
		}
	}
	if !binomialOK(r.Counts["0 1"], 1000, 0.5) {
		t.Errorf("counts %v; want 0 1 about half the time", r.Counts)
	}
	if math.Abs(r.Probabilities["0 1"]-0.5) > 1e-6 {
		t.Errorf("probabilities %v", r.Probabilities)
	}
}

func TestSeededSamplingIsReproducibleAndFair(t *testing.T) {
	// ry(theta) gives P(1) = sin^2(theta/2) per qubit; three independent
	// qubits give a product distribution. Check with a chi-square test
	// at a fixed seed, and that the same seed gives the same counts.
	thetas := []float64{0.4, 1.3, 2.2}
	src := header + "qreg q[3];\ncreg c[3];\n"
	for i, th := range thetas {
		src += fmt.Sprintf("ry(%v) q[%d];\n", th, i)
	}
	src += "measure q -> c;\n"
	const shots = 20000
	a := mustRun(t, src, Options{Shots: shots, Seed: 42})
	b := mustRun(t, src, Options{Shots: shots, Seed: 42})
	if fmt.Sprint(a.Counts) != fmt.Sprint(b.Counts) {
		t.Errorf("same seed, different counts: %v vs %v", a.Counts, b.Counts)
	}
	c := mustRun(t, src, Options{Shots: shots, Seed: 43})
	if fmt.Sprint(a.Counts) == fmt.Sprint(c.Counts) {
		t.Errorf("different seeds gave identical counts %v", a.Counts)
	}
	var chi2 float64
	for x := 0; x < 8; x++ {
		p := 1.0
		for i, th := range thetas {
			p1 := math.Pow(math.Sin(th/2), 2)
			if x>>i&1 == 1 {
				p *= p1
			} else {
				p *= 1 - p1
			}
		}
		key := fmt.Sprintf("%03b", x)
		exp := p * shots
		d := float64(a.Counts[key]) - exp
		chi2 += d * d / exp
	}
	// 7 degrees of freedom: P(chi2 > 24.3) = 0.001.
	if chi2 > 24.3 {
		t.Errorf("chi-square %.1f over 7 degrees of freedom; counts %v", chi2, a.Counts)
	}
}

func TestPerShotMatchesSampling(t *testing.T) {
	// The same distribution sampled from the final state and simulated shot
	// by shot (a reset of an unused qubit forces the second path).
	body := "qreg q[3];\ncreg c[2];\nh q[0];\nry(0.9) q[1];\ncx q[0],q[1];\n"
	a := mustRun(t, header+body+"measure q[0] -> c[0];\nmeasure q[1] -> c[1];\n", Options{Shots: 20000, Seed: 5, Probabilities: true})
	b := mustRun(t, header+body+"reset q[2];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n", Options{Shots: 20000, Seed: 6, Probabilities: true})
	if !a.Sampled || b.Sampled {
		t.Fatalf("sampled = %v, %v; want true, false", a.Sampled, b.Sampled)
	}
	for k, p := range a.Probabilities {
		if math.Abs(b.Probabilities[k]-p) > 1e-6 {
			t.Errorf("P(%s): %v sampled path, %v per-shot path", k, p, b.Probabilities[k])
		}
		if !binomialOK(b.Counts[k], 20000, p) {
			t.Errorf("per-shot count of %s = %d; want about %.0f", k, b.Counts[k], 20000*p)
		}
	}
}

func TestSingleDoubleAgreement(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 16 // large enough for the parallel split
	var b strings.Builder
	fmt.Fprintf(&b, "%sqreg q[%d];\n", header, n)
	gates1 := []string{"h", "x", "y", "z", "s", "t", "sdg", "tdg", "sx"}
	for range 300 {
		switch rng.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "%s q[%d];\n", gates1[rng.IntN(len(gates1))], rng.IntN(n))
		case 1:
			fmt.Fprintf(&b, "u3(%v,%v,%v) q[%d];\n", rng.Float64()*6, rng.Float64()*6, rng.Float64()*6, rng.IntN(n))
		case 2:
			a, c := rng.IntN(n), rng.IntN(n)
			if a != c {
				fmt.Fprintf(&b, "%s q[%d],q[%d];\n", []string{"cx", "cz", "swap", "crz(0.3)", "cu3(0.1,0.2,0.3)", "rxx(0.7)"}[rng.IntN(6)], a, c)
			}
		default:
			a, c, d := rng.IntN(n), rng.IntN(n), rng.IntN(n)
			if a != c && c != d && a != d {
				fmt.Fprintf(&b, "ccx q[%d],q[%d],q[%d];\n", a, c, d)
			}
		}
	}
	c := mustCompile(t, b.String())
	s64 := stateOf[float64](t, c)
	s32 := stateOf[float32](t, c)
	want := make([]complex128, 1<<n)
	for i := range want {
		want[i] = s64.Amplitude(i)
	}
	if d := maxDiff(s32, want); d > 2e-5 {
		t.Errorf("single and double precision differ by %g after 300 gates", d)
	}
	if nrm := s64.Norm(); math.Abs(nrm-1) > 1e-9 {
		t.Errorf("double-precision norm %v", nrm)
	}
	// And both against the dense reference, gate by gate.
	ref := make([]complex128, 1<<n)
	ref[0] = 1
	for _, op := range c.Ops {
		ref = denseApply(ref, n, op.Gate)
	}
	if d := maxDiff(s64, ref); d > 1e-9 {
		t.Errorf("simulator and dense reference differ by %g", d)
	}
}

func TestKernelsAgainstDenseReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 16
	mats := map[string][]complex128{
		"h":        {complex(1/math.Sqrt2, 0), complex(1/math.Sqrt2, 0), complex(1/math.Sqrt2, 0), complex(-1/math.Sqrt2, 0)},
		"x":        xMatrix,
		"phase":    {1, 0, 0, cmplx.Exp(0.3i)},
		"diag":     {cmplx.Exp(-0.2i), 0, 0, cmplx.Exp(0.5i)},
		"anti":     {0, -1i, 1i, 0},
		"real":     UMatrix(0.7, 0, 0),
		"realimag": UMatrix(0.7, -math.Pi/2, math.Pi/2),
		"general":  UMatrix(0.7, 0.2, 1.9),
	}
	// Every one-target kind on low, middle and top targets, with each set
	// of vector kernels the machine has.
	for _, k := range kernelSets() {
		restore := useKernels(k)
		for name, m := range mats {
			for _, tgt := range []int{0, 1, 5, n - 1} {
				for _, ctrls := range [][]int{nil, {3}, {n - 2, 2}, {1}, {0, 9}, {1, 0}} {
					skip := false
					for _, c := range ctrls {
						skip = skip || c == tgt
					}
					if skip {
						continue
					}
					g := NewGate(name, []int{tgt}, ctrls, m)
					if g.Kind() != name {
						t.Errorf("%s classified as %s", name, g.Kind())
					}
					psi := randomState(rng, n)
					want := denseApply(psi, n, g)
					s64, s32 := loadState[float64](psi), loadState[float32](psi)
					s64.Apply(g)
					s32.Apply(g)
					if d := maxDiff(s64, want); d > 1e-12 {
						t.Errorf("%s on %d controls %v (double, %s kernels): off by %g", name, tgt, ctrls, k.name, d)
					}
					if d := maxDiff(s32, want); d > 1e-5 {
						t.Errorf("%s on %d controls %v (single, %s kernels): off by %g", name, tgt, ctrls, k.name, d)
					}
				}
			}
		}
		restore()
	}
	// Several targets: diagonal, permutation, dense.
	for _, tc := range []struct {
		name string
		u    []complex128
	}{
		{"diagk", []complex128{1, 0, 0, 0, 0, 1i, 0, 0, 0, 0, -1i, 0, 0, 0, 0, -1}},
		{"permk", []complex128{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1}},
		{"densek", kron(UMatrix(0.3, 0.1, 0.2), UMatrix(1.1, 0.4, 0.9))},
	} {
		for _, qs := range [][]int{{0, 1}, {7, 2}, {n - 1, 0}} {
			g := NewGate(tc.name, qs, []int{4}, tc.u)
			if g.Kind() != tc.name {
				t.Errorf("%s classified as %s", tc.name, g.Kind())
			}
			psi := randomState(rng, n)
			want := denseApply(psi, n, g)
			s := loadState[float64](psi)
			s.Apply(g)
			if d := maxDiff(s, want); d > 1e-12 {
				t.Errorf("%s on %v: off by %g", tc.name, qs, d)
			}
		}
	}
}

// kron returns a (x) b with b on the low bit.
func kron(a, b []complex128) []complex128 {
	out := make([]complex128, 16)
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			out[r*4+c] = a[(r>>1)*2+c>>1] * b[(r&1)*2+c&1]
		}
	}
	return out
}

func TestFusion(t *testing.T) {
	c := mustCompile(t, header+"qreg q[2];\nh q[0];\nt q[0];\nh q[0];\nx q[1];\nx q[1];\ncx q[0],q[1];\nh q[0];\n")
	// h t h fuse into one gate; x x vanishes; cx stays; the last h stays.
	if len(c.Ops) != 3 {
		var names []string
		for _, op := range c.Ops {
			names = append(names, op.Gate.Name)
		}
		t.Fatalf("ops after fusion = %v; want [fused cx h]", names)
	}
	if c.Ops[0].Gate.Name != "fused" || c.Ops[1].Gate.Kind() != "x" || len(c.Ops[1].Gate.Controls) != 1 {
		t.Errorf("unexpected ops %v %v", c.Ops[0].Gate.Name, c.Ops[1].Gate.Kind())
	}
}

func TestExpectation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 4
	psi := randomState(rng, n)
	pauli := map[byte][]complex128{'I': {1, 0, 0, 1}, 'X': {0, 1, 1, 0}, 'Y': {0, -1i, 1i, 0}, 'Z': {1, 0, 0, -1}}
	for _, ops := range []string{"IIII", "IIIZ", "ZIII", "XYZI", "YYII", "IXIX", "YZXY", "YYYY", "IIIY"} {
		// Dense reference: <psi| P |psi> with P as a Kronecker product.
		var want complex128
		for i := 0; i < 1<<n; i++ {
			for j := 0; j < 1<<n; j++ {
				e := complex128(1)
				for q := 0; q < n; q++ {
					m := pauli[ops[n-1-q]]
					e *= m[(i>>q&1)*2+j>>q&1]
				}
				want += cmplx.Conj(psi[i]) * e * psi[j]
			}
		}
		for _, prec := range []string{Single, Double} {
			var got float64
			var err error
			if prec == Single {
				got, err = Expectation(loadState[float32](psi), Hamiltonian{{Coeff: 1, Ops: ops}})
			} else {
				got, err = Expectation(loadState[float64](psi), Hamiltonian{{Coeff: 1, Ops: ops}})
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-real(want)) > 1e-5 {
				t.Errorf("<%s> %s = %v; want %v", ops, prec, got, real(want))
			}
		}
	}
	if _, err := Expectation(loadState[float64](psi), Hamiltonian{{1, "IIQI"}}); err == nil {
		t.Error("a Pauli string with Q was accepted")
	}
}
