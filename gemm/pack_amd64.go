package gemm

import "golang.org/x/sys/cpu"

// haveAVX reports whether the packing helpers of pack_amd64.s may run (AVX,
// with the OS saving YMM registers).
var haveAVX = cpu.X86.HasAVX

// transpose8x8AVX transposes nblk consecutive 8×8 blocks (pack_amd64.s):
// dst[(8b+i)·ldd + r] = src[r·lds + 8b + i] for b < nblk, r, i < 8.
//
//go:noescape
func transpose8x8AVX(dst *float32, ldd int, src *float32, lds int, nblk int)

// transpose4x8AVX is transpose8x8AVX for blocks of 4 rows × 8 columns.
//
//go:noescape
func transpose4x8AVX(dst *float32, ldd int, src *float32, lds int, nblk int)

// copyRowsAVX copies 8·n8 + 4·n4 floats of each of rows rows from src
// (rows lds apart) to dst (rows ldd apart).
//
//go:noescape
func copyRowsAVX(dst *float32, ldd int, src *float32, lds int, n8, n4, rows int)

// transposeFast transposes the leading rows×(8·nblk) part of src into
// panel with the vector helpers, rows a multiple of 4, and reports whether
// it did (false without AVX). The caller has checked the bounds.
func transposeFast(panel []float32, w int, src []float32, ld, rows, nblk int) bool {
	if !haveAVX || nblk == 0 || rows < 4 {
		return false
	}
	// Bounds: the last element read and written.
	_ = src[(rows-1)*ld+8*nblk-1]
	_ = panel[(8*nblk-1)*w+rows-1]
	r := 0
	for ; r+8 <= rows; r += 8 {
		transpose8x8AVX(&panel[r], w, &src[r*ld], ld, nblk)
	}
	for ; r+4 <= rows; r += 4 {
		transpose4x8AVX(&panel[r], w, &src[r*ld], ld, nblk)
	}
	return true
}

// copyFast copies cols floats of each of depth rows of src (stride ld) into
// panel (stride w) with the vector helper, cols a multiple of 4, and reports
// whether it did.
func copyFast(panel []float32, w int, src []float32, ld, cols, depth int) bool {
	if !haveAVX || cols%4 != 0 || depth == 0 || cols == 0 {
		return false
	}
	_ = src[(depth-1)*ld+cols-1]
	_ = panel[(depth-1)*w+cols-1]
	copyRowsAVX(&panel[0], w, &src[0], ld, cols/8, cols%8/4, depth)
	return true
}
