package merge

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConsensusKernels checks that the dispatching consensus kernels (AVX2
// on amd64) give bit-identical sums and outputs to the portable loops, with
// tails, zeros, negative weights, every threshold shape and non-finite
// inputs.
func TestConsensusKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 3e38, -3e38}
	val := func() float32 {
		if r.IntN(6) == 0 {
			return special[r.IntN(len(special))]
		}
		return float32(r.NormFloat64())
	}
	same64 := func(a, b []float64) bool {
		for j := range a {
			if math.Float64bits(a[j]) != math.Float64bits(b[j]) && !(math.IsNaN(a[j]) && math.IsNaN(b[j])) {
				return false
			}
		}
		return true
	}
	for _, tc := range []struct {
		n         int
		thr       int64
		w         float64
		inf       bool
		normalize bool
	}{
		{n: 5, thr: -1, w: 1, normalize: true},
		{n: 8, thr: int64(math.Float32bits(0.5)), w: 0.5, normalize: true},
		{n: 517, thr: int64(math.Float32bits(1)), w: -1.5, normalize: true},
		{n: 512, thr: 1 << 32, w: 2, normalize: false},
		{n: 64, thr: 0, w: 1, normalize: false},
		{n: 69, thr: -1, w: 1, inf: true, normalize: true},
	} {
		n := tc.n
		var sums, want [4][]float64
		for s := range sums {
			sums[s], want[s] = make([]float64, n), make([]float64, n)
		}
		b, o, wo := make([]float32, n), make([]float32, n), make([]float32, n)
		for j := range b {
			b[j] = val()
		}
		for ex := 0; ex < 3; ex++ {
			e := make([]float32, n)
			for j := range e {
				e[j] = val()
			}
			if tc.inf && ex == 1 {
				e[n-2] = float32(math.Inf(-1))
			}
			w := tc.w * float64(ex+1) / 2
			bad := consCut(sums[0], sums[1], sums[2], sums[3], e, b, w, tc.thr)
			wbad := consCutGo(want[0], want[1], want[2], want[3], e, b, w, tc.thr)
			if bad != wbad || tc.inf && ex == 1 && !bad {
				t.Fatalf("n=%d expert %d: bad = %v, portable %v", n, ex, bad, wbad)
			}
			consAcc(sums[0], sums[1], sums[2], sums[3], e, -w)
			consAccGo(want[0], want[1], want[2], want[3], e, -w)
		}
		for s := range sums {
			if !same64(sums[s], want[s]) {
				t.Fatalf("n=%d: sum %d = %v, portable %v", n, s, sums[s], want[s])
			}
		}
		consFinish(o, sums[0], sums[1], sums[2], sums[3], b, 0.7, tc.normalize)
		consFinishGo(wo, want[0], want[1], want[2], want[3], b, 0.7, tc.normalize)
		for j := range o {
			if math.Float32bits(o[j]) != math.Float32bits(wo[j]) && !(o[j] != o[j] && wo[j] != wo[j]) {
				t.Fatalf("n=%d: output %d = %v, portable %v", n, j, o[j], wo[j])
			}
		}
	}
}
