package merge

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"testing"
)

// randTensor returns n values; quantized values produce many magnitude ties.
func randTensor(rng *rand.Rand, n int, quantized bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		if quantized {
			x[i] = float32(rng.IntN(17)-8) / 8
		} else {
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

func randInput(seed uint64, n, k int, quantized bool) Input {
	rng := rand.New(rand.NewPCG(seed, 1))
	in := Input{Name: "t", Base: randTensor(rng, n, false)}
	for i := 0; i < k; i++ {
		tau := randTensor(rng, n, quantized)
		in.Experts = append(in.Experts, add(in.Base, tau))
	}
	return in
}

func mustMerge(t testing.TB, method string, in Input, seed uint64) []float32 {
	t.Helper()
	out := make([]float32, len(in.Experts[0]))
	if _, err := MergeTensor(method, in, seed, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProperties(t *testing.T) {
	in1 := randInput(1, 3000, 1, false)
	tau := make([]float32, 3000)
	for j := range tau {
		tau[j] = in1.Experts[0][j] - in1.Base[j]
	}
	want := make([]float32, len(tau))
	for j := range want {
		want[j] = in1.Base[j] + tau[j] // θ₀ + float32 τ
	}
	t.Run("one expert lambda 1 returns it", func(t *testing.T) {
		for _, m := range []string{TaskArithmetic, TIES, DareTIES, DareLinear} {
			if got := mustMerge(t, m, in1, 0); !slices.Equal(got, want) {
				t.Errorf("%s: differs from the expert", m)
			}
		}
	})
	t.Run("identical experts give identity", func(t *testing.T) {
		in := Input{Base: in1.Base, Experts: [][]float32{in1.Experts[0], in1.Experts[0], in1.Experts[0]},
			Weights: []float64{0.5, 1, 2.5}}
		if got := mustMerge(t, Linear, Input{Experts: in.Experts, Weights: in.Weights}, 0); !slices.EqualFunc(got, in1.Experts[0], func(a, b float32) bool { return near(float64(a), float64(b), 1e-6) }) {
			t.Error("linear")
		}
		for _, m := range []string{TIES, TaskArithmetic} {
			in.Params = same(3, Params{Normalize: Bool(true), Density: nil})
			if m == TIES {
				in.Params = same(3, Params{Normalize: Bool(true), Density: F64(0.3)})
			}
			got := mustMerge(t, m, in, 0)
			ties := mustMerge(t, TIES, Input{Base: in1.Base, Experts: in.Experts[:1], Params: in.Params[:1]}, 0)
			for j := range got {
				ref := want[j]
				if m == TIES {
					ref = ties[j]
				}
				if !near(float64(got[j]), float64(ref), 1e-6) {
					t.Fatalf("%s: entry %d = %v, want %v", m, j, got[j], ref)
				}
			}
		}
	})
	t.Run("dare_ties at density 1 equals ties at density 1", func(t *testing.T) {
		in := randInput(2, 5000, 4, false)
		in.Weights = []float64{1, 0.5, 2, 1}
		a := mustMerge(t, DareTIES, in, 3)
		b := mustMerge(t, TIES, in, 3)
		if !slices.Equal(a, b) {
			t.Error("differ")
		}
	})
	t.Run("dare_linear mean over seeds tends to task arithmetic", func(t *testing.T) {
		in := randInput(3, 200, 3, false)
		in.Params = same(3, Params{Density: F64(0.3)})
		ta := mustMerge(t, TaskArithmetic, Input{Base: in.Base, Experts: in.Experts}, 0)
		mean := make([]float64, len(ta))
		const seeds = 2000
		for s := uint64(0); s < seeds; s++ {
			for j, v := range mustMerge(t, DareLinear, in, s) {
				mean[j] += float64(v) / seeds
			}
		}
		// Per entry: var of one draw ≈ Σ τ²(1−p)/p ≈ 3·2.33 = 7; sd of
		// the mean over 2000 ≈ 0.06. The worst of 200 entries stays < 0.3.
		var worst float64
		for j := range mean {
			worst = max(worst, math.Abs(mean[j]-float64(ta[j])))
		}
		if worst > 0.3 {
			t.Errorf("max |mean − TA| = %v", worst)
		}
	})
	t.Run("dare l1 rescale keeps the L1 norm", func(t *testing.T) {
		in := randInput(4, 10000, 1, false)
		in.Params = []Params{{Density: F64(0.2), RescaleMode: RescaleL1}}
		got := mustMerge(t, DareLinear, in, 9)
		var l1, l1hat float64
		for j := range got {
			l1 += math.Abs(float64(in.Experts[0][j] - in.Base[j]))
			l1hat += math.Abs(float64(got[j]) - float64(in.Base[j]))
		}
		if !near(l1hat, l1, 1e-4) {
			t.Errorf("L1 after %v, before %v", l1hat, l1)
		}
	})
	t.Run("dare keeps about density and rescales by 1/density", func(t *testing.T) {
		in := randInput(5, 100000, 1, false)
		in.Params = []Params{{Density: F64(0.25)}}
		got := mustMerge(t, DareLinear, in, 1)
		kept := 0
		for j := range got {
			tj := in.Experts[0][j] - in.Base[j]
			d := got[j] - in.Base[j]
			if got[j] != in.Base[j] {
				kept++
				if !near(float64(d), float64(tj)*4, 1e-5) {
					t.Fatalf("entry %d: τ̂ = %v, τ = %v", j, d, tj)
				}
			}
		}
		if f := float64(kept) / 100000; math.Abs(f-0.25) > 0.01 {
			t.Errorf("kept fraction %v", f)
		}
	})
}

// bruteCut lists the first r entries in rank order by sorting.
func bruteKeep(tau []float32, r int) []bool {
	idx := make([]int, len(tau))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return math.Abs(float64(tau[idx[a]])) > math.Abs(float64(tau[idx[b]]))
	})
	keep := make([]bool, len(tau))
	for _, j := range idx[:r] {
		keep[j] = true
	}
	return keep
}

func TestSelectCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 2, 7, 1000, smallSelect + 1, 300000} {
		for _, quant := range []bool{false, true} {
			tau := randTensor(rng, n, quant)
			for _, r := range []int{0, 1, n / 3, n / 2, n - 1, n} {
				want := bruteKeep(tau, r)
				check := func(name string, c cut) {
					for j, v := range tau {
						if got := c.has(j, math.Float32bits(v)&absMask); got != want[j] {
							t.Fatalf("%s n=%d quant=%v r=%d: entry %d kept=%v, want %v", name, n, quant, r, j, got, want[j])
						}
					}
				}
				check("selectCut", selectCut(tau, nil, r))
				if r >= 1 && r < n {
					check("radixSelect", radixSelect(tau, nil, r))
					if n > smallSelect {
						if c, ok := sampledSelect(tau, nil, r); ok {
							check("sampledSelect", c)
						} else if !quant {
							t.Errorf("sampledSelect missed on continuous data n=%d r=%d", n, r)
						}
					}
				}
			}
		}
	}
}

