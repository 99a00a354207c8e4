#include "textflag.h"

// AVX-512 forms of the hottest kernels of simd_amd64.s: the same
// arithmetic on eight complex64 amplitudes per register instead of four.
// On cores with full-width 512-bit units (AMD Zen 5, Intel server cores)
// they do the work of two AVX2 instructions in one; see simd512.go for
// when they run.

// func mat4c64AVX512(v *complex64, bases, s0, s1 int, c *[512]float32)
// mat4c64AVX with 16 lanes per coefficient (c at float offset 128r+32k:
// the real part of m[r][k] in 16 lanes, then the imaginary part with the
// sign of the even lanes flipped) and groups of eight consecutive base
// indexes: s0 and s1 are at least 8 and bases is a multiple of 8. The
// coefficients of rows 0 and 1 stay in registers; those of rows 2 and 3
// are read from c as operands (32 of them would leave no register for the
// amplitudes).
TEXT ·mat4c64AVX512(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ bases+8(FP), BX
	MOVQ s0+16(FP), R8
	MOVQ s1+24(FP), R9
	MOVQ c+32(FP), AX
	VMOVUPS 0(AX), Z16
	VMOVUPS 64(AX), Z17
	VMOVUPS 128(AX), Z18
	VMOVUPS 192(AX), Z19
	VMOVUPS 256(AX), Z20
	VMOVUPS 320(AX), Z21
	VMOVUPS 384(AX), Z22
	VMOVUPS 448(AX), Z23
	VMOVUPS 512(AX), Z24
	VMOVUPS 576(AX), Z25
	VMOVUPS 640(AX), Z26
	VMOVUPS 704(AX), Z27
	VMOVUPS 768(AX), Z28
	VMOVUPS 832(AX), Z29
	VMOVUPS 896(AX), Z30
	VMOVUPS 960(AX), Z31
	LEAQ -1(R8), R10
	LEAQ -1(R9), R11
	SHLQ $3, R8
	SHLQ $3, R9
	XORQ CX, CX
	TESTQ BX, BX
	JZ    done_mat4c64AVX512

loop_mat4c64AVX512:
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
	VMOVUPS (R12), Z0
	VMOVUPS (R13), Z1
	VMOVUPS (R14), Z2
	VMOVUPS (R14)(R8*1), Z3
	VPERMILPS $0xB1, Z0, Z4
	VPERMILPS $0xB1, Z1, Z5
	VPERMILPS $0xB1, Z2, Z6
	VPERMILPS $0xB1, Z3, Z7
	VMULPS Z16, Z0, Z8
	VFMADD231PS Z17, Z4, Z8
	VFMADD231PS Z18, Z1, Z8
	VFMADD231PS Z19, Z5, Z8
	VFMADD231PS Z20, Z2, Z8
	VFMADD231PS Z21, Z6, Z8
	VFMADD231PS Z22, Z3, Z8
	VFMADD231PS Z23, Z7, Z8
	VMULPS Z24, Z0, Z9
	VFMADD231PS Z25, Z4, Z9
	VFMADD231PS Z26, Z1, Z9
	VFMADD231PS Z27, Z5, Z9
	VFMADD231PS Z28, Z2, Z9
	VFMADD231PS Z29, Z6, Z9
	VFMADD231PS Z30, Z3, Z9
	VFMADD231PS Z31, Z7, Z9
	VMULPS      1024(AX), Z0, Z10
	VFMADD231PS 1088(AX), Z4, Z10
	VFMADD231PS 1152(AX), Z1, Z10
	VFMADD231PS 1216(AX), Z5, Z10
	VFMADD231PS 1280(AX), Z2, Z10
	VFMADD231PS 1344(AX), Z6, Z10
	VFMADD231PS 1408(AX), Z3, Z10
	VFMADD231PS 1472(AX), Z7, Z10
	VMULPS      1536(AX), Z0, Z11
	VFMADD231PS 1600(AX), Z4, Z11
	VFMADD231PS 1664(AX), Z1, Z11
	VFMADD231PS 1728(AX), Z5, Z11
	VFMADD231PS 1792(AX), Z2, Z11
	VFMADD231PS 1856(AX), Z6, Z11
	VFMADD231PS 1920(AX), Z3, Z11
	VFMADD231PS 1984(AX), Z7, Z11
	VMOVUPS Z8, (R12)
	VMOVUPS Z9, (R13)
	VMOVUPS Z10, (R14)
	VMOVUPS Z11, (R14)(R8*1)
	ADDQ $8, CX
	CMPQ CX, BX
	JLT  loop_mat4c64AVX512

done_mat4c64AVX512:
	VZEROUPPER
	RET

// func mat4RealC64AVX512(v *complex64, bases, s0, s1 int, c *[512]float32)
// mat4c64AVX512 for a real matrix (the imaginary parts are not read); its
// 16 coefficients stay in registers.
TEXT ·mat4RealC64AVX512(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ bases+8(FP), BX
	MOVQ s0+16(FP), R8
	MOVQ s1+24(FP), R9
	MOVQ c+32(FP), AX
	VMOVUPS 0(AX), Z16
	VMOVUPS 128(AX), Z17
	VMOVUPS 256(AX), Z18
	VMOVUPS 384(AX), Z19
	VMOVUPS 512(AX), Z20
	VMOVUPS 640(AX), Z21
	VMOVUPS 768(AX), Z22
	VMOVUPS 896(AX), Z23
	VMOVUPS 1024(AX), Z24
	VMOVUPS 1152(AX), Z25
	VMOVUPS 1280(AX), Z26
	VMOVUPS 1408(AX), Z27
	VMOVUPS 1536(AX), Z28
	VMOVUPS 1664(AX), Z29
	VMOVUPS 1792(AX), Z30
	VMOVUPS 1920(AX), Z31
	LEAQ -1(R8), R10
	LEAQ -1(R9), R11
	SHLQ $3, R8
	SHLQ $3, R9
	XORQ CX, CX
	TESTQ BX, BX
	JZ    done_mat4RealC64AVX512

loop_mat4RealC64AVX512:
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
	VMOVUPS (R12), Z0
	VMOVUPS (R13), Z1
	VMOVUPS (R14), Z2
	VMOVUPS (R14)(R8*1), Z3
	VMULPS Z16, Z0, Z8
	VFMADD231PS Z17, Z1, Z8
	VFMADD231PS Z18, Z2, Z8
	VFMADD231PS Z19, Z3, Z8
	VMULPS Z20, Z0, Z9
	VFMADD231PS Z21, Z1, Z9
	VFMADD231PS Z22, Z2, Z9
	VFMADD231PS Z23, Z3, Z9
	VMULPS Z24, Z0, Z10
	VFMADD231PS Z25, Z1, Z10
	VFMADD231PS Z26, Z2, Z10
	VFMADD231PS Z27, Z3, Z10
	VMULPS Z28, Z0, Z11
	VFMADD231PS Z29, Z1, Z11
	VFMADD231PS Z30, Z2, Z11
	VFMADD231PS Z31, Z3, Z11
	VMOVUPS Z8, (R12)
	VMOVUPS Z9, (R13)
	VMOVUPS Z10, (R14)
	VMOVUPS Z11, (R14)(R8*1)
	ADDQ $8, CX
	CMPQ CX, BX
	JLT  loop_mat4RealC64AVX512

done_mat4RealC64AVX512:
	VZEROUPPER
	RET

// func xorRowC64AVX512(v *complex64, m *uint32, n int, rowMask uint32)
// xorRowC64AVX on eight amplitudes per register; n is a multiple of 8.
TEXT ·xorRowC64AVX512(SB), NOSPLIT, $0-28
	MOVQ         v+0(FP), SI
	MOVQ         m+8(FP), DI
	MOVQ         n+16(FP), CX
	MOVL         rowMask+24(FP), AX
	VPBROADCASTD AX, Z0
	SHRQ         $3, CX
	JZ           donex512

loopx512:
	VPXORD  (DI), Z0, Z1
	VPXORD  (SI), Z1, Z1
	VMOVDQU32 Z1, (SI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     loopx512

donex512:
	VZEROUPPER
	RET

// func mat2c64T0AVX512(v *complex64, n int, c *[64]float32)
// mat2c64T0AVX on two groups of four amplitudes per register; n is a
// multiple of 8. AVX-512 has no add-subtract, so c holds C1's real part,
// C1's imaginary part with the sign of the even lanes flipped, then the
// same for C2, 16 lanes each: C v = re(C) v + im'(C) swap(v).
TEXT ·mat2c64T0AVX512(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+16(FP), AX
	VMOVUPS 0(AX), Z0
	VMOVUPS 64(AX), Z1
	VMOVUPS 128(AX), Z2
	VMOVUPS 192(AX), Z3
	SHRQ $3, CX
	JZ   done0z

loop0z:
	VMOVUPS     (SI), Z8
	VPERMILPS   $0x4E, Z8, Z9
	VPERMILPS   $0xB1, Z8, Z10
	VPERMILPS   $0xB1, Z9, Z11
	VMULPS      Z0, Z8, Z12
	VFMADD231PS Z1, Z10, Z12
	VFMADD231PS Z2, Z9, Z12
	VFMADD231PS Z3, Z11, Z12
	VMOVUPS     Z12, (SI)
	ADDQ        $64, SI
	DECQ        CX
	JNZ         loop0z

done0z:
	VZEROUPPER
	RET

// func mat2c64T1AVX512(v *complex64, n int, c *[64]float32)
// mat2c64T0AVX512 for target qubit 1: p swaps the 128-bit halves of each
// group of four amplitudes.
TEXT ·mat2c64T1AVX512(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+16(FP), AX
	VMOVUPS 0(AX), Z0
	VMOVUPS 64(AX), Z1
	VMOVUPS 128(AX), Z2
	VMOVUPS 192(AX), Z3
	SHRQ $3, CX
	JZ   done1z

loop1z:
	VMOVUPS     (SI), Z8
	VSHUFF32X4  $0xB1, Z8, Z8, Z9
	VPERMILPS   $0xB1, Z8, Z10
	VPERMILPS   $0xB1, Z9, Z11
	VMULPS      Z0, Z8, Z12
	VFMADD231PS Z1, Z10, Z12
	VFMADD231PS Z2, Z9, Z12
	VFMADD231PS Z3, Z11, Z12
	VMOVUPS     Z12, (SI)
	ADDQ        $64, SI
	DECQ        CX
	JNZ         loop1z

done1z:
	VZEROUPPER
	RET

// func xorRowsC64AVX512(v *complex64, tabs, rows *uint32, n, w int)
// xorRowC64AVX512 over n consecutive rows of w amplitudes (w a multiple of
// 8): row r uses the sign table at tabs + (rows[r]>>1)*2w and flips every
// sign of the row besides when bit 0 of rows[r] is set. One call per
// block instead of one per row.
TEXT ·xorRowsC64AVX512(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ tabs+8(FP), DI
	MOVQ rows+16(FP), R8
	MOVQ n+24(FP), BX
	MOVQ w+32(FP), R10
	MOVQ R10, R11
	SHLQ $3, R11
	SHRQ $3, R10
	TESTQ BX, BX
	JZ    donexr
	TESTQ R10, R10
	JZ    donexr

rowxr:
	MOVL         (R8), AX
	MOVL         AX, DX
	ANDL         $1, DX
	SHLL         $31, DX
	VPBROADCASTD DX, Z0
	SHRQ         $1, AX
	IMULQ        R11, AX
	LEAQ         (DI)(AX*1), R9
	MOVQ         R10, CX

loopxr:
	VPXORD    (R9), Z0, Z1
	VPXORD    (SI), Z1, Z1
	VMOVDQU32 Z1, (SI)
	ADDQ      $64, SI
	ADDQ      $64, R9
	DECQ      CX
	JNZ       loopxr
	ADDQ      $4, R8
	DECQ      BX
	JNZ       rowxr

donexr:
	VZEROUPPER
	RET
