package report

import (
	"context"
	"fmt"
	"math"
	"mergescale/store"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// twoVariantStore: one size and base, two variants of zoo.pretrain.steps,
// each with its own base and experts, and a decoy base of variant 2 whose
// id sorts first: a merge must be normalized by its own base_id and
// expert_ids, never by the first base of its size.
func twoVariantStore(t *testing.T) *fixture {
	f := newFixture(t, true)
	f.run("twovariants", "zoo:\n  pretrain: {steps: [1, 2]}\n")
	const size, base = "s", "it"
	v := func(p int) string { return fmt.Sprintf(`{"zoo.pretrain.steps":%d}`, p) }
	model := func(id, kind, cat string, p int, a1, b1, x1 float64) {
		f.model(id, kind, size, 1000, base, cat)
		f.modelVariant(id, v(p), 0)
		f.score(id, "a1", "A", store.HeldIn, a1, 0.25)
		f.score(id, "b1", "B", store.HeldIn, b1, 0.25)
		f.score(id, "x1", "X", store.HeldOut, x1, 0.25)
	}
	model("base-0-decoy", "base", "", 2, 0, 0, 0.1)
	model("base-1", "base", "", 1, 0.3, 0.2, 0.5)
	model("base-2", "base", "", 2, 0.2, 0.1, 0.25)
	model("eA-1", "expert", "A", 1, 0.8, 0, 0)
	model("eB-1", "expert", "B", 1, 0, 0.5, 0)
	model("eA-2", "expert", "A", 2, 0.4, 0, 0)
	model("eB-2", "expert", "B", 2, 0, 0.25, 0)
	for _, p := range []int{1, 2} {
		id := fmt.Sprintf("m-%d", p)
		f.model(id, "merged", size, 1000, base, "")
		f.modelVariant(id, v(p), 0)
		f.merge(mergeSpec{id: id, size: size, base: base, method: "task_arithmetic", k: 2, cats: []string{"B", "A"},
			chosen: true, hparams: "{}", variant: v(p), baseID: fmt.Sprintf("base-%d", p),
			expertIDs: []string{fmt.Sprintf("eB-%d", p), fmt.Sprintf("eA-%d", p)}})
		f.score(id, "a1", "A", store.HeldIn, 0.6, 0.25)
		f.score(id, "b1", "B", store.HeldIn, 0.3, 0.25)
		f.score(id, "x1", "X", store.HeldOut, 0.5, 0.25)
	}
	return f
}

func TestNormalizationByOwnBaseAndExperts(t *testing.T) {
	r, err := Load(context.Background(), twoVariantStore(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Axes) != 1 || r.Axes[0].Key != "zoo.pretrain.steps" || len(r.Variants) != 2 {
		t.Fatalf("axes %+v, variants %+v", r.Axes, r.Variants)
	}
	tests := []struct {
		variant                       string
		heldIn, heldOut, gain, chance float64
	}{
		// held-in (.6/.8 + .3/.5)/2; held-out .5/.5; gain ((.6−.3)+(.3−.2)) ÷ ((.8−.3)+(.5−.2)) = .4/.8
		{`{"zoo.pretrain.steps":1}`, (0.75 + 0.6) / 2, 1, 0.5, 1},
		// held-in (.6/.4 + .3/.25)/2; held-out .5/.25 (the decoy base would give 5);
		// gain ((.6−.2)+(.3−.1)) ÷ ((.4−.2)+(.25−.1)) = .6/.35; held-out
		// chance-adjusted (.5−.25)/(.25−.25) is undefined on its only task.
		{`{"zoo.pretrain.steps":2}`, (1.5 + 1.2) / 2, 2, 0.6 / 0.35, math.NaN()},
	}
	for _, tt := range tests {
		c, ok := r.view(tt.variant).Cell("it", "s", "task_arithmetic", 2)
		if !ok {
			t.Fatalf("no cell for variant %s", tt.variant)
		}
		if !approxEq(c.HeldIn.Mean, tt.heldIn) || !approxEq(c.HeldOut.Mean, tt.heldOut) || !approxEq(c.GainKept.Mean, tt.gain) ||
			!approxEq(c.HeldOutChance.Mean, tt.chance) {
			t.Errorf("variant %s: held-in %v, held-out %v, gain kept %v, held-out chance-adj. %v; want %v, %v, %v, %v",
				tt.variant, c.HeldIn.Mean, c.HeldOut.Mean, c.GainKept.Mean, c.HeldOutChance.Mean, tt.heldIn, tt.heldOut, tt.gain, tt.chance)
		}
		if d, n := c.Subsets[0].Merged.HeldOutChanceTasks, c.Subsets[0].Merged.HeldOutTasks; n != 1 || d != int(map[bool]int{true: 0, false: 1}[math.IsNaN(tt.chance)]) {
			t.Errorf("variant %s: held-out chance-adjusted on %d of %d tasks", tt.variant, d, n)
		}
	}
	if strings.Contains(strings.Join(r.Missing, "\n"), "schema version 3") {
		t.Errorf("merges with base_id and expert_ids fell back to the lookup: %v", r.Missing)
	}
	// The default variant is the config's first value.
	if r.Variants[0].JSON != `{"zoo.pretrain.steps":1}` {
		t.Errorf("default variant %s", r.Variants[0].JSON)
	}
}

func TestVariantAxesFollowConfigOrder(t *testing.T) {
	d := &storeData{
		models: map[string]store.Model{
			"a": {ID: "a", Variant: `{"zoo.expert.lr":0.0003,"zoo.pretrain.steps":100}`},
			"b": {ID: "b", Variant: `{"zoo.expert.lr":0.002,"zoo.pretrain.steps":200}`},
			"c": {ID: "c", Variant: `{"zoo.multitask.steps":7}`},
		},
		configText: "zoo:\n  expert: {lr: [0.002, 0.0003]}\n  pretrain: {steps: [200, 100]}\n",
	}
	axes := variantAxes(d)
	want := "[{zoo.expert.lr [0.002 0.0003]} {zoo.pretrain.steps [200 100]} {zoo.multitask.steps [7]}]"
	if got := fmt.Sprint(axes); got != want {
		t.Fatalf("axes %s, want %s", got, want)
	}
	vs := variantProduct(axes)
	if len(vs) != 4 || vs[0].JSON != `{"zoo.expert.lr":0.002,"zoo.multitask.steps":7,"zoo.pretrain.steps":200}` {
		t.Fatalf("variants %+v", vs)
	}
	if got := vs[1].Label(axes); got != "expert.lr=0.002, pretrain.steps=100, multitask.steps=7" {
		t.Errorf("label %q", got)
	}
}

// variantStore is the synthetic study with two listed zoo keys: expert
// learning rate (the x of fig_variants) and pretraining steps. A higher
// learning rate and longer pretraining make merges keep more.
func variantStore(t *testing.T) *fixture {
	f := newFixture(t, true)
	f.run("variants", "name: variants\nzoo:\n  expert: {lr: [0.002, 0.0003]}\n  pretrain: {steps: [200, 100]}\n")
	const chance = 0.25
	sizes := []string{"s", "m"}
	lrs, steps := []float64{0.002, 0.0003}, []int{200, 100}
	for si, size := range sizes {
		p := synthParams[size]
		for _, st := range steps {
			pv := fmt.Sprintf(`{"zoo.pretrain.steps":%d}`, st)
			for bi, base := range synthBases {
				q := 0.35 + 0.1*float64(bi) + 0.05*float64(si)
				baseID := fmt.Sprintf("base-%s-%s-%d", base, size, st)
				f.model(baseID, "base", size, p, base, "")
				f.modelVariant(baseID, pv, 0)
				for task, cat := range synthHeldOut {
					f.score(baseID, task, cat, store.HeldOut, q+0.02*jitter(baseID+task), chance)
				}
				for _, cat := range synthHeldInCats {
					for _, task := range synthHeldIn[cat] {
						f.score(baseID, task, cat, store.HeldIn, 0.3+0.02*jitter(baseID+task), chance)
					}
				}
				mt := "multitask-" + baseID
				f.model(mt, "multitask", size, p, base, "")
				f.modelVariant(mt, pv, 0)
				for _, cat := range synthHeldInCats {
					for _, task := range synthHeldIn[cat] {
						f.score(mt, task, cat, store.HeldIn, 0.82+0.03*jitter(mt+task), chance)
					}
				}
				for task, hc := range synthHeldOut {
					f.score(mt, task, hc, store.HeldOut, q*1.1+0.01*jitter(mt+task), chance)
				}
				for li, lr := range lrs {
					v := fmt.Sprintf(`{"zoo.expert.lr":%g,"zoo.pretrain.steps":%d}`, lr, st)
					experts := map[string]string{}
					for _, cat := range synthHeldInCats {
						id := fmt.Sprintf("expert-%s-%s-%d-%g-%s", base, size, st, lr, cat)
						experts[cat] = id
						f.model(id, "expert", size, p, base, cat)
						f.modelVariant(id, v, 0.04+0.03*float64(li)+0.01*float64(si))
						for _, task := range synthHeldIn[cat] {
							f.score(id, task, cat, store.HeldIn, 0.85+0.05*jitter(id+task), chance)
						}
						for task, hc := range synthHeldOut {
							f.score(id, task, hc, store.HeldOut, q*1.02+0.02*jitter(id+task), chance)
						}
					}
					keep := 0.6 + 0.1*float64(bi) + 0.05*float64(si) - 0.08*float64(li) + 0.0002*float64(st)
					for _, k := range []int{2, 4} {
						for sub, cats := range synthSubsets[k] {
							id := fmt.Sprintf("merge-%s-%s-%d-%g-k%d-s%d", base, size, st, lr, k, sub)
							f.model(id, "merged", size, p, base, "")
							f.modelVariant(id, v, 0)
							var eids []string
							for _, c := range cats {
								eids = append(eids, experts[c])
							}
							f.merge(mergeSpec{id: id, size: size, base: base, method: "task_arithmetic", hparams: `{"lambda":1}`,
								k: k, subset: sub, cats: cats, chosen: true, variant: v, baseID: baseID, expertIDs: eids,
								signConflict: 0.2 + 0.01*jitter(id), meanCosine: 0.05 + 0.01*jitter(id+"c")})
							for _, cat := range synthHeldInCats {
								for _, task := range synthHeldIn[cat] {
									f.score(id, task, cat, store.HeldIn, 0.85*keep+0.03*jitter(id+task), chance)
								}
							}
							for task, hc := range synthHeldOut {
								f.score(id, task, hc, store.HeldOut, q*(1+0.02*float64(k)-0.03*float64(li))+0.03*jitter(id+task), chance)
							}
						}
					}
				}
			}
		}
	}
	return f
}

func TestFigVariantsGolden(t *testing.T) {
	r, err := Load(context.Background(), variantStore(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Missing) != 0 {
		t.Fatalf("variant store should be complete, missing: %v", r.Missing)
	}
	if len(r.Variants) != 4 || r.Variants[0].JSON != `{"zoo.expert.lr":0.002,"zoo.pretrain.steps":200}` {
		t.Fatalf("variants %+v", r.Variants)
	}
	fig, why, err := figVariants(r, defaultFig)
	if err != nil || fig == nil {
		t.Fatalf("fig_variants: %v %s", err, why)
	}
	got, err := fig.svg()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "fig_variants.svg")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run Golden -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file; inspect and rerun with -update", path)
	}
}

func TestRenderVariants(t *testing.T) {
	f := variantStore(t)
	out := t.TempDir()
	if err := Render(context.Background(), f.Path, out, Options{}); err != nil {
		t.Fatal(err)
	}
	md := readFile(t, filepath.Join(out, reportFile))
	for _, want := range []string{"The study has 4 zoo variants", "`zoo.expert.lr` ∈ {0.002, 0.0003}",
		"(figures/fig_variants.png)", "The findings per zoo variant", "| expert.lr=0.0003, pretrain.steps=100 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md does not contain %q", want)
		}
	}
	fv := readFile(t, filepath.Join(out, tablesDir, "table_findings_variants.csv"))
	if n := strings.Count(fv, "\n"); n != 1+4*5 {
		t.Errorf("table_findings_variants.csv has %d lines, want a header and 5 findings × 4 variants", n)
	}
	sv := readFile(t, filepath.Join(out, tablesDir, "table_selfcheck_variants.csv"))
	checks := len(Selfcheck(mustLoad(t, f.Path).Default()).Checks)
	if n := strings.Count(sv, "\n"); n != 1+4*checks {
		t.Errorf("table_selfcheck_variants.csv has %d lines, want a header and %d checks × 4 variants", n, checks)
	}
	if !strings.Contains(sv, `"{""zoo.expert.lr"":0.0003,""zoo.pretrain.steps"":100}"`) {
		t.Errorf("table_selfcheck_variants.csv does not name the variant expert.lr=0.0003, pretrain.steps=100:\n%s", sv)
	}
	merged := readFile(t, filepath.Join(out, tablesDir, "table_merged.csv"))
	if !strings.HasPrefix(merged, "variant,base,size,params,") {
		t.Errorf("table_merged.csv of a study with variants starts %q", merged[:40])
	}
}

