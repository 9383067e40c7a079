package model

import (
	"math"

	"mergescale/gemm"
)

// linear computes out = in·w + b for rows rows, with w in Conv1D [nin, nout]
// layout. out is overwritten.
func linear(k gemm.Kernel, out, in, w, b []float32, rows, nin, nout int) {
	for r := 0; r < rows; r++ {
		copy(out[r*nout:(r+1)*nout], b)
	}
	k.Sgemm(false, false, rows, nout, nin, 1, in, nin, w, nout, 1, out, nout)
}

// linearBackward accumulates dW += inᵀ·dOut and dB += Σ_rows dOut, and, when
// dIn is not nil, overwrites dIn = dOut·wᵀ.
func linearBackward(k gemm.Kernel, dIn, dW, dB, dOut, in, w []float32, rows, nin, nout int) {
	k.Sgemm(true, false, nin, nout, rows, 1, in, nin, dOut, nout, 1, dW, nout)
	for r := 0; r < rows; r++ {
		row := dOut[r*nout : (r+1)*nout]
		for j, v := range row {
			dB[j] += v
		}
	}
	if dIn != nil {
		k.Sgemm(false, true, rows, nin, nout, 1, dOut, nout, w, nout, 0, dIn, nin)
	}
}

// layerNorm normalizes each row of x (rows × d) and applies gain g and bias
// b, writing out, and the per-row mean and reciprocal standard deviation.
func layerNorm(out, mean, rstd, x, g, b []float32, rows, d int) {
	for r := 0; r < rows; r++ {
		xr := x[r*d : (r+1)*d]
		var s float32
		for _, v := range xr {
			s += v
		}
		mu := s / float32(d)
		var ss float32
		for _, v := range xr {
			dv := v - mu
			ss += dv * dv
		}
		rs := float32(1 / math.Sqrt(float64(ss/float32(d))+Epsilon))
		mean[r], rstd[r] = mu, rs
		or := out[r*d : (r+1)*d]
		for i, v := range xr {
			or[i] = (v-mu)*rs*g[i] + b[i]
		}
	}
}

// layerNormBackward accumulates dx += ∂L/∂x, dg and db, given dout = ∂L/∂out
// and the forward's x, mean and rstd.
func layerNormBackward(dx, dg, db, dout, x, mean, rstd, g []float32, rows, d int) {
	for r := 0; r < rows; r++ {
		xr, dor, dxr := x[r*d:(r+1)*d], dout[r*d:(r+1)*d], dx[r*d:(r+1)*d]
		mu, rs := mean[r], rstd[r]
		var sumD, sumDX float32
		for i, v := range xr {
			xh := (v - mu) * rs
			dxh := dor[i] * g[i]
			sumD += dxh
			sumDX += dxh * xh
			dg[i] += dor[i] * xh
			db[i] += dor[i]
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

// geluTanh returns the tanh term of GELU at x, from which both the value
// and the derivative follow.
func geluTanh(x float32) float32 {
	return float32(math.Tanh(float64(geluC * (x + geluA*x*x*x))))
}

// geluGradT is GELU's derivative at x given t = geluTanh(x).
func geluGradT(x, t float32) float32 {
	return 0.5*(1+t) + 0.5*x*(1-t*t)*geluC*(1+3*geluA*x*x)
}

// causalSoftmax turns the T×T score matrix a into row-wise softmax
// probabilities over the columns j ≤ i, zeroing the columns j > i.
func causalSoftmax(a []float32, T int) {
	for i := 0; i < T; i++ {
		row := a[i*T : (i+1)*T]
		mx := row[0]
		for _, v := range row[1 : i+1] {
			if v > mx {
				mx = v
			}
		}
		var s float32
		for j := 0; j <= i; j++ {
			e := float32(math.Exp(float64(row[j] - mx)))
			row[j] = e
			s += e
		}
		inv := 1 / s
		for j := 0; j <= i; j++ {
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
