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
	want := &Config{
		MergeMethod: "ties",
		BaseModel:   "/data/base",
		Models: []ModelRef{
			{Model: "/data/base"},
			{Model: "/data/expert_a", Parameters: ParamSet{"weight": Scalar(1.0), "density": Scalar(0.2)}},
			{Model: "/data/expert_b", Parameters: ParamSet{"weight": Scalar(0.5), "density": Scalar(0.2)}},
		},
		Parameters:      ParamSet{"lambda": Scalar(1.0), "normalize": Scalar(true), "int8_mask": Scalar(true), "trim_scope": Scalar("global")},
		OutDType:        "bfloat16",
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
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top key", "merge_method: linear\nmodels: [a]\nfoo: 1\n", `line 3: unknown key "foo"`},
		{"unknown model key", "merge_method: linear\nmodels:\n  - model: a\n    wieght: 1\n", `line 4: unknown key "wieght" in models[0]`},
		{"unknown parameter", "merge_method: linear\nmodels: [a]\nparameters: {lamda: 1}\n", `line 3: parameters: unknown parameter "lamda"`},
		{"empty slices", "merge_method: passthrough\nslices: []\n", "line 2: slices: want a non-empty list"},
		{"empty sources", "merge_method: passthrough\nslices:\n  - sources: []\n", "line 3: slices[0].sources: want a non-empty list"},
		{"layer_range in models", "merge_method: linear\nmodels:\n  - model: a\n    layer_range: [0, 4]\n", "line 4: models[0]: layer_range belongs to the sources of slices:"},
		{"no layer_range", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n", "line 4: slices[0].sources[0]: missing key layer_range"},
		{"reversed layer_range", "merge_method: passthrough\nslices:\n  - sources:\n      - {model: a, layer_range: [4, 2]}\n", "line 4: slices[0].sources[0].layer_range: end 2 must be greater than first 4"},
		{"bad layer_range", "merge_method: passthrough\nslices:\n  - sources:\n      - {model: a, layer_range: [0, x]}\n", "slices[0].sources[0].layer_range: want two integers"},
		{"slice lengths differ", "merge_method: linear\nparameters: {weight: 1}\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 4]}\n      - {model: b, layer_range: [0, 3]}\n", "slices[0]: the sources of a slice must have the same number of layers (a has 4 in [0 4], b has 3 in [0 3])"},
		{"slice base_model", "merge_method: ties\nbase_model: z\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 4]}\n    base_model: z\n", "line 6: not supported yet: slices[0].base_model"},
		{"residual_weight", "merge_method: linear\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 4]}\n    residual_weight: 0.5\n", "line 5: not supported yet: slices[0].residual_weight"},
		{"base not a source", "merge_method: ties\nbase_model: z\nparameters: {weight: 1}\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 4]}\n", "slices[0]: base_model z must be one of the slice's sources"},
		{"models and slices", "merge_method: linear\nmodels: [a]\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 4]}\n", "models and slices: give one of them, not both"},
		{"modules", "merge_method: linear\nmodules: {}\n", "line 2: not supported yet: modules"},
		{"empty gradient", "merge_method: slerp\nbase_model: a\nmodels: [a, b]\nparameters:\n  t: []\n", "line 5: parameters.t: a gradient with no values"},
		{"empty conditional gradient", "merge_method: slerp\nbase_model: a\nmodels: [a, b]\nparameters:\n  t:\n    - filter: mlp\n      value: []\n", "line 7: parameters.t[0].value: a gradient with no values"},
		{"single filter mapping", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  t: {filter: self_attn, value: 0.5}\n", "line 4: parameters.t: a single {filter, value} mapping is not a value"},
		{"conditional without value", "merge_method: slerp\nbase_model: a\nmodels: [a, b]\nparameters:\n  t:\n    - filter: self_attn\n", "line 6: parameters.t[0]: missing key value"},
		{"conditional unknown key", "merge_method: slerp\nbase_model: a\nmodels: [a, b]\nparameters:\n  t:\n    - filtr: self_attn\n      value: 1\n", `line 6: unknown key "filtr" in parameters.t[0]`},
		{"nested conditionals", "merge_method: slerp\nbase_model: a\nmodels: [a, b]\nparameters:\n  t:\n    - value:\n        - {value: 1}\n", "parameters.t[0].value: want a value or a gradient, not conditionals"},
		{"mixed gradient", "merge_method: ties\nbase_model: z\nmodels: [a]\nparameters:\n  weight: [0, true]\n", "line 5: parameters.weight: want a number in the gradient"},
		{"gradient out of range", "merge_method: ties\nbase_model: z\nmodels:\n  - model: a\n    parameters: {weight: 1, density: [0.5, 1.5]}\n", "ties: parameter density must be in [0, 1], got 1.5"},
		{"filter key", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  filter: x\n", `line 4: parameters: unknown parameter "filter"`},
		{"tokenizer union", "merge_method: linear\nmodels: [a]\ntokenizer_source: union\n", "line 3: not supported yet: tokenizer_source: union"},
		{"tokenizer block", "merge_method: linear\nmodels: [a]\ntokenizer: {source: base}\n", "line 3: not supported yet: tokenizer"},
		{"chat_template", "merge_method: linear\nmodels: [a]\nchat_template: chatml\n", "line 3: not supported yet: chat_template"},
		{"bad dtype", "merge_method: linear\nmodels: [a]\ndtype: fp8\n", `line 3: dtype: want float32, float16 or bfloat16, got "fp8"`},
		{"bad out_dtype", "merge_method: linear\nmodels: [a]\nout_dtype: int8\n", `line 3: out_dtype: want float32, float16 or bfloat16, got "int8"`},
		{"bad shard size", "merge_method: linear\nmodels: [a]\nout_shard_size: 5 parsecs\n", `line 3: out_shard_size: invalid size "5 parsecs"`},
		{"zero shard size", "merge_method: linear\nmodels: [a]\nout_shard_size: 0\n", "line 3: out_shard_size: must be positive"},
		{"negative seed", "merge_method: linear\nmodels: [a]\nseed: -1\n", "line 3: seed: want a non-negative integer"},
		{"wrong param type", "merge_method: ties\nbase_model: b\nmodels: [a]\nparameters: {normalize: 1}\n", `line 4: parameters.normalize: want true or false, got "1"`},
		{"bad param choice", "merge_method: ties\nbase_model: b\nmodels: [a]\nparameters: {trim_scope: layer}\n", `parameters.trim_scope: ties: parameter trim_scope must be "tensor" or "global", got "layer"`},
		{"param out of range", "merge_method: ties\nbase_model: b\nmodels:\n  - model: a\n    parameters: {density: 1.5}\n", "models[0].parameters.density: ties: parameter density must be in [0, 1], got 1.5"},
		{"param not taken", "merge_method: linear\nmodels:\n  - model: a\n    parameters: {density: 0.5}\n", `models[0].parameters.density: method linear does not accept parameter "density"`},
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
		{"ok ties", Config{MergeMethod: "ties", BaseModel: "z", Parameters: ParamSetOf(merge.Params{Density: f(0.2)}), Models: []ModelRef{{Model: "a"}, {Model: "z"}}}, ""},
		{"zero weight sum is merge's business", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a", Parameters: ParamSetOf(merge.Params{Weight: f(0)})}}}, ""},
		{"bad density", Config{MergeMethod: "ties", BaseModel: "z", Models: []ModelRef{{Model: "a", Parameters: ParamSetOf(merge.Params{Density: f(-1)})}}}, "models[0].parameters.density: ties: parameter density must be in [0, 1]"},
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
