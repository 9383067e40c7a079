package plan

import (
	"bytes"
	"flag"
	"fmt"
	"mergescale/experiments/config"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// tinyConfig is the tiny study, shared by the experiments packages' tests.
const tinyConfig = "../testdata/tiny.yaml"

func noEnv(string) (string, bool) { return "", false }

// baseConfig is a valid config (config_test.go's); the plan tests edit it.
const baseConfig = `name: tiny
seed: 7
world: {seed: 3, validation: 4, test: 8}
zoo:
  sizes: [micro]
  bases: [pt, it]
  pretrain: {steps: 5, batch: 4}
  instruct: {steps: 3}
  expert: {steps: 2}
  multitask: {steps: 2}
sweep:
  experts: [2, 8]
  subsets: 2
  methods:
    - {method: linear}
    - {method: task_arithmetic, lambda: [0.5, 1.0]}
    - {method: ties, density: 0.2, lambda: [1.0]}
  select_on: validation
  keep_merged: false
workers: 1
`

func mustPlan(t *testing.T, src string) *Plan {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(c, Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// paperGrid is the paper's grid with a fixed number of hyperparameter
// points per method (1, 3, 3, 2), independent of configs/paper.yaml.
const paperGrid = `name: grid
seed: 1
zoo:
  sizes: [xs, s, m, l]
  bases: [pt, it]
  pretrain: {steps: 1}
  instruct: {steps: 1}
  expert: {steps: 1}
  multitask: {steps: 1}
sweep:
  experts: [2, 4, 6, 8]
  subsets: 3
  methods:
    - {method: linear}
    - {method: task_arithmetic, lambda: [0.5, 1.0, 1.5]}
    - {method: ties, density: [0.2], lambda: [0.5, 1.0, 1.5]}
    - {method: dare_ties, density: [0.3, 0.5], lambda: [1.0]}
`

func counts(p *Plan) map[Kind]int {
	m := map[Kind]int{}
	for _, kc := range p.Counts() {
		m[kc.Kind] = kc.Count
	}
	return m
}

func TestPaperGridCounts(t *testing.T) {
	p := mustPlan(t, paperGrid)
	if len(p.Cells) != 320 {
		t.Fatalf("%d cells, want 320", len(p.Cells))
	}
	// 4 sizes × 2 bases × (3+3+3+1 subsets) = 80 merge groups; points per
	// method 1+3+3+2 = 9.
	want := map[Kind]int{
		KindPretrain:  4,
		KindInstruct:  4,
		KindExpert:    4 * 2 * 8,
		KindMultitask: 4 * 2,
		KindMerge:     80 * 9,
		// zoo: (base + 8 experts + multitask) per (size, base); one
		// validation eval per merge; one selection per cell; one
		// evaluation of the chosen point on the other held-in tasks per
		// cell with k < 8 (8 × 9 subsets × 4 methods).
		KindEval: 8*10 + 80*9 + 320 + 8*9*4,
	}
	if got := counts(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	for k, subsets := range p.Subsets {
		n := 3
		if k == 8 {
			n = 1
		}
		if len(subsets) != n {
			t.Errorf("k=%d: %d subsets, want %d", k, len(subsets), n)
		}
	}

	// The shipped paper config has the paper's 4 sizes, 2 bases, k and 4
	// methods, whatever its subsets and points: (s+s+s+1) subset groups per
	// (size, base) and one cell per method.
	c, err := config.LoadEnv("../../configs/paper.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := New(c, Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	points := 0
	for _, g := range c.Sweep.Methods {
		if n := len(g.Points()); n > 3 {
			t.Errorf("configs/paper.yaml: %s has %d points, the issue allows 3", g.Method, n)
		}
		points += len(g.Points())
	}
	groups := 4 * 2 * (3*c.Sweep.Subsets + 1)
	if c.Sweep.Subsets < 3 || len(pp.Cells) != groups*4 || counts(pp)[KindMerge] != groups*points {
		t.Errorf("configs/paper.yaml: %d subsets, %d cells and %d merges, want >= 3 subsets, %d cells and %d merges",
			c.Sweep.Subsets, len(pp.Cells), counts(pp)[KindMerge], groups*4, groups*points)
	}
}

func TestPlanIsTopologicalAndClosed(t *testing.T) {
	p := mustPlan(t, baseConfig)
	pos := map[string]int{}
	for i, j := range p.Jobs {
		if _, dup := pos[j.Key]; dup {
			t.Fatalf("job key %s appears twice", j.Key)
		}
		pos[j.Key] = i
	}
	for i, j := range p.Jobs {
		for _, d := range j.Deps {
			if at, ok := pos[d]; !ok || at >= i {
				t.Fatalf("job %d (%s %s) depends on %s, which is not before it", i, j.Kind, p.Describe(j), d)
			}
		}
	}
	// Every selection depends on all its candidates and their validations.
	for _, j := range p.Jobs {
		if j.IsSelection() && len(j.Deps) != 2*len(j.Candidates) {
			t.Errorf("selection %s: %d deps for %d candidates", j.Key, len(j.Deps), len(j.Candidates))
		}
	}
}

// TestChosenEvalCoversOtherHeldIn: every cell's chosen point is scored on
// every held-in task, by its selection (its own categories) and by one
// more evaluation (the others), which depends on the selection only and
// closes the cell; a cell of all categories has none.
func TestChosenEvalCoversOtherHeldIn(t *testing.T) {
	p := mustPlan(t, paperGrid)
	chosen := map[string]*Job{} // selection key → its chosen evaluation
	for _, j := range p.Jobs {
		if j.IsChosenEval() {
			if _, dup := chosen[j.Chosen]; dup {
				t.Fatalf("selection %s has two chosen evaluations", ShortKey(j.Chosen))
			}
			chosen[j.Chosen] = j
		}
	}
	for _, j := range p.Jobs {
		if !j.IsSelection() {
			continue
		}
		ch, ok := chosen[j.Key]
		if j.K == len(p.Categories) {
			if ok || j.Cell.Last != j.Key {
				t.Errorf("%s: k = all categories wants no chosen evaluation and the selection last", j.Label())
			}
			continue
		}
		if !ok {
			t.Fatalf("%s: no chosen evaluation", j.Label())
		}
		if !reflect.DeepEqual(ch.Deps, []string{j.Key}) || ch.Split != "test" || ch.Scope.HeldOut || ch.Cell != j.Cell {
			t.Errorf("%s: chosen evaluation %+v", j.Label(), ch)
		}
		if j.Cell.Last != ch.Key || !ch.ClosesCell() || j.ClosesCell() {
			t.Errorf("%s: the chosen evaluation should close the cell", j.Label())
		}
		all := append(append([]string(nil), j.Scope.HeldIn...), ch.Scope.HeldIn...)
		if len(all) != len(p.Categories) {
			t.Errorf("%s: scopes %v + %v do not cover the %d categories", j.Label(), j.Scope.HeldIn, ch.Scope.HeldIn, len(p.Categories))
		}
		for _, c := range p.Categories {
			if !slices.Contains(all, c) {
				t.Errorf("%s: category %s in neither scope", j.Label(), c)
			}
		}
	}
}

func TestSubsets(t *testing.T) {
	cats := config.HeldInCategories()
	all := Subsets(1, cats, 8, 3)
	if len(all) != 1 || !reflect.DeepEqual(all[0], cats) {
		t.Fatalf("k=8: %v, want the single full set", all)
	}
	if got := Subsets(1, cats, 7, 100); len(got) != 8 {
		t.Fatalf("k=7 asks 100: %d subsets, want C(8,7) = 8", len(got))
	}
	for _, k := range []int{2, 4, 6} {
		s5 := Subsets(1, cats, k, 5)
		seen := map[string]bool{}
		for _, s := range s5 {
			if len(s) != k {
				t.Fatalf("k=%d: subset %v has %d categories", k, s, len(s))
			}
			key := strings.Join(s, ",")
			if seen[key] {
				t.Fatalf("k=%d: subset %v repeated", k, s)
			}
			seen[key] = true
			for i := 1; i < len(s); i++ {
				if slices.Index(cats, s[i-1]) >= slices.Index(cats, s[i]) {
					t.Fatalf("k=%d: subset %v not in canonical order", k, s)
				}
			}
		}
		if s3 := Subsets(1, cats, k, 3); !reflect.DeepEqual(s3, s5[:3]) {
			t.Errorf("k=%d: 3 subsets %v are not the first 3 of 5 %v", k, s3, s5)
		}
		if !reflect.DeepEqual(Subsets(1, cats, k, 3), Subsets(1, cats, k, 3)) {
			t.Errorf("k=%d: subsets not deterministic", k)
		}
		if reflect.DeepEqual(Subsets(1, cats, k, 3), Subsets(2, cats, k, 3)) {
			t.Errorf("k=%d: seeds 1 and 2 give the same subsets", k)
		}
	}
}

func keysOf(p *Plan, kinds ...Kind) map[string]bool {
	out := map[string]bool{}
	for _, j := range p.Jobs {
		for _, k := range kinds {
			if j.Kind == k {
				out[j.Key] = true
			}
		}
	}
	return out
}

func TestKeysAreContentAddressed(t *testing.T) {
	base := mustPlan(t, baseConfig)
	zoo := []Kind{KindPretrain, KindInstruct, KindExpert, KindMultitask}

	// Changing only the sweep keeps every zoo key (and the zoo evals).
	sweep := mustPlan(t, strings.Replace(strings.Replace(baseConfig, "experts: [2, 8]", "experts: [4]", 1), "subsets: 2", "subsets: 1", 1))
	if !reflect.DeepEqual(keysOf(base, zoo...), keysOf(sweep, zoo...)) {
		t.Error("changing the sweep changed zoo keys")
	}

	// Adding a method only adds that method's jobs.
	more := mustPlan(t, strings.Replace(baseConfig, "  select_on:", "    - {method: dare_ties, density: [0.5], lambda: [1.0]}\n  select_on:", 1))
	old := map[string]bool{}
	for _, j := range base.Jobs {
		old[j.Key] = true
	}
	added := 0
	for _, j := range more.Jobs {
		if old[j.Key] {
			delete(old, j.Key)
			continue
		}
		added++
		if j.Cell == nil || j.Cell.Method != "dare_ties" {
			t.Errorf("new job %s %s is not a dare_ties job", j.Kind, more.Describe(j))
		}
	}
	if len(old) != 0 || added == 0 {
		t.Errorf("adding a method dropped %d jobs and added %d", len(old), added)
	}

	// Retraining experts changes experts and everything downstream, not the bases.
	steps := mustPlan(t, strings.Replace(baseConfig, "expert: {steps: 2}", "expert: {steps: 4}", 1))
	if !reflect.DeepEqual(keysOf(base, KindPretrain, KindInstruct, KindMultitask), keysOf(steps, KindPretrain, KindInstruct, KindMultitask)) {
		t.Error("changing expert steps changed base or multitask keys")
	}
	for _, k := range []Kind{KindExpert, KindMerge} {
		a, b := keysOf(base, k), keysOf(steps, k)
		for key := range a {
			if b[key] {
				t.Errorf("changing expert steps kept the %s key %s", k, key)
			}
		}
	}

	// Split sizes change evaluations only; the world seed changes everything.
	val := mustPlan(t, strings.Replace(baseConfig, "validation: 4", "validation: 5", 1))
	if !reflect.DeepEqual(keysOf(base, KindPretrain, KindExpert, KindMerge), keysOf(val, KindPretrain, KindExpert, KindMerge)) {
		t.Error("changing the validation size changed model keys")
	}
	if reflect.DeepEqual(keysOf(base, KindEval), keysOf(val, KindEval)) {
		t.Error("changing the validation size kept every eval key")
	}
	world := mustPlan(t, strings.Replace(baseConfig, "world: {seed: 3,", "world: {seed: 4,", 1))
	if reflect.DeepEqual(keysOf(base, KindPretrain), keysOf(world, KindPretrain)) {
		t.Error("changing the world seed kept the pretrain keys")
	}

	// Workers and keep_merged never change a key.
	same := mustPlan(t, strings.Replace(strings.Replace(baseConfig, "workers: 1", "workers: 4", 1), "keep_merged: false", "keep_merged: true", 1))
	if !reflect.DeepEqual(keysOf(base, Kinds()...), keysOf(same, Kinds()...)) {
		t.Error("workers or keep_merged changed job keys")
	}
}

func TestShards(t *testing.T) {
	p := mustPlan(t, paperGrid)
	const n = 3
	owner := map[string]int{}
	for i := 0; i < n; i++ {
		s, err := ParseShard(Shard{Index: i, Count: n}.String())
		if err != nil {
			t.Fatal(err)
		}
		q := p.ForShard(s)
		cellShard := map[string]bool{}
		for _, c := range q.Cells {
			cellShard[c.Key] = true
		}
		for _, j := range q.Jobs {
			for _, d := range j.Deps {
				if _, ok := q.Job(d); !ok {
					t.Fatalf("shard %d: job %s depends on %s outside the shard", i, j.Key, d)
				}
			}
			if j.Kind.IsTraining() {
				continue
			}
			if prev, dup := owner[j.Key]; dup {
				t.Fatalf("job %s in shards %d and %d", j.Key, prev, i)
			}
			owner[j.Key] = i
			if j.Cell != nil && !cellShard[j.Cell.Key] {
				t.Fatalf("shard %d: job %s of a cell listed in another shard", i, j.Key)
			}
		}
		if got, want := counts(q)[KindPretrain], 4; got != want {
			t.Errorf("shard %d: %d pretrain jobs, want %d (the zoo is in every shard)", i, got, want)
		}
		if frac := float64(counts(q)[KindMerge]) / float64(counts(p)[KindMerge]); frac < 0.2 || frac > 0.47 {
			t.Errorf("shard %d holds %.2f of the merges, want about 1/3", i, frac)
		}
	}
	for _, j := range p.Jobs {
		if _, ok := owner[j.Key]; !ok && !j.Kind.IsTraining() {
			t.Fatalf("job %s in no shard", j.Key)
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "1", "a/b", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) succeeded", bad)
		}
	}
}

func TestPrintPlanGolden(t *testing.T) {
	c, err := config.LoadEnv(tinyConfig, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(c, Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Print(&buf, p, true); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/tiny.plan.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./experiments/plan -run PrintPlanGolden -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("PrintPlan differs from %s (rerun with -update after checking):\n%s", golden, buf.String())
	}
}

func jobsOf(p *Plan, k Kind) []*Job {
	var out []*Job
	for _, j := range p.Jobs {
		if j.Kind == k {
			out = append(out, j)
		}
	}
	return out
}

func TestVariantPlans(t *testing.T) {
	base := mustPlan(t, baseConfig)
	lrs := mustPlan(t, strings.Replace(baseConfig, "expert: {steps: 2}", "expert: {steps: 2, lr: [0.001, 0.0003]}", 1))

	// Expert settings only: the PT and IT bases are shared (one model
	// each, with the variant of their own keys: none), experts and merges
	// double, and so do the cells.
	bc, lc := counts(base), counts(lrs)
	if lc[KindPretrain] != bc[KindPretrain] || lc[KindInstruct] != bc[KindInstruct] || lc[KindMultitask] != bc[KindMultitask] {
		t.Errorf("expert lists changed the number of bases or multitask models: %v vs %v", lc, bc)
	}
	if lc[KindExpert] != 2*bc[KindExpert] || lc[KindMerge] != 2*bc[KindMerge] || len(lrs.Cells) != 2*len(base.Cells) {
		t.Errorf("expert lists: %d experts, %d merges, %d cells; want twice %d, %d, %d",
			lc[KindExpert], lc[KindMerge], len(lrs.Cells), bc[KindExpert], bc[KindMerge], len(base.Cells))
	}
	for _, j := range jobsOf(lrs, KindPretrain) {
		if j.Variant != "{}" {
			t.Errorf("shared PT base has variant %s, want {}", j.Variant)
		}
	}
	seen := map[string]int{}
	for _, j := range jobsOf(lrs, KindExpert) {
		seen[j.Variant]++
	}
	if want := map[string]int{`{"zoo.expert.lr":0.001}`: 16, `{"zoo.expert.lr":0.0003}`: 16}; !reflect.DeepEqual(seen, want) {
		t.Errorf("expert variants %v, want %v", seen, want)
	}
	cellVariants := map[string]int{}
	for _, c := range lrs.Cells {
		cellVariants[c.Variant]++
	}
	if len(cellVariants) != 2 || cellVariants[`{"zoo.expert.lr":0.001}`] != len(base.Cells) {
		t.Errorf("cell variants %v", cellVariants)
	}

	// The default variant (lr 0.001 is the default, so the first list value
	// equals the plain config) plans exactly the plain config's keys.
	lk := keysOf(lrs, Kinds()...)
	for key := range keysOf(base, Kinds()...) {
		if !lk[key] {
			t.Fatalf("job %s of the plain config is not in the plan with lists", key)
		}
	}

	// Pretraining settings: every model of the zoo depends on them; the
	// variant of an IT expert names both keys that determine it.
	steps := mustPlan(t, strings.Replace(strings.Replace(baseConfig, "pretrain: {steps: 5, batch: 4}", "pretrain: {steps: [5, 6], batch: 4}", 1),
		"expert: {steps: 2}", "expert: {steps: [2, 3]}", 1))
	sc := counts(steps)
	if sc[KindPretrain] != 2 || sc[KindInstruct] != 2 || sc[KindExpert] != 4*16 || sc[KindMultitask] != 2*2 || len(steps.Cells) != 4*len(base.Cells) {
		t.Errorf("pretrain × expert lists: counts %v, %d cells", sc, len(steps.Cells))
	}
	for _, j := range jobsOf(steps, KindExpert) {
		var want string
		if j.Base == config.BaseIT {
			want = `{"zoo.expert.steps":` + fmt.Sprint(j.Stage.Steps) + `,"zoo.pretrain.steps":`
		}
		if want != "" && !strings.HasPrefix(j.Variant, want) {
			t.Errorf("IT expert variant %s does not start with %s", j.Variant, want)
		}
	}

	// Multitask settings do not determine merges: cells stay as they are.
	mt := mustPlan(t, strings.Replace(baseConfig, "multitask: {steps: 2}", "multitask: {steps: [2, 3]}", 1))
	if counts(mt)[KindMultitask] != 4 || len(mt.Cells) != len(base.Cells) || counts(mt)[KindMerge] != bc[KindMerge] {
		t.Errorf("multitask list: counts %v, %d cells; want 4 multitask models and the plain cells", counts(mt), len(mt.Cells))
	}

	var buf bytes.Buffer
	if err := Print(&buf, steps, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "variants: 4 (the full product of zoo.pretrain.steps [5, 6] × zoo.expert.steps [2, 3]") {
		t.Errorf("PrintPlan does not give the variant count:\n%s", buf.String())
	}
}
