package quantum

import (
	"fmt"
	"math"
	"math/cmplx"
	"slices"
	"unsafe"
)

// gateKind selects the kernel that applies a gate.
type gateKind uint8

const (
	// One target qubit (any number of controls).
	kIdentity gateKind = iota // nothing to do
	kH                        // the Hadamard matrix
	kX                        // swap of the pair (X)
	kPhase                    // diag(1, d): touches only the |1> half
	kDiag                     // diag(d0, d1)
	kAnti                     // off-diagonal: a permutation with phases
	kReal                     // real matrix (H-like, RY)
	kRealImag                 // real diagonal, imaginary off-diagonal (RX)
	kGeneral                  // any 2x2 unitary
	// Several target qubits.
	kDiagK  // diagonal
	kPermK  // permutation with phases
	kDenseK // dense matrix
)

var kindNames = [...]string{"identity", "h", "x", "phase", "diag", "anti", "real", "realimag", "general", "diagk", "permk", "densek"}

// Gate is a unitary on Targets, applied when every qubit in Controls is 1.
// M is its 2^k x 2^k matrix (k = len(Targets)) in row-major order; bit j of
// a row or column index is the value of Targets[j]. NewGate classifies the
// matrix so that the cheapest kernel applies it: diagonal and phase gates
// touch only what they change, permutations move amplitudes without
// arithmetic, controlled gates visit only the amplitudes whose controls
// are set.
type Gate struct {
	Name     string
	Targets  []int
	Controls []int
	M        []complex128
	kind     gateKind
	perm     []int // kPermK: row r takes column perm[r]
	// lanes holds a one-target gate's matrix laid out for the vector
	// kernels (see laneMatrix).
	lanes *[64]float32
	// low0 and low1 lay it out for the in-register kernels of targets 0
	// and 1 (see laneCoeffs).
	low0, low1 *[32]float32
	// low0z and low1z are low0 and low1 for the AVX-512 kernels.
	low0z, low1z *[64]float32
	// lanesD and low0D are lanes and low0 for complex128 amplitudes.
	lanesD *[32]float64
	low0D  *[16]float64
	// lanes4 lays out a dense two-target gate for mat4c64AVX.
	lanes4 *[256]float32
	// lanes4z is lanes4 spread over 16 lanes for mat4c64AVX512.
	lanes4z *[512]float32
	real4   bool
}

// NewGate returns a gate with matrix m on targets, controlled by controls.
// It panics if the qubits repeat or m has the wrong size: those are
// programming errors, as the compiler checks user input before.
func NewGate(name string, targets, controls []int, m []complex128) *Gate {
	d := 1 << len(targets)
	if len(m) != d*d || len(targets) == 0 {
		panic(fmt.Sprintf("quantum: gate %s: matrix of %d entries for %d targets", name, len(m), len(targets)))
	}
	all := append(slices.Clone(targets), controls...)
	slices.Sort(all)
	if len(slices.Compact(all)) != len(targets)+len(controls) {
		panic("quantum: gate " + name + " repeats a qubit")
	}
	g := &Gate{Name: name, Targets: slices.Clone(targets), Controls: slices.Clone(controls), M: snap(m)}
	g.classify()
	return g
}

// FromUnitary returns the gate for unitary u on qubits (bit j of u's
// indexes is qubits[j]), with every qubit that acts only as a control
// peeled off into Controls.
func FromUnitary(name string, qubits []int, u []complex128) *Gate {
	u = snap(u)
	targets := slices.Clone(qubits)
	var controls []int
	for j := 0; j < len(targets) && len(targets) > 1; {
		if r, ok := peelControl(u, len(targets), j); ok {
			controls = append(controls, targets[j])
			targets = slices.Delete(targets, j, j+1)
			u = r
			continue
		}
		j++
	}
	return NewGate(name, targets, controls, u)
}

// peelControl reports whether local qubit j of the k-qubit unitary u is a
// control (u is the identity wherever bit j is 0, and never mixes the two
// halves) and returns u restricted to bit j = 1.
func peelControl(u []complex128, k, j int) ([]complex128, bool) {
	d := 1 << k
	bit := 1 << j
	for r := 0; r < d; r++ {
		for c := 0; c < d; c++ {
			if r&bit == 0 || c&bit == 0 {
				want := complex128(0)
				if r == c {
					want = 1
				}
				if cmplx.Abs(u[r*d+c]-want) > 1e-12 {
					return nil, false
				}
			}
		}
	}
	h := d / 2
	out := make([]complex128, h*h)
	ins := func(x int) int { return x&(bit-1) | (x>>j)<<(j+1) | bit }
	for r := 0; r < h; r++ {
		for c := 0; c < h; c++ {
			out[r*h+c] = u[ins(r)*d+ins(c)]
		}
	}
	return out, true
}