// TestGlobalTrim compares the streaming global trim with a brute-force
// selection over the concatenation of the tensors in name order.
func TestGlobalTrim(t *testing.T) {
	for _, quant := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(21, 22))
		names := []string{"a", "b", "c"}
		sizes := []int{700, 70000, 1300}
		base := map[string][]float32{}
		expert := map[string][]float32{}
		var all []float32
		for i, name := range names {
			base[name] = randTensor(rng, sizes[i], false)
			tau := randTensor(rng, sizes[i], quant)
			expert[name] = add(base[name], tau)
			for j := range tau {
				all = append(all, expert[name][j]-base[name][j])
			}
		}
		for _, density := range []float64{0, 0.001, 0.2, 0.5, 1} {
			h, err := NewMagnitudeHistogram(density)
			if err != nil {
				t.Fatal(err)
			}
			passes := 0
			for !h.Done() {
				passes++
				for _, name := range names {
					if err := h.Add(name, expert[name], base[name]); err != nil {
						t.Fatal(err)
					}
				}
				if err := h.EndPass(); err != nil {
					t.Fatal(err)
				}
			}
			want := bruteKeep(all, keepCount(density, len(all)))
			off := 0
			for _, name := range names {
				th, err := h.Threshold(name)
				if err != nil {
					t.Fatal(err)
				}
				in := Input{Name: name, Base: base[name], Experts: [][]float32{expert[name]},
					Params: []Params{{TrimScope: ScopeGlobal, Threshold: &th}}}
				got := mustMerge(t, TIES, in, 0)
				for j := range got {
					kept := got[j] != base[name][j]
					tj := all[off+j]
					if tj != 0 && kept != want[off+j] {
						t.Fatalf("quant=%v density=%v %s[%d]: kept=%v, want %v (passes %d)", quant, density, name, j, kept, want[off+j], passes)
					}
				}
				off += len(got)
			}
			if quant && density == 0.2 && passes != 3 {
				t.Errorf("quantized data at density 0.2 took %d passes, want 3 (tie pass)", passes)
			}
		}
	}
}

