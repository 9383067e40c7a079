package report

import (
	"context"
	"math"
	"mergescale/store"
	"strings"
	"testing"
)

// handStore is a tiny store whose aggregates are computed by hand below.
func handStore(t *testing.T) *fixture {
	f := newFixture(t, true)
	f.run("hand", "out: x\n")
	const size, base = "s", "it"
	f.model("base", "base", size, 1000, base, "")
	f.model("eA", "expert", size, 1000, base, "A")
	f.model("eB", "expert", size, 1000, base, "B")
	f.model("eC", "expert", size, 1000, base, "C")
	f.model("mt", "multitask", size, 1000, base, "")
	// chance: a1 .5, a2 .25, b1 .5, c1 .25, x1 .25, x2 .25, y1 .5
	in := func(id string, a1, a2, b1, c1 float64) {
		f.score(id, "a1", "A", store.HeldIn, a1, 0.5)
		f.score(id, "a2", "A", store.HeldIn, a2, 0.25)
		f.score(id, "b1", "B", store.HeldIn, b1, 0.5)
		f.score(id, "c1", "C", store.HeldIn, c1, 0.25)
	}
	out := func(id string, x1, x2, y1 float64) {
		f.score(id, "x1", "X", store.HeldOut, x1, 0.25)
		f.score(id, "x2", "X", store.HeldOut, x2, 0.25)
		f.score(id, "y1", "Y", store.HeldOut, y1, 0.5)
	}
	in("eA", 0.8, 0.5, 0.1, 0.1)
	in("eB", 0.1, 0.1, 0.4, 0.1)
	in("eC", 0.1, 0.1, 0.1, 1.0)
	out("base", 0.5, 0.4, 0.6)
	in("base", 0.5, 0.25, 0.5, 0.25)
	in("mt", 0.8, 0.4, 0.4, 0.5)
	out("mt", 0.55, 0.4, 0.6)

	f.model("m1", "merged", size, 1000, base, "")
	f.merge(mergeSpec{id: "m1", size: size, base: base, method: "task_arithmetic", k: 2, subset: 0,
		cats: []string{"A", "B"}, chosen: true, hparams: `{"lambda":1}`, signConflict: 0.3, meanCosine: 0.1})
	in("m1", 0.6, 0.5, 0.3, 0.9) // c1 is not merged and must be ignored
	out("m1", 0.6, 0.4, 0.6)
	f.scoreSplit("m1", "a1", "A", store.HeldIn, "validation", "accuracy", 0.0, 0.5) // other split: ignored
	f.scoreSplit("m1", "a1", "A", store.HeldIn, "test", "exact_match", 0.0, 0)      // other metric: ignored

	f.model("m2", "merged", size, 1000, base, "")
	f.merge(mergeSpec{id: "m2", size: size, base: base, method: "task_arithmetic", k: 2, subset: 1,
		cats: []string{"C", "A"}, chosen: true, hparams: `{"lambda":1}`, signConflict: 0.5, meanCosine: 0.2})
	in("m2", 0.4, 0.5, 0.9, 0.8) // b1 is not merged and must be ignored
	out("m2", 0.5, 0.2, 0.9)

	f.model("m3", "merged", size, 1000, base, "") // not chosen: ignored
	f.merge(mergeSpec{id: "m3", size: size, base: base, method: "task_arithmetic", k: 2, subset: 0,
		cats: []string{"A", "B"}, chosen: false})
	in("m3", 0, 0, 0, 0)
	out("m3", 0, 0, 0)

	f.model("m4", "merged", size, 1000, base, "") // a single subset: no CI
	f.merge(mergeSpec{id: "m4", size: size, base: base, method: "ties", k: 2, subset: 0,
		cats: []string{"A", "B"}, chosen: true})
	in("m4", 0.6, 0.5, 0.3, 0.9)
	out("m4", 0.6, 0.4, 0.6)
	return f
}

const t975df1 = 12.706204736174698 // t quantile 0.975 with 1 degree of freedom

