package report

import (
	"context"
	"math"
	"strings"
	"testing"
)

// TestMDEHandComputed: two cells of two subsets each, values {.5, .7} and
// {.4, .8}: s₁² = .02, s₂² = .08, pooled s² = (1·.02 + 1·.08) ÷ 2 = .05,
// n = 2, ν = 2. With ν = 2 the t quantile has a closed form,
// t(p, 2) = (2p − 1) ÷ √(2p(1 − p)).
func TestMDEHandComputed(t *testing.T) {
	t2 := func(p float64) float64 { return (2*p - 1) / math.Sqrt(2*p*(1-p)) }
	cells := []Cell{
		{Method: "task_arithmetic", K: 2, Size: "s", HeldIn: newStat([]float64{0.5, 0.7})},
		{Method: "task_arithmetic", K: 2, Size: "m", HeldIn: newStat([]float64{0.4, 0.8})},
		{Method: "task_arithmetic", K: 4, Size: "m", HeldIn: newStat([]float64{0.6})}, // n = 1: no SD, left out
	}
	got := mde("normalized held-in", cells, func(c Cell) Stat { return c.HeldIn })
	want := (t2(0.975) + t2(0.8)) * math.Sqrt(0.05) * math.Sqrt(2.0/2)
	if got.Why != "" || got.N != 2 || got.Cells != 2 || !approxEq(got.SD, math.Sqrt(0.05)) || math.Abs(got.Value-want) > 1e-9 {
		t.Fatalf("MDE = %+v, want value %.12f, s = √.05, n = 2 over 2 cells", got, want)
	}
	// Three subsets against two: n is the fewest, ν = 2(n − 1) = 2.
	cells[0].HeldIn = newStat([]float64{0.5, 0.6, 0.7}) // s² = .01
	got = mde("normalized held-in", cells, func(c Cell) Stat { return c.HeldIn })
	want = (t2(0.975) + t2(0.8)) * math.Sqrt((2*0.01+0.08)/3)
	if got.N != 2 || math.Abs(got.Value-want) > 1e-9 {
		t.Fatalf("MDE = %+v, want %.12f with n = 2", got, want)
	}
	if m := mde("normalized held-out", nil, func(c Cell) Stat { return c.HeldOut }); m.Why == "" || !math.IsNaN(m.Value) {
		t.Errorf("MDE without cells = %+v, want n/a", m)
	}
}

// checkResults is a study whose self-check values are set by hand: two
// sizes 100× apart, the IT k = 8 task-arithmetic cell at the largest.
func checkResults() *Results {
	st := func(xs ...float64) Stat { return newStat(xs) }
	sc := func(rawIn, rawOut, chanceOut float64) Scores {
		s := nanScores()
		s.RawHeldIn, s.RawHeldOut, s.ChanceHeldOut = rawIn, rawOut, chanceOut
		return s
	}
	r := &Results{Sizes: []SizeInfo{{"xs", 1000}, {"l", 100000}}, BaseTypes: []string{"pt", "it"},
		Methods: []string{"task_arithmetic"}, Ks: []int{2, 8}}
	r.Cells = []Cell{
		{BaseType: "it", Size: "l", Method: "task_arithmetic", K: 8, HeldIn: st(0.9), RawHeldIn: st(0.79), GainKept: st(0.7)},
		{BaseType: "it", Size: "l", Method: "task_arithmetic", K: 2, HeldIn: st(0.9, 0.95), HeldOut: st(1, 1.04)},
		{BaseType: "pt", Size: "xs", Method: "task_arithmetic", K: 2, HeldIn: st(0.5, 0.7), HeldOut: st(1, 1.01)},
	}
	r.Baselines = []Baseline{
		{BaseType: "it", Size: "l", Kind: "base", Scores: sc(0.4, 0.6, 0.45)},
		{BaseType: "it", Size: "l", Kind: "multitask", Scores: sc(0.9, 0.7, 0.45)},
		{BaseType: "pt", Size: "xs", Kind: "base", Scores: sc(0.3, 0.5, 0.45)},
		{BaseType: "pt", Size: "xs", Kind: "multitask", Scores: sc(0.9, 0.55, 0.45)},
		{BaseType: "it", Size: "l", Kind: "expert", Scores: sc(0.95, 0.5, 0.45), Gain: 0.5},
		{BaseType: "it", Size: "l", Kind: "expert", Scores: sc(0.87, 0.5, 0.45), Gain: 0.4},
	}
	return r
}

