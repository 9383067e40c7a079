package mergefile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
      trim_scope: global
parameters: {lambda: 1, normalize: true, int8_mask: true}
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
			{Model: "/data/expert_a", Parameters: Parameters{"weight": 1.0, "density": 0.2}},
			{Model: "/data/expert_b", Parameters: Parameters{"weight": 0.5, "density": 0.2, "trim_scope": "global"}},
		},
		Parameters:      Parameters{"lambda": 1.0, "normalize": true, "int8_mask": true},
		DType:           "bfloat16",
		Seed:            7,
		OutShardSize:    500_000_000,
		TokenizerSource: "base",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Parse:\n got %#v\nwant %#v", cfg, want)
	}
	ex := cfg.Experts()
	if len(ex) != 2 || ex[0].Model != "/data/expert_a" || ex[1].Model != "/data/expert_b" {
		t.Fatalf("Experts() = %v, want expert_a, expert_b", ex)
	}
	// Global ⊕ per-model override; int8_mask is dropped.
	if got, want := cfg.Resolved(1), (Parameters{"lambda": 1.0, "normalize": true, "weight": 0.5, "density": 0.2, "trim_scope": "global"}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Resolved(1) = %v, want %v", got, want)
	}
}

func TestResolvedOverride(t *testing.T) {
	cfg := &Config{
		MergeMethod: "task_arithmetic",
		Parameters:  Parameters{"weight": 2.0, "lambda": 0.5},
		Models: []ModelRef{
			{Model: "a"},
			{Model: "b", Parameters: Parameters{"weight": 3.0}},
		},
	}
	for i, want := range []Parameters{
		{"weight": 2.0, "lambda": 0.5},
		{"weight": 3.0, "lambda": 0.5},
	} {
		if got := cfg.Resolved(i); !reflect.DeepEqual(got, want) {
			t.Errorf("Resolved(%d) = %v, want %v", i, got, want)
		}
	}
	// Resolving must not alias the global map.
	cfg.Resolved(1)["lambda"] = 9.0
	if cfg.Parameters["lambda"] != 0.5 {
		t.Fatalf("Resolved mutated the global parameters")
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
		{"gradient list", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  t: [0, 0.5, 1]\n", "line 4: not supported yet: per-layer gradient list (parameters.t)"},
		{"filter value", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  t: {filter: self_attn, value: 0.5}\n", "line 4: not supported yet: filter (parameters.t)"},
		{"filter key", "merge_method: slerp\nmodels: [a, b]\nparameters:\n  filter: x\n", "line 4: not supported yet: filter"},
		{"tokenizer union", "merge_method: linear\nmodels: [a]\ntokenizer_source: union\n", "line 3: not supported yet: tokenizer_source: union"},
		{"bad dtype", "merge_method: linear\nmodels: [a]\ndtype: fp8\n", `line 3: dtype: want float32, float16 or bfloat16, got "fp8"`},
		{"dtype conflict", "merge_method: linear\nmodels: [a]\ndtype: float16\nout_dtype: bfloat16\n", "line 4: dtype and out_dtype disagree"},
		{"bad shard size", "merge_method: linear\nmodels: [a]\nout_shard_size: 5 parsecs\n", `line 3: out_shard_size: invalid size "5 parsecs"`},
		{"zero shard size", "merge_method: linear\nmodels: [a]\nout_shard_size: 0\n", "line 3: out_shard_size: must be positive"},
		{"negative seed", "merge_method: linear\nmodels: [a]\nseed: -1\n", "line 3: seed: want a non-negative integer"},
		{"wrong param type", "merge_method: ties\nmodels: [a]\nparameters: {normalize: 1}\n", "line 3: parameters: parameter normalize: want true or false"},
		{"bad param choice", "merge_method: ties\nmodels: [a]\nparameters: {trim_scope: layer}\n", `line 3: parameters: parameter trim_scope: want one of tensor|global, got "layer"`},
		{"duplicate key", "merge_method: linear\nmodels: [a]\nmerge_method: ties\n", `line 3: duplicate key "merge_method" (first at line 1)`},
		{"no method", "models: [a]\n", "merge_method: missing"},
		{"no models", "merge_method: linear\n", "models: no models listed"},
		{"only base", "merge_method: ties\nbase_model: a\nmodels: [a]\n", "every listed model is the base model"},
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
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a"}, {Model: "b"}}}, ""},
		{"int param", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a", Parameters: Parameters{"weight": 2}}}}, ""},
		{"bad param type", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a", Parameters: Parameters{"weight": "x"}}}}, "models[0].parameters: parameter weight: want a number"},
		{"bad dtype", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a"}}, DType: "F32"}, "dtype: want float32"},
		{"negative shard", Config{MergeMethod: "linear", Models: []ModelRef{{Model: "a"}}, OutShardSize: -1}, "out_shard_size"},
		{"empty model", Config{MergeMethod: "linear", Models: []ModelRef{{}}}, "models[0].model: missing"},
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
