//go:build amd64 && !purego

#include "textflag.h"

// func bracketAVX2(e, b *float32, n int, sub float32, lo1, hi int32, masks *uint8) (greater int)
// For the magnitude bits ab of τⱼ = e[j] − sub·b[j] (float32, as the
// portable code computes it): counts the j with ab > hi and writes, per
// group of eight entries, a byte whose bit i is set iff lo1 < ab ≤ hi for
// entry 8·group + i. n % 8 == 0 and n < 2³¹.
TEXT ·bracketAVX2(SB), NOSPLIT, $0-56
	MOVQ e+0(FP), SI
	MOVQ b+8(FP), BX
	MOVQ n+16(FP), CX
	VBROADCASTSS sub+24(FP), Y2
	MOVL lo1+28(FP), DX
	VMOVD DX, X0
	VPBROADCASTD X0, Y0
	MOVL hi+32(FP), DX
	VMOVD DX, X1
	VPBROADCASTD X1, Y1
	MOVQ masks+40(FP), DI
	VPCMPEQD Y5, Y5, Y5
	VPSRLD   $1, Y5, Y5 // 0x7fffffff
	VPXOR    Y7, Y7, Y7
	XORQ AX, AX

brloop:
	CMPQ AX, CX
	JGE  brdone
	PREFETCHT0 4096(SI)(AX*4) // the first read of an expert's pages: fetch ahead
	VMOVUPS (BX)(AX*4), Y3
	VMULPS  Y2, Y3, Y3
	VMOVUPS (SI)(AX*4), Y4
	VSUBPS  Y3, Y4, Y4
	VPAND   Y5, Y4, Y4
	VPCMPGTD Y1, Y4, Y6
	VPSUBD  Y6, Y7, Y7
	VPCMPGTD Y0, Y4, Y8
	VPANDN  Y8, Y6, Y9
	VMOVMSKPS Y9, DX
	MOVB    DX, (DI)
	INCQ    DI
	ADDQ    $8, AX
	JMP     brloop

brdone:
	VEXTRACTI128 $1, Y7, X8
	VPADDD  X8, X7, X7
	VPSHUFD $0x4e, X7, X8
	VPADDD  X8, X7, X7
	VPSHUFD $0xb1, X7, X8
	VPADDD  X8, X7, X7
	VMOVD   X7, DX
	MOVQ    DX, greater+48(FP)
	VZEROUPPER
	RET
