//go:build amd64 && !purego

#include "textflag.h"

// func dot4AVX2(x, y *float32, n int, s *[4]float64)
// s[l] = Σ over j ≡ l (mod 4) of float64(x[j])·float64(y[j]), each product
// rounded before it is added, entries in order: dot64Go's partial sums.
// n % 4 == 0.
TEXT ·dot4AVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ s+24(FP), DX
	VXORPD Y0, Y0, Y0
	XORQ AX, AX

dotloop:
	CMPQ AX, CX
	JGE  dotdone
	VCVTPS2PD (SI)(AX*4), Y1
	VCVTPS2PD (DI)(AX*4), Y2
	VMULPD  Y2, Y1, Y1
	VADDPD  Y1, Y0, Y0
	ADDQ    $4, AX
	JMP     dotloop

dotdone:
	VMOVUPD Y0, (DX)
	VZEROUPPER
	RET
