package report

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"mergescale/store"
)

// t4 is the 0.975 quantile of Student's t with 4 degrees of freedom: the
// paired-t interval of five pairs.
const t4 = 2.7764451051977987

// The hand-made paired store: sizes s (10³ parameters) and l (10⁵), bases
// PT and IT, methods task arithmetic and TIES, five (k, subset) pairs in
// this order: (2, 0) {A, B}, (2, 1) {C, D}, (2, 2) {A, C}, (4, 0) and
// (4, 1) {A, B, C, D}. Every expert scores 1 on its category's task and
// every base .2 on held-in and .5 on the held-out task, so a merge's
// normalized held-in is the score it gets on every held-in task and its
// normalized held-out is twice its held-out score.
var (
	pairedCats = [][]string{{"A", "B"}, {"C", "D"}, {"A", "C"}, {"A", "B", "C", "D"}, {"A", "B", "C", "D"}}
	pairedK    = []int{2, 2, 2, 4, 4}
	pairedSub  = []int{0, 1, 2, 0, 1}
	// Normalized held-in by method, base and size.
	pairedIn = map[string]map[string][]float64{
		"task_arithmetic": {
			"pt s": {.6, .7, .8, .5, .6}, "it s": {.7, .7, .9, .6, .6},
			"pt l": {.5, .6, .7, .4, .5}, "it l": {.7, .8, .8, .6, .7},
		},
		"ties": {
			"pt s": {.6, .7, .8, .5, .6}, "it s": {.6, .6, .7, .5, .5},
			"pt l": {.5, .6, .7, .4, .5}, "it l": {.72, .78, .8, .65, .7},
		},
	}
	// Normalized held-out: 1 but for IT at l (both methods).
	pairedOutITL = []float64{1, 1.02, 1.04, 1.1, 1.1}
)

func pairedStore(t *testing.T) *fixture {
	f := newFixture(t, true)
	f.run("paired", "out: x\n")
	params := map[string]int64{"s": 1000, "l": 100000}
	for _, size := range []string{"s", "l"} {
		for _, base := range []string{"pt", "it"} {
			bid := "base-" + base + size
			f.model(bid, store.KindBase, size, params[size], base, "")
			f.score(bid, "h", "H", store.HeldOut, 0.5, 0.5)
			var eids []string
			for _, c := range []string{"A", "B", "C", "D"} {
				task := strings.ToLower(c)
				f.score(bid, task, c, store.HeldIn, 0.2, 0.5)
				eid := "expert-" + base + size + c
				eids = append(eids, eid)
				f.model(eid, store.KindExpert, size, params[size], base, c)
				f.score(eid, task, c, store.HeldIn, 1, 0.5)
				f.score(eid, "h", "H", store.HeldOut, 0.5, 0.5)
			}
			mt := "mt-" + base + size
			f.model(mt, store.KindMultitask, size, params[size], base, "")
			f.score(mt, "h", "H", store.HeldOut, 0.5, 0.5) // normalized held-out 1
			for method, byCell := range pairedIn {
				for i, v := range byCell[base+" "+size] {
					id := fmt.Sprintf("merge-%s%s-%s-%d", base, size, method, i)
					f.model(id, store.KindMerged, size, params[size], base, "")
					var ex []string
					for _, c := range pairedCats[i] {
						ex = append(ex, eids[int(c[0]-'A')])
					}
					f.merge(mergeSpec{id: id, size: size, base: base, method: method, hparams: "{}", k: pairedK[i],
						subset: pairedSub[i], cats: pairedCats[i], chosen: true, baseID: bid, expertIDs: ex})
					for _, c := range []string{"A", "B", "C", "D"} {
						f.score(id, strings.ToLower(c), c, store.HeldIn, v, 0.5)
					}
					w := 1.0
					if base+size == "itl" {
						w = pairedOutITL[i]
					}
					f.score(id, "h", "H", store.HeldOut, w*0.5, 0.5)
				}
			}
		}
	}
	// Option cross-entropy for IT at l: the base 1 on every held-in task,
	// the experts .2, the task-arithmetic merge of (4, 0) .6 on a and b and
	// .8 on c and d: gain kept in CE = (.4 + .4 + .2 + .2) ÷ (4 · .8) = .375.
	ce := func(id, task, cat string, v float64) {
		f.scoreSplit(id, task, cat, store.HeldIn, store.Test, store.OptionCE, v, math.Log(2))
	}
	for _, c := range []string{"A", "B", "C", "D"} {
		task := strings.ToLower(c)
		ce("base-itl", task, c, 1)
		ce("expert-itl"+c, task, c, 0.2)
		v := 0.6
		if c == "C" || c == "D" {
			v = 0.8
		}
		ce("merge-itl-task_arithmetic-3", task, c, v)
	}
	return f
}

