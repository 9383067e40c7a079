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
