//go:build !amd64 || purego

package merge

// accPair adds w0·(e0 − sub·b) + w1·(e1 − sub·b) to a (see accPairGo).
func accPair(a []float64, e0, e1, b []float32, w0, w1 float64, sub float32) {
	accPairGo(a, e0, e1, b, w0, w1, sub)
}

// accOne adds w0·(e0 − sub·b) to a (see accOneGo).
func accOne(a []float64, e0, b []float32, w0 float64, sub float32) {
	accOneGo(a, e0, b, w0, sub)
}

// finish writes o = b + scale·a and reports a non-finite scale·a.
func finish(o []float32, a []float64, b []float32, scale float64) bool {
	return finishGo(o, a, b, scale)
}
