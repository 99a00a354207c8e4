package quantum

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"runtime"
	"testing"
)

// randomGate returns a random gate on n qubits: one-target gates of every
// kernel kind, with zero to two controls, and two- and three-target
// diagonal, permutation and dense gates, possibly controlled.
func randomGate(rng *rand.Rand, n int) *Gate {
	qs := rng.Perm(n)
	ang := func() float64 { return rng.Float64() * 2 * math.Pi }
	ph := func() complex128 { return cmplx.Exp(complex(0, ang())) }
	nc := rng.IntN(3)
	switch k := rng.IntN(10); {
	case k < 7:
		var m []complex128
		switch rng.IntN(9) {
		case 0:
			m = UMatrix(math.Pi/2, 0, math.Pi) // h
		case 1:
			m = xMatrix
		case 2:
			m = []complex128{1, 0, 0, ph()} // phase
		case 3:
			m = []complex128{ph(), 0, 0, ph()} // diag (rz)
		case 4:
			m = []complex128{0, ph(), ph(), 0} // anti
		case 5:
			m = UMatrix(ang(), 0, 0) // real (ry)
		case 6:
			m = UMatrix(ang(), -math.Pi/2, math.Pi/2) // realimag (rx)
		case 7:
			m = []complex128{1, 0, 0, -1} // z: with a control, cz
		default:
			m = UMatrix(ang(), ang(), ang())
		}
		return NewGate("g1", qs[:1], qs[1:1+nc], m)
	case k < 9:
		var u []complex128
		switch rng.IntN(3) {
		case 0:
			u = []complex128{ph(), 0, 0, 0, 0, ph(), 0, 0, 0, 0, ph(), 0, 0, 0, 0, ph()}
		case 1:
			u = []complex128{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1} // swap
		default:
			u = kron(UMatrix(ang(), ang(), ang()), UMatrix(ang(), ang(), ang()))
		}
		return NewGate("g2", qs[:2], qs[2:2+nc], u)
	default:
		// ccz-like diagonal on three targets.
		u := make([]complex128, 64)
		for r := 0; r < 8; r++ {
			u[r*8+r] = ph()
		}
		return NewGate("g3", qs[:3], qs[3:3+nc], u)
	}
}

// blockedAgrees checks that applyBlocked with the given shape gives the
// state gate-by-gate execution gives.
func blockedAgrees[F Float](t *testing.T, n, local, low int, gates []*Gate, tol float64) {
	t.Helper()
	psi := randomState(rand.New(rand.NewPCG(uint64(n), 5)), n)
	// The reference runs gate by gate in double precision with the
	// portable kernels, so that blocked runs check the vector kernels too.
	ref := loadState[float64](psi)
	simd := haveSIMD
	haveSIMD = false
	for _, g := range gates {
		ref.Apply(g)
	}
	haveSIMD = simd
	want := make([]complex128, 1<<n)
	for i := range want {
		want[i] = ref.Amplitude(i)
	}
	s := loadState[F](psi)
	s.applyBlocked(gates, local, low)
	if d := maxDiff(s, want); d > tol {
		t.Errorf("blocked execution differs from gate by gate by %g", d)
	}
}

func TestBlockedMatchesGateByGate(t *testing.T) {
	for _, k := range kernelSets() {
		restore := useKernels(k)
		for _, tc := range []struct{ n, local, low int }{
			{12, 6, 3}, {14, 8, 5}, {16, 10, 7}, {18, 10, 6}, {13, 5, 0},
			{16, 14, 10}, {17, 13, 9}, // the shapes blockShape gives for 512 KiB of L2
			{18, 16, 10}, {17, 15, 9}, // and for 2 MiB
		} {
			rng := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.local)))
			gates := make([]*Gate, 300)
			for i := range gates {
				gates[i] = randomGate(rng, tc.n)
			}
			name := fmt.Sprintf("n%d-local%d-low%d-%s", tc.n, tc.local, tc.low, k.name)
			t.Run(name+"-double", func(t *testing.T) { blockedAgrees[float64](t, tc.n, tc.local, tc.low, gates, 1e-10) })
			t.Run(name+"-single", func(t *testing.T) { blockedAgrees[float32](t, tc.n, tc.local, tc.low, gates, 5e-5) })
		}
		restore()
	}
}

func TestBlockedRandomCircuit(t *testing.T) {
	// The benchmark's circuit shape (rotation layers and CZ layers),
	// blocked as a large state would be, against gate by gate.
	const n = 16
	c := mustCompile(t, randomCircuit(n, 12, 3))
	var gates []*Gate
	for _, op := range c.Ops {
		gates = append(gates, op.Gate)
	}
	blockedAgrees[float64](t, n, 9, 6, gates, 1e-10)
	blockedAgrees[float32](t, n, 9, 6, gates, 5e-5)
	passes := planBlocks(gates, n, 9, 6)
	if len(passes) >= len(gates)/4 {
		t.Errorf("%d gates in %d passes: blocking saves little", len(gates), len(passes))
	}
}

