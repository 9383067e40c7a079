package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestExp32(t *testing.T) {
	cases := []struct {
		x    float32
		want float64
	}{
		{0, 1}, {1, math.Exp(float64(float32(1)))}, {-1, math.Exp(float64(float32(-1)))},
		{10, math.Exp(10)}, {-20, math.Exp(-20)},
		{88.7, math.Exp(float64(float32(88.7)))}, {-87.3, math.Exp(float64(float32(-87.3)))},
		{89, math.Inf(1)}, {-88, 0}, {float32(math.Inf(-1)), 0},
	}
	for _, c := range cases {
		got := float64(exp32(c.x))
		if c.want == 0 || math.IsInf(c.want, 0) {
			if got != c.want {
				t.Errorf("exp32(%v) = %v, want %v", c.x, got, c.want)
			}
			continue
		}
		if math.Abs(got-c.want) > 3e-7*c.want {
			t.Errorf("exp32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if v := exp32(float32(math.NaN())); v == v {
		t.Errorf("exp32(NaN) = %v", v)
	}
	for i := -8700; i <= 8800; i++ {
		x := float32(i) / 100
		want := math.Exp(float64(x))
		if got := float64(exp32(x)); math.Abs(got-want) > 3e-7*want {
			t.Fatalf("exp32(%v) = %v, want %v", x, got, want)
		}
	}
}

// TestVectorKernels compares the slice kernels (AVX2 where available) with
// float64 formulas, at lengths that exercise the vector body and the
// padded tail.
func TestVectorKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{1, 7, 8, 9, 31, 64, 100} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		g := append([]float32(nil), x...)
		geluSlice(g)
		e := append([]float32(nil), x...)
		expSub(e, 2)
		for i, v := range x {
			f := float64(v)
			wantG := 0.5 * f * (1 + math.Tanh(geluC*(f+geluA*f*f*f)))
			if math.Abs(float64(g[i])-wantG) > 1e-6*max(1, math.Abs(wantG)) {
				t.Errorf("n=%d: gelu(%v) = %v, want %v", n, v, g[i], wantG)
			}
			wantE := math.Exp(float64(v - 2)) // the subtraction rounds in float32
			if math.Abs(float64(e[i])-wantE) > 5e-7*wantE {
				t.Errorf("n=%d: exp(%v-2) = %v, want %v", n, v, e[i], wantE)
			}
		}
		// rowTimes: a 5×n matrix times a row, plus bias.
		const nin = 5
		in, w, b := make([]float32, nin), make([]float32, nin*n), make([]float32, n)
		for i := range in {
			in[i] = float32(rng.NormFloat64())
		}
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		// dotRows: w read as nin rows of length n, against x.
		dots := make([]float32, nin)
		dotRows(dots, x, w, n, nin)
		for v := range dots {
			var want float64
			for i := range x {
				want += float64(x[i]) * float64(w[v*n+i])
			}
			if math.Abs(float64(dots[v])-want) > 1e-5*max(1, math.Abs(want)) {
				t.Errorf("n=%d: dotRows row %d = %v, want %v", n, v, dots[v], want)
			}
		}
		out := make([]float32, n)
		rowTimes(out, in, w, b, nin, n)
		for j := range out {
			want := float64(b[j])
			for i := range in {
				want += float64(in[i]) * float64(w[i*n+j])
			}
			if math.Abs(float64(out[j])-want) > 1e-5 {
				t.Errorf("n=%d: rowTimes column %d = %v, want %v", n, j, out[j], want)
			}
		}
	}
}

func TestLayerNormInfer(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const rows, d = 3, 13
	x, g, b := make([]float32, rows*d), make([]float32, d), make([]float32, d)
	for i := range x {
		x[i] = float32(rng.NormFloat64()*2 + 1)
	}
	for i := range g {
		g[i], b[i] = float32(1+rng.NormFloat64()*0.1), float32(rng.NormFloat64()*0.1)
	}
	got := make([]float32, rows*d)
	layerNormInfer(got, x, g, b, rows, d)
	for r := range rows {
		xr := make([]float64, d)
		for i := range xr {
			xr[i] = float64(x[r*d+i])
		}
		gg, bb := make([]float64, d), make([]float64, d)
		for i := range gg {
			gg[i], bb[i] = float64(g[i]), float64(b[i])
		}
		want := refLN(xr, gg, bb)
		for i := range want {
			if math.Abs(float64(got[r*d+i])-want[i]) > 1e-5 {
				t.Errorf("row %d col %d: %v, want %v", r, i, got[r*d+i], want[i])
			}
		}
	}
}

// TestAdamWSlice: the vector AdamW update gives the bits of the Go loop.
func TestAdamWSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 7, 8, 9, 64, 1001} {
		p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range p {
			p[i], g[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()*1e-2)
			m[i], v[i] = float32(rng.NormFloat64()*1e-3), float32(rng.Float64()*1e-4)
		}
		k := adamConsts{clip: 0.7, b1: 0.9, omb1: 1 - float32(0.9), b2: 0.95, omb2: 1 - float32(0.95), sqrtBc2: 0.3, eps: 1e-8, decay: 0.999, stepSize: 3e-3}
		p2, g2, m2, v2 := slices.Clone(p), slices.Clone(g), slices.Clone(m), slices.Clone(v)
		adamWSlice(p, g, m, v, &k)
		adamWGo(p2, g2, m2, v2, &k)
		for i := range p {
			if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || math.Float32bits(m[i]) != math.Float32bits(m2[i]) || math.Float32bits(v[i]) != math.Float32bits(v2[i]) {
				t.Fatalf("n=%d entry %d: (p, m, v) = (%v, %v, %v), Go loop (%v, %v, %v)", n, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
			}
		}
	}
}

