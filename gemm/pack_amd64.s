//go:build amd64

#include "textflag.h"

// Packing helpers of the blocked driver (handwritten, AVX). They only move
// data, so a panel packed here equals the panel packed by the Go loops.

// func transpose8x8AVX(dst *float32, ldd int, src *float32, lds int, nblk int)
// For b < nblk: the 8×8 block of src at column 8b (8 rows lds floats apart)
// is written transposed to dst at row 8b (8 rows ldd floats apart):
// dst[(8b+i)·ldd + r] = src[r·lds + 8b + i].
TEXT ·transpose8x8AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	MOVQ nblk+32(FP), CX
	SHLQ $2, R8
	SHLQ $2, R9
	TESTQ CX, CX
	JZ   t8done
	LEAQ (R9)(R9*2), R10     // 3·lds bytes
	LEAQ (R8)(R8*2), R11     // 3·ldd bytes

t8loop:
	MOVQ SI, AX
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R9*1), Y1
	VMOVUPS (AX)(R9*2), Y2
	VMOVUPS (AX)(R10*1), Y3
	LEAQ (AX)(R9*4), AX
	VMOVUPS (AX), Y4
	VMOVUPS (AX)(R9*1), Y5
	VMOVUPS (AX)(R9*2), Y6
	VMOVUPS (AX)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	MOVQ DI, BX
	VMOVUPS Y8, (BX)
	VMOVUPS Y9, (BX)(R8*1)
	VMOVUPS Y10, (BX)(R8*2)
	VMOVUPS Y11, (BX)(R11*1)
	LEAQ (BX)(R8*4), BX
	VMOVUPS Y12, (BX)
	VMOVUPS Y13, (BX)(R8*1)
	VMOVUPS Y14, (BX)(R8*2)
	VMOVUPS Y15, (BX)(R11*1)
	ADDQ $32, SI
	LEAQ (DI)(R8*8), DI
	DECQ CX
	JNZ  t8loop
	VZEROUPPER

t8done:
	RET

// func transpose4x8AVX(dst *float32, ldd int, src *float32, lds int, nblk int)
// As transpose8x8AVX for blocks of 4 rows × 8 columns: for b < nblk,
// dst[(8b+i)·ldd + r] = src[r·lds + 8b + i] for r < 4, i < 8.
TEXT ·transpose4x8AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	MOVQ nblk+32(FP), CX
	SHLQ $2, R8
	SHLQ $2, R9
	TESTQ CX, CX
	JZ   t4done
	LEAQ (R9)(R9*2), R10
	LEAQ (R8)(R8*2), R11

t4loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R9*1), Y1
	VMOVUPS (SI)(R9*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VSHUFPS $0x44, Y10, Y8, Y0 // depths 0 and 4
	VSHUFPS $0xEE, Y10, Y8, Y1 // 1 and 5
	VSHUFPS $0x44, Y11, Y9, Y2 // 2 and 6
	VSHUFPS $0xEE, Y11, Y9, Y3 // 3 and 7
	MOVQ DI, BX
	VMOVUPS X0, (BX)
	VMOVUPS X1, (BX)(R8*1)
	VMOVUPS X2, (BX)(R8*2)
	VMOVUPS X3, (BX)(R11*1)
	LEAQ (BX)(R8*4), BX
	VEXTRACTF128 $1, Y0, (BX)
	VEXTRACTF128 $1, Y1, (BX)(R8*1)
	VEXTRACTF128 $1, Y2, (BX)(R8*2)
	VEXTRACTF128 $1, Y3, (BX)(R11*1)
	ADDQ $32, SI
	LEAQ (DI)(R8*8), DI
	DECQ CX
	JNZ  t4loop
	VZEROUPPER

t4done:
	RET

// func copyRowsAVX(dst *float32, ldd int, src *float32, lds int, n8, n4, rows int)
// For every row r < rows: copies 8·n8 + 4·n4 floats (n4 ≤ 1) from
// src + r·lds to dst + r·ldd.
TEXT ·copyRowsAVX(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	MOVQ n8+32(FP), R10
	MOVQ n4+40(FP), R11
	MOVQ rows+48(FP), CX
	SHLQ $2, R8
	SHLQ $2, R9
	TESTQ CX, CX
	JZ   cdone

crow:
	XORQ AX, AX
	MOVQ R10, DX
	TESTQ DX, DX
	JZ   ctail

c8:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	DECQ DX
	JNZ  c8

ctail:
	TESTQ R11, R11
	JZ   cnext
	VMOVUPS (SI)(AX*1), X0
	VMOVUPS X0, (DI)(AX*1)

cnext:
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ CX
	JNZ  crow
	VZEROUPPER

cdone:
	RET
