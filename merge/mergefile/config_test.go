package mergefile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mergescale/merge"
)

func TestParseFull(t *testing.T) {
	src := `
merge_method: ties
base_model: ./base
models:
  - model: ./base            # the base listed again: not an expert
  - model: ./expert_a
    parameters: {weight: 1.0, density: 0.2}
  - model: ./expert_b
    parameters:
      weight: 0.5
      density: 2e-1
parameters: {lambda: 1, normalize: true, int8_mask: true, trim_scope: global}
out_dtype: bfloat16
seed: 7
out_shard_size: 500MB
tokenizer_source: base
`
	cfg, err := Parse([]byte(src), "/data")
	if err != nil {
		t.Fatal(err)
	}
	f, b := merge.F64, merge.Bool
	want := &Config{
		MergeMethod: "ties",
		BaseModel:   "/data/base",
		Models: []ModelRef{
			{Model: "/data/base"},
			{Model: "/data/expert_a", Parameters: Parameters{Weight: f(1), Density: f(0.2)}},
			{Model: "/data/expert_b", Parameters: Parameters{Weight: f(0.5), Density: f(0.2)}},
		},
		Parameters:      Parameters{Lambda: f(1), Normalize: b(true), TrimScope: "global"},
		DType:           "bfloat16",
		Seed:            7,
		OutShardSize:    500_000_000,
		TokenizerSource: "base",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", cfg, want)
	}
	ex := cfg.Experts()
	if len(ex) != 2 || ex[0].Model != "/data/expert_a" || ex[1].Model != "/data/expert_b" {
		t.Fatalf("Experts() = %v, want expert_a, expert_b", ex)
	}
	// Global ⊕ per-model override.
	if got, want := cfg.Resolved(1), (Parameters{Lambda: f(1), Normalize: b(true), Weight: f(0.5), Density: f(0.2), TrimScope: "global"}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Resolved(1) = %+v, want %+v", got, want)
	}
}

