//go:build amd64 && !purego

#include "textflag.h"

// func dropAVX512(dst, e, b *float32, n int, z0 *[8]uint64, step, pthr uint64, scale float64) (bad uint32)
// DARE's random drop, eight entries at a time, exactly as randomRange:
// the draw of entry i is mix64(z0[i mod 8] + (i/8)·step) >> 11 (z0[l] =
// key + (lo+l)·γ, step = 8γ); τ = e − b is kept (times scale, rounded to
// float32) iff draw < pthr, else +0. bad has bit 31 set iff some τ is NaN
// or Inf. n % 8 == 0. Needs AVX-512 F, VL and DQ.
TEXT ·dropAVX512(SB), NOSPLIT, $0-68
	MOVQ dst+0(FP), DI
	MOVQ e+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ z0+32(FP), DX
	VMOVDQU64 (DX), Z0
	MOVQ step+40(FP), DX
	VPBROADCASTQ DX, Z1
	MOVQ pthr+48(FP), DX
	VPBROADCASTQ DX, Z2
	VBROADCASTSD scale+56(FP), Z3
	MOVQ $0xbf58476d1ce4e5b9, DX
	VPBROADCASTQ DX, Z4
	MOVQ $0x94d049bb133111eb, DX
	VPBROADCASTQ DX, Z5
	VPCMPEQD Y6, Y6, Y6
	VPSRLD   $31, Y6, Y7
	VPSLLD   $23, Y7, Y7 // 0x00800000
	VPSRLD   $1, Y6, Y6  // 0x7fffffff
	VPXOR    Y15, Y15, Y15
	XORQ AX, AX

droploop:
	CMPQ AX, CX
	JGE  dropdone
	// Draws: z ^= z>>30; z *= c1; z ^= z>>27; z *= c2; z ^= z>>31; z >>= 11.
	VPSRLQ  $30, Z0, Z8
	VPXORQ  Z8, Z0, Z8
	VPMULLQ Z4, Z8, Z8
	VPSRLQ  $27, Z8, Z9
	VPXORQ  Z9, Z8, Z8
	VPMULLQ Z5, Z8, Z8
	VPSRLQ  $31, Z8, Z9
	VPXORQ  Z9, Z8, Z8
	VPSRLQ  $11, Z8, Z8
	VPCMPUQ $1, Z2, Z8, K1 // draw < pthr
	VPMOVM2D K1, Y10
	VPADDQ  Z1, Z0, Z0
	// τ = e − b, its bad bit, the rescaled value, masked.
	VMOVUPS (SI)(AX*4), Y11
	VSUBPS  (BX)(AX*4), Y11, Y11
	VPAND   Y6, Y11, Y12
	VPADDD  Y7, Y12, Y12
	VPOR    Y12, Y15, Y15
	VCVTPS2PD Y11, Z13
	VMULPD  Z3, Z13, Z13
	VCVTPD2PS Z13, Y13
	VPAND   Y10, Y13, Y13
	VMOVUPS Y13, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     droploop

dropdone:
	VMOVMSKPS Y15, DX
	XORL    R8, R8
	TESTL   DX, DX
	JEQ     dropret
	MOVL    $0x80000000, R8

dropret:
	MOVL    R8, bad+64(FP)
	VZEROUPPER
	RET
