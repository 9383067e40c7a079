package gemm

import "runtime"

// limited is a blocked kernel that uses at most n goroutines per product.
type limited struct {
	blocked
	n int
}

// Limit returns a kernel that computes what k computes with at most n
// goroutines per call (n < 1 means 1), for a caller that knows its share of
// the machine: a training job beside others gets one core's worth, so its
// products run on its own goroutine, with no helpers to start or wait for.
// Results are the same as k's, since the blocked kernels' results do not
// depend on their number of goroutines. Kernels other than the blocked ones
// are returned as they are.
func Limit(k Kernel, n int) Kernel {
	switch bk := k.(type) {
	case blocked:
		return limited{bk, max(n, 1)}
	case limited:
		return limited{bk.blocked, max(n, 1)}
	}
	return k
}

// Sgemm is the blocked kernel's Sgemm on at most l.n goroutines.
func (l limited) Sgemm(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	l.sgemm(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc, l.n)
}

// blockedOf returns the blocked kernel behind k and the goroutines it may
// use per product (GOMAXPROCS, or a Limit's), or false for other kernels.
func blockedOf(k Kernel) (blocked, int, bool) {
	switch bk := k.(type) {
	case blocked:
		return bk, runtime.GOMAXPROCS(0), true
	case limited:
		return bk.blocked, bk.n, true
	}
	return blocked{}, 0, false
}
