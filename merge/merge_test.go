package merge

import (
	"math"
	"strings"
	"testing"
)

func f32(v ...float32) []float32 { return v }

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// add returns base + τ entry by entry, so tests can state task vectors.
func add(base, tau []float32) []float32 {
	out := make([]float32, len(base))
	for i := range base {
		out[i] = base[i] + tau[i]
	}
	return out
}

func same(n int, p Params) []Params {
	ps := make([]Params, n)
	for i := range ps {
		ps[i] = p
	}
	return ps
}

// TestHandComputed checks every method against results worked out by hand;
// the arithmetic is in each case's comment.
func TestHandComputed(t *testing.T) {
	ones5 := f32(1, 1, 1, 1, 1)
	// Three TIES task vectors used by several cases.
	t1 := f32(3, -1, 0.5, -4, 2)
	t2 := f32(-2, 1, 1, -1, 0.25)
	t3 := f32(1, 2, -3, -2, 0)
	d06 := Params{Density: F64(0.6)}
	cases := []struct {
		name   string
		method string
		in     Input
		want   []float32
	}{
		{
			// (1·1+3·3)/4 = 2.5, (1·2+3·6)/4 = 5, (1·3+3·9)/4 = 7.5
			name: "linear weighted", method: Linear,
			in:   Input{Experts: [][]float32{f32(1, 2, 3), f32(3, 6, 9)}, Weights: []float64{1, 3}},
			want: f32(2.5, 5, 7.5),
		},
		{
			// weights from Params: (2·4 + 2·0)/4 = 2 ... (2·0+2·2)/4 = 1
			name: "linear params weight", method: Linear,
			in:   Input{Experts: [][]float32{f32(4, 0), f32(0, 2)}, Params: same(2, Params{Weight: F64(2)})},
			want: f32(2, 1),
		},
		{
			// τ1=[1,-1,0], τ2=[0,2,-2]; Σ=[1,1,-2]; θ = 1 + 0.5·Σ = [1.5,1.5,0]
			name: "task_arithmetic lambda", method: TaskArithmetic,
			in: Input{Base: f32(1, 1, 1), Experts: [][]float32{f32(2, 0, 1), f32(1, 3, -1)},
				Params: same(2, Params{Lambda: F64(0.5)})},
			want: f32(1.5, 1.5, 0),
		},
		{
			// normalize: Σ/Σw = [1,1,-2]/2 = [0.5,0.5,-1]; θ = 1 + that
			name: "task_arithmetic normalize", method: TaskArithmetic,
			in: Input{Base: f32(1, 1, 1), Experts: [][]float32{f32(2, 0, 1), f32(1, 3, -1)},
				Params: same(2, Params{Normalize: Bool(true)})},
			want: f32(1.5, 1.5, 0),
		},
		{
			// k = round(0.6·5) = 3.
			// τ̂1 keeps |4|,|3|,|2|     → [3,0,0,-4,2]
			// τ̂2 keeps |2|, then ties at |1| by index: idx1, idx2 → [-2,1,1,0,0]
			// τ̂3 keeps |3|, then ties at |2|: idx1, idx3 → [0,2,-3,-2,0]
			// Σ = [1,3,-2,-6,2] → signs + + − − +
			// disjoint means: [3/1, (1+2)/2, -3/1, (-4-2)/2, 2/1] = [3,1.5,-3,-3,2]
			// θ = 1 + τ
			name: "ties", method: TIES,
			in: Input{Base: ones5, Experts: [][]float32{add(ones5, t1), add(ones5, t2), add(ones5, t3)},
				Params: same(3, d06)},
			want: f32(4, 2.5, -2, -2, 3),
		},
		{
			// Same trims, weights [1,2,1], normalize false:
			// Σwτ̂ = [3-4, 2+2, 2-3, -4-2, 2] = [-1,4,-1,-6,2]
			// agreeing sums: idx0 −: 2·(−2)=−4; idx1 +: 2+2=4; idx2 −: −3;
			// idx3 −: −6; idx4 +: 2.  λ = 0.5 → [-2,2,-1.5,-3,1]
			name: "ties weights no normalize", method: TIES,
			in: Input{Base: ones5, Experts: [][]float32{add(ones5, t1), add(ones5, t2), add(ones5, t3)},
				Weights: []float64{1, 2, 1},
				Params:  same(3, Params{Density: F64(0.6), Normalize: Bool(false), Lambda: F64(0.5)})},
			want: f32(-1, 3, -0.5, -2, 2),
		},
		{
			// Σ = 1 + (−1) = 0 elects +: mean of the positive entries = 1.
			name: "ties zero sum elects plus", method: TIES,
			in:   Input{Base: f32(0), Experts: [][]float32{f32(1), f32(-1)}},
			want: f32(1),
		},
		{
			// density 0.01 on 3 entries: round(0.03) = 0 → k = 1: keeps -5 only.
			name: "ties tiny density keeps one", method: TIES,
			in:   Input{Base: f32(0, 0, 0), Experts: [][]float32{f32(1, -5, 2)}, Params: []Params{{Density: F64(0.01)}}},
			want: f32(0, -5, 0),
		},
		{
			// density 1: dare is task vectors unchanged, then the TIES mean:
			// Σ = [1,3,-2,-6,2.25]; agreeing means: [(3+1)/2, (1+2)/2, -3, (-1-4-2)/3, (2+0.25)/2]
			name: "dare_ties density 1", method: DareTIES,
			in:   Input{Base: ones5, Experts: [][]float32{add(ones5, t1), add(ones5, t2), add(ones5, t3)}},
			want: f32(3, 2.5, -2, 1-7.0/3, 2.125),
		},
		{
			// τ = [10..1]; k = 5, top = round(0.1·10) = 1: drop 10, keep 9..5.
			name: "breadcrumbs", method: Breadcrumbs,
			in: Input{Base: make([]float32, 10), Experts: [][]float32{f32(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)},
				Params: []Params{{Density: F64(0.5), Gamma: F64(0.1)}}},
			want: f32(0, 9, 8, 7, 6, 5, 0, 0, 0, 0),
		},
		{
			// gamma·n = 0.4 rounds to 0: nothing large dropped (mergekit drops all).
			name: "breadcrumbs gamma rounds to zero", method: Breadcrumbs,
			in: Input{Base: make([]float32, 10), Experts: [][]float32{f32(10, -9, 8, 7, 6, 5, 4, 3, 2, 1)},
				Params: []Params{{Density: F64(0.5), Gamma: F64(0.04)}}},
			want: f32(10, -9, 8, 7, 6, 0, 0, 0, 0, 0),
		},
		{
			// density 0.01: k = 1; gamma 0.1: top 1 → keep the second largest.
			name: "breadcrumbs tiny density", method: Breadcrumbs,
			in: Input{Base: make([]float32, 10), Experts: [][]float32{f32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
				Params: []Params{{Density: F64(0.01), Gamma: F64(0.1)}}},
			want: f32(0, 0, 0, 0, 0, 0, 0, 0, 9, 0),
		},
		{
			// gamma 0.95: top = 10 > n − k = 9 → top = 9, keep the smallest.
			name: "breadcrumbs gamma too large", method: Breadcrumbs,
			in: Input{Base: make([]float32, 10), Experts: [][]float32{f32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
				Params: []Params{{Density: F64(0.1), Gamma: F64(0.95)}}},
			want: f32(1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		},
		{
			// breadcrumbs_ties, density 0.5 gamma 0 on n=4: keep 2 largest each.
			// τ̂1 = [4,-3,0,0], τ̂2 = [0,2,0,-5]; Σ=[4,-1,0,-5] → + − + −
			// normalize false (default): [4, -3, 0, -5]
			name: "breadcrumbs_ties", method: BreadcrumbsTIES,
			in: Input{Base: make([]float32, 4), Experts: [][]float32{f32(4, -3, 1, 0), f32(1, 2, 0, -5)},
				Params: same(2, Params{Density: F64(0.5), Gamma: F64(0)})},
			want: f32(4, -3, 0, -5),
		},
		{
			// base [1,0], expert [0,1], t = 0.5: θ = 90°, s0 = s1 = sin 45° = √2/2
			name: "slerp orthogonal", method: Slerp,
			in:   Input{Base: f32(1, 0), Experts: [][]float32{f32(0, 1)}, Params: []Params{{T: F64(0.5)}}},
			want: f32(float32(math.Sqrt2/2), float32(math.Sqrt2/2)),
		},
		{
			// colinear → lerp: 0.75·[1,2] + 0.25·[2,4] = [1.25, 2.5]
			name: "slerp colinear", method: Slerp,
			in:   Input{Base: f32(1, 2), Experts: [][]float32{f32(2, 4)}, Params: []Params{{T: F64(0.25)}}},
			want: f32(1.25, 2.5),
		},
		{
			// τ1=[1,0], τ2=[1,1]: c = 1/√2, t = 2c/(1+c) = 0.828427;
			// mean θ = [2,1.5]; θ = t·[2,1.5] + (1−t)·[1,1] = [1+t, 1+t/2]
			name: "model_stock", method: ModelStock,
			in:   Input{Base: f32(1, 1), Experts: [][]float32{f32(2, 1), f32(2, 2)}},
			want: f32(float32(1+2*math.Sqrt2/2/(1+math.Sqrt2/2)), float32(1+math.Sqrt2/2/(1+math.Sqrt2/2))),
		},
		{
			name: "passthrough", method: Passthrough,
			in:   Input{Experts: [][]float32{f32(1, -2, 3)}},
			want: f32(1, -2, 3),
		},
		{
			// mergekit's per-model scale multiplies the copied tensor.
			name: "passthrough scale", method: Passthrough,
			in:   Input{Experts: [][]float32{f32(1, -2, 3)}, Params: []Params{{Scale: F64(0.5)}}},
			want: f32(0.5, -1, 1.5),
		},
		{
			// della_linear with density 0.5, ε 0.5: p = rank/(n−1); |τ| = [3,1]
			// → ranks [1,0], p = [1,0]: −3 kept (×1/1), 1 dropped.
			name: "della_linear", method: DellaLinear,
			in: Input{Base: f32(0, 0), Experts: [][]float32{f32(-3, 1)},
				Params: []Params{{Density: F64(0.5), Epsilon: F64(0.5)}}},
			want: f32(-3, 0),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := make([]float32, len(c.want))
			if _, err := MergeTensor(c.method, c.in, 7, out); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if !near(float64(out[i]), float64(c.want[i]), 1e-6) {
					t.Fatalf("out = %v, want %v", out, c.want)
				}
			}
		})
	}
}

func TestDellaProbabilities(t *testing.T) {
	// p = [0, 1, 0.5] as in the hand case; entry 2 (τ = 2) is kept with
	// probability 0.5 and then rescaled by 1/0.5 to 4.
	in := Input{Base: f32(0, 0, 0), Experts: [][]float32{f32(1, -3, 2)},
		Params: []Params{{Density: F64(0.5), Epsilon: F64(0.5)}}}
	kept := 0
	const seeds = 400
	for s := uint64(0); s < seeds; s++ {
		out := make([]float32, 3)
		if _, err := MergeTensor(DellaLinear, in, s, out); err != nil {
			t.Fatal(err)
		}
		if out[0] != 0 || out[1] != -3 {
			t.Fatalf("seed %d: fixed entries changed: %v", s, out)
		}
		switch out[2] {
		case 4:
			kept++
		case 0:
		default:
			t.Fatalf("seed %d: entry 2 = %v, want 0 or 4", s, out[2])
		}
	}
	if kept < seeds*4/10 || kept > seeds*6/10 {
		t.Fatalf("kept %d of %d, want about half", kept, seeds)
	}
}

func TestStatsHandComputed(t *testing.T) {
	ones5 := f32(1, 1, 1, 1, 1)
	t1 := f32(3, -1, 0.5, -4, 2)
	t2 := f32(-2, 1, 1, -1, 0.25)
	t3 := f32(1, 2, -3, -2, 0)
	in := Input{Base: ones5, Experts: [][]float32{add(ones5, t1), add(ones5, t2), add(ones5, t3)},
		Params: same(3, Params{Density: F64(0.6)})}
	out := make([]float32, 5)
	ts, err := MergeTensor(TIES, in, 0, out)
	if err != nil {
		t.Fatal(err)
	}
	acc := NewAccumulator(3)
	if err := acc.Add(ts); err != nil {
		t.Fatal(err)
	}
	s := acc.Stats()
	// Trimmed: τ̂1=[3,0,0,-4,2], τ̂2=[-2,1,1,0,0], τ̂3=[0,2,-3,-2,0].
	// Conflicts at idx0 (3 vs −2) and idx2 (1 vs −3): 2/5.
	if !near(s.SignConflict, 0.4, 1e-12) {
		t.Errorf("SignConflict = %v, want 0.4", s.SignConflict)
	}
	// Removed mass: τ1 1+0.5, τ2 1+0.25, τ3 1+0 over L1 10.5+5.25+8.
	if want := 3.75 / 23.75; !near(s.MassRemoved, want, 1e-6) {
		t.Errorf("MassRemoved = %v, want %v", s.MassRemoved, want)
	}
	// τ1·τ2 = −6−1+0.5+4+0.5 = −2; ‖τ1‖² = 9+1+0.25+16+4 = 30.25,
	// ‖τ2‖² = 4+1+1+1+0.0625 = 7.0625.
	if want := -2 / math.Sqrt(30.25*7.0625); !near(s.PairwiseCosine[0][1], want, 1e-6) {
		t.Errorf("cos(τ1,τ2) = %v, want %v", s.PairwiseCosine[0][1], want)
	}
	// merged τ = [3,1.5,-3,-3,2]: ‖·‖² = 9+2.25+9+9+4 = 33.25;
	// ‖τ3‖² = 1+4+9+4 = 18.
	want := math.Sqrt(33.25) / ((math.Sqrt(30.25) + math.Sqrt(7.0625) + math.Sqrt(18)) / 3)
	if !near(s.NormRatio, want, 1e-6) {
		t.Errorf("NormRatio = %v, want %v", s.NormRatio, want)
	}
	if s.Entries != 5 || s.Tensors != 1 || s.Experts != 3 {
		t.Errorf("counts = %d entries, %d tensors, %d experts", s.Entries, s.Tensors, s.Experts)
	}
	if err := acc.Add(ts); err == nil {
		t.Error("adding a tensor twice: no error")
	}
}

func TestErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name, method string
		in           Input
		n            int
		want         string
	}{
		{"unknown method", "frankenmerge", Input{Experts: [][]float32{f32(1)}}, 1, "unknown merge method"},
		{"nan in expert", TIES, Input{Name: "h.0.w", Base: f32(0, 0), Experts: [][]float32{f32(1, 2), f32(1, nan)}}, 2, `tensor "h.0.w": invalid merge input: expert 1 has non-finite value NaN at flat index 1`},
		{"inf in base", TaskArithmetic, Input{Name: "b", Base: f32(inf, 0), Experts: [][]float32{f32(1, 2)}}, 2, "base has non-finite value +Inf at flat index 0"},
		{"nan linear", Linear, Input{Name: "x", Experts: [][]float32{f32(nan)}}, 1, "expert 0 has non-finite"},
		{"nan dare dropped", DareLinear, Input{Name: "x", Base: f32(0, 0), Experts: [][]float32{f32(1, nan)}, Params: []Params{{Density: F64(0.01)}}}, 2, "expert 0 has non-finite"},
		{"length", Linear, Input{Experts: [][]float32{f32(1, 2), f32(1)}}, 2, "expert 1 has 1 entries"},
		{"no base", TIES, Input{Experts: [][]float32{f32(1)}}, 1, "needs a base"},
		{"bad param", TIES, Input{Base: f32(0), Experts: [][]float32{f32(1)}, Params: []Params{{Gamma: F64(0.1)}}}, 1, `does not accept parameter "gamma"`},
		{"density range", TIES, Input{Base: f32(0), Experts: [][]float32{f32(1)}, Params: []Params{{Density: F64(1.5)}}}, 1, "density must be in [0, 1]"},
		{"lambda differs", TaskArithmetic, Input{Base: f32(0), Experts: [][]float32{f32(1), f32(1)}, Params: []Params{{}, {Lambda: F64(2)}}}, 1, "lambda 2 differs"},
		{"global without threshold", TIES, Input{Base: f32(0), Experts: [][]float32{f32(1)}, Params: []Params{{TrimScope: ScopeGlobal}}}, 1, "needs a Threshold"},
		{"slerp two experts", Slerp, Input{Base: f32(0), Experts: [][]float32{f32(1), f32(2)}, Params: same(2, Params{T: F64(0.5)})}, 1, "exactly 1 experts"},
		{"slerp no t", Slerp, Input{Base: f32(0), Experts: [][]float32{f32(1)}}, 1, "t is required"},
		{"linear zero weights", Linear, Input{Experts: [][]float32{f32(1), f32(1)}, Weights: []float64{1, -1}}, 1, "sum to 0"},
		{"della epsilon", Della, Input{Base: f32(0), Experts: [][]float32{f32(1)}, Params: []Params{{Density: F64(0.1)}}}, 1, "density ± epsilon"},
		{"model_stock one", ModelStock, Input{Base: f32(0), Experts: [][]float32{f32(1)}}, 1, "at least 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := MergeTensor(c.method, c.in, 0, make([]float32, c.n))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestMethodsAndDefaults(t *testing.T) {
	cases := []struct {
		method    string
		normalize bool
		rescale   bool
		needsBase bool
	}{
		{Linear, true, false, false},
		{TaskArithmetic, false, false, true},
		{TIES, true, false, true},
		{DareTIES, true, true, true},
		{DareLinear, false, true, true},
		{Breadcrumbs, false, false, true},
		{BreadcrumbsTIES, false, false, true},
		{Della, true, true, true},
		{DellaLinear, false, true, true},
	}
	for _, c := range cases {
		info, err := LookupMethod(c.method)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Params{}.Resolve(c.method)
		if err != nil {
			t.Fatal(err)
		}
		if r.Normalize != c.normalize || r.Rescale != c.rescale || info.NeedsBase != c.needsBase {
			t.Errorf("%s: normalize %v rescale %v needsBase %v, want %v %v %v", c.method,
				r.Normalize, r.Rescale, info.NeedsBase, c.normalize, c.rescale, c.needsBase)
		}
		if r.Lambda != 1 || r.Weight != 1 || r.Density != 1 || r.TrimScope != ScopeTensor || r.RescaleMode != RescaleInverse {
			t.Errorf("%s: defaults %+v", c.method, r)
		}
	}
	if len(Methods()) != 12 {
		t.Errorf("Methods() has %d entries, want 12", len(Methods()))
	}
	// Merge: the model's value wins, unset fields fall through.
	g := Params{Density: F64(0.2), Lambda: F64(2)}
	m := g.Merge(Params{Density: F64(0.5)})
	if *m.Density != 0.5 || *m.Lambda != 2 || m.Weight != nil {
		t.Errorf("Merge = %+v", m)
	}
}
