//go:build !amd64 || purego

package merge

// consAcc adds one expert's w·τ̂ to the consensus sums (see consAccGo).
func consAcc(pn, nn, pw, nw []float64, t []float32, w float64) {
	consAccGo(pn, nn, pw, nw, t, w)
}

// consCut trims e − b at thr and adds it to the sums (see consCutGo).
func consCut(pn, nn, pw, nw []float64, e, b []float32, w float64, thr int64) bool {
	return consCutGo(pn, nn, pw, nw, e, b, w, thr)
}

// consFinish elects signs and writes the output (see consFinishGo).
func consFinish(o []float32, pn, nn, pw, nw []float64, b []float32, lambda float64, normalize bool) {
	consFinishGo(o, pn, nn, pw, nw, b, lambda, normalize)
}

// haveConsRows reports whether consRows has a vector kernel; the portable
// consensus keeps the per-expert passes (consCut, consAcc).
const haveConsRows = false

// consRows is the one-pass consensus (see consRowsGo).
func consRows(o, b []float32, rows [][]float32, _ []*float32, w []float64, lambda float64, normalize bool) {
	consRowsGo(o, b, rows, w, lambda, normalize)
}

// cutRange keeps τ_j iff its magnitude bits exceed thr (see cutRangeGo).
func cutRange(dst, e, b []float32, thr int64) uint32 { return cutRangeGo(dst, e, b, thr) }
