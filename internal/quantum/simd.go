package quantum

import "unsafe"

// simd1 applies a one-target gate with the AVX2 kernels of simd_amd64.s
// when they are available, F is float32 and the pairs line up with the
// kernels' groups of four amplitudes; it reports whether it did. Its
// arguments are those of runKernel1. Every matrix kind but X and phase
// (which move or touch half the amplitudes without arithmetic on the
// other half) goes through the general complex 2x2 product: with four
// amplitudes per instruction, the arithmetic of a full matrix costs less
// than the memory traffic.
func simd1[F Float](g *Gate, v []F, lo, hi, step, runLen, stride int) bool {
	var zero F
	if !haveSIMD || unsafe.Sizeof(zero) != 4 || len(v) == 0 {
		return false
	}
	switch g.kind {
	case kIdentity, kX, kPhase:
		return false
	}
	m := g.M
	c := unsafe.Slice((*complex64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)/2)
	switch {
	case stride >= 4 && runLen%4 == 0:
		var mm [8]float32
		for k := 0; k < 4; k++ {
			mm[2*k], mm[2*k+1] = float32(real(m[k])), float32(imag(m[k]))
		}
		for b := lo; b < hi; b += step {
			x0 := c[b : b+runLen]
			x1 := c[b+stride : b+stride+runLen]
			mat2c64AVX(&x0[0], &x1[0], runLen, &mm)
		}
	case stride == 1 && runLen == 1 && step == 2 && lo%4 == 0 && (hi-lo)%4 == 0 && hi > lo:
		cc := laneCoeffs(m[0], m[3], m[0], m[3], m[1], m[2], m[1], m[2])
		w := c[lo:hi]
		mat2c64T0AVX(&w[0], len(w), &cc)
	case stride == 2 && runLen == 2 && step == 4 && lo%4 == 0 && (hi-lo)%4 == 0 && hi > lo:
		cc := laneCoeffs(m[0], m[0], m[3], m[3], m[1], m[1], m[2], m[2])
		w := c[lo:hi]
		mat2c64T1AVX(&w[0], len(w), &cc)
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
