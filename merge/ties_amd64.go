//go:build amd64 && !purego

package merge

// The AVX2 kernels of ties_amd64.s. n must be a multiple of 8 and every
// pointer must address at least n elements.

//go:noescape
func consCutAVX2(pn, nn, pw, nw *float64, e, b *float32, n int, w float64, thr int32) (bad bool)

//go:noescape
func consAccAVX2(pn, nn, pw, nw *float64, t *float32, n int, w float64)

//go:noescape
func consFinishAVX2(o *float32, pn, nn, pw, nw *float64, b *float32, n int, lambda float64, normalize bool)

// consAcc adds one expert's w·τ̂ to the consensus sums (see consAccGo). All
// slices must have len(pn) elements.
func consAcc(pn, nn, pw, nw []float64, t []float32, w float64) {
	n := len(pn) &^ 7
	if haveAVX2 && n > 0 {
		_, _, _, _ = nn[n-1], pw[n-1], nw[n-1], t[n-1]
		consAccAVX2(&pn[0], &nn[0], &pw[0], &nw[0], &t[0], n, w)
		pn, nn, pw, nw, t = pn[n:], nn[n:], pw[n:], nw[n:], t[n:]
	}
	consAccGo(pn, nn, pw, nw, t, w)
}

// consCut trims e − b at thr and adds it to the sums (see consCutGo).
func consCut(pn, nn, pw, nw []float64, e, b []float32, w float64, thr int64) bool {
	n := len(pn) &^ 7
	bad := false
	if haveAVX2 && n > 0 {
		_, _, _, _, _ = nn[n-1], pw[n-1], nw[n-1], e[n-1], b[n-1]
		bad = consCutAVX2(&pn[0], &nn[0], &pw[0], &nw[0], &e[0], &b[0], n, w, cutThr32(thr))
		pn, nn, pw, nw, e, b = pn[n:], nn[n:], pw[n:], nw[n:], e[n:], b[n:]
	}
	return consCutGo(pn, nn, pw, nw, e, b, w, thr) || bad
}

// consFinish elects signs and writes the output (see consFinishGo).
func consFinish(o []float32, pn, nn, pw, nw []float64, b []float32, lambda float64, normalize bool) {
	n := len(o) &^ 7
	if haveAVX2 && n > 0 {
		_, _, _, _, _ = pn[n-1], nn[n-1], pw[n-1], nw[n-1], b[n-1]
		consFinishAVX2(&o[0], &pn[0], &nn[0], &pw[0], &nw[0], &b[0], n, lambda, normalize)
		o, pn, nn, pw, nw, b = o[n:], pn[n:], nn[n:], pw[n:], nw[n:], b[n:]
	}
	consFinishGo(o, pn, nn, pw, nw, b, lambda, normalize)
}

//go:noescape
func consRowsAVX512(o, b *float32, rows **float32, w *float64, k, n int, lambda float64, normalize bool)

//go:noescape
func cutAVX2(dst, e, b *float32, n int, thr int32) (bad uint32)

// haveConsRows reports whether consRows has a vector kernel (AVX-512); on
// other machines the consensus keeps the per-expert AVX2 passes (consCut,
// consAcc), which are faster than the portable one-pass loop.
var haveConsRows = haveAVX512

// consRows is the one-pass consensus of consRowsGo, eight entries at a
// time with AVX-512 when available. ptrs is scratch of len(rows).
func consRows(o, b []float32, rows [][]float32, ptrs []*float32, w []float64, lambda float64, normalize bool) {
	n := len(o) &^ 7
	k := len(rows)
	if !haveAVX512 || n == 0 || k == 0 {
		consRowsGo(o, b, rows, w, lambda, normalize)
		return
	}
	_, _ = b[n-1], w[k-1]
	ptrs = ptrs[:k]
	for i, r := range rows {
		_ = r[n-1]
		ptrs[i] = &r[0]
	}
	consRowsAVX512(&o[0], &b[0], &ptrs[0], &w[0], k, n, lambda, normalize)
	consRowsFrom(n, o, b, rows, w, lambda, normalize)
}

// cutRange keeps τ_j iff its magnitude bits exceed thr (see cutRangeGo),
// eight entries at a time with AVX2.
func cutRange(dst, e, b []float32, thr int64) uint32 {
	n := len(dst) &^ 7
	var bad uint32
	if haveAVX2 && n > 0 {
		_, _ = e[n-1], b[n-1]
		bad = cutAVX2(&dst[0], &e[0], &b[0], n, cutThr32(thr))
		dst, e, b = dst[n:], e[n:], b[n:]
	}
	return bad | cutRangeGo(dst, e, b, thr)
}
