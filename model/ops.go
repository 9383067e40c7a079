package model

import (
	"math"

	"mergescale/gemm"
)

// linear computes out = in·w + b for rows rows, with w in Conv1D [nin, nout]
// layout, and then, when after is not nil, after(r0, r1) on every block of
// finished rows of out. out is overwritten. The bias, the product and after
// run on the gemm kernel's goroutines (gemm.SgemmFused): after must compute
// each row from that row alone.
func linear(k gemm.Kernel, out, in, w, b []float32, rows, nin, nout int, after func(r0, r1 int)) {
	gemm.SgemmFused(k, false, false, rows, nout, nin, 1, in, nin, w, nout, 1, out, nout, gemm.Fuse{Bias: b[:nout], Rows: after})
}

// linearBackward accumulates dW += inᵀ·dOut and dB += Σ_rows dOut, and, when
// dIn is not nil, overwrites dIn = dOut·wᵀ and then calls after (when not
// nil) on every block of finished rows of dIn, like linear. dB is summed
// row by row for every column, by the goroutines that compute dW's
// columns.
func linearBackward(k gemm.Kernel, dIn, dW, dB, dOut, in, w []float32, rows, nin, nout int, after func(r0, r1 int)) {
	gemm.SgemmFused(k, true, false, nin, nout, rows, 1, in, nin, dOut, nout, 1, dW, nout, gemm.Fuse{Cols: func(c0, c1 int) {
		addRows(dB[c0:c1], dOut[c0:], nout, rows)
	}})
	if dIn != nil {
		gemm.SgemmFused(k, false, true, rows, nin, nout, 1, dOut, nout, w, nout, 0, dIn, nin, gemm.Fuse{Rows: after})
	}
}

// addRowsGo adds Σ_r x[r·ld + j] to dst[j] for j < len(dst), rows in order.
func addRowsGo(dst, x []float32, ld, rows int) {
	for r := 0; r < rows; r++ {
		row := x[r*ld:][:len(dst)]
		for j, v := range row {
			dst[j] += v
		}
	}
}

// lnGradColsGo accumulates dg[j] += Σ_r dout[r·ld+j]·xh and db[j] += Σ_r
// dout[r·ld+j], xh = (x[r·ld+j] − mean[r])·rstd[r], for j < len(dg), rows in
// order.
func lnGradColsGo(dg, db, dout, x, mean, rstd []float32, ld, rows int) {
	db = db[:len(dg)]
	for r := 0; r < rows; r++ {
		xr, dor := x[r*ld:][:len(dg)], dout[r*ld:][:len(dg)]
		mu, rs := mean[r], rstd[r]
		for i, v := range xr {
			dg[i] += dor[i] * ((v - mu) * rs)
			db[i] += dor[i]
		}
	}
}

// layerNorm normalizes each row of x (rows × d) and applies gain g and bias
// b, writing out, and the per-row mean and reciprocal standard deviation.
// Rows are split over at most workers goroutines.
func layerNorm(workers int, out, mean, rstd, x, g, b []float32, rows, d int) {
	g, b = g[:d], b[:d]
	parallelFor(workers, rows, 4*rows*d, func(lo, hi int) {
		layerNormRows(out, mean, rstd, x, g, b, lo, hi, d)
	})
}