// TestPairedHandComputed checks each paired statistic of the findings and
// the self-check on the hand-made paired store against values computed by
// hand (the comments give the paired differences).
func TestPairedHandComputed(t *testing.T) {
	f := pairedStore(t)
	r, err := Load(context.Background(), f.Path)
	if err != nil {
		t.Fatal(err)
	}
	fs := Findings(r.Default(), "task_arithmetic", nil)
	ci := func(sumSq float64) float64 { return t4 * math.Sqrt(sumSq/4/5) } // t(.975, 4) · s/√5
	check := func(name string, got Estimate, value, half float64, n int) {
		t.Helper()
		if !approxEq(got.Value, value) || !approxEq(got.Lo, value-half) || !approxEq(got.Hi, value+half) || got.N != n {
			t.Errorf("%s = %s (%+v), want %.6f ± %.6f, n = %d", name, got, got, value, half, n)
		}
	}

	// 1. IT − PT per pair: at s .1 0 .1 .1 0, at l .2 .2 .1 .2 .2; the
	// mean over sizes .15 .1 .1 .15 .1: mean .12, Σ(d − d̄)² = .003.
	check("IT − PT over sizes", fs[0].Estimate, 0.12, ci(0.003), 5)
	if fs[0].Verdict != Supported || !strings.Contains(fs[0].Sentence, "s +0.060 [-0.008, +0.128], n = 5") {
		t.Errorf("base_quality: %s: %s", fs[0].Verdict, fs[0].Sentence)
	}

	// 2. Slopes per decade, (l − s) ÷ 2: PT −.05 everywhere; IT 0 .05 −.05
	// 0 .05; the mean over bases −.025 0 −.05 −.025 0: mean −.02,
	// Σ(d − d̄)² = .00175.
	check("size slope over bases", fs[1].Estimate, -0.02, ci(0.00175), 5)
	if fs[1].Verdict != Inconclusive || !strings.Contains(fs[1].Sentence, "pt -0.050 [-0.050, -0.050], n = 5") {
		t.Errorf("size: %s: %s", fs[1].Verdict, fs[1].Sentence)
	}

	// 3. IT at l, held-out: k = 2 {1, 1.02, 1.04} (mean 1.02), k = 4 {1.1,
	// 1.1}: slope (1.1 − 1.02) ÷ 2 = .04. Resampling k = 2's three values,
	// its mean is 1 or 1.04 with probability 1/27 each, more than 2.5%: the
	// bootstrap interval is [(1.1 − 1.04) ÷ 2, (1.1 − 1) ÷ 2].
	g := fs[2].Estimate
	if !approxEq(g.Value, 0.04) || !approxEq(g.Lo, 0.03) || !approxEq(g.Hi, 0.05) || g.N != 5 || fs[2].Verdict != Supported {
		t.Errorf("generalization: %s %s, want +0.04 [+0.03, +0.05], n = 5, supported", fs[2].Verdict, g)
	}

	// 4. Decided at k = 4 (two subsets, both 1.1): 1.1 − 1 with no spread.
	check("merged − multitask", fs[3].Estimate, 0.1, 0, 2)
	if fs[3].Verdict != Supported {
		t.Errorf("beats_multitask: %s: %s", fs[3].Verdict, fs[3].Sentence)
	}

	// 5. IT spreads |TA − TIES| at s .1 .1 .2 .1 .1, at l .02 .02 0 .05 0;
	// l − s −.08 −.08 −.2 −.05 −.1: mean −.102, Σ(d − d̄)² = .01328. The
	// held-out spread is 0 at both sizes: inconclusive; combined: supported.
	check("spread l − s", fs[4].Estimate, -0.102, ci(0.01328), 5)
	if fs[4].Verdict != Supported || !strings.Contains(fs[4].Sentence, "held-out +0.000 [+0.000, +0.000], n = 5 (inconclusive)") {
		t.Errorf("methods_converge: %s: %s", fs[4].Verdict, fs[4].Sentence)
	}

	// The self-check's paired rows.
	s := Selfcheck(r.Default())
	rows := map[string]Check{}
	for _, c := range s.Checks {
		rows[c.Measure] = c
	}
	for _, w := range []struct {
		measure string
		value   float64
	}{
		// IT − PT held-in: s Σ = .012, l Σ = .008: the larger is s's.
		{"paired 95% CI half-width, IT − PT, normalized held-in", ci(0.012)},
		// Held-out: 0 at s; at l 0 .02 .04 .1 .1, Σ(d − d̄)² = .00848.
		{"paired 95% CI half-width, IT − PT, normalized held-out", ci(0.00848)},
		// l − s held-in: PT −.1 everywhere; IT 0 .1 −.1 0 .1, Σ = .028.
		{"paired 95% CI half-width, largest − smallest size, normalized held-in", ci(0.028)},
		// l − s held-out: PT 0; IT as IT − PT at l.
		{"paired 95% CI half-width, largest − smallest size, normalized held-out", ci(0.00848)},
	} {
		c, ok := rows[w.measure]
		if !ok || c.Why != "" || !approxEq(c.Value, w.value) || c.Met {
			t.Errorf("%s: %+v, want %.6f, not met", w.measure, c, w.value)
		}
	}
	// Paired MDE: s_d² pooled over IT − PT at s and l, PT and IT l − s,
	// each with 4 degrees of freedom: held-in (.012 + .008 + 0 + .028) ÷ 16,
	// held-out (0 + .00848 + 0 + .00848) ÷ 16; n = 5, ν = 4.
	tc := t4 + tQuantile(0.8, 4)
	for i, sd2 := range []float64{0.048 / 16, 0.01696 / 16} {
		m := s.MDE[2+i]
		want := tc * math.Sqrt(sd2) / math.Sqrt(5)
		if !m.Paired || m.Why != "" || m.N != 5 || m.Cells != 4 || !approxEq(m.Value, want) {
			t.Errorf("%s = %+v, want %.6f", m.Name(), m, want)
		}
	}
	if got := []string{s.MDE[2].Name(), s.MDE[3].Name()}; got[0] != "paired minimum detectable difference, normalized held-in" ||
		got[1] != "paired minimum detectable difference, normalized held-out" {
		t.Errorf("paired MDE rows %q", got)
	}

	// Gain kept in cross-entropy: only the (4, 0) IT task-arithmetic merge
	// at l has option_ce scores.
	// Its gain kept in accuracy is (.6 − .2) ÷ (1 − .2) = .5.
	c, _ := r.Cell("it", "l", "task_arithmetic", 4)
	if !approxEq(c.GainKeptCE.Mean, 0.375) || c.GainKeptCE.N != 1 || !approxEq(c.Subsets[0].Merged.GainKept, 0.5) {
		t.Errorf("gain kept CE %+v, gain kept of (4, 0) %v; want .375 (n = 1) and .5", c.GainKeptCE, c.Subsets[0].Merged.GainKept)
	}
	if c, _ := r.Cell("pt", "l", "task_arithmetic", 4); c.GainKeptCE.Valid() {
		t.Errorf("gain kept CE without option_ce scores: %+v", c.GainKeptCE)
	}
}

