//go:build amd64

package quantum

import "golang.org/x/sys/cpu"

// haveSIMD reports whether the AVX2 and FMA kernels of simd_amd64.s may
// run; tests turn it off to check the portable kernels.
var haveSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// have512 reports whether the AVX-512 kernels of simd512_amd64.s may run
// (where they apply; the AVX2 ones run elsewhere). Tests turn it off to
// compare the two.
var have512 = haveSIMD && cpu.X86.HasAVX512F

//go:noescape
func mat4c64AVX512(v *complex64, bases, s0, s1 int, c *[512]float32)

//go:noescape
func mat4RealC64AVX512(v *complex64, bases, s0, s1 int, c *[512]float32)

//go:noescape
func xorRowC64AVX512(v *complex64, m *uint32, n int, rowMask uint32)

//go:noescape
func mat2c64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)

//go:noescape
func mat2c64T0AVX(v *complex64, n int, c *[32]float32)

//go:noescape
func mat2c64T1AVX(v *complex64, n int, c *[32]float32)

//go:noescape
func mulRowC64AVX(v, a *complex64, n int, c *[2]float32)

//go:noescape
func mat2RealC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)

//go:noescape
func mat2RealImagC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)

//go:noescape
func mat2DiagC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)

//go:noescape
func mat2c128AVX(x0, x1 *complex128, runs, runLen, step int, c *[32]float64)

//go:noescape
func mat2c128T0AVX(v *complex128, n int, c *[16]float64)

//go:noescape
func mulRowC128AVX(v, a *complex128, n int, c *[2]float64)

//go:noescape
func xorRowC64AVX(v *complex64, m *uint32, n int, rowMask uint32)

//go:noescape
func mat4c64AVX(v *complex64, bases, s0, s1 int, c *[256]float32)

//go:noescape
func mat4RealC64AVX(v *complex64, bases, s0, s1 int, c *[256]float32)

//go:noescape
func mat2c64T0AVX512(v *complex64, n int, c *[64]float32)

//go:noescape
func mat2c64T1AVX512(v *complex64, n int, c *[64]float32)

//go:noescape
func xorRowsC64AVX512(v *complex64, tabs, rows *uint32, n, w int)
