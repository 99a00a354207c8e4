//go:build !amd64

package quantum

// haveSIMD is false off amd64: the portable kernels run.
var haveSIMD = false

// have512 is false off amd64.
var have512 = false

func mat2c64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32) {
	panic("quantum: no SIMD kernels")
}

func mat2c64T0AVX(v *complex64, n int, c *[32]float32) { panic("quantum: no SIMD kernels") }

func mat2c64T1AVX(v *complex64, n int, c *[32]float32) { panic("quantum: no SIMD kernels") }

func mulRowC64AVX(v, a *complex64, n int, c *[2]float32) { panic("quantum: no SIMD kernels") }

func mat2RealC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32) {
	panic("quantum: no SIMD kernels")
}

func mat2RealImagC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32) {
	panic("quantum: no SIMD kernels")
}

func mat2DiagC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32) {
	panic("quantum: no SIMD kernels")
}

func mat2c128AVX(x0, x1 *complex128, runs, runLen, step int, c *[32]float64) {
	panic("quantum: no SIMD kernels")
}

func mat2c128T0AVX(v *complex128, n int, c *[16]float64) { panic("quantum: no SIMD kernels") }

func mulRowC128AVX(v, a *complex128, n int, c *[2]float64) { panic("quantum: no SIMD kernels") }

func xorRowC64AVX(v *complex64, m *uint32, n int, rowMask uint32) { panic("quantum: no SIMD kernels") }

func mat4c64AVX(v *complex64, bases, s0, s1 int, c *[256]float32) { panic("quantum: no SIMD kernels") }

func mat4RealC64AVX(v *complex64, bases, s0, s1 int, c *[256]float32) {
	panic("quantum: no SIMD kernels")
}

func mat4c64AVX512(v *complex64, bases, s0, s1 int, c *[512]float32) {
	panic("quantum: no SIMD kernels")
}

func mat4RealC64AVX512(v *complex64, bases, s0, s1 int, c *[512]float32) {
	panic("quantum: no SIMD kernels")
}

func xorRowC64AVX512(v *complex64, m *uint32, n int, rowMask uint32) {
	panic("quantum: no SIMD kernels")
}

func mat2c64T0AVX512(v *complex64, n int, c *[64]float32) { panic("quantum: no SIMD kernels") }

func mat2c64T1AVX512(v *complex64, n int, c *[64]float32) { panic("quantum: no SIMD kernels") }

func xorRowsC64AVX512(v *complex64, tabs, rows *uint32, n, w int) { panic("quantum: no SIMD kernels") }