func TestBootstrapSlope(t *testing.T) {
	// Without variance within any k there is no interval.
	e := bootstrapSlope([]float64{2, 4, 6}, [][]float64{{1}, {2}, {3}}, 100, 1)
	if !approxEq(e.Value, 0.5) || e.HasCI() || e.N != 3 {
		t.Errorf("no variance: %+v", e)
	}
	// Deterministic given the seed; a different seed may differ.
	groups := [][]float64{{1, 2, 3, 4}, {2, 3, 5, 8}, {1, 4, 4, 9}}
	a := bootstrapSlope([]float64{2, 4, 6}, groups, 500, 7)
	b := bootstrapSlope([]float64{2, 4, 6}, groups, 500, 7)
	if a != b || !(a.Lo < a.Value && a.Value < a.Hi) {
		t.Errorf("bootstrap not deterministic or not around the slope: %+v %+v", a, b)
	}
	if e := bootstrapSlope([]float64{2}, [][]float64{{1, 2}}, 100, 1); e.Valid() {
		t.Errorf("one k gave a slope: %+v", e)
	}
}

func TestVerdictAndCombine(t *testing.T) {
	for _, tt := range []struct {
		e    Estimate
		dir  float64
		want Verdict
	}{
		{Estimate{Value: 0.1, Lo: 0.01, Hi: 0.2, N: 5}, 1, Supported},
		{Estimate{Value: 0.1, Lo: 0.01, Hi: 0.2, N: 5}, -1, Contradicted},
		{Estimate{Value: 0.1, Lo: -0.01, Hi: 0.2, N: 5}, 1, Inconclusive},
		{Estimate{Value: 0, Lo: 0, Hi: 0, N: 5}, 1, Inconclusive}, // 0 is not excluded
		{Estimate{Value: 0.1, Lo: math.NaN(), Hi: math.NaN(), N: 1}, 1, Inconclusive},
		{noEstimate(), 1, Untestable},
	} {
		if got := tt.e.verdict(tt.dir); got != tt.want {
			t.Errorf("%s dir %v: %s, want %s", tt.e, tt.dir, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b, want Verdict
	}{
		{Supported, Inconclusive, Supported},
		{Contradicted, Inconclusive, Contradicted},
		{Supported, Contradicted, Inconclusive},
		{Supported, Supported, Supported},
		{Untestable, Untestable, Untestable},
		{Untestable, Contradicted, Contradicted},
	} {
		if got := combine(tt.a, tt.b); got != tt.want {
			t.Errorf("combine(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5}
	for p, want := range map[float64]float64{0: 1, 0.25: 2, 0.1: 1.4, 1: 5} {
		if got := quantile(xs, p); !approxEq(got, want) {
			t.Errorf("quantile(%v) = %v, want %v", p, got, want)
		}
	}
}
