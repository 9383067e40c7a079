//go:build amd64

#include "textflag.h"

// Constants of geluAVX2, each replicated over the eight lanes of a YMM
// register: see geluInfer and exp32 in fastmath.go for their meaning.
DATA geluK<>+0(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+4(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+8(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+12(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+16(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+20(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+24(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+28(SB)/4, $0x3d372713 // A = 0.044715
DATA geluK<>+32(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+36(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+40(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+44(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+48(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+52(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+56(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+60(SB)/4, $0xbfcc422a // M2C = -1.5957691216057308
DATA geluK<>+64(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+68(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+72(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+76(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+80(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+84(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+88(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+92(SB)/4, $0xc2aeac4f // LO = -87.33654
DATA geluK<>+96(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+100(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+104(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+108(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+112(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+116(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+120(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+124(SB)/4, $0x42b17217 // HI = 88.72283
DATA geluK<>+128(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+132(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+136(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+140(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+144(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+148(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+152(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+156(SB)/4, $0x3fb8aa3b // LOG2E = 1.4426950408889634
DATA geluK<>+160(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+164(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+168(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+172(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+176(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+180(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+184(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+188(SB)/4, $0x4b400000 // SHIFT = 12582912.0
DATA geluK<>+192(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+196(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+200(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+204(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+208(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+212(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+216(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+220(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA geluK<>+224(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+228(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+232(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+236(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+240(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+244(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+248(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+252(SB)/4, $0xb95e8083 // C2 = -0.00021219444
DATA geluK<>+256(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+260(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+264(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+268(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+272(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+276(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+280(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+284(SB)/4, $0x39506967 // P0 = 0.000198756915
DATA geluK<>+288(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+292(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+296(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+300(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+304(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+308(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+312(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+316(SB)/4, $0x3ab743ce // P1 = 0.0013981999507
DATA geluK<>+320(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+324(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+328(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+332(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+336(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+340(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+344(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+348(SB)/4, $0x3c088908 // P2 = 0.0083334519073
DATA geluK<>+352(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+356(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+360(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+364(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+368(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+372(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+376(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+380(SB)/4, $0x3d2aa9c1 // P3 = 0.041665795894
DATA geluK<>+384(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+388(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+392(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+396(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+400(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+404(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+408(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+412(SB)/4, $0x3e2aaaaa // P4 = 0.16666665459
DATA geluK<>+416(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+420(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+424(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+428(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+432(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+436(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+440(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+444(SB)/4, $0x3f000000 // P5 = 0.50000001201
DATA geluK<>+448(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+452(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+456(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+460(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+464(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+468(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+472(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+476(SB)/4, $0x3f800000 // ONE = 1.0
DATA geluK<>+480(SB)/4, $0x0000007f // 127
DATA geluK<>+484(SB)/4, $0x0000007f // 127
DATA geluK<>+488(SB)/4, $0x0000007f // 127
DATA geluK<>+492(SB)/4, $0x0000007f // 127
DATA geluK<>+496(SB)/4, $0x0000007f // 127
DATA geluK<>+500(SB)/4, $0x0000007f // 127
DATA geluK<>+504(SB)/4, $0x0000007f // 127
DATA geluK<>+508(SB)/4, $0x0000007f // 127
GLOBL geluK<>(SB), RODATA|NOPTR, $512

// func geluAVX2(x *float32, n int)
// Replaces x[i] by geluInfer(x[i]) for i < n (n a multiple of 8), with
// e^z from the exp32 polynomial on z clamped to [exp32Min, exp32Max].
TEXT ·geluAVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (DI), Y0                 // x
	VMULPS  Y0, Y0, Y1               // x²
	VMULPS  geluK<>+0(SB), Y1, Y1   // a·x²
	VFMADD213PS Y0, Y0, Y1           // a·x³ + x
	VMULPS  geluK<>+32(SB), Y1, Y1 // z = −2u
	VMAXPS  geluK<>+64(SB), Y1, Y1
	VMINPS  geluK<>+96(SB), Y1, Y1
	VMOVUPS geluK<>+128(SB), Y2
	VFMADD213PS geluK<>+160(SB), Y1, Y2 // t = z·log2e + shift
	VSUBPS  geluK<>+160(SB), Y2, Y3 // n = t − shift
	VFNMADD231PS geluK<>+192(SB), Y3, Y1 // r = z − n·C1
	VFNMADD231PS geluK<>+224(SB), Y3, Y1 // r −= n·C2
	VMOVUPS geluK<>+256(SB), Y4
	VFMADD213PS geluK<>+288(SB), Y1, Y4
	VFMADD213PS geluK<>+320(SB), Y1, Y4
	VFMADD213PS geluK<>+352(SB), Y1, Y4
	VFMADD213PS geluK<>+384(SB), Y1, Y4
	VFMADD213PS geluK<>+416(SB), Y1, Y4
	VMULPS  Y1, Y1, Y5               // r²
	VADDPS  geluK<>+448(SB), Y1, Y6 // r + 1
	VFMADD213PS Y6, Y5, Y4           // e^r = p·r² + r + 1
	VCVTPS2DQ Y3, Y3                 // n as integers
	VPSRAD  $1, Y3, Y5               // h = n/2
	VPSUBD  Y5, Y3, Y3               // n − h
	VPADDD  geluK<>+480(SB), Y5, Y5
	VPADDD  geluK<>+480(SB), Y3, Y3
	VPSLLD  $23, Y5, Y5              // 2^h
	VPSLLD  $23, Y3, Y3              // 2^(n−h)
	VMULPS  Y5, Y4, Y4
	VMULPS  Y3, Y4, Y4               // e^z
	VADDPS  geluK<>+448(SB), Y4, Y4 // 1 + e^z
	VDIVPS  Y4, Y0, Y0               // x / (1 + e^z)
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop
	VZEROUPPER

done:
	RET

// func expSubAVX2(x *float32, n int, m float32)
// Replaces x[i] by e^(x[i]−m) for i < n (n a multiple of 8), with the exp32
// polynomial on the exponent clamped to [exp32Min, exp32Max].
TEXT ·expSubAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y7
	SHRQ $3, CX
	JZ   edone

eloop:
	VMOVUPS (DI), Y1
	VSUBPS  Y7, Y1, Y1               // z = x − m
	VMAXPS  geluK<>+64(SB), Y1, Y1
	VMINPS  geluK<>+96(SB), Y1, Y1
	VMOVUPS geluK<>+128(SB), Y2
	VFMADD213PS geluK<>+160(SB), Y1, Y2 // t = z·log2e + shift
	VSUBPS  geluK<>+160(SB), Y2, Y3 // n = t − shift
	VFNMADD231PS geluK<>+192(SB), Y3, Y1 // r = z − n·C1
	VFNMADD231PS geluK<>+224(SB), Y3, Y1 // r −= n·C2
	VMOVUPS geluK<>+256(SB), Y4
	VFMADD213PS geluK<>+288(SB), Y1, Y4
	VFMADD213PS geluK<>+320(SB), Y1, Y4
	VFMADD213PS geluK<>+352(SB), Y1, Y4
	VFMADD213PS geluK<>+384(SB), Y1, Y4
	VFMADD213PS geluK<>+416(SB), Y1, Y4
	VMULPS  Y1, Y1, Y5               // r²
	VADDPS  geluK<>+448(SB), Y1, Y6 // r + 1
	VFMADD213PS Y6, Y5, Y4           // e^r = p·r² + r + 1
	VCVTPS2DQ Y3, Y3                 // n as integers
	VPSRAD  $1, Y3, Y5               // h = n/2
	VPSUBD  Y5, Y3, Y3               // n − h
	VPADDD  geluK<>+480(SB), Y5, Y5
	VPADDD  geluK<>+480(SB), Y3, Y3
	VPSLLD  $23, Y5, Y5              // 2^h
	VPSLLD  $23, Y3, Y3              // 2^(n−h)
	VMULPS  Y5, Y4, Y4
	VMULPS  Y3, Y4, Y4               // e^z
	VMOVUPS Y4, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     eloop
	VZEROUPPER

edone:
	RET

// func gemvAVX2(x *float32, n int, w *float32, ldw int, y *float32, m int)
// y[j] += Σ_{i<n} x[i]·w[i·ldw+j] for j < m (m a multiple of 8), summed in
// order of i with fused multiply-adds, 32 and then 8 columns at a time.
TEXT ·gemvAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), R8
	MOVQ w+16(FP), DX
	MOVQ ldw+24(FP), R9
	SHLQ $2, R9                      // row stride of w in bytes
	MOVQ y+32(FP), DI
	MOVQ m+40(FP), CX

block32:
	CMPQ CX, $32
	JLT  block8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ R8, R12
	TESTQ R12, R12
	JZ   store32

k32:
	VBROADCASTSS (R10), Y4
	VFMADD231PS (R11), Y4, Y0
	VFMADD231PS 32(R11), Y4, Y1
	VFMADD231PS 64(R11), Y4, Y2
	VFMADD231PS 96(R11), Y4, Y3
	ADDQ $4, R10
	ADDQ R9, R11
	DECQ R12
	JNZ  k32

store32:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, DX
	SUBQ $32, CX
	JMP  block32

block8:
	CMPQ CX, $8
	JLT  gdone
	VMOVUPS (DI), Y0
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ R8, R12
	TESTQ R12, R12
	JZ   store8

k8:
	VBROADCASTSS (R10), Y4
	VFMADD231PS (R11), Y4, Y0
	ADDQ $4, R10
	ADDQ R9, R11
	DECQ R12
	JNZ  k8

store8:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP  block8

gdone:
	VZEROUPPER
	RET

// func dotRowsAVX2(x *float32, n int, w *float32, ldw int, out *float32, rows int)
// out[v] = Σ_{i<n} x[i]·w[v·ldw+i] for v < rows (n a positive multiple of
// 8): eight partial sums per row, added pairwise at the end.
TEXT ·dotRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), R8
	SHRQ $3, R8
	MOVQ w+16(FP), DX
	MOVQ ldw+24(FP), R9
	SHLQ $2, R9                      // row stride of w in bytes
	MOVQ out+32(FP), DI
	MOVQ rows+40(FP), CX
	TESTQ CX, CX
	JZ   ddone

drow:
	VXORPS Y0, Y0, Y0
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ R8, R12

dk:
	VMOVUPS (R10), Y1
	VFMADD231PS (R11), Y1, Y0
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ R12
	JNZ  dk
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS  X0, (DI)
	ADDQ $4, DI
	ADDQ R9, DX
	DECQ CX
	JNZ  drow
	VZEROUPPER

ddone:
	RET

// Constants of geluGradAVX2, replicated over eight lanes.
DATA geluG<>+0(SB)/4, $0x3e095d4f // 3A = 0.134145
DATA geluG<>+4(SB)/4, $0x3e095d4f
DATA geluG<>+8(SB)/4, $0x3e095d4f
DATA geluG<>+12(SB)/4, $0x3e095d4f
DATA geluG<>+16(SB)/4, $0x3e095d4f
DATA geluG<>+20(SB)/4, $0x3e095d4f
DATA geluG<>+24(SB)/4, $0x3e095d4f
DATA geluG<>+28(SB)/4, $0x3e095d4f
DATA geluG<>+32(SB)/4, $0x3fcc422a // 2C = 1.5957691216057308
DATA geluG<>+36(SB)/4, $0x3fcc422a
DATA geluG<>+40(SB)/4, $0x3fcc422a
DATA geluG<>+44(SB)/4, $0x3fcc422a
DATA geluG<>+48(SB)/4, $0x3fcc422a
DATA geluG<>+52(SB)/4, $0x3fcc422a
DATA geluG<>+56(SB)/4, $0x3fcc422a
DATA geluG<>+60(SB)/4, $0x3fcc422a
GLOBL geluG<>(SB), RODATA|NOPTR, $64

// func geluFwdAVX2(h, gv, sv *float32, n int)
// For i < n (n a multiple of 8): s[i] = 1/(1 + e^(−2u)), the logistic form
// of (1 + tanh u)/2 with u = √(2/π)·(x + 0.044715·x³), x = h[i], and
// g[i] = x·s[i]; e^z from the exp32 polynomial on z clamped to
// [exp32Min, exp32Max], as in geluAVX2.
TEXT ·geluFwdAVX2(SB), NOSPLIT, $0-32
	MOVQ h+0(FP), SI
	MOVQ gv+8(FP), DI
	MOVQ sv+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   fdone

floop:
	VMOVUPS (SI), Y0                 // x
	VMULPS  Y0, Y0, Y1               // x²
	VMULPS  geluK<>+0(SB), Y1, Y1   // a·x²
	VFMADD213PS Y0, Y0, Y1           // a·x³ + x
	VMULPS  geluK<>+32(SB), Y1, Y1 // z = −2u
	VMAXPS  geluK<>+64(SB), Y1, Y1
	VMINPS  geluK<>+96(SB), Y1, Y1
	VMOVUPS geluK<>+128(SB), Y2
	VFMADD213PS geluK<>+160(SB), Y1, Y2 // t = z·log2e + shift
	VSUBPS  geluK<>+160(SB), Y2, Y3 // n = t − shift
	VFNMADD231PS geluK<>+192(SB), Y3, Y1 // r = z − n·C1
	VFNMADD231PS geluK<>+224(SB), Y3, Y1 // r −= n·C2
	VMOVUPS geluK<>+256(SB), Y4
	VFMADD213PS geluK<>+288(SB), Y1, Y4
	VFMADD213PS geluK<>+320(SB), Y1, Y4
	VFMADD213PS geluK<>+352(SB), Y1, Y4
	VFMADD213PS geluK<>+384(SB), Y1, Y4
	VFMADD213PS geluK<>+416(SB), Y1, Y4
	VMULPS  Y1, Y1, Y5               // r²
	VADDPS  geluK<>+448(SB), Y1, Y6 // r + 1
	VFMADD213PS Y6, Y5, Y4           // e^r = p·r² + r + 1
	VCVTPS2DQ Y3, Y3                 // n as integers
	VPSRAD  $1, Y3, Y5               // h = n/2
	VPSUBD  Y5, Y3, Y3               // n − h
	VPADDD  geluK<>+480(SB), Y5, Y5
	VPADDD  geluK<>+480(SB), Y3, Y3
	VPSLLD  $23, Y5, Y5              // 2^h
	VPSLLD  $23, Y3, Y3              // 2^(n−h)
	VMULPS  Y5, Y4, Y4
	VMULPS  Y3, Y4, Y4               // e^z
	VADDPS  geluK<>+448(SB), Y4, Y4 // 1 + e^z
	VMOVUPS geluK<>+448(SB), Y5
	VDIVPS  Y4, Y5, Y5               // s = 1 / (1 + e^z)
	VMOVUPS Y5, (DX)
	VMULPS  Y5, Y0, Y0               // g = x·s
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     floop
	VZEROUPPER

fdone:
	RET

// func geluGradAVX2(dh, h, sv *float32, n int)
// For i < n (n a multiple of 8): dh[i] ·= s + x·s·(1−s)·2√(2/π)·(1 + 3·0.044715·x²),
// GELU's derivative at x = h[i] given s = s[i] from geluFwdAVX2.
TEXT ·geluGradAVX2(SB), NOSPLIT, $0-32
	MOVQ dh+0(FP), DI
	MOVQ h+8(FP), SI
	MOVQ sv+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   gdone

gloop:
	VMOVUPS (SI), Y0                 // x
	VMOVUPS (DX), Y1                 // s
	VMULPS  Y0, Y0, Y2               // x²
	VMOVUPS geluG<>+0(SB), Y3
	VFMADD213PS geluK<>+448(SB), Y2, Y3 // 1 + 3a·x²
	VMULPS  geluG<>+32(SB), Y3, Y3  // ·2C
	VMULPS  Y0, Y3, Y3               // ·x
	VMOVUPS geluK<>+448(SB), Y4
	VSUBPS  Y1, Y4, Y4               // 1 − s
	VMULPS  Y1, Y4, Y4               // s·(1 − s)
	VFMADD213PS Y1, Y4, Y3           // s + s(1−s)·2C·x·(1 + 3a·x²)
	VMULPS  (DI), Y3, Y3             // ·dh
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     gloop
	VZEROUPPER

gdone:
	RET

// func adamWAVX(p, gr, m, v *float32, n int, k *adamConsts)
// One AdamW update of p[i], m[i], v[i] from g[i] for i < n (n a multiple
// of 8), with the operations of adamW's Go loop in the same order and
// without fused multiply-adds, so the results are the same bits:
// gv = clip·g; m = b1·m + (1−b1)·gv; v = b2·v + ((1−b2)·gv)·gv;
// p = p·decay − (step·m)/(√v/√bc2 + eps).
TEXT ·adamWAVX(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ gr+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	SHRQ $3, CX
	JZ   adone
	VBROADCASTSS 0(AX), Y8   // clip
	VBROADCASTSS 4(AX), Y9   // b1
	VBROADCASTSS 8(AX), Y10  // 1 − b1
	VBROADCASTSS 12(AX), Y11 // b2
	VBROADCASTSS 16(AX), Y12 // 1 − b2
	VBROADCASTSS 20(AX), Y13 // √bc2
	VBROADCASTSS 24(AX), Y14 // eps
	VBROADCASTSS 28(AX), Y15 // decay
	VBROADCASTSS 32(AX), Y7  // step size

aloop:
	VMULPS  (SI), Y8, Y0     // gv
	VMULPS  (R8), Y9, Y1     // b1·m
	VMULPS  Y0, Y10, Y2      // (1−b1)·gv
	VADDPS  Y2, Y1, Y1       // m
	VMOVUPS Y1, (R8)
	VMULPS  (R9), Y11, Y3    // b2·v
	VMULPS  Y0, Y12, Y4      // (1−b2)·gv
	VMULPS  Y0, Y4, Y4       // ·gv
	VADDPS  Y4, Y3, Y3       // v
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y3
	VDIVPS  Y13, Y3, Y3      // √v/√bc2
	VADDPS  Y14, Y3, Y3      // + eps
	VMULPS  Y1, Y7, Y5       // step·m
	VDIVPS  Y3, Y5, Y5       // /den
	VMULPS  (DI), Y15, Y6    // p·decay
	VSUBPS  Y5, Y6, Y6
	VMOVUPS Y6, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, R9
	DECQ    CX
	JNZ     aloop
	VZEROUPPER

adone:
	RET

// func colSumsAVX(dst, x *float32, ldx, n8, rows int)
// dst[j] += x[r·ldx + j] for r < rows in order, j < 8·n8: every column sums
// its rows in row order, as colSums's Go loop does.
TEXT ·colSumsAVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ ldx+16(FP), R8
	MOVQ n8+24(FP), CX
	MOVQ rows+32(FP), R9
	SHLQ $2, R8
	TESTQ CX, CX
	JZ   csdone
	TESTQ R9, R9
	JZ   csdone

csblock:
	VMOVUPS (DI), Y0
	MOVQ SI, AX
	MOVQ R9, DX

csrow:
	VADDPS (AX), Y0, Y0
	ADDQ R8, AX
	DECQ DX
	JNZ  csrow
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  csblock
	VZEROUPPER

csdone:
	RET

// func lnGradColsAVX(dg, db, dout, x, mean, rstd *float32, ld, n8, rows int)
// For j < 8·n8 and r < rows in order: xh = (x[r·ld+j] − mean[r])·rstd[r];
// dg[j] += dout[r·ld+j]·xh; db[j] += dout[r·ld+j] (no fused multiply-adds:
// the bits of layerNormBackward's Go loop).
TEXT ·lnGradColsAVX(SB), NOSPLIT, $0-72
	MOVQ dg+0(FP), DI
	MOVQ db+8(FP), BX
	MOVQ dout+16(FP), SI
	MOVQ x+24(FP), R10
	MOVQ mean+32(FP), R11
	MOVQ rstd+40(FP), R12
	MOVQ ld+48(FP), R8
	MOVQ n8+56(FP), CX
	MOVQ rows+64(FP), R9
	SHLQ $2, R8
	TESTQ CX, CX
	JZ   lgdone
	TESTQ R9, R9
	JZ   lgdone

lgblock:
	VMOVUPS (DI), Y0   // dg
	VMOVUPS (BX), Y1   // db
	MOVQ SI, AX
	MOVQ R10, R13
	XORQ DX, DX

lgrow:
	VBROADCASTSS (R11)(DX*4), Y2
	VBROADCASTSS (R12)(DX*4), Y3
	VMOVUPS (R13), Y4
	VSUBPS  Y2, Y4, Y4 // x − mean
	VMULPS  Y3, Y4, Y4 // ·rstd
	VMOVUPS (AX), Y5   // dout
	VMULPS  Y4, Y5, Y4 // dout·xh
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	ADDQ R8, AX
	ADDQ R8, R13
	INCQ DX
	CMPQ DX, R9
	JLT  lgrow
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (BX)
	ADDQ $32, DI
	ADDQ $32, BX
	ADDQ $32, SI
	ADDQ $32, R10
	DECQ CX
	JNZ  lgblock
	VZEROUPPER

lgdone:
	RET

// func lnForwardAVX(out, mean, rstd, x, gain, b *float32, rows, n8 int, invD, eps float32)
// LayerNorm of rows rows of width d = 8·n8 (row stride d): per row,
// mu = Σx·invD and rs = 1/√(Σ(x−mu)²·invD + eps), each sum over eight
// lanes then across them in a fixed order; out = (x−mu)·rs·g + b.
TEXT ·lnForwardAVX(SB), NOSPLIT, $0-72
	MOVQ out+0(FP), DI
	MOVQ mean+8(FP), R10
	MOVQ rstd+16(FP), R11
	MOVQ x+24(FP), SI
	MOVQ gain+32(FP), R12
	MOVQ b+40(FP), R13
	MOVQ rows+48(FP), R9
	MOVQ n8+56(FP), R8
	VBROADCASTSS invD+64(FP), Y14
	VBROADCASTSS eps+68(FP), Y15
	TESTQ R9, R9
	JZ   lfdone
	TESTQ R8, R8
	JZ   lfdone

lfrow:
	// Σx
	VXORPS Y0, Y0, Y0
	XORQ AX, AX
	MOVQ R8, CX

lfsum:
	VADDPS (SI)(AX*1), Y0, Y0
	ADDQ $32, AX
	DECQ CX
	JNZ  lfsum
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X1, X1
	VADDPS X1, X0, X0
	VPSHUFD $1, X0, X1
	VADDSS X1, X0, X0
	VMULSS X14, X0, X0           // mu
	VMOVSS X0, (R10)
	VBROADCASTSS X0, Y1          // mu in every lane
	// Σ(x−mu)²
	VXORPS Y2, Y2, Y2
	XORQ AX, AX
	MOVQ R8, CX

lfvar:
	VMOVUPS (SI)(AX*1), Y3
	VSUBPS  Y1, Y3, Y3
	VFMADD231PS Y3, Y3, Y2
	ADDQ $32, AX
	DECQ CX
	JNZ  lfvar
	VEXTRACTF128 $1, Y2, X3
	VADDPS X3, X2, X2
	VMOVHLPS X2, X3, X3
	VADDPS X3, X2, X2
	VPSHUFD $1, X2, X3
	VADDSS X3, X2, X2
	VMULSS X14, X2, X2           // variance
	VADDSS X15, X2, X2           // + eps
	VSQRTSS X2, X2, X2
	VMOVSS geluK<>+448(SB), X3   // 1
	VDIVSS X2, X3, X3            // rs
	VMOVSS X3, (R11)
	VBROADCASTSS X3, Y3
	// out = (x−mu)·rs·g + b
	XORQ AX, AX
	MOVQ R8, CX

lfout:
	VMOVUPS (SI)(AX*1), Y4
	VSUBPS  Y1, Y4, Y4
	VMULPS  Y3, Y4, Y4
	VMULPS  (R12)(AX*1), Y4, Y4
	VADDPS  (R13)(AX*1), Y4, Y4
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ $32, AX
	DECQ CX
	JNZ  lfout
	ADDQ AX, SI
	ADDQ AX, DI
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ R9
	JNZ  lfrow
	VZEROUPPER

lfdone:
	RET

// func lnBackwardRowsAVX(dx, dout, x, gain, mean, rstd *float32, rows, n8 int, invD float32)
// LayerNorm's input gradient for rows rows of width d = 8·n8: per row, with
// xh = (x−mu)·rs and dxh = dout·g, dx += rs·(dxh − Σdxh·invD − xh·Σ(dxh·xh)·invD),
// the sums over eight lanes then across them in a fixed order.
TEXT ·lnBackwardRowsAVX(SB), NOSPLIT, $0-68
	MOVQ dx+0(FP), DI
	MOVQ dout+8(FP), BX
	MOVQ x+16(FP), SI
	MOVQ gain+24(FP), R12
	MOVQ mean+32(FP), R10
	MOVQ rstd+40(FP), R11
	MOVQ rows+48(FP), R9
	MOVQ n8+56(FP), R8
	VBROADCASTSS invD+64(FP), Y14
	TESTQ R9, R9
	JZ   lbdone
	TESTQ R8, R8
	JZ   lbdone

lbrow:
	VBROADCASTSS (R10), Y1       // mu
	VBROADCASTSS (R11), Y2       // rs
	VXORPS Y5, Y5, Y5            // Σdxh
	VXORPS Y6, Y6, Y6            // Σdxh·xh
	XORQ AX, AX
	MOVQ R8, CX

lbsum:
	VMOVUPS (SI)(AX*1), Y3
	VSUBPS  Y1, Y3, Y3
	VMULPS  Y2, Y3, Y3           // xh
	VMOVUPS (BX)(AX*1), Y4
	VMULPS  (R12)(AX*1), Y4, Y4  // dxh
	VADDPS  Y4, Y5, Y5
	VFMADD231PS Y4, Y3, Y6
	ADDQ $32, AX
	DECQ CX
	JNZ  lbsum
	VEXTRACTF128 $1, Y5, X7
	VADDPS X7, X5, X5
	VMOVHLPS X5, X7, X7
	VADDPS X7, X5, X5
	VPSHUFD $1, X5, X7
	VADDSS X7, X5, X5
	VMULSS X14, X5, X5           // mD
	VBROADCASTSS X5, Y5
	VEXTRACTF128 $1, Y6, X7
	VADDPS X7, X6, X6
	VMOVHLPS X6, X7, X7
	VADDPS X7, X6, X6
	VPSHUFD $1, X6, X7
	VADDSS X7, X6, X6
	VMULSS X14, X6, X6           // mDX
	VBROADCASTSS X6, Y6
	XORQ AX, AX
	MOVQ R8, CX

lbout:
	VMOVUPS (SI)(AX*1), Y3
	VSUBPS  Y1, Y3, Y3
	VMULPS  Y2, Y3, Y3           // xh
	VMOVUPS (BX)(AX*1), Y4
	VMULPS  (R12)(AX*1), Y4, Y4  // dxh
	VSUBPS  Y5, Y4, Y4           // dxh − mD
	VMULPS  Y6, Y3, Y3           // xh·mDX
	VSUBPS  Y3, Y4, Y4
	VMULPS  Y2, Y4, Y4           // ·rs
	VADDPS  (DI)(AX*1), Y4, Y4
	VMOVUPS Y4, (DI)(AX*1)
	ADDQ $32, AX
	DECQ CX
	JNZ  lbout
	ADDQ AX, SI
	ADDQ AX, DI
	ADDQ AX, BX
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ R9
	JNZ  lbrow
	VZEROUPPER

lbdone:
	RET

// func sum64AVX(x *float32, n4 int, out *[4]float64)
// Four float64 lanes, lane k += float64(x[4i+k]) for i < n4, in order of i.
TEXT ·sum64AVX(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n4+8(FP), CX
	MOVQ out+16(FP), DI
	VXORPD Y0, Y0, Y0

sloop:
	VCVTPS2PD (SI), Y1
	VADDPD    Y1, Y0, Y0
	ADDQ      $16, SI
	DECQ      CX
	JNZ       sloop
	VMOVUPD   Y0, (DI)
	VZEROUPPER
	RET

// func scaleTwiceAVX(x *float32, n int, a, b float32)
// x[i] = (x[i]·a)·b for i < n (n a multiple of 8).
TEXT ·scaleTwiceAVX(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS a+16(FP), Y0
	VBROADCASTSS b+20(FP), Y1
	SHRQ $3, CX
	JZ   tdone

tloop:
	VMULPS  (DI), Y0, Y2
	VMULPS  Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     tloop
	VZEROUPPER

tdone:
	RET