// snap rounds entries within 1e-13 of 0, 1 or -1 (per component) to those
// values, so that products of gates that are exactly permutations or phases
// are recognised as such.
func snap(m []complex128) []complex128 {
	out := make([]complex128, len(m))
	f := func(x float64) float64 {
		for _, v := range [...]float64{0, 1, -1} {
			if math.Abs(x-v) < 1e-13 {
				return v
			}
		}
		return x
	}
	for i, x := range m {
		out[i] = complex(f(real(x)), f(imag(x)))
	}
	return out
}

func near(a, b complex128) bool { return cmplx.Abs(a-b) < 1e-12 }

func (g *Gate) classify() {
	m := g.M
	if len(g.Targets) == 1 {
		m00, m01, m10, m11 := m[0], m[1], m[2], m[3]
		isReal := func(x complex128) bool { return imag(x) == 0 }
		isImag := func(x complex128) bool { return real(x) == 0 }
		h := complex(1/math.Sqrt2, 0)
		switch {
		case m01 == 0 && m10 == 0 && near(m00, 1) && near(m11, 1):
			g.kind = kIdentity
		case m01 == 0 && m10 == 0 && m00 == 1:
			g.kind = kPhase
		case m01 == 0 && m10 == 0:
			g.kind = kDiag
		case m00 == 0 && m11 == 0 && m01 == 1 && m10 == 1:
			g.kind = kX
		case m00 == 0 && m11 == 0:
			g.kind = kAnti
		case near(m00, h) && near(m01, h) && near(m10, h) && near(m11, -h):
			g.kind = kH
		case isReal(m00) && isReal(m01) && isReal(m10) && isReal(m11):
			g.kind = kReal
		case isReal(m00) && isReal(m11) && isImag(m01) && isImag(m10):
			g.kind = kRealImag
		default:
			g.kind = kGeneral
		}
		lanes := laneMatrix(m, 0)
		low0 := laneCoeffs(m[0], m[3], m[0], m[3], m[1], m[2], m[1], m[2])
		low1 := laneCoeffs(m[0], m[0], m[3], m[3], m[1], m[1], m[2], m[2])
		g.lanes, g.low0, g.low1 = &lanes, &low0, &low1
		if have512 {
			g.low0z, g.low1z = widenLowLanes(&low0), widenLowLanes(&low1)
		}
		lanesD := laneMatrixD(m, 0)
		low0D := [16]float64{
			real(m[0]), real(m[0]), real(m[3]), real(m[3]),
			imag(m[0]), imag(m[0]), imag(m[3]), imag(m[3]),
			real(m[1]), real(m[1]), real(m[2]), real(m[2]),
			imag(m[1]), imag(m[1]), imag(m[2]), imag(m[2]),
		}
		g.lanesD, g.low0D = &lanesD, &low0D
		return
	}
	d := 1 << len(g.Targets)
	diag, perm := true, true
	g.perm = make([]int, d)
	for r := 0; r < d; r++ {
		nz := 0
		for c := 0; c < d; c++ {
			if m[r*d+c] != 0 {
				nz++
				g.perm[r] = c
				if c != r {
					diag = false
				}
			}
		}
		if nz != 1 {
			perm, diag = false, false
		}
	}
	switch {
	case diag:
		g.kind = kDiagK
	case perm:
		g.kind = kPermK
	default:
		g.kind = kDenseK
		if len(g.Targets) == 2 && len(g.Controls) == 0 {
			g.lanes4 = dense2Lanes(g)
			if have512 {
				g.lanes4z = widenLanes(g.lanes4)
			}
			g.real4 = !slices.ContainsFunc(m, func(x complex128) bool { return imag(x) != 0 })
		}
	}
}

// Kind names the kernel that applies g (for tests and diagnostics).
func (g *Gate) Kind() string { return kindNames[g.kind] }

// Qubits returns the gate's targets followed by its controls.
func (g *Gate) Qubits() []int { return append(slices.Clone(g.Targets), g.Controls...) }