// layerNormStats returns a row's mean and 1/√(variance + Epsilon), the
// variance summed over four interleaved partials: the one computation of
// a row's statistics for training (layerNormRowsGo) and inference
// (layerNormInfer), so both give the same bits.
func layerNormStats(xr []float32, d int) (mu, rs float32) {
	mu = sum32(xr) / float32(d)
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(xr); i += 4 {
		d0, d1, d2, d3 := xr[i]-mu, xr[i+1]-mu, xr[i+2]-mu, xr[i+3]-mu
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(xr); i++ {
		dv := xr[i] - mu
		s0 += dv * dv
	}
	ss := (s0 + s1) + (s2 + s3)
	return mu, float32(1 / math.Sqrt(float64(ss/float32(d))+Epsilon))
}

// layerNormRowsGo is the portable layerNormRows.
func layerNormRowsGo(out, mean, rstd, x, g, b []float32, lo, hi, d int) {
	for r := lo; r < hi; r++ {
		xr := x[r*d : (r+1)*d]
		mu, rs := layerNormStats(xr, d)
		mean[r], rstd[r] = mu, rs
		or := out[r*d : (r+1)*d]
		or = or[:len(xr)]
		for i, v := range xr {
			or[i] = (v-mu)*rs*g[i] + b[i]
		}
	}
}

// layerNormBackward accumulates dx += ∂L/∂x, dg and db, given dout = ∂L/∂out
// and the forward's x, mean and rstd. dx is computed row by row, the rows
// split over at most workers goroutines; dg and db are summed in row order
// for every column, the columns split.
func layerNormBackward(workers int, dx, dg, db, dout, x, mean, rstd, g []float32, rows, d int) {
	g = g[:d]
	parallelFor(workers, rows, 6*rows*d, func(lo, hi int) {
		layerNormBackwardRows(dx, dout, x, mean, rstd, g, lo, hi, d)
	})
	layerNormGradCols(workers, dg, db, dout, x, mean, rstd, rows, d)
}

// layerNormGradCols is layerNormBackward's part for the gain and bias: dg
// and db summed in row order for every column, the columns split over at
// most workers goroutines.
func layerNormGradCols(workers int, dg, db, dout, x, mean, rstd []float32, rows, d int) {
	parallelFor(workers, d/8, 3*rows*d, func(lo, hi int) {
		c0, c1 := lo*8, hi*8
		if hi == d/8 {
			c1 = d
		}
		lnGradCols(dg[c0:c1], db[c0:c1], dout[c0:], x[c0:], mean, rstd, d, rows)
	})
}

// layerNormBackwardRowsGo is the portable layerNormBackwardRows.
func layerNormBackwardRowsGo(dx, dout, x, mean, rstd, g []float32, lo, hi, d int) {
	for r := lo; r < hi; r++ {
		xr, dor, dxr := x[r*d:(r+1)*d], dout[r*d:(r+1)*d], dx[r*d:(r+1)*d]
		dor, dxr = dor[:len(xr)], dxr[:len(xr)]
		mu, rs := mean[r], rstd[r]
		var sumD, sumDX float32
		for i, v := range xr {
			xh := (v - mu) * rs
			dxh := dor[i] * g[i]
			sumD += dxh
			sumDX += dxh * xh
		}
		mD, mDX := sumD/float32(d), sumDX/float32(d)
		for i, v := range xr {
			xh := (v - mu) * rs
			dxr[i] += rs * (dor[i]*g[i] - mD - xh*mDX)
		}
	}
}

// GELU with the tanh approximation (Hugging Face's gelu_new).
const (
	geluC = 0.7978845608028654 // sqrt(2/π)
	geluA = 0.044715
)

// causalSoftmax turns the T×T score matrix a into row-wise softmax
// probabilities over the columns j ≤ i, zeroing the columns j > i. The
// exponentials are exp32's (expSub), taken over whole groups of eight
// columns (the ones past i are discarded).
func causalSoftmax(a []float32, T int) {
	for i := 0; i < T; i++ {
		row := a[i*T : (i+1)*T]
		mx := row[0]
		for _, v := range row[1 : i+1] {
			mx = max(mx, v)
		}
		expSub(row[:min(T, (i+8)&^7)], mx)
		inv := 1 / sum32(row[:i+1])
		for j := range row[:i+1] {
			row[j] *= inv
		}
		clear(row[i+1:])
	}
}

// logSoftmaxArgmax returns log softmax(row)[t] in float64 and whether t is
// the row's first largest entry.
func logSoftmaxArgmax(row []float32, t int) (float64, bool) {
	mx, arg := row[0], 0
	for j, v := range row {
		if v > mx {
			mx, arg = v, j
		}
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v - mx))
	}
	return float64(row[t]-mx) - math.Log(s), arg == t
}
