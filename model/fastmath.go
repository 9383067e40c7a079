package model

import "math"

// Single-precision exp for inference, after Cephes' expf: x = n·ln2 + r with
// |r| ≤ ln2/2, e^r by a degree-7 polynomial, 2^n from the exponent bits.
// The error is within about 2 ulp of float32, far cheaper than math.Exp in
// float64 followed by a conversion.
const (
	exp32Log2e = 1.44269504088896341
	exp32C1    = 0.693359375 // ln2, high part (exact in float32)
	exp32C2    = -2.12194440e-4
	// exp32Max is the largest x whose e^x is finite in float32.
	exp32Max = 88.72283
	// exp32Min is where e^x falls below the smallest normal float32; exp32
	// flushes it to zero.
	exp32Min = -87.33654
	// exp32Shift is 1.5·2²³, for rounding to an integer.
	exp32Shift = 12582912
)

// exp32 returns e^x in float32; +Inf above exp32Max, 0 below exp32Min and
// NaN for NaN.
func exp32(x float32) float32 {
	switch {
	case x > exp32Max:
		return float32(math.Inf(1))
	case x < exp32Min:
		return 0
	case x != x:
		return x
	}
	// Round x·log2(e) to the nearest integer n by adding and subtracting
	// 1.5·2²³, which leaves n in the low mantissa bits of t.
	t := x*exp32Log2e + exp32Shift
	n := t - exp32Shift
	ni := int32(math.Float32bits(t)&0x7fffff) - 1<<22 // n as an integer
	r := x - n*exp32C1 - n*exp32C2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	// n ∈ [-126, 128]: 2^n as exponent bits, in two steps so that n = 128
	// (e^x just below the float32 maximum) does not overflow the exponent.
	h := ni / 2
	s1 := math.Float32frombits(uint32(h+127) << 23)
	s2 := math.Float32frombits(uint32(ni-h+127) << 23)
	return p * s1 * s2
}

// geluInfer is gelu for inference: 0.5·x·(1 + tanh u) rewritten as
// x / (1 + e^(−2u)), u = √(2/π)·(x + 0.044715·x³), with exp32. The rewrite
// is exact in real arithmetic, avoids the cancellation of 1 + tanh u for
// negative x, and saturates cleanly (x for large x, −0 for very negative x).
func geluInfer(x float32) float32 {
	u := geluC * (x + geluA*x*x*x)
	return x / (1 + exp32(-2*u))
}

// geluSliceGo is the portable geluSlice.
func geluSliceGo(x []float32) {
	for i, v := range x {
		x[i] = geluInfer(v)
	}
}

// expSubGo is the portable expSub.
func expSubGo(x []float32, m float32) {
	for i, v := range x {
		x[i] = exp32(v - m)
	}
}

// sum32 returns the sum of x, accumulated in four interleaved partial sums
// (a fixed order, shorter dependency chains than a single running sum).
func sum32(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// layerNormInfer is layerNorm for inference, without the saved statistics
// and with the row sums split over partial sums (sum32).
func layerNormInfer(out, x, g, b []float32, rows, d int) {
	g, b = g[:d], b[:d]
	for r := 0; r < rows; r++ {
		xr := x[r*d : (r+1)*d]
		mu, rs := layerNormStats(xr, d)
		or := out[r*d : (r+1)*d]
		or = or[:len(xr)]
		for i, v := range xr {
			or[i] = (v-mu)*rs*g[i] + b[i]
		}
	}
}

// rowTimesGo adds in·w to the columns [from, nout) of out, for one row.
func rowTimesGo(out, in, w []float32, nin, nout, from int) {
	if from >= nout {
		return
	}
	for i, x := range in[:nin] {
		wr := w[i*nout+from : (i+1)*nout]
		o := out[from:nout]
		for j, v := range wr {
			o[j] += x * v
		}
	}
}

// dotRowsGo adds Σ_{from≤i<d} x[i]·w[v·d+i] to out[v] for every row v.
func dotRowsGo(out, x, w []float32, d, from int) {
	if from >= d {
		return
	}
	for v := range out {
		wr := w[v*d+from : (v+1)*d]
		s := out[v]
		for i, xv := range x[from:d] {
			s += xv * wr[i]
		}
		out[v] = s
	}
}

// geluFwdGo is the portable geluFwd. Training's GELU is 0.5·x·(1 + tanh u),
// u = √(2/π)·(x + 0.044715·x³), written as x·s with s = (1 + tanh u)/2 =
// 1/(1 + e^(−2u)), the logistic function of 2u, computed with exp32. s is
// kept for the backward pass, where the derivative follows from it without
// another exponential.
func geluFwdGo(h, g, s []float32) {
	for i, x := range h {
		u := geluC * (x + geluA*x*x*x)
		si := 1 / (1 + exp32(min(max(-2*u, exp32Min), exp32Max)))
		s[i] = si
		g[i] = x * si
	}
}

// geluGradGo is the portable geluGrad: d/dx x·s(x) = s + x·s·(1−s)·2√(2/π)·(1 + 3·0.044715·x²).
func geluGradGo(dh, h, s []float32) {
	for i, x := range h {
		si := s[i]
		dh[i] *= si + si*(1-si)*(2*geluC)*x*(1+3*geluA*x*x)
	}
}