// TestColumnKernels: the vector column reductions give the bits of their Go
// loops, at widths that exercise the vector body and the tail, with strides.
func TestColumnKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 7, 8, 9, 33, 128} {
		for _, rows := range []int{1, 2, 17} {
			ld := n + 3
			x, dout := make([]float32, rows*ld), make([]float32, rows*ld)
			for i := range x {
				x[i], dout[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			mean, rstd := make([]float32, rows), make([]float32, rows)
			for i := range mean {
				mean[i], rstd[i] = float32(rng.NormFloat64()), float32(rng.Float64()+0.5)
			}
			init := make([]float32, n)
			for i := range init {
				init[i] = float32(rng.NormFloat64())
			}
			a, b := slices.Clone(init), slices.Clone(init)
			addRows(a, x, ld, rows)
			addRowsGo(b, x, ld, rows)
			dg, db := slices.Clone(init), slices.Clone(init)
			dg2, db2 := slices.Clone(init), slices.Clone(init)
			lnGradCols(dg, db, dout, x, mean, rstd, ld, rows)
			lnGradColsGo(dg2, db2, dout, x, mean, rstd, ld, rows)
			for j := range a {
				if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
					t.Fatalf("n=%d rows=%d: addRows column %d = %v, Go loop %v", n, rows, j, a[j], b[j])
				}
				if math.Float32bits(dg[j]) != math.Float32bits(dg2[j]) || math.Float32bits(db[j]) != math.Float32bits(db2[j]) {
					t.Fatalf("n=%d rows=%d: lnGradCols column %d = (%v, %v), Go loop (%v, %v)", n, rows, j, dg[j], db[j], dg2[j], db2[j])
				}
			}
		}
	}
}

// TestLayerNormTrainKernels compares training's LayerNorm rows (vector code
// at widths that are multiples of 8) with float64 formulas, forward and
// backward.
func TestLayerNormTrainKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, d := range []int{8, 20, 48, 128, 224} {
		const rows = 5
		x, g, b, dout := make([]float32, rows*d), make([]float32, d), make([]float32, d), make([]float32, rows*d)
		for i := range x {
			x[i], dout[i] = float32(rng.NormFloat64()*2+0.5), float32(rng.NormFloat64())
		}
		for i := range g {
			g[i], b[i] = float32(1+0.3*rng.NormFloat64()), float32(0.1*rng.NormFloat64())
		}
		out, mean, rstd := make([]float32, rows*d), make([]float32, rows), make([]float32, rows)
		layerNormRows(out, mean, rstd, x, g, b, 1, rows, d)
		dx := make([]float32, rows*d)
		for i := range dx {
			dx[i] = 0.5
		}
		layerNormBackwardRows(dx, dout, x, mean, rstd, g, 1, rows, d)
		if out[0] != 0 || dx[0] != 0.5 {
			t.Fatalf("d=%d: row 0 was outside [lo, hi) but changed", d)
		}
		for r := 1; r < rows; r++ {
			xr := x[r*d : (r+1)*d]
			var mu, v float64
			for _, e := range xr {
				mu += float64(e)
			}
			mu /= float64(d)
			for _, e := range xr {
				v += (float64(e) - mu) * (float64(e) - mu)
			}
			rs := 1 / math.Sqrt(v/float64(d)+Epsilon)
			var sD, sDX float64
			for i, e := range xr {
				xh := (float64(e) - mu) * rs
				if want := xh*float64(g[i]) + float64(b[i]); math.Abs(float64(out[r*d+i])-want) > 1e-5*max(1, math.Abs(want)) {
					t.Fatalf("d=%d row %d: out[%d] = %v, want %v", d, r, i, out[r*d+i], want)
				}
				dxh := float64(dout[r*d+i]) * float64(g[i])
				sD += dxh
				sDX += dxh * xh
			}
			for i, e := range xr {
				xh := (float64(e) - mu) * rs
				want := 0.5 + rs*(float64(dout[r*d+i])*float64(g[i])-sD/float64(d)-xh*sDX/float64(d))
				if math.Abs(float64(dx[r*d+i])-want) > 1e-5*max(1, math.Abs(want)) {
					t.Fatalf("d=%d row %d: dx[%d] = %v, want %v", d, r, i, dx[r*d+i], want)
				}
			}
		}
	}
}

// TestSoftmaxRowKernels: the LM head's row helpers give the bits of their
// Go definitions, at lengths that exercise the vector body and the tails,
// on values of mixed magnitude where a different summation order would
// show.
func TestSoftmaxRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 9, 15, 16, 17, 500, 1003} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4)))
		}
		if got, want := sum64(x), sum64Go(x); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("n=%d: sum64 = %v, Go loop %v", n, got, want)
		}
		a, b := slices.Clone(x), slices.Clone(x)
		scaleTwice(a, 1/3.7, 0.013)
		scaleTwiceGo(b, 1/3.7, 0.013)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("n=%d entry %d: scaleTwice %v, Go loop %v", n, i, a[i], b[i])
			}
		}
	}
	// sum64's order is its definition, four interleaved partial sums
	// combined as (s0+s1)+(s2+s3): here s0 = 1e30 (+5 from the tail is
	// lost), s1 = 1, s2 = −1e30, s3 = 1, so the sum is 0, where a plain
	// left-to-right sum would give 1.
	for _, x := range [][]float32{{1e30, 1, -1e30, 1}, {1e30, 1, -1e30, 1, 5}} {
		if got := sum64(x); got != 0 {
			t.Fatalf("sum64(%v) = %v, want 0", x, got)
		}
	}
}
