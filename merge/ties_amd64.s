//go:build amd64 && !purego

#include "textflag.h"

// Kernels of the TIES consensus (ties_amd64.go). They do, eight entries at
// a time, exactly the float32 and float64 operations of the portable code
// in ties.go, in the same order, so results are bit-identical to it.

// CONSACC accumulates the eight float32 τ̂ in Y4 into the consensus sums at
// offset AX: x = w·τ̂ (Y0 = w, Y15 = 0); pn += x where x > 0, nn += x where
// x < 0, pw += w where x > 0, nw += w where x < 0 (+0 elsewhere).
#define CONSHALF(off) \
	VMULPD  Y0, Y6, Y6; \
	VCMPPD  $0x1e, Y15, Y6, Y7; \
	VCMPPD  $0x11, Y15, Y6, Y8; \
	VANDPD  Y7, Y6, Y9; \
	VADDPD  off(R8)(AX*8), Y9, Y9; \
	VMOVUPD Y9, off(R8)(AX*8); \
	VANDPD  Y8, Y6, Y9; \
	VADDPD  off(R9)(AX*8), Y9, Y9; \
	VMOVUPD Y9, off(R9)(AX*8); \
	VANDPD  Y7, Y0, Y9; \
	VADDPD  off(R10)(AX*8), Y9, Y9; \
	VMOVUPD Y9, off(R10)(AX*8); \
	VANDPD  Y8, Y0, Y9; \
	VADDPD  off(R11)(AX*8), Y9, Y9; \
	VMOVUPD Y9, off(R11)(AX*8)

#define CONSACC \
	VCVTPS2PD X4, Y6; \
	CONSHALF(0); \
	VEXTRACTF128 $1, Y4, X5; \
	VCVTPS2PD X5, Y6; \
	CONSHALF(32)

// func consCutAVX2(pn, nn, pw, nw *float64, e, b *float32, n int, w float64, thr int32) (bad bool)
// τ̂ = e − b where the magnitude bits of e − b exceed thr, else +0; then
// CONSACC. bad reports a NaN or Inf e − b. n % 8 == 0.
TEXT ·consCutAVX2(SB), NOSPLIT, $0-73
	MOVQ pn+0(FP), R8
	MOVQ nn+8(FP), R9
	MOVQ pw+16(FP), R10
	MOVQ nw+24(FP), R11
	MOVQ e+32(FP), SI
	MOVQ b+40(FP), BX
	MOVQ n+48(FP), CX
	VBROADCASTSD w+56(FP), Y0
	MOVL thr+64(FP), DX
	VMOVD DX, X1
	VPBROADCASTD X1, Y1
	VPCMPEQD Y2, Y2, Y2
	VPSRLD   $31, Y2, Y3
	VPSLLD   $23, Y3, Y3 // 0x00800000
	VPSRLD   $1, Y2, Y2  // 0x7fffffff
	VXORPD Y15, Y15, Y15
	VXORPD Y14, Y14, Y14
	XORQ AX, AX

cutloop:
	CMPQ AX, CX
	JGE  cutdone
	VMOVUPS (SI)(AX*4), Y4
	VSUBPS  (BX)(AX*4), Y4, Y4
	VPAND   Y2, Y4, Y5
	VPADDD  Y3, Y5, Y10
	VPOR    Y10, Y14, Y14
	VPCMPGTD Y1, Y5, Y5
	VPAND   Y5, Y4, Y4
	CONSACC
	ADDQ    $8, AX
	JMP     cutloop

cutdone:
	VMOVMSKPS Y14, DX
	TESTL  DX, DX
	SETNE  bad+72(FP)
	VZEROUPPER
	RET

// func consAccAVX2(pn, nn, pw, nw *float64, t *float32, n int, w float64)
// CONSACC over τ̂ = t. n % 8 == 0.
TEXT ·consAccAVX2(SB), NOSPLIT, $0-56
	MOVQ pn+0(FP), R8
	MOVQ nn+8(FP), R9
	MOVQ pw+16(FP), R10
	MOVQ nw+24(FP), R11
	MOVQ t+32(FP), SI
	MOVQ n+40(FP), CX
	VBROADCASTSD w+48(FP), Y0
	VXORPD Y15, Y15, Y15
	XORQ AX, AX

accloop:
	CMPQ AX, CX
	JGE  accdone
	VMOVUPS (SI)(AX*4), Y4
	CONSACC
	ADDQ    $8, AX
	JMP     accloop

accdone:
	VZEROUPPER
	RET

// CONSFIN elects and writes four outputs at offset AX (entries) from the
// sums: num, den = pn, pw, or nn, nw where pn + nn < 0; num /= den where
// normalize (DX ≠ 0) and den ≠ 0; o = float32(float64(b) + λ·num).
#define CONSFIN(off, boff) \
	VMOVUPD off(R8)(AX*8), Y1; \
	VMOVUPD off(R9)(AX*8), Y2; \
	VADDPD  Y2, Y1, Y3; \
	VCMPPD  $0x11, Y15, Y3, Y4; \
	VBLENDVPD Y4, Y2, Y1, Y5; \
	VMOVUPD off(R10)(AX*8), Y1; \
	VMOVUPD off(R11)(AX*8), Y2; \
	VBLENDVPD Y4, Y2, Y1, Y6; \
	VDIVPD  Y6, Y5, Y7; \
	VCMPPD  $0x00, Y15, Y6, Y8; \
	VORPD   Y13, Y8, Y8; \
	VBLENDVPD Y8, Y5, Y7, Y5; \
	VMULPD  Y0, Y5, Y5; \
	VCVTPS2PD boff(BX)(AX*4), Y9; \
	VADDPD  Y5, Y9, Y9; \
	VCVTPD2PSY Y9, X9; \
	VMOVUPS X9, boff(DI)(AX*4)

