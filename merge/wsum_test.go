package merge

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBlockKernels checks that the dispatching block kernels (AVX2 on
// amd64) give bit-identical results to the portable loops, on lengths with
// and without a tail, with signed zeros, subnormals, huge values and
// non-finite inputs.
func TestBlockKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 3e38, -3e38, 1, -1}
	val := func() float32 {
		if r.IntN(8) == 0 {
			return special[r.IntN(len(special))]
		}
		return float32(r.NormFloat64())
	}
	for _, tc := range []struct {
		n    int
		sub  float32
		inf  bool
		w, s float64
	}{
		{n: 1, sub: 1, w: 0.5, s: 1},
		{n: 7, sub: 0, w: 1, s: 0.125},
		{n: 8, sub: 1, w: -2.5, s: 1},
		{n: 517, sub: 1, w: 0.3, s: 1.7},
		{n: 512, sub: 0, w: 1e300, s: 1e10},
		{n: 64, sub: 1, inf: true, w: 1, s: 1},
		{n: 61, sub: 1, inf: true, w: 1, s: 1},
	} {
		e0, e1, b := make([]float32, tc.n), make([]float32, tc.n), make([]float32, tc.n)
		a0 := make([]float64, tc.n)
		for j := range e0 {
			e0[j], e1[j], b[j] = val(), val(), val()
			a0[j] = r.NormFloat64()
		}
		if tc.inf {
			e1[tc.n-3] = float32(math.Inf(1))
		}
		a, want := append([]float64(nil), a0...), append([]float64(nil), a0...)
		accPair(a, e0, e1, b, tc.w, -0.75, tc.sub)
		accPairGo(want, e0, e1, b, tc.w, -0.75, tc.sub)
		accOne(a, e1, b, 1.25, tc.sub)
		accOneGo(want, e1, b, 1.25, tc.sub)
		for j := range a {
			if math.Float64bits(a[j]) != math.Float64bits(want[j]) && !(math.IsNaN(a[j]) && math.IsNaN(want[j])) {
				t.Fatalf("n=%d: accumulator %d = %v, portable code gives %v", tc.n, j, a[j], want[j])
			}
		}
		o, wo := make([]float32, tc.n), make([]float32, tc.n)
		bad, wbad := finish(o, a, b, tc.s), finishGo(wo, want, b, tc.s)
		if bad != wbad || bad != tc.inf && tc.w < 1e300 {
			t.Errorf("n=%d: finish reports bad=%v, portable code %v, want %v", tc.n, bad, wbad, tc.inf)
		}
		for j := range o {
			if math.Float32bits(o[j]) != math.Float32bits(wo[j]) && !(o[j] != o[j] && wo[j] != wo[j]) {
				t.Fatalf("n=%d: output %d = %v, portable code gives %v", tc.n, j, o[j], wo[j])
			}
		}
	}
}
