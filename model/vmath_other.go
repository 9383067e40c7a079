//go:build !amd64

package model

// geluSlice replaces every x[i] by geluInfer(x[i]).
func geluSlice(x []float32) { geluSliceGo(x) }

// expSub replaces every x[i] by exp32(x[i] − m).
func expSub(x []float32, m float32) { expSubGo(x, m) }

// rowTimes computes out = in·w + b for one row, w in Conv1D [nin, nout]
// layout.
func rowTimes(out, in, w, b []float32, nin, nout int) {
	copy(out[:nout], b[:nout])
	rowTimesGo(out, in, w, nin, nout, 0)
}

// dotRows sets out[v] to the dot product of x [d] with row v of w [rows, d].
func dotRows(out, x, w []float32, d, rows int) {
	clear(out[:rows])
	dotRowsGo(out, x, w, d, 0)
}

// geluFwd computes training's GELU (see geluFwdGo).
func geluFwd(h, g, s []float32) { geluFwdGo(h, g, s) }

// geluGrad multiplies dh by GELU's derivative (see geluGradGo).
func geluGrad(dh, h, s []float32) { geluGradGo(dh, h, s) }

// adamWSlice applies adamW's update to every entry of p.
func adamWSlice(p, g, m, v []float32, k *adamConsts) { adamWGo(p, g, m, v, k) }

// addRows adds Σ_r x[r·ld + j] to dst[j] for j < len(dst), rows in order.
func addRows(dst, x []float32, ld, rows int) { addRowsGo(dst, x, ld, rows) }

// lnGradCols accumulates LayerNorm's gain and bias gradients (lnGradColsGo).
func lnGradCols(dg, db, dout, x, mean, rstd []float32, ld, rows int) {
	lnGradColsGo(dg, db, dout, x, mean, rstd, ld, rows)
}

// layerNormRows is layerNorm's per-row work (layerNormRowsGo).
func layerNormRows(out, mean, rstd, x, g, b []float32, lo, hi, d int) {
	layerNormRowsGo(out, mean, rstd, x, g, b, lo, hi, d)
}

// layerNormBackwardRows is layerNormBackward's per-row input gradient
// (layerNormBackwardRowsGo).
func layerNormBackwardRows(dx, dout, x, mean, rstd, g []float32, lo, hi, d int) {
	layerNormBackwardRowsGo(dx, dout, x, mean, rstd, g, lo, hi, d)
}

// sum64 returns the sum of x in float64 (sum64Go).
func sum64(x []float32) float64 { return sum64Go(x) }

// scaleTwice sets x[i] = (x[i]·a)·b (scaleTwiceGo).
func scaleTwice(x []float32, a, b float32) { scaleTwiceGo(x, a, b) }
