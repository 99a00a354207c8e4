package quantum

// One-target kernels. Each visits the amplitude pairs (i, i+stride) for i in
// b .. b+runLen-1 with b = lo, lo+step, ... < hi, and works on the float
// view (re, im interleaved). When the pairs are adjacent amplitudes (target
// qubit 0 with no controls: stride 1, runLen 1, step 2) a flat loop over
// groups of four floats replaces the nested one. The bodies differ only in
// the arithmetic; they are written out so that the compiler keeps the
// matrix entries in registers and removes bounds checks.

func kernH[F Float](v []F, lo, hi, step, runLen, stride int) {
	h := F(0.70710678118654752440084436210484903928483593768847)
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			ar, ai, br, bi := w[k], w[k+1], w[k+2], w[k+3]
			w[k], w[k+1], w[k+2], w[k+3] = h*(ar+br), h*(ai+bi), h*(ar-br), h*(ai-bi)
		}
		return
	}
	for b := lo; b < hi; b += step {
		x0 := v[2*b : 2*(b+runLen)]
		x1 := v[2*(b+stride) : 2*(b+stride)+len(x0)]
		for k := 0; k+1 < len(x0) && k+1 < len(x1); k += 2 {
			ar, ai, br, bi := x0[k], x0[k+1], x1[k], x1[k+1]
			x0[k], x0[k+1] = h*(ar+br), h*(ai+bi)
			x1[k], x1[k+1] = h*(ar-br), h*(ai-bi)
		}
	}
}

func kernX[F Float](v []F, lo, hi, step, runLen, stride int) {
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			w[k], w[k+1], w[k+2], w[k+3] = w[k+2], w[k+3], w[k], w[k+1]
		}
		return
	}
	for b := lo; b < hi; b += step {
		x0 := v[2*b : 2*(b+runLen)]
		x1 := v[2*(b+stride) : 2*(b+stride)+len(x0)]
		for k := 0; k < len(x0) && k < len(x1); k++ {
			x0[k], x1[k] = x1[k], x0[k]
		}
	}
}

func kernPhase[F Float](v []F, lo, hi, step, runLen, stride int, dr, di F) {
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			br, bi := w[k+2], w[k+3]
			w[k+2], w[k+3] = dr*br-di*bi, dr*bi+di*br
		}
		return
	}
	for b := lo; b < hi; b += step {
		x1 := v[2*(b+stride) : 2*(b+stride+runLen)]
		for k := 0; k+1 < len(x1); k += 2 {
			br, bi := x1[k], x1[k+1]
			x1[k], x1[k+1] = dr*br-di*bi, dr*bi+di*br
		}
	}
}

func kernDiag[F Float](v []F, lo, hi, step, runLen, stride int, d0r, d0i, d1r, d1i F) {
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			ar, ai, br, bi := w[k], w[k+1], w[k+2], w[k+3]
			w[k], w[k+1], w[k+2], w[k+3] = d0r*ar-d0i*ai, d0r*ai+d0i*ar, d1r*br-d1i*bi, d1r*bi+d1i*br
		}
		return
	}
	for b := lo; b < hi; b += step {
		x0 := v[2*b : 2*(b+runLen)]
		x1 := v[2*(b+stride) : 2*(b+stride)+len(x0)]
		for k := 0; k+1 < len(x0) && k+1 < len(x1); k += 2 {
			ar, ai, br, bi := x0[k], x0[k+1], x1[k], x1[k+1]
			x0[k], x0[k+1] = d0r*ar-d0i*ai, d0r*ai+d0i*ar
			x1[k], x1[k+1] = d1r*br-d1i*bi, d1r*bi+d1i*br
		}
	}
}

// kernAnti: a' = m01 b, b' = m10 a.
func kernAnti[F Float](v []F, lo, hi, step, runLen, stride int, pr, pi, qr, qi F) {
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			ar, ai, br, bi := w[k], w[k+1], w[k+2], w[k+3]
			w[k], w[k+1], w[k+2], w[k+3] = pr*br-pi*bi, pr*bi+pi*br, qr*ar-qi*ai, qr*ai+qi*ar
		}
		return
	}
	for b := lo; b < hi; b += step {
		x0 := v[2*b : 2*(b+runLen)]
		x1 := v[2*(b+stride) : 2*(b+stride)+len(x0)]
		for k := 0; k+1 < len(x0) && k+1 < len(x1); k += 2 {
			ar, ai, br, bi := x0[k], x0[k+1], x1[k], x1[k+1]
			x0[k], x0[k+1] = pr*br-pi*bi, pr*bi+pi*br
			x1[k], x1[k+1] = qr*ar-qi*ai, qr*ai+qi*ar
		}
	}
}

