package quantum

import (
	"slices"
	"unsafe"
)

// simd1 applies a one-target gate with the AVX2 kernels of simd_amd64.s
// when they are available and the pairs line up with the kernels' groups
// of four (complex64) or two (complex128) amplitudes; it reports whether
// it did. Its
// arguments are those of runKernel1. Every matrix kind but X and phase
// (which move or touch half the amplitudes without arithmetic on the
// other half) goes through the general complex 2x2 product: with four
// amplitudes per instruction, the arithmetic of a full matrix costs less
// than the memory traffic.
func simd1[F Float](g *Gate, v []F, lo, hi, step, runLen, stride int) bool {
	var zero F
	if !haveSIMD || len(v) == 0 {
		return false
	}
	switch g.kind {
	case kIdentity, kX, kPhase:
		return false
	}
	if unsafe.Sizeof(zero) == 8 {
		return simd1D(g, unsafe.Slice((*complex128)(unsafe.Pointer(unsafe.SliceData(v))), len(v)/2), lo, hi, step, runLen, stride)
	}
	c := unsafe.Slice((*complex64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)/2)
	switch {
	case stride >= 4 && runLen%4 == 0 && hi > lo:
		runs := (hi - lo + step - 1) / step
		if lo+(runs-1)*step+stride+runLen > len(c) {
			panic("quantum: kernel run past the state")
		}
		mat2For(g.kind)(&c[lo], &c[lo+stride], runs, runLen, step, g.lanes)
	case stride <= 2 && runLen == stride && step == 2*stride && lo%4 == 0 && (hi-lo)%8 == 0 && hi > lo && have512 && g.low0z != nil:
		w := c[lo:hi]
		if stride == 1 {
			mat2c64T0AVX512(&w[0], len(w), g.low0z)
		} else {
			mat2c64T1AVX512(&w[0], len(w), g.low1z)
		}
	case stride == 1 && runLen == 1 && step == 2 && lo%4 == 0 && (hi-lo)%4 == 0 && hi > lo:
		w := c[lo:hi]
		mat2c64T0AVX(&w[0], len(w), g.low0)
	case stride == 2 && runLen == 2 && step == 4 && lo%4 == 0 && (hi-lo)%4 == 0 && hi > lo:
		w := c[lo:hi]
		mat2c64T1AVX(&w[0], len(w), g.low1)
	default:
		return false
	}
	return true
}

// laneCoeffs lays out the coefficients of the in-register kernels: for
// each of the four amplitudes p of a group, C1[p] multiplies the amplitude
// and C2[p] its partner; real parts fill lanes 2p and 2p+1 of the first
// and third vectors, imaginary parts those of the second and fourth.
func laneCoeffs(a0, a1, a2, a3, b0, b1, b2, b3 complex128) [32]float32 {
	var cc [32]float32
	for p, x := range [4]complex128{a0, a1, a2, a3} {
		cc[2*p], cc[2*p+1] = float32(real(x)), float32(real(x))
		cc[8+2*p], cc[8+2*p+1] = float32(imag(x)), float32(imag(x))
	}
	for p, x := range [4]complex128{b0, b1, b2, b3} {
		cc[16+2*p], cc[16+2*p+1] = float32(real(x)), float32(real(x))
		cc[24+2*p], cc[24+2*p+1] = float32(imag(x)), float32(imag(x))
	}
	return cc
}

// widenLowLanes lays the coefficients of the in-register kernels out for
// their AVX-512 forms: each of the four vectors over 16 lanes (the pattern
// of eight repeated), the imaginary parts with the sign of the even lanes
// flipped (see mat2c64T0AVX512).
func widenLowLanes(c *[32]float32) *[64]float32 {
	var z [64]float32
	for v := 0; v < 4; v++ {
		for l := 0; l < 16; l++ {
			x := c[8*v+l%8]
			if v%2 == 1 && l%2 == 0 {
				x = -x
			}
			z[16*v+l] = x
		}
	}
	return &z
}

// laneMatrix lays out the coefficients of mat2c64AVX: matrix m in the
// lanes of the amplitudes whose bits in lowCtrl (a subset of bits 0 and 1)
// are all set, the identity in the others.
func laneMatrix(m []complex128, lowCtrl int) [64]float32 {
	var cc [64]float32
	id := [4]complex128{1, 0, 0, 1}
	for p := 0; p < 4; p++ {
		e := [4]complex128{m[0], m[1], m[2], m[3]}
		if p&lowCtrl != lowCtrl {
			e = id
		}
		for k, x := range e {
			cc[16*k+2*p], cc[16*k+2*p+1] = float32(real(x)), float32(real(x))
			cc[16*k+8+2*p], cc[16*k+8+2*p+1] = float32(imag(x)), float32(imag(x))
		}
	}
	return cc
}

