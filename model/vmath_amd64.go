package model

import "golang.org/x/sys/cpu"

// geluAVX2 applies geluInfer to x[0:n] in place, eight lanes at a time
// (vmath_amd64.s); n must be a multiple of 8.
//
//go:noescape
func geluAVX2(x *float32, n int)

// expSubAVX2 replaces x[i] by e^(x[i]−m) for i < n, eight lanes at a time
// (vmath_amd64.s); n must be a multiple of 8.
//
//go:noescape
func expSubAVX2(x *float32, n int, m float32)

// gemvAVX2 adds Σ_{i<n} x[i]·w[i·ldw+j] to y[j] for j < m, eight lanes at
// a time (vmath_amd64.s); m must be a multiple of 8.
//
//go:noescape
func gemvAVX2(x *float32, n int, w *float32, ldw int, y *float32, m int)

// dotRowsAVX2 sets out[v] = Σ_{i<n} x[i]·w[v·ldw+i] for v < rows
// (vmath_amd64.s); n must be a positive multiple of 8.
//
//go:noescape
func dotRowsAVX2(x *float32, n int, w *float32, ldw int, out *float32, rows int)

// geluFwdAVX2 sets s[i] to GELU's logistic term and g[i] = h[i]·s[i] for
// i < n (vmath_amd64.s; see geluFwdGo); n must be a multiple of 8.
//
//go:noescape
func geluFwdAVX2(h, gv, sv *float32, n int)

// geluGradAVX2 multiplies dh[i] by GELU's derivative at h[i] given s[i]
// (vmath_amd64.s; see geluGradGo); n must be a multiple of 8.
//
//go:noescape
func geluGradAVX2(dh, h, sv *float32, n int)

// adamWAVX takes adamW's update for i < n (vmath_amd64.s), n a multiple of
// 8, with the same operations in the same order as adamWGo.
//
//go:noescape
func adamWAVX(p, gr, m, v *float32, n int, k *adamConsts)

// colSumsAVX adds the rows of x to dst, column by column in row order
// (vmath_amd64.s), over the first 8·n8 columns.
//
//go:noescape
func colSumsAVX(dst, x *float32, ldx, n8, rows int)

// lnGradColsAVX accumulates LayerNorm's gain and bias gradients over the
// first 8·n8 columns (vmath_amd64.s; see lnGradColsGo).
//
//go:noescape
func lnGradColsAVX(dg, db, dout, x, mean, rstd *float32, ld, n8, rows int)

// lnForwardAVX is LayerNorm over rows of width 8·n8 (vmath_amd64.s).
//
//go:noescape
func lnForwardAVX(out, mean, rstd, x, gain, b *float32, rows, n8 int, invD, eps float32)

// lnBackwardRowsAVX adds LayerNorm's input gradient over rows of width
// 8·n8 (vmath_amd64.s).
//
//go:noescape
func lnBackwardRowsAVX(dx, dout, x, gain, mean, rstd *float32, rows, n8 int, invD float32)

// sum64AVX adds the n4 groups of four floats at x into four float64 lanes,
// lane k taking element k of every group in order, and stores the lanes
// in out.
//
//go:noescape
func sum64AVX(x *float32, n4 int, out *[4]float64)

// scaleTwiceAVX sets x[i] = (x[i]·a)·b for i < n, n a multiple of 8.
//
//go:noescape
func scaleTwiceAVX(x *float32, n int, a, b float32)

// haveAVX2 reports whether this CPU runs the vector code (AVX2 and FMA,
// with the OS saving YMM registers). It is set once at start-up.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// geluSlice replaces every x[i] by geluInfer(x[i]). With AVX2, every
// element, the tail included, goes through the vector code, so a value's
// result does not depend on where it sits in the slice.
func geluSlice(x []float32) {
	if !haveAVX2 {
		geluSliceGo(x)
		return
	}
	n := len(x) &^ 7
	if n > 0 {
		geluAVX2(&x[0], n)
	}
	if tail := x[n:]; len(tail) > 0 {
		var buf [8]float32
		copy(buf[:], tail)
		geluAVX2(&buf[0], 8)
		copy(tail, buf[:])
	}
}