// kernReal: a real matrix [[a, b], [c, d]].
func kernReal[F Float](v []F, lo, hi, step, runLen, stride int, m00, m01, m10, m11 F) {
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			ar, ai, br, bi := w[k], w[k+1], w[k+2], w[k+3]
			w[k], w[k+1], w[k+2], w[k+3] = m00*ar+m01*br, m00*ai+m01*bi, m10*ar+m11*br, m10*ai+m11*bi
		}
		return
	}
	for b := lo; b < hi; b += step {
		x0 := v[2*b : 2*(b+runLen)]
		x1 := v[2*(b+stride) : 2*(b+stride)+len(x0)]
		for k := 0; k+1 < len(x0) && k+1 < len(x1); k += 2 {
			ar, ai, br, bi := x0[k], x0[k+1], x1[k], x1[k+1]
			x0[k], x0[k+1] = m00*ar+m01*br, m00*ai+m01*bi
			x1[k], x1[k+1] = m10*ar+m11*br, m10*ai+m11*bi
		}
	}
}

// kernRealImag: [[a, i b], [i c, d]] with a, b, c, d real (RX and kin).
func kernRealImag[F Float](v []F, lo, hi, step, runLen, stride int, m00, m01i, m10i, m11 F) {
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			ar, ai, br, bi := w[k], w[k+1], w[k+2], w[k+3]
			w[k], w[k+1], w[k+2], w[k+3] = m00*ar-m01i*bi, m00*ai+m01i*br, m11*br-m10i*ai, m11*bi+m10i*ar
		}
		return
	}
	for b := lo; b < hi; b += step {
		x0 := v[2*b : 2*(b+runLen)]
		x1 := v[2*(b+stride) : 2*(b+stride)+len(x0)]
		for k := 0; k+1 < len(x0) && k+1 < len(x1); k += 2 {
			ar, ai, br, bi := x0[k], x0[k+1], x1[k], x1[k+1]
			x0[k], x0[k+1] = m00*ar-m01i*bi, m00*ai+m01i*br
			x1[k], x1[k+1] = m11*br-m10i*ai, m11*bi+m10i*ar
		}
	}
}

// kernGeneral: any complex 2x2 matrix, c = (m00, m01, m10, m11) as re, im.
func kernGeneral[F Float](v []F, lo, hi, step, runLen, stride int, c *[8]F) {
	ar_, ai_, br_, bi_ := c[0], c[1], c[2], c[3]
	cr_, ci_, dr_, di_ := c[4], c[5], c[6], c[7]
	if stride == 1 && runLen == 1 && step == 2 {
		w := v[2*lo : 2*hi]
		for k := 0; k+3 < len(w); k += 4 {
			xr, xi, yr, yi := w[k], w[k+1], w[k+2], w[k+3]
			w[k] = ar_*xr - ai_*xi + br_*yr - bi_*yi
			w[k+1] = ar_*xi + ai_*xr + br_*yi + bi_*yr
			w[k+2] = cr_*xr - ci_*xi + dr_*yr - di_*yi
			w[k+3] = cr_*xi + ci_*xr + dr_*yi + di_*yr
		}
		return
	}
	for b := lo; b < hi; b += step {
		x0 := v[2*b : 2*(b+runLen)]
		x1 := v[2*(b+stride) : 2*(b+stride)+len(x0)]
		for k := 0; k+1 < len(x0) && k+1 < len(x1); k += 2 {
			xr, xi, yr, yi := x0[k], x0[k+1], x1[k], x1[k+1]
			x0[k] = ar_*xr - ai_*xi + br_*yr - bi_*yi
			x0[k+1] = ar_*xi + ai_*xr + br_*yi + bi_*yr
			x1[k] = cr_*xr - ci_*xi + dr_*yr - di_*yi
			x1[k+1] = cr_*xi + ci_*xr + dr_*yi + di_*yr
		}
	}
}