// TestDeterminism merges with every method under GOMAXPROCS 1 and 4 and
// requires byte-identical outputs and stats.
func TestDeterminism(t *testing.T) {
	n := 3*chunkLen + 1234
	if testing.Short() {
		n = chunkLen + 1234
	}
	in := randInput(31, n, 3, false)
	in.Name = "layer.0"
	params := map[string]Params{
		TIES: {Density: F64(0.2)}, DareTIES: {Density: F64(0.3)}, DareLinear: {Density: F64(0.3), RescaleMode: RescaleL1},
		Breadcrumbs: {Density: F64(0.3)}, BreadcrumbsTIES: {Density: F64(0.3)},
		Della: {Density: F64(0.4), Epsilon: F64(0.1)}, DellaLinear: {Density: F64(0.4), Epsilon: F64(0.1)},
		ModelStock: {}, TaskArithmetic: {}, Linear: {},
	}
	run := func(procs int) map[string][]byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res := map[string][]byte{}
		for m, p := range params {
			in := in
			in.Params = same(3, p)
			out := make([]float32, n)
			st, err := MergeTensor(m, in, 5, out)
			if err != nil {
				t.Fatal(m, err)
			}
			var buf bytes.Buffer
			_ = binary.Write(&buf, binary.LittleEndian, out)
			js, _ := json.Marshal(st)
			res[m] = append(buf.Bytes(), js...)
		}
		return res
	}
	a, b := run(1), run(4)
	for m := range params {
		if !bytes.Equal(a[m], b[m]) {
			t.Errorf("%s: GOMAXPROCS 1 and 4 differ", m)
		}
	}
}

func TestStatsSampling(t *testing.T) {
	// The default sampling estimates the exact stats closely on a large
	// tensor; stride 1 is exact.
	in := randInput(41, 1<<20, 3, false) // default stride 32
	in.Params = same(3, Params{Density: F64(0.2)})
	stats := func(stride int) Stats {
		in := in
		in.StatsStride = stride
		out := make([]float32, len(in.Base))
		ts, err := MergeTensor(TIES, in, 0, out)
		if err != nil {
			t.Fatal(err)
		}
		acc := NewAccumulator(3)
		if err := acc.Add(ts); err != nil {
			t.Fatal(err)
		}
		return acc.Stats()
	}
	exact, sampled := stats(1), stats(0)
	if math.Abs(exact.MassRemoved-sampled.MassRemoved) > 0.01 ||
		math.Abs(exact.SignConflict-sampled.SignConflict) > 0.01 ||
		math.Abs(exact.NormRatio-sampled.NormRatio) > 0.02 ||
		math.Abs(exact.MeanCosine-sampled.MeanCosine) > 0.02 {
		t.Errorf("exact %+v\nsampled %+v", exact, sampled)
	}
	// Independent Gaussian task vectors: cosine ≈ 0; density 0.2 keeps the
	// largest 20%, which carry 2φ(1.2816)/E|Z| ≈ 44% of the L1 mass of a Gaussian.
	if math.Abs(exact.MeanCosine) > 0.01 || math.Abs(exact.MassRemoved-0.56) > 0.02 {
		t.Errorf("exact stats off: %+v", exact)
	}
}