// expSub replaces every x[i] by exp32(x[i] − m) (up to rounding: the vector
// code fuses multiply-adds). Like geluSlice, it treats every element alike.
func expSub(x []float32, m float32) {
	if !haveAVX2 {
		expSubGo(x, m)
		return
	}
	n := len(x) &^ 7
	if n > 0 {
		expSubAVX2(&x[0], n, m)
	}
	if tail := x[n:]; len(tail) > 0 {
		var buf [8]float32
		copy(buf[:], tail)
		expSubAVX2(&buf[0], 8, m)
		copy(tail, buf[:])
	}
}

// rowTimes computes out = in·w + b for one row, w in Conv1D [nin, nout]
// layout: a matrix-vector product that streams w once, without the packing
// a GEMM would do.
func rowTimes(out, in, w, b []float32, nin, nout int) {
	out, in, w = out[:nout], in[:nin], w[:nin*nout]
	copy(out, b[:nout])
	if !haveAVX2 || nin == 0 {
		rowTimesGo(out, in, w, nin, nout, 0)
		return
	}
	m := nout &^ 7
	if m > 0 {
		gemvAVX2(&in[0], nin, &w[0], nout, &out[0], m)
	}
	rowTimesGo(out, in, w, nin, nout, m)
}

// dotRows sets out[v] to the dot product of x [d] with row v of w [rows, d]:
// the LM head for one position, without transposing the embedding matrix
// as a GEMM would.
func dotRows(out, x, w []float32, d, rows int) {
	out, x, w = out[:rows], x[:d], w[:rows*d]
	n := d &^ 7
	if !haveAVX2 || n == 0 {
		clear(out)
		dotRowsGo(out, x, w, d, 0)
		return
	}
	dotRowsAVX2(&x[0], n, &w[0], d, &out[0], rows)
	dotRowsGo(out, x, w, d, n)
}

// geluFwd computes training's GELU: for every i, s[i] = 1/(1+e^(−2u)) and
// g[i] = h[i]·s[i] (see geluFwdGo). With AVX2 every element, the tail
// included, goes through the vector code.
func geluFwd(h, g, s []float32) {
	g, s = g[:len(h)], s[:len(h)]
	if !haveAVX2 {
		geluFwdGo(h, g, s)
		return
	}
	n := len(h) &^ 7
	if n > 0 {
		geluFwdAVX2(&h[0], &g[0], &s[0], n)
	}
	if len(h) > n {
		var hb, gb, sb [8]float32
		copy(hb[:], h[n:])
		geluFwdAVX2(&hb[0], &gb[0], &sb[0], 8)
		copy(g[n:], gb[:])
		copy(s[n:], sb[:])
	}
}

// geluGrad multiplies every dh[i] by GELU's derivative at h[i], given s[i]
// from geluFwd (see geluGradGo).
func geluGrad(dh, h, s []float32) {
	h, s = h[:len(dh)], s[:len(dh)]
	if !haveAVX2 {
		geluGradGo(dh, h, s)
		return
	}
	n := len(dh) &^ 7
	if n > 0 {
		geluGradAVX2(&dh[0], &h[0], &s[0], n)
	}
	if len(dh) > n {
		var db, hb, sb [8]float32
		copy(db[:], dh[n:])
		copy(hb[:], h[n:])
		copy(sb[:], s[n:])
		geluGradAVX2(&db[0], &hb[0], &sb[0], 8)
		copy(dh[n:], db[:])
	}
}

// adamWSlice applies adamW's update to every entry of p, with the vector
// code for all but the last len(p) mod 8 entries, which adamWGo updates to
// the same bits.
func adamWSlice(p, g, m, v []float32, k *adamConsts) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	n := len(p) &^ 7
	if haveAVX2 && n > 0 {
		adamWAVX(&p[0], &g[0], &m[0], &v[0], n, k)
		p, g, m, v = p[n:], g[n:], m[n:], v[n:]
	}
	adamWGo(p, g, m, v, k)
}