// Apply applies g to the state.
func (s *State[F]) Apply(g *Gate) {
	if g.kind == kIdentity {
		return
	}
	if len(g.Targets) == 1 {
		s.apply1(g)
		return
	}
	s.applyK(g)
}

// apply1 applies a one-target gate.
func (s *State[F]) apply1(g *Gate) {
	t := g.Targets[0]
	stride := 1 << t
	w := s.workers()
	if len(g.Controls) == 0 {
		blocks := 1 << (s.n - t - 1)
		if blocks >= 4*w && !aliased[F](stride) {
			s.parallelAligned(1<<s.n, 2*stride, func(lo, hi int) {
				runKernel1(g, s.v, lo, hi, 2*stride, stride, stride)
			})
			return
		}
		// Few, long blocks (a high target): split the pairs themselves.
		s.parallel(1<<(s.n-1), func(lo, hi int) {
			var buf []F
			for p := lo; p < hi; {
				off := p & (stride - 1)
				run := min(stride-off, hi-p)
				base := (p>>t)<<(t+1) | off
				pairRun(g, s.v, base, run, stride, &buf)
				p += run
			}
		})
		return
	}
	if s.simdControlled(g) {
		return
	}
	fixed := append([]int{t}, g.Controls...)
	slices.Sort(fixed)
	var set uint64
	for _, c := range g.Controls {
		set |= 1 << c
	}
	p0 := fixed[0]
	if p0 < 3 && (g.kind == kX || g.kind == kPhase) {
		// A control among the lowest three bits would cut the work into
		// runs of at most four amplitudes; every cache line is read
		// anyway, so scan the target's pairs and test the controls.
		s.applyMasked(g, set)
		return
	}
	chunk := 1 << p0
	nChunks := 1 << (s.n - len(fixed) - p0)
	s.parallel(nChunks, func(lo, hi int) {
		var buf []F
		for c := lo; c < hi; c++ {
			base := int(deposit(uint64(c)<<p0, fixed) | set)
			pairRun(g, s.v, base, chunk, stride, &buf)
		}
	})
}

// aliasTile is the number of pairs pairRun moves through its buffer at a
// time: 16 KiB of single-precision amplitudes per side.
const aliasTile = 2048

// aliased reports whether the two amplitudes of a pair lie a multiple of
// 2^28 bytes apart. Such addresses agree in the virtual-address bits that
// AMD Zen cores hash into the L1 data cache's way predictor (bits 12-27),
// and alternating between them misses the L1 on every access: measured 4-7x
// slower for H on the top qubit of a 26-qubit single-precision state.
func aliased[F Float](stride int) bool {
	var f F
	ampBytes := 2 * int(unsafe.Sizeof(f))
	return stride*ampBytes >= aliasBytes
}

// aliasBytes is the pair distance from which pairRun buffers; a variable
// so that tests can exercise the buffered path on small states.
var aliasBytes = 1 << 28

// pairRun applies a one-target gate to the pairs (i, i+stride) for i in
// base .. base+run-1. When the two sides alias (see aliased) it copies
// tiles of both sides into a small buffer, applies the kernel there, and
// copies them back: memory traffic is the same, the L1 conflict is gone.
func pairRun[F Float](g *Gate, v []F, base, run, stride int, buf *[]F) {
	if !aliased[F](stride) {
		runKernel1(g, v, base, base+1, 1, run, stride)
		return
	}
	if *buf == nil {
		*buf = make([]F, 4*aliasTile)
	}
	b := *buf
	if simdPairsBuffered(g, v, base, run, stride, b) {
		return
	}
	for done := 0; done < run; done += aliasTile {
		n := min(aliasTile, run-done)
		x0 := v[2*(base+done) : 2*(base+done+n)]
		x1 := v[2*(base+done+stride) : 2*(base+done+stride+n)]
		copy(b[:2*n], x0)
		copy(b[2*n:4*n], x1)
		runKernel1(g, b, 0, 1, 1, n, n)
		copy(x0, b[:2*n])
		copy(x1, b[2*n:4*n])
	}
}

