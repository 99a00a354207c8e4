#include "textflag.h"

// Complex 2x2 matrices on complex64 amplitudes with AVX2 and FMA.
//
// A complex product m*a of a broadcast coefficient m = (mr, mi) with four
// amplitudes a = [r0 i0 r1 i1 ...] is addsub(a*mr, swap(a)*mi), where swap
// exchanges the real and imaginary parts of each amplitude: even lanes
// subtract (r*mr - i*mi), odd lanes add (i*mr + r*mi).

// func mat2c64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)
// For each of runs runs, the r-th made of the runLen amplitudes at
// x0 + r step and those at x1 + r step (in amplitudes):
// (x0[k], x1[k]) <- (A x0[k] + B x1[k], C x0[k] + D x1[k]). A, B, C, D are
// per-lane coefficients repeating every four amplitudes (equal in every
// lane for a plain gate, the identity in the lanes whose low control bits
// are 0 for a controlled one): c holds Ar, Ai, Br, Bi, Cr, Ci, Dr, Di,
// eight floats each. runLen is a multiple of 4.
TEXT ·mat2c64AVX(SB), NOSPLIT, $0-48
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ runs+16(FP), BX
	MOVQ runLen+24(FP), DX
	MOVQ step+32(FP), R9
	MOVQ c+40(FP), AX
	VMOVUPS 0(AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	VMOVUPS 128(AX), Y4
	VMOVUPS 160(AX), Y5
	VMOVUPS 192(AX), Y6
	VMOVUPS 224(AX), Y7
	SHLQ $3, R9
	SHRQ $2, DX
	TESTQ BX, BX
	JZ    done
	TESTQ DX, DX
	JZ    done

outer:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ DX, CX

loop:
	VMOVUPS     (R10), Y8
	VMOVUPS     (R11), Y9
	VPERMILPS   $0xB1, Y8, Y10
	VPERMILPS   $0xB1, Y9, Y11
	VMULPS      Y0, Y8, Y12
	VFMADD231PS Y2, Y9, Y12
	VMULPS      Y1, Y10, Y13
	VFMADD231PS Y3, Y11, Y13
	VADDSUBPS   Y13, Y12, Y12
	VMULPS      Y4, Y8, Y14
	VFMADD231PS Y6, Y9, Y14
	VMULPS      Y5, Y10, Y15
	VFMADD231PS Y7, Y11, Y15
	VADDSUBPS   Y15, Y14, Y14
	VMOVUPS     Y12, (R10)
	VMOVUPS     Y14, (R11)
	ADDQ        $32, R10
	ADDQ        $32, R11
	DECQ        CX
	JNZ         loop
	ADDQ        R9, SI
	ADDQ        R9, DI
	DECQ        BX
	JNZ         outer

done:
	VZEROUPPER
	RET

// func mat2c64T0AVX(v *complex64, n int, c *[32]float32)
// Target qubit 0: each group of four amplitudes [a0 b0 a1 b1] becomes
// C1 (x) v + C2 (x) p(v), p swapping neighbouring amplitudes; c holds the
// real and imaginary parts of C1 and C2, each spread over eight lanes.
TEXT ·mat2c64T0AVX(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+16(FP), AX
	VMOVUPS 0(AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	SHRQ $2, CX
	JZ   done0

loop0:
	VMOVUPS     (SI), Y8
	VPERMILPS   $0x4E, Y8, Y9
	VPERMILPS   $0xB1, Y8, Y10
	VPERMILPS   $0xB1, Y9, Y11
	VMULPS      Y0, Y8, Y12
	VFMADD231PS Y2, Y9, Y12
	VMULPS      Y1, Y10, Y13
	VFMADD231PS Y3, Y11, Y13
	VADDSUBPS   Y13, Y12, Y12
	VMOVUPS     Y12, (SI)
	ADDQ        $32, SI
	DECQ        CX
	JNZ         loop0

done0:
	VZEROUPPER
	RET

// func mat2c64T1AVX(v *complex64, n int, c *[32]float32)
// Target qubit 1: as mat2c64T0AVX with groups [a0 a1 b0 b1], p swapping
// the two halves of the group.
TEXT ·mat2c64T1AVX(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+16(FP), AX
	VMOVUPS 0(AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	SHRQ $2, CX
	JZ   done1

loop1:
	VMOVUPS     (SI), Y8
	VPERM2F128  $0x01, Y8, Y8, Y9
	VPERMILPS   $0xB1, Y8, Y10
	VPERMILPS   $0xB1, Y9, Y11
	VMULPS      Y0, Y8, Y12
	VFMADD231PS Y2, Y9, Y12
	VMULPS      Y1, Y10, Y13
	VFMADD231PS Y3, Y11, Y13
	VADDSUBPS   Y13, Y12, Y12
	VMOVUPS     Y12, (SI)
	ADDQ        $32, SI
	DECQ        CX
	JNZ         loop1

done1:
	VZEROUPPER
	RET

// func mulRowC64AVX(v, a *complex64, n int, c *[2]float32)
// v[k] <- v[k] * (a[k] * c) for k < n; n is a multiple of 4.
TEXT ·mulRowC64AVX(SB), NOSPLIT, $0-32
	MOVQ v+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), AX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	SHRQ $2, CX
	JZ   doner

loopr:
	VMOVUPS   (DI), Y8
	VPERMILPS $0xB1, Y8, Y9
	VMULPS    Y0, Y8, Y10
	VMULPS    Y1, Y9, Y11
	VADDSUBPS Y11, Y10, Y10
	VMOVSLDUP Y10, Y12
	VMOVSHDUP Y10, Y13
	VMOVUPS   (SI), Y8
	VPERMILPS $0xB1, Y8, Y9
	VMULPS    Y12, Y8, Y14
	VMULPS    Y13, Y9, Y15
	VADDSUBPS Y15, Y14, Y14
	VMOVUPS   Y14, (SI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       loopr

doner:
	VZEROUPPER
	RET

// func mat2RealC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)
// mat2c64AVX for real A, B, C, D (only Ar, Br, Cr, Dr are read).
TEXT ·mat2RealC64AVX(SB), NOSPLIT, $0-48
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ runs+16(FP), BX
	MOVQ runLen+24(FP), DX
	MOVQ step+32(FP), R9
	MOVQ c+40(FP), AX
	VMOVUPS 0(AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	VMOVUPS 128(AX), Y4
	VMOVUPS 160(AX), Y5
	VMOVUPS 192(AX), Y6
	VMOVUPS 224(AX), Y7
	SHLQ $3, R9
	SHRQ $2, DX
	TESTQ BX, BX
	JZ    done_mat2RealC64AVX
	TESTQ DX, DX
	JZ    done_mat2RealC64AVX

outer_mat2RealC64AVX:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ DX, CX

loop_mat2RealC64AVX:
	VMOVUPS     (R10), Y8
	VMOVUPS     (R11), Y9
	VMULPS      Y0, Y8, Y12
	VFMADD231PS Y2, Y9, Y12
	VMULPS      Y4, Y8, Y14
	VFMADD231PS Y6, Y9, Y14
	VMOVUPS     Y12, (R10)
	VMOVUPS     Y14, (R11)
	ADDQ        $32, R10
	ADDQ        $32, R11
	DECQ        CX
	JNZ         loop_mat2RealC64AVX
	ADDQ        R9, SI
	ADDQ        R9, DI
	DECQ        BX
	JNZ         outer_mat2RealC64AVX

done_mat2RealC64AVX:
	VZEROUPPER
	RET

// func mat2RealImagC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)
// mat2c64AVX for real A and D and imaginary B and C (only Ar, Bi, Ci, Dr
// are read): x0' = A x0 + i Bi x1 = addsub(Ar x0, Bi swap(x1)), and alike.
TEXT ·mat2RealImagC64AVX(SB), NOSPLIT, $0-48
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ runs+16(FP), BX
	MOVQ runLen+24(FP), DX
	MOVQ step+32(FP), R9
	MOVQ c+40(FP), AX
	VMOVUPS 0(AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	VMOVUPS 128(AX), Y4
	VMOVUPS 160(AX), Y5
	VMOVUPS 192(AX), Y6
	VMOVUPS 224(AX), Y7
	SHLQ $3, R9
	SHRQ $2, DX
	TESTQ BX, BX
	JZ    done_mat2RealImagC64AVX
	TESTQ DX, DX
	JZ    done_mat2RealImagC64AVX

outer_mat2RealImagC64AVX:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ DX, CX

loop_mat2RealImagC64AVX:
	VMOVUPS     (R10), Y8
	VMOVUPS     (R11), Y9
	VPERMILPS   $0xB1, Y8, Y10
	VPERMILPS   $0xB1, Y9, Y11
	VMULPS      Y0, Y8, Y12
	VMULPS      Y3, Y11, Y13
	VADDSUBPS   Y13, Y12, Y12
	VMULPS      Y6, Y9, Y14
	VMULPS      Y5, Y10, Y15
	VADDSUBPS   Y15, Y14, Y14
	VMOVUPS     Y12, (R10)
	VMOVUPS     Y14, (R11)
	ADDQ        $32, R10
	ADDQ        $32, R11
	DECQ        CX
	JNZ         loop_mat2RealImagC64AVX
	ADDQ        R9, SI
	ADDQ        R9, DI
	DECQ        BX
	JNZ         outer_mat2RealImagC64AVX

done_mat2RealImagC64AVX:
	VZEROUPPER
	RET

// func mat2DiagC64AVX(x0, x1 *complex64, runs, runLen, step int, c *[64]float32)
// mat2c64AVX for B = C = 0 (only A and D are read), in memory order: each
// run of x0 is multiplied by A, then the run of x1 by D. With a small
// stride, reading the two sides interleaved ran 25-35% slower than this
// single stream (rz on qubit 7 of 26).
TEXT ·mat2DiagC64AVX(SB), NOSPLIT, $0-48
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ runs+16(FP), BX
	MOVQ runLen+24(FP), DX
	MOVQ step+32(FP), R9
	MOVQ c+40(FP), AX
	VMOVUPS 0(AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	VMOVUPS 128(AX), Y4
	VMOVUPS 160(AX), Y5
	VMOVUPS 192(AX), Y6
	VMOVUPS 224(AX), Y7
	SHLQ $3, R9
	SHRQ $2, DX
	TESTQ BX, BX
	JZ    done_seq
	TESTQ DX, DX
	JZ    done_seq

outer_seq:
	MOVQ SI, R10
	MOVQ DX, CX

loop_seq0:
	VMOVUPS     (R10), Y8
	VPERMILPS   $0xB1, Y8, Y10
	VMULPS      Y0, Y8, Y12
	VMULPS      Y1, Y10, Y13
	VADDSUBPS   Y13, Y12, Y12
	VMOVUPS     Y12, (R10)
	ADDQ        $32, R10
	DECQ        CX
	JNZ         loop_seq0
	MOVQ DI, R11
	MOVQ DX, CX

loop_seq1:
	VMOVUPS     (R11), Y9
	VPERMILPS   $0xB1, Y9, Y11
	VMULPS      Y6, Y9, Y14
	VMULPS      Y7, Y11, Y15
	VADDSUBPS   Y15, Y14, Y14
	VMOVUPS     Y14, (R11)
	ADDQ        $32, R11
	DECQ        CX
	JNZ         loop_seq1
	ADDQ        R9, SI
	ADDQ        R9, DI
	DECQ        BX
	JNZ         outer_seq

done_seq:
	VZEROUPPER
	RET

// func mat2c128AVX(x0, x1 *complex128, runs, runLen, step int, c *[32]float64)
// mat2c64AVX for complex128 amplitudes: two per register, so the per-lane
// coefficients repeat every two amplitudes (c holds Ar, Ai, Br, Bi, Cr,
// Ci, Dr, Di, four doubles each). runLen is a multiple of 2.
TEXT ·mat2c128AVX(SB), NOSPLIT, $0-48
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ runs+16(FP), BX
	MOVQ runLen+24(FP), DX
	MOVQ step+32(FP), R9
	MOVQ c+40(FP), AX
	VMOVUPD 0(AX), Y0
	VMOVUPD 32(AX), Y1
	VMOVUPD 64(AX), Y2
	VMOVUPD 96(AX), Y3
	VMOVUPD 128(AX), Y4
	VMOVUPD 160(AX), Y5
	VMOVUPD 192(AX), Y6
	VMOVUPD 224(AX), Y7
	SHLQ $4, R9
	SHRQ $1, DX
	TESTQ BX, BX
	JZ    done_d
	TESTQ DX, DX
	JZ    done_d

outer_d:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ DX, CX

loop_d:
	VMOVUPD     (R10), Y8
	VMOVUPD     (R11), Y9
	VPERMILPD   $0x5, Y8, Y10
	VPERMILPD   $0x5, Y9, Y11
	VMULPD      Y0, Y8, Y12
	VFMADD231PD Y2, Y9, Y12
	VMULPD      Y1, Y10, Y13
	VFMADD231PD Y3, Y11, Y13
	VADDSUBPD   Y13, Y12, Y12
	VMULPD      Y4, Y8, Y14
	VFMADD231PD Y6, Y9, Y14
	VMULPD      Y5, Y10, Y15
	VFMADD231PD Y7, Y11, Y15
	VADDSUBPD   Y15, Y14, Y14
	VMOVUPD     Y12, (R10)
	VMOVUPD     Y14, (R11)
	ADDQ        $32, R10
	ADDQ        $32, R11
	DECQ        CX
	JNZ         loop_d
	ADDQ        R9, SI
	ADDQ        R9, DI
	DECQ        BX
	JNZ         outer_d

done_d:
	VZEROUPPER
	RET

// func mat2c128T0AVX(v *complex128, n int, c *[16]float64)
// Target qubit 0 for complex128: each register holds a pair [a b] and
// becomes C1 (x) v + C2 (x) p(v), p swapping its two halves; c holds the
// real and imaginary parts of C1 = [m00 m11] and C2 = [m01 m10], each
// amplitude's value in both of its lanes. n is a multiple of 2.
TEXT ·mat2c128T0AVX(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+16(FP), AX
	VMOVUPD 0(AX), Y0
	VMOVUPD 32(AX), Y1
	VMOVUPD 64(AX), Y2
	VMOVUPD 96(AX), Y3
	SHRQ $1, CX
	JZ   done_d0

loop_d0:
	VMOVUPD     (SI), Y8
	VPERM2F128  $0x01, Y8, Y8, Y9
	VPERMILPD   $0x5, Y8, Y10
	VPERMILPD   $0x5, Y9, Y11
	VMULPD      Y0, Y8, Y12
	VFMADD231PD Y2, Y9, Y12
	VMULPD      Y1, Y10, Y13
	VFMADD231PD Y3, Y11, Y13
	VADDSUBPD   Y13, Y12, Y12
	VMOVUPD     Y12, (SI)
	ADDQ        $32, SI
	DECQ        CX
	JNZ         loop_d0

done_d0:
	VZEROUPPER
	RET

// func mulRowC128AVX(v, a *complex128, n int, c *[2]float64)
// mulRowC64AVX for complex128: v[k] <- v[k] * (a[k] * c) for k < n; n is
// a multiple of 2.
TEXT ·mulRowC128AVX(SB), NOSPLIT, $0-32
	MOVQ v+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), AX
	VBROADCASTSD 0(AX), Y0
	VBROADCASTSD 8(AX), Y1
	SHRQ $1, CX
	JZ   done_rd

loop_rd:
	VMOVUPD   (DI), Y8
	VPERMILPD $0x5, Y8, Y9
	VMULPD    Y0, Y8, Y10
	VMULPD    Y1, Y9, Y11
	VADDSUBPD Y11, Y10, Y10
	VMOVDDUP  Y10, Y12
	VPERMILPD $0xF, Y10, Y13
	VMOVUPD   (SI), Y8
	VPERMILPD $0x5, Y8, Y9
	VMULPD    Y12, Y8, Y14
	VMULPD    Y13, Y9, Y15
	VADDSUBPD Y15, Y14, Y14
	VMOVUPD   Y14, (SI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       loop_rd

done_rd:
	VZEROUPPER
	RET

// func xorRowC64AVX(v *complex64, m *uint32, n int, rowMask uint32)
// Flips signs by XOR: the float bits of v[k] are XORed with m[2k], m[2k+1]
// and rowMask, for k < n; n is a multiple of 4. With masks that are 0 or
// the sign bit this multiplies each amplitude by +-1 (a diagonal of CZ
// and Z gates) without arithmetic.
TEXT ·xorRowC64AVX(SB), NOSPLIT, $0-28
	MOVQ         v+0(FP), SI
	MOVQ         m+8(FP), DI
	MOVQ         n+16(FP), CX
	MOVL         rowMask+24(FP), AX
	VMOVD        AX, X0
	VPBROADCASTD X0, Y0
	SHRQ         $2, CX
	JZ           donex

loopx:
	VXORPS  (DI), Y0, Y1
	VXORPS  (SI), Y1, Y1
	VMOVUPS Y1, (SI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loopx

donex:
	VZEROUPPER
	RET

// func mat4c64AVX(v *complex64, bases, s0, s1 int, c *[256]float32)
// A dense complex 4x4 matrix on the two qubits of strides s0 < s1 (in
// amplitudes, powers of two, both at least 4): for each base index i with
// both qubits 0 (the bases/4 groups of four consecutive such indexes), the
// amplitudes x_k at i, i+s0, i+s1, i+s0+s1 become y_r = sum_k m[r][k] x_k.
// bases (the number of base indexes, a quarter of the amplitudes) is a
// multiple of 4. c holds, at float offset 64r+16k for row r and column k,
// the real part of m[r][k] in eight lanes, then its imaginary part with
// the sign of the even lanes flipped, so that m x = re(m) x + im'(m)
// swap(x) with no add-subtract.
TEXT ·mat4c64AVX(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ bases+8(FP), BX
	MOVQ s0+16(FP), R8
	MOVQ s1+24(FP), R9
	MOVQ c+32(FP), AX
	LEAQ -1(R8), R10
	LEAQ -1(R9), R11
	SHLQ $3, R8
	SHLQ $3, R9
	XORQ CX, CX
	TESTQ BX, BX
	JZ    done_mat4c64AVX

loop_mat4c64AVX:
	MOVQ CX, DX
	MOVQ DX, DI
	ANDQ R10, DI
	XORQ DI, DX
	SHLQ $1, DX
	ORQ  DI, DX
	MOVQ DX, DI
	ANDQ R11, DI
	XORQ DI, DX
	SHLQ $1, DX
	ORQ  DI, DX
	LEAQ (SI)(DX*8), R12
	LEAQ (R12)(R8*1), R13
	LEAQ (R12)(R9*1), R14
	VMOVUPS (R12), Y0
	VMOVUPS (R13), Y1
	VMOVUPS (R14), Y2
	VMOVUPS (R14)(R8*1), Y3
	VPERMILPS $0xB1, Y0, Y4
	VPERMILPS $0xB1, Y1, Y5
	VPERMILPS $0xB1, Y2, Y6
	VPERMILPS $0xB1, Y3, Y7
	VMULPS      0(AX), Y0, Y8
	VFMADD231PS 32(AX), Y4, Y8
	VFMADD231PS 64(AX), Y1, Y8
	VFMADD231PS 96(AX), Y5, Y8
	VFMADD231PS 128(AX), Y2, Y8
	VFMADD231PS 160(AX), Y6, Y8
	VFMADD231PS 192(AX), Y3, Y8
	VFMADD231PS 224(AX), Y7, Y8
	VMULPS      256(AX), Y0, Y9
	VFMADD231PS 288(AX), Y4, Y9
	VFMADD231PS 320(AX), Y1, Y9
	VFMADD231PS 352(AX), Y5, Y9
	VFMADD231PS 384(AX), Y2, Y9
	VFMADD231PS 416(AX), Y6, Y9
	VFMADD231PS 448(AX), Y3, Y9
	VFMADD231PS 480(AX), Y7, Y9
	VMULPS      512(AX), Y0, Y10
	VFMADD231PS 544(AX), Y4, Y10
	VFMADD231PS 576(AX), Y1, Y10
	VFMADD231PS 608(AX), Y5, Y10
	VFMADD231PS 640(AX), Y2, Y10
	VFMADD231PS 672(AX), Y6, Y10
	VFMADD231PS 704(AX), Y3, Y10
	VFMADD231PS 736(AX), Y7, Y10
	VMULPS      768(AX), Y0, Y11
	VFMADD231PS 800(AX), Y4, Y11
	VFMADD231PS 832(AX), Y1, Y11
	VFMADD231PS 864(AX), Y5, Y11
	VFMADD231PS 896(AX), Y2, Y11
	VFMADD231PS 928(AX), Y6, Y11
	VFMADD231PS 960(AX), Y3, Y11
	VFMADD231PS 992(AX), Y7, Y11
	VMOVUPS Y8, (R12)
	VMOVUPS Y9, (R13)
	VMOVUPS Y10, (R14)
	VMOVUPS Y11, (R14)(R8*1)
	ADDQ $4, CX
	CMPQ CX, BX
	JLT  loop_mat4c64AVX

done_mat4c64AVX:
	VZEROUPPER
	RET

// func mat4RealC64AVX(v *complex64, bases, s0, s1 int, c *[256]float32)
// mat4c64AVX for a real matrix (the imaginary parts in c are not read):
// half the arithmetic.
TEXT ·mat4RealC64AVX(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ bases+8(FP), BX
	MOVQ s0+16(FP), R8
	MOVQ s1+24(FP), R9
	MOVQ c+32(FP), AX
	LEAQ -1(R8), R10
	LEAQ -1(R9), R11
	SHLQ $3, R8
	SHLQ $3, R9
	XORQ CX, CX
	TESTQ BX, BX
	JZ    done_mat4RealC64AVX

loop_mat4RealC64AVX:
	MOVQ CX, DX
	MOVQ DX, DI
	ANDQ R10, DI
	XORQ DI, DX
	SHLQ $1, DX
	ORQ  DI, DX
	MOVQ DX, DI
	ANDQ R11, DI
	XORQ DI, DX
	SHLQ $1, DX
	ORQ  DI, DX
	LEAQ (SI)(DX*8), R12
	LEAQ (R12)(R8*1), R13
	LEAQ (R12)(R9*1), R14
	VMOVUPS (R12), Y0
	VMOVUPS (R13), Y1
	VMOVUPS (R14), Y2
	VMOVUPS (R14)(R8*1), Y3
	VMULPS      0(AX), Y0, Y8
	VFMADD231PS 64(AX), Y1, Y8
	VFMADD231PS 128(AX), Y2, Y8
	VFMADD231PS 192(AX), Y3, Y8
	VMULPS      256(AX), Y0, Y9
	VFMADD231PS 320(AX), Y1, Y9
	VFMADD231PS 384(AX), Y2, Y9
	VFMADD231PS 448(AX), Y3, Y9
	VMULPS      512(AX), Y0, Y10
	VFMADD231PS 576(AX), Y1, Y10
	VFMADD231PS 640(AX), Y2, Y10
	VFMADD231PS 704(AX), Y3, Y10
	VMULPS      768(AX), Y0, Y11
	VFMADD231PS 832(AX), Y1, Y11
	VFMADD231PS 896(AX), Y2, Y11
	VFMADD231PS 960(AX), Y3, Y11
	VMOVUPS Y8, (R12)
	VMOVUPS Y9, (R13)
	VMOVUPS Y10, (R14)
	VMOVUPS Y11, (R14)(R8*1)
	ADDQ $4, CX
	CMPQ CX, BX
	JLT  loop_mat4RealC64AVX

done_mat4RealC64AVX:
	VZEROUPPER
	RET