func TestPerShotRunsBlocked(t *testing.T) {
	// A measurement first forces per-shot simulation; then a random
	// circuit on 16 qubits (more than a block holds, so it runs blocked)
	// followed by its inverse leaves the measured basis state.
	const n = 16
	rng := rand.New(rand.NewPCG(9, 9))
	type rot struct {
		name string
		ang  float64
		q    int
	}
	var layers [][]rot
	for l := 0; l < 6; l++ {
		var layer []rot
		for q := 0; q < n; q++ {
			layer = append(layer, rot{[]string{"rx", "ry", "rz"}[rng.IntN(3)], rng.Float64() * 2 * math.Pi, q})
		}
		layers = append(layers, layer)
	}
	src := fmt.Sprintf("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[%d];\ncreg c[%d];\nx q[3];\nmeasure q[3] -> c[3];\n", n, n)
	for l, layer := range layers {
		for _, r := range layer {
			src += fmt.Sprintf("%s(%.17g) q[%d];\n", r.name, r.ang, r.q)
		}
		for q := l % 2; q+1 < n; q += 2 {
			src += fmt.Sprintf("cz q[%d],q[%d];\n", q, q+1)
		}
	}
	for l := len(layers) - 1; l >= 0; l-- {
		for q := l % 2; q+1 < n; q += 2 {
			src += fmt.Sprintf("cz q[%d],q[%d];\n", q, q+1)
		}
		for _, r := range layers[l] {
			src += fmt.Sprintf("%s(%.17g) q[%d];\n", r.name, -r.ang, r.q)
		}
	}
	src += "measure q -> c;\n"
	for _, prec := range []string{Single, Double} {
		r := mustRun(t, src, Options{Shots: 20, Seed: 1, Precision: prec, Probabilities: true})
		if r.Sampled {
			t.Fatalf("%s: shots were sampled; want per-shot simulation", prec)
		}
		want := "0000000000001000"
		if r.Counts[want] != 20 {
			t.Errorf("%s: counts %v; want all 20 shots %s", prec, r.Counts, want)
		}
		if p := r.Probabilities[want]; math.Abs(p-1) > 1e-3 {
			t.Errorf("%s: P(%s) = %v; want 1", prec, want, p)
		}
	}
}

func TestParseCacheSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"48K", 48 << 10, true}, {"2048K", 2 << 20, true}, {"1M", 1 << 20, true},
		{"512", 512, true}, {"", 0, false}, {"xK", 0, false}, {"-4K", 0, false},
	} {
		got, ok := parseCacheSize(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseCacheSize(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	local, low := blockShape[float32]()
	if local < 10 || low < 1 || low >= local {
		t.Errorf("blockShape = %d, %d: want at least 10 local qubits, 1 <= low < local", local, low)
	}
}

func TestCPUIDCachesAgreeWithSysfs(t *testing.T) {
	l1, l2 := cpuidCaches()
	if runtime.GOARCH != "amd64" {
		if l1 != 0 || l2 != 0 {
			t.Errorf("cpuidCaches = %d, %d off amd64; want 0, 0", l1, l2)
		}
		return
	}
	if l2 == 0 {
		t.Skip("the processor (or its hypervisor) reports no L2 size in CPUID leaf 0x80000006")
	}
	// Processors that report it give a size between 64 KiB and 64 MiB, a
	// multiple of 64 KiB.
	if l2 < 64<<10 || l2 > 64<<20 || l2%(64<<10) != 0 {
		t.Errorf("CPUID L2 = %d bytes; want a multiple of 64 KiB between 64 KiB and 64 MiB", l2)
	}
	// Where Linux publishes the L2 as well, the two agree.
	size, ok := parseCacheSize(readSysfs("/sys/devices/system/cpu/cpu0/cache/index2/size"))
	if ok && readSysfs("/sys/devices/system/cpu/cpu0/cache/index2/level") == "2" && size != l2 {
		t.Errorf("CPUID L2 = %d bytes, sysfs says %d", l2, size)
	}
}

func TestCertainOutcomeDespiteNormDrift(t *testing.T) {
	// A single-precision state whose norm drifted a few units in the last
	// place below 1 (as after a long circuit): qubit 1 is certainly 1 and
	// must measure so, within 1e-12, and nothing branches.
	s, err := NewState[float32](3)
	if err != nil {
		t.Fatal(err)
	}
	for k := range s.v {
		s.v[k] = 0
	}
	s.v[2*2] = 1 - 1.0/(1<<22) // |010>, one unit in the last place below 1
	if p := s.ProbabilityOne(1); 1-p < 1e-7 {
		t.Fatalf("set-up: raw probability %v should show the drift", p)
	}
	if p := s.outcomeOne(1); p != 1 {
		t.Errorf("outcomeOne(1) = %v, want exactly 1", p)
	}
	if p := s.outcomeOne(0); p != 0 {
		t.Errorf("outcomeOne(0) = %v, want 0", p)
	}
}

func TestBlockedCycleCircuitSignGroups(t *testing.T) {
	// The comparison circuit's CZ brick walls fuse into groups of +-1
	// phases, applied by flipping sign bits; blocked runs must agree
	// with gate by gate, and the sign path must be the one taken.
	const n = 17
	c := mustCompile(t, cycleCircuit(n, 12, 3))
	var gates []*Gate
	for _, op := range c.Ops {
		gates = append(gates, op.Gate)
	}
	signs := 0
	for _, p := range planBlocks(gates, n, 12, 8) {
		for _, op := range p.ops {
			if op.diag != nil && op.diag.signs {
				signs++
			}
		}
	}
	if signs == 0 {
		t.Fatal("no CZ layer fused into a group of signs")
	}
	blockedAgrees[float64](t, n, 12, 8, gates, 1e-10)
	blockedAgrees[float32](t, n, 12, 8, gates, 5e-5)
	// A group of signs whose block also gets a phase from a gate
	// reaching outside the pass (rz on a high qubit next to a CZ)
	// takes the multiplying path for those rows.
	c = mustCompile(t, cycleCircuit(n, 4, 5)+"rz(0.3) q[16];\ncz q[0],q[1];\ncz q[2],q[3];\nrz(0.7) q[15];\n")
	gates = gates[:0]
	for _, op := range c.Ops {
		gates = append(gates, op.Gate)
	}
	blockedAgrees[float32](t, n, 12, 8, gates, 5e-5)
}