// simdControlled applies a controlled one-target gate with mat2c64AVX when
// it may run (see simd1) and the target is qubit 2 or above: controls on
// qubits 0 and 1 become per-lane coefficients, the others select the runs.
// It reports whether it did.
func (s *State[F]) simdControlled(g *Gate) bool {
	var zero F
	t := g.Targets[0]
	stride := 1 << t
	// Qubits below laneBits index the amplitudes of one register.
	laneBits := 2
	if unsafe.Sizeof(zero) == 8 {
		laneBits = 1
	}
	if !haveSIMD || g.kind == kIdentity || t < laneBits || aliased[F](stride) {
		return false
	}
	lowCtrl := 0
	fixed := []int{t}
	var set uint64
	for _, c := range g.Controls {
		if c < laneBits {
			lowCtrl |= 1 << c
		} else {
			fixed = append(fixed, c)
			set |= 1 << c
		}
	}
	slices.Sort(fixed)
	if laneBits == 1 {
		s.simdControlledD(g, fixed, set, laneMatrixD(g.M, lowCtrl))
		return true
	}
	cc := laneMatrix(g.M, lowCtrl)
	c := unsafe.Slice((*complex64)(unsafe.Pointer(unsafe.SliceData(s.v))), len(s.v)/2)
	if len(fixed) == 1 {
		s.parallelAligned(1<<s.n, 2*stride, func(lo, hi int) {
			if hi > lo {
				mat2For(g.kind)(&c[lo], &c[lo+stride], (hi-lo)/(2*stride), stride, 2*stride, &cc)
			}
		})
		return true
	}
	p0 := fixed[0]
	chunk := 1 << p0
	nChunks := 1 << (s.n - len(fixed) - p0)
	s.parallel(nChunks, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			base := int(deposit(uint64(k)<<p0, fixed) | set)
			x := c[base : base+stride+chunk]
			mat2For(g.kind)(&x[0], &x[stride], 1, chunk, 0, &cc)
		}
	})
	return true
}

// simdPairsBuffered is pairRun's buffered path (see aliased) with the
// vector kernel: only the upper side of each tile goes through the
// buffer, the kernel reading the lower side in place. It reports whether
// it ran.
func simdPairsBuffered[F Float](g *Gate, v []F, base, run, stride int, buf []F) bool {
	var zero F
	if !haveSIMD || run%4 != 0 {
		return false
	}
	switch g.kind {
	case kIdentity, kX, kPhase:
		return false
	}
	if unsafe.Sizeof(zero) == 8 {
		c := unsafe.Slice((*complex128)(unsafe.Pointer(unsafe.SliceData(v))), len(v)/2)
		b := unsafe.Slice((*complex128)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/2)
		for done := 0; done < run; done += len(b) {
			n := min(len(b), run-done)
			x0 := c[base+done : base+done+n]
			x1 := c[base+done+stride : base+done+stride+n]
			copy(b[:n], x1)
			mat2c128AVX(&x0[0], &b[0], 1, n, 0, g.lanesD)
			copy(x1, b[:n])
		}
		return true
	}
	c := unsafe.Slice((*complex64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)/2)
	b := unsafe.Slice((*complex64)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/2)
	for done := 0; done < run; done += len(b) {
		n := min(len(b), run-done)
		x0 := c[base+done : base+done+n]
		x1 := c[base+done+stride : base+done+stride+n]
		copy(b[:n], x1)
		mat2For(g.kind)(&x0[0], &b[0], 1, n, 0, g.lanes)
		copy(x1, b[:n])
	}
	return true
}

// mat2For returns the vector kernel for matrices of kind k: the real,
// real-and-imaginary and diagonal forms skip the products by entries that
// are zero (in every lane: the identity of uncontrolled lanes has each
// form).
func mat2For(k gateKind) func(x0, x1 *complex64, runs, runLen, step int, c *[64]float32) {
	switch k {
	case kH, kReal:
		return mat2RealC64AVX
	case kRealImag:
		return mat2RealImagC64AVX
	case kDiag:
		return mat2DiagC64AVX
	}
	return mat2c64AVX
}

// simd1D is simd1 for complex128 amplitudes, with the general kernels
// only.
func simd1D(g *Gate, c []complex128, lo, hi, step, runLen, stride int) bool {
	switch {
	case stride >= 2 && runLen%2 == 0 && hi > lo:
		runs := (hi - lo + step - 1) / step
		if lo+(runs-1)*step+stride+runLen > len(c) {
			panic("quantum: kernel run past the state")
		}
		mat2c128AVX(&c[lo], &c[lo+stride], runs, runLen, step, g.lanesD)
	case stride == 1 && runLen == 1 && step == 2 && (hi-lo)%2 == 0 && hi > lo:
		w := c[lo:hi]
		mat2c128T0AVX(&w[0], len(w), g.low0D)
	default:
		return false
	}
	return true
}

// laneMatrixD is laneMatrix for mat2c128AVX: two amplitudes per register,
// lowCtrl a subset of bit 0.
func laneMatrixD(m []complex128, lowCtrl int) [32]float64 {
	var cc [32]float64
	id := [4]complex128{1, 0, 0, 1}
	for p := 0; p < 2; p++ {
		e := [4]complex128{m[0], m[1], m[2], m[3]}
		if p&lowCtrl != lowCtrl {
			e = id
		}
		for k, x := range e {
			cc[8*k+2*p], cc[8*k+2*p+1] = real(x), real(x)
			cc[8*k+4+2*p], cc[8*k+4+2*p+1] = imag(x), imag(x)
		}
	}
	return cc
}

// simdControlledD is the complex128 half of simdControlled: fixed holds
// the target and the controls that select runs, set those controls.
func (s *State[F]) simdControlledD(g *Gate, fixed []int, set uint64, cc [32]float64) {
	t := g.Targets[0]
	stride := 1 << t
	c := unsafe.Slice((*complex128)(unsafe.Pointer(unsafe.SliceData(s.v))), len(s.v)/2)
	if len(fixed) == 1 {
		s.parallelAligned(1<<s.n, 2*stride, func(lo, hi int) {
			if hi > lo {
				mat2c128AVX(&c[lo], &c[lo+stride], (hi-lo)/(2*stride), stride, 2*stride, &cc)
			}
		})
		return
	}
	p0 := fixed[0]
	chunk := 1 << p0
	nChunks := 1 << (s.n - len(fixed) - p0)
	s.parallel(nChunks, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			base := int(deposit(uint64(k)<<p0, fixed) | set)
			x := c[base : base+stride+chunk]
			mat2c128AVX(&x[0], &x[stride], 1, chunk, 0, &cc)
		}
	})
}