// applyMasked applies a controlled X or phase gate by visiting every pair
// of the target and acting where all control bits (mask) are set.
func (s *State[F]) applyMasked(g *Gate, mask uint64) {
	t := g.Targets[0]
	stride := 1 << t
	m := mask
	dr, di := F(real(g.M[3])), F(imag(g.M[3]))
	phase := g.kind == kPhase
	v := s.v
	s.parallel(1<<(s.n-1), func(lo, hi int) {
		for p := lo; p < hi; {
			off := p & (stride - 1)
			run := min(stride-off, hi-p)
			base := (p>>t)<<(t+1) | off
			x0 := v[2*base : 2*(base+run)]
			x1 := v[2*(base+stride) : 2*(base+stride)+len(x0)]
			for k := 0; k+1 < len(x0) && k+1 < len(x1); k += 2 {
				if uint64(base+k/2)&m != m {
					continue
				}
				if phase {
					br, bi := x1[k], x1[k+1]
					x1[k], x1[k+1] = dr*br-di*bi, dr*bi+di*br
				} else {
					x0[k], x1[k] = x1[k], x0[k]
					x0[k+1], x1[k+1] = x1[k+1], x0[k+1]
				}
			}
			p += run
		}
	})
}

// runKernel1 dispatches to the kernel for g's kind. It visits the pairs
// (i, i+stride) for i in b..b+runLen-1, for b = lo, lo+step, ... < hi.
func runKernel1[F Float](g *Gate, v []F, lo, hi, step, runLen, stride int) {
	if simd1(g, v, lo, hi, step, runLen, stride) {
		return
	}
	m := g.M
	switch g.kind {
	case kH:
		kernH(v, lo, hi, step, runLen, stride)
	case kX:
		kernX(v, lo, hi, step, runLen, stride)
	case kPhase:
		kernPhase(v, lo, hi, step, runLen, stride, F(real(m[3])), F(imag(m[3])))
	case kDiag:
		kernDiag(v, lo, hi, step, runLen, stride, F(real(m[0])), F(imag(m[0])), F(real(m[3])), F(imag(m[3])))
	case kAnti:
		kernAnti(v, lo, hi, step, runLen, stride, F(real(m[1])), F(imag(m[1])), F(real(m[2])), F(imag(m[2])))
	case kReal:
		kernReal(v, lo, hi, step, runLen, stride, F(real(m[0])), F(real(m[1])), F(real(m[2])), F(real(m[3])))
	case kRealImag:
		kernRealImag(v, lo, hi, step, runLen, stride, F(real(m[0])), F(imag(m[1])), F(imag(m[2])), F(real(m[3])))
	case kGeneral:
		var c [8]F
		for k := 0; k < 4; k++ {
			c[2*k], c[2*k+1] = F(real(m[k])), F(imag(m[k]))
		}
		kernGeneral(v, lo, hi, step, runLen, stride, &c)
	}
}

// applyK applies a gate with several targets: gather the 2^k amplitudes it
// mixes, transform them in double precision, scatter them back.
func (s *State[F]) applyK(g *Gate) {
	k := len(g.Targets)
	d := 1 << k
	fixed := append(slices.Clone(g.Targets), g.Controls...)
	slices.Sort(fixed)
	var set uint64
	for _, c := range g.Controls {
		set |= 1 << c
	}
	off := make([]int, d)
	for r := 0; r < d; r++ {
		for j, t := range g.Targets {
			if r>>j&1 == 1 {
				off[r] |= 1 << t
			}
		}
	}
	p0 := fixed[0]
	chunk := 1 << p0
	nChunks := 1 << (s.n - len(fixed) - p0)
	s.parallel(nChunks, func(lo, hi int) {
		in := make([]complex128, d)
		for c := lo; c < hi; c++ {
			base := int(deposit(uint64(c)<<p0, fixed) | set)
			for i := base; i < base+chunk; i++ {
				for r := 0; r < d; r++ {
					j := 2 * (i + off[r])
					in[r] = complex(float64(s.v[j]), float64(s.v[j+1]))
				}
				for r := 0; r < d; r++ {
					var x complex128
					switch g.kind {
					case kDiagK:
						x = g.M[r*d+r] * in[r]
					case kPermK:
						x = g.M[r*d+g.perm[r]] * in[g.perm[r]]
					default:
						row := g.M[r*d : (r+1)*d]
						for c, a := range row {
							x += a * in[c]
						}
					}
					j := 2 * (i + off[r])
					s.v[j], s.v[j+1] = F(real(x)), F(imag(x))
				}
			}
		}
	})
}
