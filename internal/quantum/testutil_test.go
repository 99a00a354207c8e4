package quantum

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

func mustParse(t testing.TB, src string) *Program {
	t.Helper()
	p, err := Parse("test.qasm", []byte(src), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func mustCompile(t testing.TB, src string) *Circuit {
	t.Helper()
	c, err := Compile(mustParse(t, src))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func mustRun(t testing.TB, src string, opt Options) *Result {
	t.Helper()
	r, err := Run(mustCompile(t, src), opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

// stateOf applies the gates of a circuit without measurements to |0...0>.
func stateOf[F Float](t testing.TB, c *Circuit) *State[F] {
	t.Helper()
	s, err := NewState[F](c.Qubits)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range c.Ops {
		if op.Kind != OpGate {
			t.Fatalf("stateOf: circuit has a non-gate operation")
		}
		s.Apply(op.Gate)
	}
	return s
}

// denseApply is the reference: the full 2^n x 2^n action of g built
// entry by entry from its definition, applied to a copy of psi.
func denseApply(psi []complex128, n int, g *Gate) []complex128 {
	out := make([]complex128, len(psi))
	d := 1 << len(g.Targets)
	for i := range psi {
		ctrl := true
		for _, c := range g.Controls {
			if i>>c&1 == 0 {
				ctrl = false
			}
		}
		if !ctrl {
			out[i] += psi[i]
			continue
		}
		// row index r of i within the gate's targets
		r := 0
		for j, q := range g.Targets {
			r |= (i >> q & 1) << j
		}
		for c := 0; c < d; c++ {
			src := i
			for j, q := range g.Targets {
				src = src&^(1<<q) | (c>>j&1)<<q
			}
			out[i] += g.M[r*d+c] * psi[src]
		}
	}
	return out
}

func randomState(rng *rand.Rand, n int) []complex128 {
	v := make([]complex128, 1<<n)
	var norm float64
	for i := range v {
		v[i] = complex(rng.NormFloat64(), rng.NormFloat64())
		norm += real(v[i])*real(v[i]) + imag(v[i])*imag(v[i])
	}
	for i := range v {
		v[i] /= complex(math.Sqrt(norm), 0)
	}
	return v
}

func loadState[F Float](v []complex128) *State[F] {
	n := 0
	for 1<<n < len(v) {
		n++
	}
	s, _ := NewState[F](n)
	for i, a := range v {
		s.SetAmplitude(i, a)
	}
	return s
}

func maxDiff[F Float](s *State[F], want []complex128) float64 {
	var d float64
	for i, w := range want {
		d = math.Max(d, cmplx.Abs(s.Amplitude(i)-w))
	}
	return d
}

// equalUpToPhase reports whether a = e^(i phi) b for some phi.
func equalUpToPhase(a, b []complex128, tol float64) bool {
	var phase complex128
	for i := range a {
		if cmplx.Abs(b[i]) > 1e-6 {
			phase = a[i] / b[i]
			break
		}
	}
	if math.Abs(cmplx.Abs(phase)-1) > tol {
		return false
	}
	for i := range a {
		if cmplx.Abs(a[i]-phase*b[i]) > tol {
			return false
		}
	}
	return true
}

// binomialOK reports whether k successes in n trials are within 5 standard
// deviations of probability p.
func binomialOK(k, n int, p float64) bool {
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-float64(n)*p) <= 5*sd+1e-9
}

// kernelSet is one choice of vector kernels for tests that compare them:
// the AVX-512 ones where they apply, AVX2 only, or the portable ones.
type kernelSet struct {
	name         string
	simd, avx512 bool
}

// kernelSets returns the sets this machine can run, and useKernels
// switches to one, returning the function that switches back.
func kernelSets() []kernelSet {
	sets := []kernelSet{{name: "portable"}}
	if haveSIMD {
		sets = append(sets, kernelSet{name: "avx2", simd: true})
	}
	if have512 {
		sets = append(sets, kernelSet{name: "avx512", simd: true, avx512: true})
	}
	return sets
}

func useKernels(k kernelSet) (restore func()) {
	simd, avx512 := haveSIMD, have512
	haveSIMD, have512 = k.simd, k.avx512
	return func() { haveSIMD, have512 = simd, avx512 }
}
