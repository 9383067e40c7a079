package report

import (
	"context"
	"math"
	"strings"
	"testing"

	"mergescale/store"
)

// knownFixture is a one-merge suite-5 store: categories A and B each have
// a knowledge task (kA, kB, scored by known flag), A also an in-context
// task (cA). Per task: base, expert of the category, merge; each knowledge
// score as all / known / unknown.
func knownFixture(t *testing.T) *fixture {
	f := newFixture(t, true)
	f.run("k", "name: k\n")
	f.model("base", store.KindBase, "s", 100, "it", "")
	f.model("eA", store.KindExpert, "s", 100, "it", "A")
	f.model("eB", store.KindExpert, "s", 100, "it", "B")
	f.model("m", store.KindMerged, "s", 100, "it", "")
	f.merge(mergeSpec{id: "m", size: "s", base: "it", method: "task_arithmetic", hparams: "{}", k: 2, subset: 0,
		cats: []string{"A", "B"}, chosen: true, baseID: "base", expertIDs: []string{"eA", "eB"}})
	knowledge := map[string][3][3]float64{ // task → model (base, expert, merge) → all, yes, no
		"kA": {{0.3, 0.5, 0.1}, {0.9, 1.0, 0.6}, {0.6, 0.8, 0.2}},
		"kB": {{0.3, 0.4, 0.2}, {0.7, 0.8, 0.6}, {0.5, 0.6, 0.4}},
	}
	var ks []store.KnowledgeScore
	for task, rows := range knowledge {
		cat := task[1:]
		for i, id := range []string{"base", "e" + cat, "m"} {
			f.score(id, task, cat, store.HeldIn, rows[i][0], 0.25)
			for j, known := range []string{store.KnownYes, store.KnownNo} {
				ks = append(ks, store.KnowledgeScore{ModelID: id, Task: task, Split: store.Test, Known: known, Metric: store.Accuracy, Value: rows[i][j+1], N: 10},
					store.KnowledgeScore{ModelID: id, Task: task, Split: store.Test, Known: known, Metric: store.OptionCE, Value: 2 - rows[i][j+1], N: 10})
			}
		}
	}
	for id, v := range map[string]float64{"base": 0.25, "eA": 0.95, "m": 0.6} {
		f.score(id, "cA", "A", store.HeldIn, v, 0.25)
	}
	f.optionCEFromAccuracy()
	f.write(func(ctx context.Context, tx *store.Tx) error { return tx.InsertKnowledgeScores(ctx, ks) })
	return f
}

// Gain kept per slice, by hand:
//   - knowledge, all: ((0.6−0.3) + (0.5−0.3)) ÷ ((0.9−0.3) + (0.7−0.3)) = 0.5
//   - known: ((0.8−0.5) + (0.6−0.4)) ÷ ((1.0−0.5) + (0.8−0.4)) = 0.5/0.9
//   - unknown: ((0.2−0.1) + (0.4−0.2)) ÷ ((0.6−0.1) + (0.6−0.2)) = 0.3/0.9
//   - in-context (category A only): (0.6−0.25) ÷ (0.95−0.25) = 0.5
//
// In cross-entropy the known values are 2 − accuracy, so each known ratio
// is the accuracy's; the "all" values are ln 4 · (1.1 − accuracy), whose
// ratios are the accuracy's too.
func TestKindGainsHandComputed(t *testing.T) {
	r, err := Load(context.Background(), knownFixture(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cells) != 1 || len(r.Cells[0].Subsets) != 1 {
		t.Fatalf("cells %+v", r.Cells)
	}
	got := r.Cells[0].Subsets[0].Kinds
	want := map[KindKnown]float64{
		{kindKnowledge, knownAll}: 0.5, {kindKnowledge, store.KnownYes}: 0.5 / 0.9,
		{kindKnowledge, store.KnownNo}: 0.3 / 0.9, {kindInContext, knownAll}: 0.5,
	}
	for sl, w := range want {
		if g := got[sl]; math.Abs(g.Acc-w) > 1e-9 || math.Abs(g.CE-w) > 1e-9 {
			t.Errorf("%v: gain kept %v (CE %v), want %v", sl, g.Acc, g.CE, w)
		}
	}
	rows := knowledgeGainRows(r.Default())
	if len(rows) != 4 || rows[1].Known != store.KnownYes || rows[1].GainKept.N != 1 || math.Abs(rows[1].GainKept.Mean-0.5/0.9) > 1e-9 {
		t.Errorf("table rows %+v", rows)
	}
	g := r.KnowledgeGuards
	if len(g) != 1 || math.Abs(g[0].ExpertAccKnowledge.Mean-0.8) > 1e-9 || math.Abs(g[0].ExpertAccInContext.Mean-0.95) > 1e-9 {
		t.Errorf("guards %+v", g)
	}
}

// A store without knowledge-task scores (every suite-4 store) has no
// knowledge slices, rows, targets or guards.
func TestKindGainsAbsentInSuite4(t *testing.T) {
	r, err := Load(context.Background(), synthStore(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Cells {
		if hasKinds(c.Subsets) {
			t.Fatalf("cell %s %s has knowledge slices", c.BaseType, c.Size)
		}
	}
	if len(knowledgeGainRows(r)) != 0 || len(knowledgeTargets(r)) != 0 || r.KnowledgeGuards != nil {
		t.Error("a suite-4 store has knowledge rows, targets or guards")
	}
}

// The targets are paired differences: with gains known − unknown of
// +0.20, +0.21, +0.22 over three subsets, the estimate is +0.21 with the
// paired-t interval ±t(0.975, 2)·0.01/√3, supported.
func TestKnowledgeTargetsPaired(t *testing.T) {
	r := &Results{Sizes: []SizeInfo{{Name: "s", Params: 1}}}
	for sub, d := range []float64{0.20, 0.21, 0.22} {
		c := Cell{BaseType: "it", Size: "s", Method: "ties", K: 2}
		c.Subsets = append(c.Subsets, SubsetResult{Subset: sub, Categories: []string{"A", "B"}, Kinds: map[KindKnown]GainPair{
			{kindKnowledge, store.KnownYes}: {Acc: 0.5 + d, CE: math.NaN()}, {kindKnowledge, store.KnownNo}: {Acc: 0.5, CE: math.NaN()}}})
		r.Cells = append(r.Cells, c)
	}
	ts := knowledgeTargets(r)
	var found bool
	for _, tg := range ts {
		if strings.HasPrefix(tg.Target, "known") && tg.Measure == "gain_kept" {
			found = true
			half := tQuantile(0.975, 2) * 0.01 / math.Sqrt(3)
			if e := tg.Estimate; e.N != 3 || math.Abs(e.Value-0.21) > 1e-9 || math.Abs(e.Lo-(0.21-half)) > 1e-9 || tg.Verdict != Supported {
				t.Errorf("known − unknown: %+v %s", e, tg.Verdict)
			}
		}
	}
	if !found {
		t.Fatalf("no known − unknown target in %+v", ts)
	}
}
