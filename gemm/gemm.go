// Package gemm is the single place where the built-in models multiply
// matrices. It offers a small Kernel interface for row-major single-precision
// GEMM; gonum's blas32 is the portable implementation, and faster kernels
// selected at run time by CPU features may sit behind the same interface.
package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Kernel computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, where
// op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n and C is m×n; lda, ldb and ldc
// are the row strides of the stored (untransposed) matrices.
type Kernel interface {
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// Name identifies the kernel in benchmarks and logs.
	Name() string
}

// Gonum returns the portable kernel backed by gonum's blas32.
func Gonum() Kernel { return gonumKernel{} }

type gonumKernel struct{}

func (gonumKernel) Name() string { return "gonum" }

func (gonumKernel) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	blas32.Implementation().Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Default returns the fastest kernel this CPU supports.
func Default() Kernel { return defaultKernel() }
