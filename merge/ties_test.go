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

// TestConsRows checks that the one-pass consensus (AVX-512 on amd64 when
// available, and its portable twin) is bit-identical to the per-expert
// passes consAccGo + consFinishGo, and that cutRange matches cutRangeGo,
// for 1 to 9 experts, tails, zeros, negative weights, huge values and both
// normalize settings.
func TestConsRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 3e38, -3e38, float32(math.Inf(1))}
	val := func() float32 {
		if r.IntN(5) == 0 {
			return special[r.IntN(len(special))]
		}
		return float32(r.NormFloat64())
	}
	for _, n := range []int{1, 7, 8, 9, 64, 517} {
		for k := 1; k <= 9; k++ {
			for _, normalize := range []bool{false, true} {
				b := make([]float32, n)
				for j := range b {
					b[j] = val()
				}
				rows := make([][]float32, k)
				w := make([]float64, k)
				var sums [4][]float64
				for s := range sums {
					sums[s] = make([]float64, n)
				}
				for i := range rows {
					e := make([]float32, n)
					for j := range e {
						e[j] = val()
					}
					thr := int64(math.Float32bits(float32(r.Float64())))
					if i == 0 {
						thr = -1
					}
					rows[i] = make([]float32, n)
					want := make([]float32, n)
					if bad, wbad := cutRange(rows[i], e, b, thr), cutRangeGo(want, e, b, thr); bad&signBit != wbad&signBit {
						t.Fatalf("n=%d: cutRange bad = %x, portable %x", n, bad, wbad)
					}
					for j := range want {
						if math.Float32bits(rows[i][j]) != math.Float32bits(want[j]) {
							t.Fatalf("n=%d: cutRange[%d] = %v, portable %v", n, j, rows[i][j], want[j])
						}
					}
					// The merge rejects a non-finite τ before the consensus.
					for j, v := range rows[i] {
						if math.IsInf(float64(v), 0) || v != v {
							rows[i][j] = 3e38
						}
					}
					w[i] = r.NormFloat64()
					if i == 1 {
						w[i] = 0
					}
					consAccGo(sums[0], sums[1], sums[2], sums[3], rows[i], w[i])
				}
				want := make([]float32, n)
				consFinishGo(want, sums[0], sums[1], sums[2], sums[3], b, 0.7, normalize)
				got, twin := make([]float32, n), make([]float32, n)
				consRows(got, b, rows, make([]*float32, k), w, 0.7, normalize)
				consRowsGo(twin, b, rows, w, 0.7, normalize)
				for j := range want {
					g, tw, wv := math.Float32bits(got[j]), math.Float32bits(twin[j]), math.Float32bits(want[j])
					if (g != wv || tw != wv) && !(got[j] != got[j] && twin[j] != twin[j] && want[j] != want[j]) {
						t.Fatalf("n=%d k=%d normalize=%v: entry %d = %v (portable %v), want %v", n, k, normalize, j, got[j], twin[j], want[j])
					}
				}
			}
		}
	}
}

// TestDot64 checks the vector dot product against the portable one bit for
// bit, with tails and values of very different magnitudes.
func TestDot64(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 255, 256, 1027} {
		x, y := make([]float32, n), make([]float32, n)
		for j := range x {
			x[j] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10)))
			y[j] = float32(r.NormFloat64())
		}
		if got, want := dot64(x, y), dot64Go(x, y); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("n=%d: dot64 = %v, portable %v", n, got, want)
		}
	}
}

// TestConsensusPaths merges with every consensus method through both
// consensus paths — per-expert float64 sums (CPUs without AVX-512) and
// one pass over τ̂ rows — and requires bit-identical outputs, including a
// tail that is not a multiple of 8.
func TestConsensusPaths(t *testing.T) {
	n := 2*chunkLen + 777
	in := randInput(41, n, 4, false)
	in.Name = "layer.1"
	for m, p := range map[string]Params{
		TIES:            {Density: F64(0.2)},
		DareTIES:        {Density: F64(0.3)},
		BreadcrumbsTIES: {Density: F64(0.3)},
		Della:           {Density: F64(0.4), Epsilon: F64(0.1)},
	} {
		in := in
		in.Params = same(4, p)
		in.Weights = []float64{1, 0.5, -0.25, 2}
		outs := [2][]float32{make([]float32, n), make([]float32, n)}
		for i, path := range []func(*plan, []float32) error{(*plan).consensusSums, (*plan).consensusRows} {
			pl, err := prepare(m, in, outs[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := pl.buildSparsifiers(9); err != nil {
				t.Fatal(err)
			}
			if err := path(pl, outs[i]); err != nil {
				t.Fatal(m, err)
			}
		}
		for j := range outs[0] {
			if math.Float32bits(outs[0][j]) != math.Float32bits(outs[1][j]) {
				t.Fatalf("%s: entry %d = %v (sums), %v (rows)", m, j, outs[0][j], outs[1][j])
			}
		}
	}
}
