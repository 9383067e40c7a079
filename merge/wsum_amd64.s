//go:build amd64 && !purego

#include "textflag.h"

// Kernels of weightedSum (wsum_amd64.go). They do, eight entries at a time,
// exactly the float32 and float64 operations of the portable code in
// wsum.go, in the same order and without fused multiply-adds, so that
// every result is bit-identical to it.

// func accPairAVX2(a *float64, e0, e1, b *float32, n int, w0, w1 float64, sub float32)
// a[j] += w0·float64(e0[j] − sub·b[j]) + w1·float64(e1[j] − sub·b[j]), n % 8 == 0.
TEXT ·accPairAVX2(SB), NOSPLIT, $0-60
	MOVQ a+0(FP), DI
	MOVQ e0+8(FP), SI
	MOVQ e1+16(FP), DX
	MOVQ b+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSD w0+40(FP), Y0
	VBROADCASTSD w1+48(FP), Y1
	VBROADCASTSS sub+56(FP), Y2
	XORQ AX, AX

pairloop:
	CMPQ AX, CX
	JGE  pairdone
	VMOVUPS (BX)(AX*4), Y3
	VMULPS  Y2, Y3, Y3
	VMOVUPS (SI)(AX*4), Y4
	VSUBPS  Y3, Y4, Y4
	VMOVUPS (DX)(AX*4), Y5
	VSUBPS  Y3, Y5, Y5
	VCVTPS2PD X4, Y6
	VCVTPS2PD X5, Y7
	VMULPD  Y0, Y6, Y6
	VMULPD  Y1, Y7, Y7
	VADDPD  Y7, Y6, Y6
	VADDPD  (DI)(AX*8), Y6, Y6
	VMOVUPD Y6, (DI)(AX*8)
	VEXTRACTF128 $1, Y4, X4
	VEXTRACTF128 $1, Y5, X5
	VCVTPS2PD X4, Y8
	VCVTPS2PD X5, Y9
	VMULPD  Y0, Y8, Y8
	VMULPD  Y1, Y9, Y9
	VADDPD  Y9, Y8, Y8
	VADDPD  32(DI)(AX*8), Y8, Y8
	VMOVUPD Y8, 32(DI)(AX*8)
	ADDQ    $8, AX
	JMP     pairloop

pairdone:
	VZEROUPPER
	RET

// func accOneAVX2(a *float64, e0, b *float32, n int, w0 float64, sub float32)
// a[j] += w0·float64(e0[j] − sub·b[j]), n % 8 == 0.
TEXT ·accOneAVX2(SB), NOSPLIT, $0-44
	MOVQ a+0(FP), DI
	MOVQ e0+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	VBROADCASTSD w0+32(FP), Y0
	VBROADCASTSS sub+40(FP), Y2
	XORQ AX, AX

oneloop:
	CMPQ AX, CX
	JGE  onedone
	VMOVUPS (BX)(AX*4), Y3
	VMULPS  Y2, Y3, Y3
	VMOVUPS (SI)(AX*4), Y4
	VSUBPS  Y3, Y4, Y4
	VCVTPS2PD X4, Y6
	VMULPD  Y0, Y6, Y6
	VADDPD  (DI)(AX*8), Y6, Y6
	VMOVUPD Y6, (DI)(AX*8)
	VEXTRACTF128 $1, Y4, X4
	VCVTPS2PD X4, Y8
	VMULPD  Y0, Y8, Y8
	VADDPD  32(DI)(AX*8), Y8, Y8
	VMOVUPD Y8, 32(DI)(AX*8)
	ADDQ    $8, AX
	JMP     oneloop

onedone:
	VZEROUPPER
	RET

// func finishAVX2(o *float32, a *float64, b *float32, n int, scale float64) (bad bool)
// o[j] = float32(float64(b[j]) + scale·a[j]); bad reports a non-finite
// scale·a[j] (s − s is +0 for finite s and NaN otherwise), n % 8 == 0.
TEXT ·finishAVX2(SB), NOSPLIT, $0-41
	MOVQ o+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	VBROADCASTSD scale+32(FP), Y0
	VXORPD Y10, Y10, Y10
	XORQ AX, AX

finloop:
	CMPQ AX, CX
	JGE  findone
	VMULPD  (SI)(AX*8), Y0, Y1
	VSUBPD  Y1, Y1, Y2
	VORPD   Y2, Y10, Y10
	VCVTPS2PD (BX)(AX*4), Y3
	VADDPD  Y1, Y3, Y3
	VCVTPD2PSY Y3, X3
	VMOVUPS X3, (DI)(AX*4)
	VMULPD  32(SI)(AX*8), Y0, Y4
	VSUBPD  Y4, Y4, Y5
	VORPD   Y5, Y10, Y10
	VCVTPS2PD 16(BX)(AX*4), Y6
	VADDPD  Y4, Y6, Y6
	VCVTPD2PSY Y6, X6
	VMOVUPS X6, 16(DI)(AX*4)
	ADDQ    $8, AX
	JMP     finloop

findone:
	VPTEST Y10, Y10
	SETNE  bad+40(FP)
	VZEROUPPER
	RET