func TestAggregateHandComputed(t *testing.T) {
	f := handStore(t)
	r, err := Load(context.Background(), f.Path)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := r.Cell("it", "s", "task_arithmetic", 2)
	if !ok {
		t.Fatalf("no cell; cells %+v; missing %v", r.Cells, r.Missing)
	}
	tests := []struct {
		name string
		got  Stat
		// Arithmetic per subset (m1 over A,B; m2 over A,C), then mean and
		// CI = t(.975,1)·s/√2 = t·|x1−x2|/2 for two subsets.
		mean, ci float64
		n        int
	}{
		// m1: A = (.6/.8 + .5/.5)/2 = .875, B = .3/.4 = .75 → .8125
		// m2: A = (.4/.8 + .5/.5)/2 = .75,  C = .8/1 = .8   → .775
		{"held-in", c.HeldIn, (0.8125 + 0.775) / 2, t975df1 * (0.8125 - 0.775) / 2, 2},
		// m1: X = (.6/.5 + .4/.4)/2 = 1.1, Y = .6/.6 = 1   → 1.05
		// m2: X = (.5/.5 + .2/.4)/2 = .75, Y = .9/.6 = 1.5 → 1.125
		{"held-out", c.HeldOut, (1.05 + 1.125) / 2, t975df1 * (1.125 - 1.05) / 2, 2},
		// m1: A = ((.6−.5)/(.8−.5) + (.5−.25)/(.5−.25))/2 = (1/3+1)/2 = 2/3, B = (.3−.5)/(.4−.5) = 2 → 4/3
		// m2: A = (−1/3 + 1)/2 = 1/3, C = (.8−.25)/(1−.25) = 11/15 → (1/3+11/15)/2 = 8/15
		{"held-in chance-adjusted", c.HeldInChance, (4.0/3 + 8.0/15) / 2, t975df1 * (4.0/3 - 8.0/15) / 2, 2},
		// m1: X = ((.6−.25)/(.5−.25) + (.4−.25)/(.4−.25))/2 = (1.4+1)/2 = 1.2, Y = (.6−.5)/(.6−.5) = 1 → 1.1
		// m2: X = ((.5−.25)/.25 + (.2−.25)/.15)/2 = (1 − 1/3)/2 = 1/3, Y = .4/.1 = 4 → (1/3+4)/2 = 13/6
		{"held-out chance-adjusted", c.HeldOutChance, (1.1 + 13.0/6) / 2, t975df1 * (13.0/6 - 1.1) / 2, 2},
		// m1: A = .55, B = .3 → .425; m2: A = .45, C = .8 → .625
		{"raw held-in", c.RawHeldIn, 0.525, t975df1 * 0.2 / 2, 2},
		// m1: X = .5, Y = .6 → .55; m2: X = .35, Y = .9 → .625
		{"raw held-out", c.RawHeldOut, 0.5875, t975df1 * 0.075 / 2, 2},
		// multitask on A,B: A = (.8/.8 + .4/.5)/2 = .9, B = 1 → .95; on A,C: .9, C = .5 → .7
		{"multitask held-in", c.MTHeldIn, 0.825, t975df1 * 0.25 / 2, 2},
		// X = (.55/.5 + .4/.4)/2 = 1.05, Y = 1 → 1.025 for both subsets: zero-width CI
		{"multitask held-out", c.MTHeldOut, 1.025, 0, 2},
		{"sign conflict", c.SignConflict, 0.4, t975df1 * 0.2 / 2, 2},
		// gain kept, raw per category: m1 A merged .55, base .375, expert .65; B .3, .5, .4
		// → (.175 − .2) ÷ (.275 − .1) = −1/7; m2 A .45, .375, .65; C .8, .25, 1
		// → (.075 + .55) ÷ (.275 + .75) = .625/1.025
		{"gain kept", c.GainKept, (-1.0/7 + 0.625/1.025) / 2, t975df1 * (0.625/1.025 + 1.0/7) / 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.N != tt.n || !approxEq(tt.got.Mean, tt.mean) || !approxEq(tt.got.CI, tt.ci) {
				t.Errorf("got mean %.9g ± %.9g (n=%d), want %.9g ± %.9g (n=%d)",
					tt.got.Mean, tt.got.CI, tt.got.N, tt.mean, tt.ci, tt.n)
			}
		})
	}
	single, ok := r.Cell("it", "s", "ties", 2)
	if !ok {
		t.Fatal("no ties cell")
	}
	if single.HeldIn.N != 1 || !approxEq(single.HeldIn.Mean, 0.8125) || !math.IsNaN(single.HeldIn.CI) {
		t.Errorf("single subset: got %+v, want mean .8125, no CI", single.HeldIn)
	}
	if len(r.Cells) != 2 {
		t.Errorf("got %d cells, want 2 (the unchosen merge must not form a cell)", len(r.Cells))
	}
}

func approxEq(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func TestNewStat(t *testing.T) {
	tests := []struct {
		xs       []float64
		mean, ci float64
		n        int
	}{
		{nil, math.NaN(), math.NaN(), 0},
		{[]float64{0.7}, 0.7, math.NaN(), 1},
		{[]float64{1, math.NaN(), 3}, 2, t975df1 * 1, 2}, // s = √2, s/√2 = 1
		// mean 7/3; s² = ((4/3)²+(1/3)²+(5/3)²)/2 = 7/3; t(.975,2) = 4.302652729749464
		{[]float64{1, 2, 4}, 7.0 / 3, 4.302652729749464 * math.Sqrt(7.0/3) / math.Sqrt(3), 3},
	}
	for _, tt := range tests {
		s := newStat(tt.xs)
		if s.N != tt.n || !approxEq(s.Mean, tt.mean) || !approxEq(s.CI, tt.ci) {
			t.Errorf("newStat(%v) = %+v, want mean %g ci %g n %d", tt.xs, s, tt.mean, tt.ci, tt.n)
		}
	}
}

func TestAggregateMissingReference(t *testing.T) {
	f := newFixture(t, true)
	f.model("m", "merged", "s", 10, "it", "")
	f.merge(mergeSpec{id: "m", size: "s", base: "it", method: "ties", k: 2, cats: []string{"A", "B"}, chosen: true})
	f.score("m", "a1", "A", store.HeldIn, 0.5, 0.5)
	f.score("m", "b1", "B", store.HeldIn, 0.5, 0.5)
	f.score("m", "x1", "X", store.HeldOut, 0.5, 0.5)
	r, err := Load(context.Background(), f.Path)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := r.Cell("it", "s", "ties", 2)
	if !ok {
		t.Fatal("no cell")
	}
	if c.HeldIn.Valid() || c.HeldOut.Valid() || !approxEq(c.RawHeldIn.Mean, 0.5) {
		t.Errorf("without references normalized scores must be missing and raw present: %+v", c)
	}
	all := strings.Join(r.Missing, "\n")
	for _, want := range []string{"no it expert for category A at size s", "no it base model at size s",
		"no it multitask model at size s", "no run is recorded"} {
		if !strings.Contains(all, want) {
			t.Errorf("Missing does not say %q:\n%s", want, all)
		}
	}
}
