package gemm

import "fmt"

// Fuse is work that rides along with a product, done by the goroutines that
// compute C, each on its own block while the block is in its cache: the
// element-wise steps around a layer's matrix product (its bias, its
// activation, a softmax over its rows) then need no pass of their own.
type Fuse struct {
	// Bias, when not nil, holds n values that every row of C starts from:
	// C = alpha·op(A)·op(B) + Bias, rounded as if C were first filled with
	// the bias and then given to Sgemm with beta = 1. C's previous contents
	// and beta are ignored.
	Bias []float32
	// Rows, when not nil, is called once for each block of whole rows
	// [r0, r1) of C as soon as the block is final, on the goroutine that
	// computed it, possibly at the same time as calls for other blocks. It
	// may read and write those rows of C (and data of its own that no other
	// block touches).
	Rows func(r0, r1 int)
	// Cols, when not nil, is called on blocks of columns [c0, c1) that
	// cover [0, n) once, shared among the goroutines of the product, each
	// calling it after its part of C is final, possibly at the same time as
	// the others. It is for work over C's columns that does not read C (a
	// bias gradient beside its weight gradient): its blocks need not be the
	// columns the goroutine computed. Rows and Cols cannot both be set.
	Cols func(c0, c1 int)
}

// checkFused validates a fused product: its Sgemm arguments, then f.
func checkFused(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, f Fuse) error {
	if err := checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); err != nil {
		return err
	}
	if f.Rows != nil && f.Cols != nil {
		return fmt.Errorf("gemm: a fused product takes Rows or Cols, not both")
	}
	if f.Bias != nil && len(f.Bias) < n {
		return fmt.Errorf("gemm: bias has %d elements, needs %d for C's columns", len(f.Bias), n)
	}
	return nil
}

// SgemmFused computes C = alpha·op(A)·op(B) + beta·C like k.Sgemm, with
// f's bias and row or column work done by the goroutines that compute C.
// Which rows a call of f.Rows (or columns of f.Cols) covers depends on the
// number of goroutines; what it computes must not. Kernels other than the
// blocked ones do f's work on the caller, before and after their Sgemm.
// Malformed arguments panic before any memory is touched.
func SgemmFused(k Kernel, transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, f Fuse) {
	if bk, workers, ok := blockedOf(k); ok {
		bk.fused(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc, f, workers)
		return
	}
	if err := checkFused(transA, transB, m, n, kk, a, lda, b, ldb, c, ldc, f); err != nil {
		panic(err)
	}
	if m == 0 || n == 0 {
		return
	}
	if f.Bias != nil {
		for r := 0; r < m; r++ {
			copy(c[r*ldc:r*ldc+n], f.Bias[:n])
		}
		beta = 1
	}
	k.Sgemm(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc)
	if f.Rows != nil {
		f.Rows(0, m)
	}
	if f.Cols != nil {
		f.Cols(0, n)
	}
}