// addRows adds Σ_r x[r·ld + j] to dst[j] for j < len(dst), rows in order.
func addRows(dst, x []float32, ld, rows int) {
	n := len(dst) &^ 7
	if haveAVX2 && n > 0 && rows > 0 {
		_ = x[(rows-1)*ld+len(dst)-1]
		colSumsAVX(&dst[0], &x[0], ld, n/8, rows)
		dst, x = dst[n:], x[n:]
	}
	addRowsGo(dst, x, ld, rows)
}

// lnGradCols accumulates dg[j] += Σ_r dout[r·ld+j]·xh and db[j] += Σ_r
// dout[r·ld+j], xh = (x[r·ld+j] − mean[r])·rstd[r], for j < len(dg), rows in
// order.
func lnGradCols(dg, db, dout, x, mean, rstd []float32, ld, rows int) {
	n := len(dg) &^ 7
	if haveAVX2 && n > 0 && rows > 0 {
		_ = dout[(rows-1)*ld+len(dg)-1]
		_ = x[(rows-1)*ld+len(dg)-1]
		_, _, _ = db[len(dg)-1], mean[rows-1], rstd[rows-1]
		lnGradColsAVX(&dg[0], &db[0], &dout[0], &x[0], &mean[0], &rstd[0], ld, n/8, rows)
		dg, db, dout, x = dg[n:], db[n:], dout[n:], x[n:]
	}
	lnGradColsGo(dg, db, dout, x, mean, rstd, ld, rows)
}

// layerNormRows is layerNorm's per-row work for rows [lo, hi): the vector
// code when the width is a multiple of 8, else layerNormRowsGo.
func layerNormRows(out, mean, rstd, x, g, b []float32, lo, hi, d int) {
	if !haveAVX2 || d%8 != 0 || hi <= lo {
		layerNormRowsGo(out, mean, rstd, x, g, b, lo, hi, d)
		return
	}
	_, _ = out[hi*d-1], x[hi*d-1]
	_, _, _, _ = mean[hi-1], rstd[hi-1], g[d-1], b[d-1]
	lnForwardAVX(&out[lo*d], &mean[lo], &rstd[lo], &x[lo*d], &g[0], &b[0], hi-lo, d/8, 1/float32(d), Epsilon)
}

// layerNormBackwardRows is layerNormBackward's per-row input gradient for
// rows [lo, hi): the vector code when the width is a multiple of 8, else
// layerNormBackwardRowsGo.
func layerNormBackwardRows(dx, dout, x, mean, rstd, g []float32, lo, hi, d int) {
	if !haveAVX2 || d%8 != 0 || hi <= lo {
		layerNormBackwardRowsGo(dx, dout, x, mean, rstd, g, lo, hi, d)
		return
	}
	_, _, _ = dx[hi*d-1], dout[hi*d-1], x[hi*d-1]
	_, _, _ = mean[hi-1], rstd[hi-1], g[d-1]
	lnBackwardRowsAVX(&dx[lo*d], &dout[lo*d], &x[lo*d], &g[0], &mean[lo], &rstd[lo], hi-lo, d/8, 1/float32(d))
}

// sum64 returns the sum of x in float64 from four interleaved partial sums,
// as sum64Go does: the vector lanes are its four partial sums.
func sum64(x []float32) float64 {
	n4 := len(x) / 4
	if !haveAVX2 || n4 == 0 {
		return sum64Go(x)
	}
	var l [4]float64
	sum64AVX(&x[0], n4, &l)
	for _, v := range x[4*n4:] {
		l[0] += float64(v)
	}
	return (l[0] + l[1]) + (l[2] + l[3])
}

// scaleTwice sets x[i] = (x[i]·a)·b, as scaleTwiceGo does.
func scaleTwice(x []float32, a, b float32) {
	n := len(x) &^ 7
	if haveAVX2 && n > 0 {
		scaleTwiceAVX(&x[0], n, a, b)
	}
	scaleTwiceGo(x[n:], a, b)
}
