package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// baseConfig is a valid config; the bad-config cases edit one line of it,
// so the line numbers in their expected errors refer to this text.
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

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseConfigValid(t *testing.T) {
	c, err := Parse("tiny.yaml", []byte(baseConfig), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	def := Stage{Batch: 16, LR: 1e-3, WeightDecay: 0.01, WarmupFrac: 0.05, ClipNorm: 1}
	want := &Config{
		Name: "tiny", Seed: 7, Out: "results/tiny", Workers: 1,
		World: World{Seed: 3, Validation: 4, Test: 8, Version: "suite-4"},
		Zoo: Zoo{Sizes: []string{"micro"}, Bases: []string{"pt", "it"},
			Pretrain:  func() Stage { s := def; s.Steps, s.Batch = 5, 4; return s }(),
			Instruct:  func() Stage { s := def; s.Steps = 3; return s }(),
			Expert:    func() Stage { s := def; s.Steps = 2; return s }(),
			Multitask: func() Stage { s := def; s.Steps = 2; return s }()},
		Sweep: Sweep{Experts: []int{2, 8}, Subsets: 2, SelectOn: "validation", Methods: []MethodGrid{
			{Method: "linear", Params: map[string][]float64{}},
			{Method: "task_arithmetic", Params: map[string][]float64{"lambda": {0.5, 1}}},
			{Method: "ties", Params: map[string][]float64{"density": {0.2}, "lambda": {1}}},
		}},
		Eval: EvalConfig{Backend: "builtin"},
		Path: "tiny.yaml", Text: []byte(baseConfig),
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("ParseConfig =\n%+v\nwant\n%+v", c, want)
	}
	if c.StorePath() != "results/tiny/results.db" {
		t.Errorf("StorePath = %q", c.StorePath())
	}
}

func TestParseConfigDefaults(t *testing.T) {
	src := strings.Replace(baseConfig, "world: {seed: 3, validation: 4, test: 8}\n", "", 1)
	src = strings.Replace(src, "workers: 1\n", "out: /tmp/x\n", 1)
	c, err := Parse("d.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.World != (World{Seed: 7, Validation: 32, Test: 64, Version: "suite-4"}) || c.Workers != 1 || c.Out != "/tmp/x" {
		t.Fatalf("defaults: world %+v workers %d out %q", c.World, c.Workers, c.Out)
	}
	if c.StorePath() != "/tmp/x/results.db" || c.MergedPath() != "/tmp/x/merged" || c.Eval.Retries != 0 {
		t.Errorf("default locations: db %q, merged %q, retries %d", c.StorePath(), c.MergedPath(), c.Eval.Retries)
	}
	// merged_dir and db are locations: they move files, never change a key
	// (the hash of an unchanged config stays).
	src2 := src + "merged_dir: /scratch/m\ndb: /data/s/r.db\neval: {retries: 2}\n"
	c2, err := Parse("d.yaml", []byte(src2), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c2.StorePath() != "/data/s/r.db" || c2.MergedPath() != "/scratch/m" || c2.Eval.Retries != 2 || c2.Eval.KeyPart(nil) != nil {
		t.Errorf("set locations: db %q, merged %q, retries %d, key part %v", c2.StorePath(), c2.MergedPath(), c2.Eval.Retries, c2.Eval.KeyPart(nil))
	}
	c3, err := Parse("d.yaml", []byte(src), envMap(map[string]string{"MERGESCALE_MERGED_DIR": "/scratch/e", "MERGESCALE_DB": "/data/e.db", "MERGESCALE_EVAL_RETRIES": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if c3.MergedPath() != "/scratch/e" || c3.StorePath() != "/data/e.db" || c3.Eval.Retries != 1 {
		t.Errorf("environment: db %q, merged %q, retries %d", c3.StorePath(), c3.MergedPath(), c3.Eval.Retries)
	}
}

func TestBadConfigs(t *testing.T) {
	cases := []struct {
		name     string
		old, new string // replace old by new in baseConfig
		want     string
	}{
		{"unknown top-level key", "workers: 1", "wrkers: 1",
			"bad.yaml:20: wrkers: unknown key (known: db, eval, merged_dir, name, out, seed, sweep, tasks, workers, world, zoo, zoo_dir)"},
		{"unknown nested key", "pretrain: {steps: 5, batch: 4}", "pretrain: {stepz: 5, batch: 4}",
			"bad.yaml:7: zoo.pretrain.stepz: unknown key (known: batch, clip_norm, dropout, lr, steps, warmup_frac, weight_decay)"},
		{"quoted number", "workers: 1", `workers: "4"`,
			`bad.yaml:20: workers: must be an integer, got string "4"`},
		{"float for integer", "expert: {steps: 2}", "expert: {steps: 2.5}",
			"bad.yaml:9: zoo.expert.steps: must be an integer, got number 2.5"},
		{"null value", "subsets: 2", "subsets:",
			"bad.yaml:13: sweep.subsets: must be an integer, got nothing (null)"},
		{"scalar for list", "sizes: [micro]", "sizes: micro",
			`bad.yaml:5: zoo.sizes: must be a list of strings, got string "micro"`},
		{"mapping for scalar", "seed: 7", "seed: {a: 1}",
			"bad.yaml:2: seed: must be an integer, got a mapping"},
		{"yes is not a boolean", "keep_merged: false", "keep_merged: yes",
			`bad.yaml:19: sweep.keep_merged: must be a boolean (true or false), got string "yes"`},
		{"workers out of range", "workers: 1", "workers: 0",
			"bad.yaml:20: workers: must be in [1, 256], got 0"},
		{"negative seed", "seed: 7", "seed: -1",
			"bad.yaml:2: seed: must be in [0, 4611686018427387904], got -1"},
		{"unknown size", "sizes: [micro]", "sizes: [micro, xxl]",
			`bad.yaml:5: zoo.sizes[1]: unknown size preset "xxl" (known: micro, xs, s, m, l, xl)`},
		{"duplicate size", "sizes: [micro]", "sizes: [micro, micro]",
			`bad.yaml:5: zoo.sizes[1]: "micro" appears twice`},
		{"unknown base", "bases: [pt, it]", "bases: [pt, chat]",
			`bad.yaml:6: zoo.bases[1]: unknown base "chat" (known: pt, it)`},
		{"too many experts", "experts: [2, 8]", "experts: [2, 9]",
			"bad.yaml:12: sweep.experts[1]: must be in [2, 8] (the number of held-in categories), got 9"},
		{"unknown method", "{method: linear}", "{method: average}",
			`bad.yaml:15: sweep.methods[0].method: unknown method "average" (known: breadcrumbs, breadcrumbs_ties, dare_linear, dare_ties, della, della_linear, linear, model_stock, task_arithmetic, ties)`},
		{"parameter of another method", "{method: linear}", "{method: linear, density: [0.5]}",
			`bad.yaml:15: sweep.methods[0].density: method linear has no parameter "density" (known: none)`},
		{"density out of range", "density: 0.2", "density: [0.2, 1.5]",
			"bad.yaml:17: sweep.methods[2].density[1]: must be in (0, 1], got 1.5"},
		{"empty zoo_dir", "workers: 1", "workers: 1\nzoo_dir: \"\"",
			"bad.yaml:21: zoo_dir: must not be empty (omit it for <out>/zoo)"},
		{"empty merged_dir", "workers: 1", "workers: 1\nmerged_dir: \"\"",
			"bad.yaml:21: merged_dir: must not be empty (omit it for <out>/merged)"},
		{"db a folder", "workers: 1", "workers: 1\ndb: /scratch/",
			`bad.yaml:21: db: must name a file (the results store), got the folder "/scratch/"`},
		{"negative retries", "workers: 1", "workers: 1\neval: {retries: -1}",
			"bad.yaml:21: eval.retries: must be in [0, 100], got -1"},
		{"zero lambda", "lambda: [0.5, 1.0]", "lambda: [0, 1.0]",
			"bad.yaml:16: sweep.methods[1].lambda[0]: must be in (0, 10], got 0"},
		{"empty grid", "lambda: [0.5, 1.0]", "lambda: []",
			"bad.yaml:16: sweep.methods[1].lambda: must list at least one value"},
		{"method missing", "{method: linear}", "{lambda: 1}",
			"bad.yaml:15: sweep.methods[0]: method missing (e.g. method: ties)"},
		{"method twice", "{method: ties, density: 0.2, lambda: [1.0]}", "{method: task_arithmetic, lambda: [2.0]}",
			"bad.yaml:17: sweep.methods[2].method: method task_arithmetic appears twice; list all its values in one entry"},
		{"missing name", "name: tiny\n", "",
			"bad.yaml: name: required key missing"},
		{"missing steps", "expert: {steps: 2}", "expert: {batch: 2}",
			"bad.yaml:9: zoo.expert.steps: required key missing"},
		{"bad name", "name: tiny", "name: ../tiny",
			`bad.yaml:1: name: must be letters, digits, '.', '_' or '-' (it names the output folder), got "../tiny"`},
		{"duplicate key", "workers: 1", "workers: 1\nworkers: 2",
			"bad.yaml:21: workers: duplicate key"},
		{"select on test", "select_on: validation", "select_on: test",
			`bad.yaml:18: sweep.select_on: must be validation (choosing on test would leak the test split), got "test"`},
		{"dropout of 1", "expert: {steps: 2}", "expert: {steps: 2, dropout: 1}",
			"bad.yaml:9: zoo.expert.dropout: must be in [0, 1), got 1"},
		{"errors in line order", "workers: 1", "zzz: 1\nworkers: x",
			"bad.yaml:20: zzz: unknown key (known: db, eval, merged_dir, name, out, seed, sweep, tasks, workers, world, zoo, zoo_dir)\nbad.yaml:21: workers: must be an integer, got string \"x\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(baseConfig, c.old) {
				t.Fatalf("case edits %q, which is not in the base config", c.old)
			}
			src := strings.Replace(baseConfig, c.old, c.new, 1)
			_, err := Parse("bad.yaml", []byte(src), noEnv)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if err.Error() != c.want {
				t.Fatalf("error\n  %s\nwant\n  %s", err, c.want)
			}
		})
	}
}

func TestBadConfigReportsEveryError(t *testing.T) {
	src := strings.Replace(baseConfig, "workers: 1", "workers: 0", 1)
	src = strings.Replace(src, "subsets: 2", "subsets: 0", 1)
	_, err := Parse("bad.yaml", []byte(src), noEnv)
	want := "bad.yaml:13: sweep.subsets: must be in [1, 100], got 0\nbad.yaml:20: workers: must be in [1, 256], got 0"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestEnvOverrides(t *testing.T) {
	c, err := Parse("tiny.yaml", []byte(baseConfig), envMap(map[string]string{
		"MERGESCALE_WORKERS":             "3",
		"MERGESCALE_OUT":                 "/scratch/tiny",
		"MERGESCALE_ZOO_PRETRAIN_STEPS":  "11",
		"MERGESCALE_ZOO_EXPERT_LR":       "0.002",
		"MERGESCALE_SWEEP_KEEP_MERGED":   "true",
		"MERGESCALE_WORLD_SEED":          "9",
		"MERGESCALE_NOT_A_KEY_IS_IGNORE": "x",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers != 3 || c.Out != "/scratch/tiny" || c.Zoo.Pretrain.Steps != 11 || c.Zoo.Pretrain.Batch != 4 ||
		c.Zoo.Expert.LR != 0.002 || !c.Sweep.KeepMerged || c.World.Seed != 9 {
		t.Fatalf("overrides not applied: %+v", c)
	}
	wantOv := []string{"MERGESCALE_OUT=/scratch/tiny", "MERGESCALE_SWEEP_KEEP_MERGED=true", "MERGESCALE_WORKERS=3",
		"MERGESCALE_WORLD_SEED=9", "MERGESCALE_ZOO_EXPERT_LR=0.002", "MERGESCALE_ZOO_PRETRAIN_STEPS=11"}
	if !reflect.DeepEqual(c.Overrides, wantOv) {
		t.Errorf("Overrides = %v, want %v", c.Overrides, wantOv)
	}
	base, _ := Parse("tiny.yaml", []byte(baseConfig), noEnv)
	if base.Hash() == c.Hash() {
		t.Error("overrides do not change the config hash")
	}

	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MERGESCALE_WORKERS": "two"}, `MERGESCALE_WORKERS: workers: must be an integer, got "two"`},
		{map[string]string{"MERGESCALE_WORKERS": "1.0"}, `MERGESCALE_WORKERS: workers: must be an integer, got "1.0"`},
		{map[string]string{"MERGESCALE_WORKERS": "0"}, `MERGESCALE_WORKERS: workers: must be in [1, 256], got 0`},
		{map[string]string{"MERGESCALE_SWEEP_KEEP_MERGED": "1"}, `MERGESCALE_SWEEP_KEEP_MERGED: sweep.keep_merged: must be true or false, got "1"`},
		{map[string]string{"MERGESCALE_ZOO_EXPERT_LR": "NaN"}, `MERGESCALE_ZOO_EXPERT_LR: zoo.expert.lr: must be a finite number, got "NaN"`},
		{map[string]string{"MERGESCALE_ZOO_EXPERT_LR": "2"}, `MERGESCALE_ZOO_EXPERT_LR: zoo.expert.lr: must be in (0, 1], got 2`},
	}
	for _, b := range bad {
		_, err := Parse("tiny.yaml", []byte(baseConfig), envMap(b.env))
		if err == nil || err.Error() != b.want {
			t.Errorf("env %v: error %v, want %q", b.env, err, b.want)
		}
	}
}

// TestShippedConfigsLoad checks configs/*.yaml and testdata against the
// schema.
func TestShippedConfigsLoad(t *testing.T) {
	for _, path := range []string{"../../configs/quick.yaml", "../../configs/paper.yaml", "../testdata/tiny.yaml"} {
		if _, err := LoadEnv(path, noEnv); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// TestReadmeDocumentsEveryKey checks that configs/README.md mentions every
// key path and every environment variable form.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../configs/README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range Keys() {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("configs/README.md does not document `%s`", k)
		}
	}
}

func TestVariantLists(t *testing.T) {
	src := strings.Replace(baseConfig, "expert: {steps: 2}", "expert: {steps: [2, 4], lr: [0.002, 0.0003]}", 1)
	c, err := Parse("v.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	wantSwept := []SweptKey{{Key: "zoo.expert.steps", Values: []float64{2, 4}}, {Key: "zoo.expert.lr", Values: []float64{0.002, 0.0003}}}
	if !reflect.DeepEqual(c.Zoo.Swept, wantSwept) {
		t.Fatalf("Swept = %+v, want %+v", c.Zoo.Swept, wantSwept)
	}
	// The stage holds the default variant: the first value of every list.
	if c.Zoo.Expert.Steps != 2 || c.Zoo.Expert.LR != 0.002 || c.Zoo.Expert.Batch != 16 {
		t.Errorf("expert stage %+v, want steps 2, lr 0.002, batch 16", c.Zoo.Expert)
	}
	// The full product, the first key slowest.
	want := []Variant{
		{"zoo.expert.steps": 2, "zoo.expert.lr": 0.002},
		{"zoo.expert.steps": 2, "zoo.expert.lr": 0.0003},
		{"zoo.expert.steps": 4, "zoo.expert.lr": 0.002},
		{"zoo.expert.steps": 4, "zoo.expert.lr": 0.0003},
	}
	if got := c.Variants(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Variants = %v, want %v", got, want)
	}
	if s := c.Stage("expert", want[3]); s.Steps != 4 || s.LR != 0.0003 || s.Batch != 16 {
		t.Errorf("stage of variant 3 = %+v", s)
	}
	if s := c.Stage("pretrain", want[3]); s != c.Zoo.Pretrain {
		t.Errorf("expert keys changed the pretrain stage: %+v", s)
	}

	// An environment override of a listed key replaces the list by one value.
	ov, err := Parse("v.yaml", []byte(src), envMap(map[string]string{"MERGESCALE_ZOO_EXPERT_LR": "0.01"}))
	if err != nil {
		t.Fatal(err)
	}
	if ov.Zoo.Expert.LR != 0.01 || !reflect.DeepEqual(ov.Zoo.Swept, wantSwept[:1]) || len(ov.Variants()) != 2 {
		t.Errorf("override: lr %v, swept %+v, %d variants; want lr 0.01, steps still listed, 2 variants",
			ov.Zoo.Expert.LR, ov.Zoo.Swept, len(ov.Variants()))
	}

	// Without lists: no swept keys, one empty variant, and the config hash
	// of a config that never heard of variants.
	plain, err := Parse("tiny.yaml", []byte(baseConfig), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Zoo.Swept != nil || !reflect.DeepEqual(plain.Variants(), []Variant{{}}) {
		t.Errorf("plain config: swept %v, variants %v", plain.Zoo.Swept, plain.Variants())
	}
}

func TestBadVariantLists(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     string
	}{
		{"float in an integer list", "expert: {steps: 2}", "expert: {steps: [2, 2.5]}",
			"bad.yaml:9: zoo.expert.steps[1]: must be an integer, got number 2.5"},
		{"value out of range", "expert: {steps: 2}", "expert: {steps: 2, lr: [0.5, 2]}",
			"bad.yaml:9: zoo.expert.lr[1]: must be in (0, 1], got 2"},
		{"duplicate value", "expert: {steps: 2}", "expert: {steps: [2, 3, 2]}",
			"bad.yaml:9: zoo.expert.steps[2]: value 2 appears twice"},
		{"empty list", "expert: {steps: 2}", "expert: {steps: 2, lr: []}",
			"bad.yaml:9: zoo.expert.lr: must be a number or a non-empty list of them"},
		{"instruct list without it", "bases: [pt, it]", "bases: [pt]\n  instruct: {steps: [3, 4]}",
			"bad.yaml:7: zoo.instruct.steps: a list of values needs the it base (zoo.bases lists only pt), since only it models are instruction-tuned"},
		{"list of a non-zoo key", "workers: 1", "workers: [1, 2]",
			"bad.yaml:20: workers: must be an integer, got a list"},
		{"too many variants", "expert: {steps: 2}", "expert: {steps: [1, 2, 3, 4, 5, 6, 7], batch: [1, 2, 3, 4, 5, 6, 7], warmup_frac: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}",
			"bad.yaml:4: zoo: the listed zoo keys make 343 variants (the full product), more than 256"},
		{"list of strings", "multitask: {steps: 2}", "multitask: {steps: 2, lr: [fast]}",
			`bad.yaml:10: zoo.multitask.lr[0]: must be a number, got string "fast"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(baseConfig, c.old) {
				t.Fatalf("case edits %q, which is not in the base config", c.old)
			}
			src := strings.Replace(baseConfig, c.old, c.new, 1)
			if c.name == "instruct list without it" {
				src = strings.Replace(src, "  instruct: {steps: 3}\n", "", 1)
			}
			_, err := Parse("bad.yaml", []byte(src), noEnv)
			if err == nil || err.Error() != c.want {
				t.Fatalf("error\n  %v\nwant\n  %s", err, c.want)
			}
		})
	}
}

// TestWorldVersion checks world.version: suite-4 by default, with the same
// hash as a config that names it; suite-5 accepted; an unknown value an
// error at the key.
func TestWorldVersion(t *testing.T) {
	const base = "name: v\nzoo: {sizes: [micro], bases: [pt], pretrain: {steps: 1}, expert: {steps: 1}, multitask: {steps: 1}}\nsweep: {experts: [2], subsets: 1, methods: [{method: linear}]}\n"
	parse := func(extra string) (*Config, error) {
		return Parse("v.yaml", []byte(base+extra), func(string) (string, bool) { return "", false })
	}
	plain, err := parse("")
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := parse("world: {version: suite-4}\n")
	if err != nil {
		t.Fatal(err)
	}
	if plain.World.Version != "suite-4" || plain.Hash() != explicit.Hash() {
		t.Errorf("default %q; hashes %s, %s", plain.World.Version, plain.Hash(), explicit.Hash())
	}
	five, err := parse("world: {version: suite-5}\n")
	if err != nil {
		t.Fatal(err)
	}
	if five.World.Version != "suite-5" || five.Hash() == plain.Hash() {
		t.Errorf("suite-5: version %q, same hash %v", five.World.Version, five.Hash() == plain.Hash())
	}
	_, err = parse("world: {version: suite-9}\n")
	if err == nil || !strings.Contains(err.Error(), "world.version") {
		t.Errorf("unknown version: error %v, want one at world.version", err)
	}
}