func TestResolvedOverride(t *testing.T) {
	f := merge.F64
	cfg := &Config{
		MergeMethod: "task_arithmetic",
		BaseModel:   "base",
		Parameters:  Parameters{Weight: f(2), Lambda: f(0.5)},
		Models: []ModelRef{
			{Model: "a"},
			{Model: "b", Parameters: Parameters{Weight: f(3)}},
		},
	}
	for i, want := range []Parameters{
		{Weight: f(2), Lambda: f(0.5)},
		{Weight: f(3), Lambda: f(0.5)},
	} {
		if got := cfg.Resolved(i); !reflect.DeepEqual(got, want) {
			t.Errorf("Resolved(%d) = %+v, want %+v", i, got, want)
		}
	}
	// Resolving must not alias the global parameters.
	r := cfg.Resolved(1)
	*r.Weight = 9
	if *cfg.Parameters.Weight != 2 {
		t.Fatalf("Resolved(1) shares the global weight")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top key", "merge_method: linear\nmodels: [a]\nfoo: 1\n", `line 3: unknown key "foo"`},
		{"unknown model key", "merge_method: linear\nmodels:\n  - model: a\n    wieght: 1\n", `line 4: unknown key "wieght" in models[0]`},
		{"unknown parameter", "merge_method: linear\nmodels: [a]\nparameters: {lamda: 1}\n", `line 3: parameters: unknown parameter "lamda"`},
		{"slices", "merge_method: passthrough\nslices:\n  - sources: []\n", "line 2: not supported yet: slices"},
		{"layer_range", "merge_method: linear\nmodels:\n  - model: a\n    layer_range: [0, 4]\n", "line 4: not supported yet: layer_range"},
		{"gradient list", "merge_method: slerp\nbase_model: a\nmodels: [a, b]\nparameters:\n  t: [0, 0.5, 1]\n", "line 5: not supported yet: per-layer gradient list (parameters.t)"},
		{"filter value", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  t: {filter: self_attn, value: 0.5}\n", "line 4: not supported yet: filter (parameters.t)"},
		{"filter list", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  t:\n    - filter: self_attn\n      value: 0.5\n", "line 5: not supported yet: per-layer gradient list (parameters.t)"},
		{"filter key", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  filter: x\n", "line 4: not supported yet: filter"},
		{"tokenizer union", "merge_method: linear\nmodels: [a]\ntokenizer_source: union\n", "line 3: not supported yet: tokenizer_source: union"},
		{"bad dtype", "merge_method: linear\nmodels: [a]\ndtype: fp8\n", `line 3: dtype: want float32, float16 or bfloat16, got "fp8"`},
		{"dtype conflict", "merge_method: linear\nmodels: [a]\ndtype: float16\nout_dtype: bfloat16\n", "line 4: dtype and out_dtype disagree"},
		{"bad shard size", "merge_method: linear\nmodels: [a]\nout_shard_size: 5 parsecs\n", `line 3: out_shard_size: invalid size "5 parsecs"`},
		{"zero shard size", "merge_method: linear\nmodels: [a]\nout_shard_size: 0\n", "line 3: out_shard_size: must be positive"},
		{"negative seed", "merge_method: linear\nmodels: [a]\nseed: -1\n", "line 3: seed: want a non-negative integer"},
		{"wrong param type", "merge_method: ties\nbase_model: b\nmodels: [a]\nparameters: {normalize: 1}\n", `line 4: parameters.normalize: want true or false, got "1"`},
		{"bad param choice", "merge_method: ties\nbase_model: b\nmodels: [a]\nparameters: {trim_scope: layer}\n", `parameters of model a: ties: parameter trim_scope must be "tensor" or "global", got "layer"`},
		{"param out of range", "merge_method: ties\nbase_model: b\nmodels:\n  - model: a\n    parameters: {density: 1.5}\n", "parameters of model a: ties: parameter density must be in [0, 1], got 1.5"},
		{"param not taken", "merge_method: linear\nmodels:\n  - model: a\n    parameters: {density: 0.5}\n", `parameters of model a: method linear does not accept parameter "density"`},
		{"common param differs", "merge_method: ties\nbase_model: b\nmodels:\n  - model: a\n    parameters: {lambda: 1}\n  - model: c\n    parameters: {lambda: 2}\n", "parameters: lambda must be the same for every model of a ties merge"},
		{"unknown method", "merge_method: frankenmerge\nmodels: [a]\n", `merge_method: unknown merge method "frankenmerge"`},
		{"needs base", "merge_method: task_arithmetic\nmodels: [a]\n", "base_model: merge_method task_arithmetic needs a base model"},
		{"slerp two", "merge_method: slerp\nbase_model: b\nmodels: [a, c]\nparameters: {t: 0.5}\n", "models: merge_method slerp takes exactly 1 model(s) besides the base, got 2"},
		{"duplicate key", "merge_method: linear\nmodels: [a]\nmerge_method: ties\n", `line 3: duplicate key "merge_method" (first at line 1)`},
		{"no method", "models: [a]\n", "merge_method: missing"},
		{"no models", "merge_method: linear\n", "models: no models listed"},
		{"only base", "merge_method: ties\nbase_model: a\nmodels: [./a]\n", "every listed model is the base model"},
		{"model twice", "merge_method: linear\nmodels: [a, a]\n", "models: a is listed twice"},
		{"missing model key", "merge_method: linear\nmodels:\n  - parameters: {weight: 1}\n", "line 3: models[0]: missing key model"},
		{"not a mapping", "- a\n- b\n", "line 1: configuration: want a mapping"},
		{"yaml syntax", "merge_method: [linear\n", "yaml:"},
		{"two documents", "merge_method: linear\nmodels: [a]\n---\nfoo: 1\n", "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "")
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestLoadErrorNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "merge.yaml")
	if err := os.WriteFile(path, []byte("merge_method: linear\nmodels: [a]\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+`:3: unknown key "bogus"`) {
		t.Fatalf("Load error = %v, want prefix %s:3: unknown key", err, path)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5000000000", 5_000_000_000, true},
		{"5GB", 5_000_000_000, true},
		{"500MB", 500_000_000, true},
		{"500mb", 500_000_000, true},
		{"1.5GiB", 3 << 29, true},
		{"64KiB", 65536, true},
		{"10 B", 10, true},
		{"", 0, false},
		{"GB", 0, false},
		{"-1MB", 0, false},
		{"5XB", 0, false},
		{"1e30GB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidateInCode(t *testing.T) {
	f := merge.F64
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a"}, {Model: "b"}}}, ""},
		{"ok ties", Config{MergeMethod: "ties", BaseModel: "z", Parameters: Parameters{Density: f(0.2)}, Models: []ModelRef{{Model: "a"}, {Model: "z"}}}, ""},
		{"zero weight sum is merge's business", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a", Parameters: Parameters{Weight: f(0)}}}}, ""},
		{"bad density", Config{MergeMethod: "ties", BaseModel: "z", Models: []ModelRef{{Model: "a", Parameters: Parameters{Density: f(-1)}}}}, "parameters of model a: ties: parameter density must be in [0, 1]"},
		{"bad dtype", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a"}}, DType: "F32"}, "dtype: want float32"},
		{"negative shard", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a"}}, OutShardSize: -1}, "out_shard_size"},
		{"empty model", Config{MergeMethod: "linear", Models: []ModelRef{{}}}, "models[0].model: missing"},
		{"tokenizer", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a"}}, TokenizerSource: "union"}, "not supported yet: tokenizer_source: union"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: Validate = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestExampleConfigs loads every example under configs/merge: they must stay
// valid as the parser evolves.
func TestExampleConfigs(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "configs", "merge", "*.yaml"))
	if err != nil || len(paths) < 5 {
		t.Fatalf("example configs: %v, %v", paths, err)
	}
	for _, p := range paths {
		cfg, err := Load(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if _, err := ResolvedYAML(cfg); err != nil {
			t.Errorf("%s: resolving: %v", p, err)
		}
	}
}
