//go:build amd64 && !purego

package merge

import "golang.org/x/sys/cpu"

// The AVX2 kernels of wsum_amd64.s. n must be a multiple of 8 and every
// pointer must address at least n elements.

//go:noescape
func accPairAVX2(a *float64, e0, e1, b *float32, n int, w0, w1 float64, sub float32)

//go:noescape
func accOneAVX2(a *float64, e0, b *float32, n int, w0 float64, sub float32)

//go:noescape
func finishAVX2(o *float32, a *float64, b *float32, n int, scale float64) (bad bool)

// haveAVX2 is read-only after package initialisation. x/sys/cpu also checks
// that the OS saves the wide registers.
var haveAVX2 = cpu.X86.HasAVX2

// accPair adds w0·(e0 − sub·b) + w1·(e1 − sub·b) to a (see accPairGo). All
// slices must have len(a) elements.
func accPair(a []float64, e0, e1, b []float32, w0, w1 float64, sub float32) {
	n := len(a) &^ 7
	if haveAVX2 && n > 0 {
		_, _, _ = e0[n-1], e1[n-1], b[n-1]
		accPairAVX2(&a[0], &e0[0], &e1[0], &b[0], n, w0, w1, sub)
		a, e0, e1, b = a[n:], e0[n:], e1[n:], b[n:]
	}
	accPairGo(a, e0, e1, b, w0, w1, sub)
}

// accOne adds w0·(e0 − sub·b) to a (see accOneGo).
func accOne(a []float64, e0, b []float32, w0 float64, sub float32) {
	n := len(a) &^ 7
	if haveAVX2 && n > 0 {
		_, _ = e0[n-1], b[n-1]
		accOneAVX2(&a[0], &e0[0], &b[0], n, w0, sub)
		a, e0, b = a[n:], e0[n:], b[n:]
	}
	accOneGo(a, e0, b, w0, sub)
}

// finish writes o = b + scale·a and reports a non-finite scale·a (see
// finishGo).
func finish(o []float32, a []float64, b []float32, scale float64) bool {
	n := len(o) &^ 7
	bad := false
	if haveAVX2 && n > 0 {
		_, _ = a[n-1], b[n-1]
		bad = finishAVX2(&o[0], &a[0], &b[0], n, scale)
		o, a, b = o[n:], a[n:], b[n:]
	}
	return finishGo(o, a, b, scale) || bad
}