// TestLoadStoreBeforeVariants reads a store whose rows predate schema
// version 3, as the store's snapshot reads them (store's
// TestSnapshotOlderSchemas): no variant, base_id, expert_ids or
// tau_norm_ratio. One variant, merges normalized by the lookup of their
// size and base type, and the report says so.
func TestLoadStoreBeforeVariants(t *testing.T) {
	f := newFixture(t, true)
	f.model("b", "base", "s", 10, "it", "")
	f.model("eA", "expert", "s", 10, "it", "A")
	f.model("m", "merged", "s", 10, "it", "")
	f.merge(mergeSpec{id: "m", size: "s", base: "it", method: "ties", hparams: "{}", k: 2, cats: []string{"A"}, chosen: true})
	f.score("b", "x1", "X", store.HeldOut, 0.5, 0.25)
	f.score("eA", "a1", "A", store.HeldIn, 0.8, 0.25)
	f.score("m", "a1", "A", store.HeldIn, 0.4, 0.25)
	f.score("m", "x1", "X", store.HeldOut, 0.25, 0.25)
	r, err := Load(context.Background(), f.Path)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := r.Cell("it", "s", "ties", 2)
	if len(r.Variants) != 1 || !ok || !approxEq(c.HeldIn.Mean, 0.5) || !approxEq(c.HeldOut.Mean, 0.5) {
		t.Fatalf("variants %v, cell %+v", r.Variants, c)
	}
	if !strings.Contains(strings.Join(r.Missing, "\n"), "before schema version 3") {
		t.Errorf("Missing does not mention the fallback: %v", r.Missing)
	}
}

func TestUnlabeledModelsNoted(t *testing.T) {
	d := &storeData{models: map[string]store.Model{
		"b":  {ID: "b", Kind: "base", BaseType: "it", Variant: "{}"},                         // pretrain only: not concerned
		"e1": {ID: "e1", Kind: "expert", BaseType: "it", Variant: `{"zoo.expert.lr":0.002}`}, // labeled
		"e0": {ID: "e0", Kind: "expert", BaseType: "it", Variant: "{}"},                      // from a config without the list
		"m0": {ID: "m0", Kind: "merged", BaseType: "pt", Variant: "{}"},
		"t0": {ID: "t0", Kind: "multitask", BaseType: "pt", Variant: "{}"}, // multitask: not determined by expert keys
	}}
	got := unlabeled(d, variantAxes(d))
	if len(got) != 1 || got["zoo.expert.lr"] != 2 {
		t.Errorf("unlabeled = %v, want 2 models lacking zoo.expert.lr", got)
	}
}

func mustLoad(t *testing.T, path string) *Results {
	t.Helper()
	r, err := Load(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