// func consFinishAVX2(o *float32, pn, nn, pw, nw *float64, b *float32, n int, lambda float64, normalize bool)
// n % 8 == 0.
TEXT ·consFinishAVX2(SB), NOSPLIT, $0-65
	MOVQ o+0(FP), DI
	MOVQ pn+8(FP), R8
	MOVQ nn+16(FP), R9
	MOVQ pw+24(FP), R10
	MOVQ nw+32(FP), R11
	MOVQ b+40(FP), BX
	MOVQ n+48(FP), CX
	VBROADCASTSD lambda+56(FP), Y0
	VXORPD Y15, Y15, Y15
	// Y13: all ones when normalize is false, so that num is never divided.
	VXORPD Y13, Y13, Y13
	MOVBLZX normalize+64(FP), DX
	TESTL DX, DX
	JNE  finstart
	VCMPPD $0x00, Y15, Y15, Y13

finstart:
	XORQ AX, AX

finloop:
	CMPQ AX, CX
	JGE  findone
	CONSFIN(0, 0)
	CONSFIN(32, 16)
	ADDQ    $8, AX
	JMP     finloop

findone:
	VZEROUPPER
	RET

// func cutAVX2(dst, e, b *float32, n int, thr int32) (bad uint32)
// dst = τ = e − b where the magnitude bits of τ exceed thr, else +0;
// bad has bit 31 set iff some τ is NaN or Inf. n % 8 == 0.
TEXT ·cutAVX2(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ e+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	MOVL thr+32(FP), DX
	VMOVD DX, X1
	VPBROADCASTD X1, Y1
	VPCMPEQD Y2, Y2, Y2
	VPSRLD   $31, Y2, Y3
	VPSLLD   $23, Y3, Y3 // 0x00800000
	VPSRLD   $1, Y2, Y2  // 0x7fffffff
	VPXOR    Y14, Y14, Y14
	XORQ AX, AX

tcutloop:
	CMPQ AX, CX
	JGE  tcutdone
	PREFETCHT0 512(SI)(AX*4) // the expert's rows stream in short runs: help the prefetcher
	VMOVUPS (SI)(AX*4), Y4
	VSUBPS  (BX)(AX*4), Y4, Y4
	VPAND   Y2, Y4, Y5
	VPADDD  Y3, Y5, Y10
	VPOR    Y10, Y14, Y14
	VPCMPGTD Y1, Y5, Y5
	VPAND   Y5, Y4, Y4
	VMOVUPS Y4, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     tcutloop

tcutdone:
	VMOVMSKPS Y14, DX
	XORL    R8, R8
	TESTL   DX, DX
	JEQ     tcutret
	MOVL    $0x80000000, R8

tcutret:
	MOVL    R8, bad+40(FP)
	VZEROUPPER
	RET

// func consRowsAVX512(o, b *float32, rows **float32, w *float64, k, n int, lambda float64, normalize bool)
// The one-pass consensus of consRowsGo, eight entries at a time: for each
// expert i in order, x = w[i]·τ̂ (τ̂ = rows[i][j]); pn += x and pw += w[i]
// where x > 0, nn += x and nw += w[i] where x < 0 (masked adds leave the
// other lanes as they are, like adding the +0 of consAccGo); then the
// election and output of consFinishGo. k ≥ 1, n % 8 == 0. Needs AVX-512 F.
TEXT ·consRowsAVX512(SB), NOSPLIT, $0-57
	MOVQ o+0(FP), DI
	MOVQ b+8(FP), BX
	MOVQ rows+16(FP), DX
	MOVQ w+24(FP), R14
	MOVQ k+32(FP), R15
	MOVQ n+40(FP), CX
	VBROADCASTSD lambda+48(FP), Z0
	MOVBLZX normalize+56(FP), R8
	VXORPD Z15, Z15, Z15
	XORQ AX, AX

rowsloop:
	CMPQ AX, CX
	JGE  rowsdone
	VXORPD Z1, Z1, Z1 // pn
	VXORPD Z2, Z2, Z2 // nn
	VXORPD Z3, Z3, Z3 // pw
	VXORPD Z4, Z4, Z4 // nw
	XORQ R12, R12

rowsexpert:
	MOVQ (DX)(R12*8), R13
	VCVTPS2PD (R13)(AX*4), Z5
	VBROADCASTSD (R14)(R12*8), Z6
	VMULPD  Z6, Z5, Z5
	VCMPPD  $0x1e, Z15, Z5, K1 // x > 0
	VCMPPD  $0x11, Z15, Z5, K2 // x < 0
	VADDPD  Z5, Z1, K1, Z1
	VADDPD  Z5, Z2, K2, Z2
	VADDPD  Z6, Z3, K1, Z3
	VADDPD  Z6, Z4, K2, Z4
	INCQ R12
	CMPQ R12, R15
	JLT  rowsexpert

	// num, den = pn, pw, or nn, nw where pn + nn < 0.
	VADDPD  Z2, Z1, Z7
	VCMPPD  $0x11, Z15, Z7, K3
	VMOVAPD Z2, K3, Z1
	VMOVAPD Z4, K3, Z3
	TESTQ   R8, R8
	JEQ     rowsscale
	VCMPPD  $0x04, Z15, Z3, K4 // den ≠ 0
	VDIVPD  Z3, Z1, K4, Z1

rowsscale:
	VMULPD  Z0, Z1, Z1
	VCVTPS2PD (BX)(AX*4), Z8
	VADDPD  Z1, Z8, Z8
	VCVTPD2PS Z8, Y8
	VMOVUPS Y8, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     rowsloop

rowsdone:
	VZEROUPPER
	RET