func TestSelfcheck(t *testing.T) {
	s := Selfcheck(checkResults())
	want := []struct {
		measure string
		value   float64
		met     bool
	}{
		{"normalized held-in", 0.9, true},
		{"raw held-in", 0.79, false},
		{"gain kept", 0.7, true}, // the threshold itself is met
		{"IT base zero-shot held-out minus chance (raw)", 0.6 - 0.45, true},
		{"multitask minus its base, held-out raw (smallest)", 0.05, false}, // pt xs .05, it l .1
		{"experts' raw accuracy on their own category (mean)", 0.91, true},
		{"experts' gain over their base on their category, raw (mean)", 0.45, true},
		// CI of {.9,.95} and {.5,.7} with t(.975,1): the larger is the PT one.
		{"largest 95% CI half-width, normalized held-in", t975df1 * 0.2 / 2, false},
		{"largest 95% CI half-width, normalized held-out", t975df1 * 0.04 / 2, false},
		// The cells have no subsets to pair (TestPairedHandComputed has).
		{"paired 95% CI half-width, IT − PT, normalized held-in", math.NaN(), false},
		{"paired 95% CI half-width, IT − PT, normalized held-out", math.NaN(), false},
		{"paired 95% CI half-width, largest − smallest size, normalized held-in", math.NaN(), false},
		{"paired 95% CI half-width, largest − smallest size, normalized held-out", math.NaN(), false},
		{"parameter span, largest ÷ smallest size", 100, true},
	}
	if len(s.Checks) != len(want) {
		t.Fatalf("%d checks, want %d", len(s.Checks), len(want))
	}
	for i, w := range want {
		c := s.Checks[i]
		if c.Measure != w.measure || (c.Why == "") != isNum(w.value) || !approxEq(c.Value, w.value) || c.Met != w.met {
			t.Errorf("check %d: %+v, want %s = %v met %v", i, c, w.measure, w.value, w.met)
		}
	}
	if s.Met() != 6 {
		t.Errorf("%d checks met, want 6", s.Met())
	}
}

func TestSelfcheckTableNA(t *testing.T) {
	// Without the k = 8 cell, the IT base and the second size, those checks
	// are n/a with their reason and not met.
	r := checkResults()
	r.Cells = r.Cells[1:]
	r.Baselines = r.Baselines[2:4]
	r.Sizes = r.Sizes[1:]
	tbl := selfcheckTable(Selfcheck(r))
	rows := map[string][]string{}
	for _, row := range tbl.Rows {
		rows[row[0]] = row
	}
	for measure, why := range map[string]string{
		"normalized held-in": "n/a (no IT task arithmetic cell with k = 8 at size l)",
		"gain kept":          "n/a (no IT task arithmetic cell with k = 8 at size l)",
		"IT base zero-shot held-out minus chance (raw)": "n/a (no IT base at size l)",
		"parameter span, largest ÷ smallest size":       "n/a (needs two sizes with parameter counts (the store has 1))",
	} {
		row := rows[measure]
		if row == nil || row[1] != why || row[3] != "no" {
			t.Errorf("%s: row %q, want value %q and met no", measure, row, why)
		}
	}
	csv, err := tbl.CSV()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(csv, "measure,value,comparison,threshold,met,basis,why\nnormalized held-in,,>=,0.85,false,") {
		t.Errorf("table_selfcheck.csv starts %q", csv[:90])
	}
}

func TestTidyCSVHeader(t *testing.T) {
	r, err := Load(context.Background(), handStore(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	csv, err := cellsTable(r).CSV()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(csv, "\n")
	var want []string
	want = append(want, "base", "size", "params", "method", "k", "subsets")
	for _, m := range []string{"heldin_norm", "heldout_norm", "heldin_chance_adj", "heldout_chance_adj", "heldin_raw",
		"heldout_raw", "gain_kept", "gain_kept_ce", "mt_heldin_norm", "mt_heldout_norm"} {
		want = append(want, m+"_mean", m+"_ci_low", m+"_ci_high", m+"_n")
	}
	want = append(want, "heldin_chance_adj_tasks", "heldin_tasks", "heldout_chance_adj_tasks", "heldout_tasks")
	if lines[0] != strings.Join(want, ",") {
		t.Fatalf("header\n%s\nwant\n%s", lines[0], strings.Join(want, ","))
	}
	// The task-arithmetic row: params an integer, mean and CI bounds as
	// numbers; the single-subset ties row has empty CI bounds.
	ta := strings.Split(lines[1], ",")
	if ta[0] != "it" || ta[2] != "1000" || ta[3] != "task_arithmetic" || ta[6] != csvNum((0.8125+0.775)/2) ||
		ta[7] != csvNum((0.8125+0.775)/2-t975df1*(0.8125-0.775)/2) || ta[9] != "2" {
		t.Errorf("task arithmetic row %q", ta[:10])
	}
	ties := strings.Split(lines[2], ",")
	if ties[3] != "ties" || ties[6] != "0.8125" || ties[7] != "" || ties[8] != "" || ties[9] != "1" {
		t.Errorf("ties row %q", ties[:10])
	}
	// The store has no option_ce scores: gain kept in CE is empty with
	// n = 0 in CSV and "n/a" for people, never NaN.
	if got := strings.Join(ta[34:38], ","); got != ",,,0" || strings.Contains(csv, "NaN") {
		t.Errorf("gain_kept_ce fields %q (want \",,,0\"), NaN in CSV: %v", got, strings.Contains(csv, "NaN"))
	}
	if cellsTable(r).Rows[0][13] != "n/a" {
		t.Errorf("gain kept (CE) shown as %q, want n/a", cellsTable(r).Rows[0][13])
	}
	// Markdown keeps "mean ± CI".
	md, err := cellsTable(r).Markdown()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md, "0.794 ± 0.238") {
		t.Errorf("markdown lacks mean ± CI:\n%s", md)
	}
}
