package mergefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/checkpoint"
)

func TestSettingEval(t *testing.T) {
	conds := Setting{Conditionals: []Conditional{
		{Filter: "self_attn", Value: Gradient(0, 1)},
		{Filter: "mlp", Value: Scalar(0.25)},
	}}
	tests := []struct {
		name   string
		s      Setting
		tensor string
		t      float64
		want   any
		ok     bool
	}{
		{"scalar", Scalar(0.3), "x", 0.7, 0.3, true},
		{"gradient start", Gradient(0, 0.3, 0.7, 1), "x", 0, 0.0, true},
		{"gradient end", Gradient(0, 0.3, 0.7, 1), "x", 1, 1.0, true},
		// t·3 = 1.5: halfway between 0.3 and 0.7.
		{"gradient between", Gradient(0, 0.3, 0.7, 1), "x", 0.5, 0.5, true},
		{"one value", Gradient(0.4), "x", 0.9, 0.4, true},
		// Booleans and strings are picked at int(t·(n−1)).
		{"bool pick", Setting{List: []any{false, true}}, "x", 0.99, false, true},
		{"bool pick end", Setting{List: []any{false, true}}, "x", 1, true, true},
		{"string pick", Setting{List: []any{"tensor", "global", "tensor"}}, "x", 0.6, "global", true},
		{"filter gradient", conds, "model.layers.3.self_attn.q_proj.weight", 0.25, 0.25, true},
		{"filter scalar", conds, "model.layers.3.mlp.up_proj.weight", 0.9, 0.25, true},
		{"first match wins", Setting{Conditionals: []Conditional{{Filter: "proj", Value: Scalar(1.0)}, {Filter: "q_proj", Value: Scalar(2.0)}}}, "q_proj", 0, 1.0, true},
		{"no match", conds, "model.norm.weight", 0, nil, false},
		{"star", Setting{Conditionals: []Conditional{{Filter: "*", Value: Scalar(3.0)}}}, "anything", 0, 3.0, true},
		{"no filter", Setting{Conditionals: []Conditional{{Value: Scalar(4.0)}}}, "anything", 0, 4.0, true},
	}
	for _, tt := range tests {
		got, ok := tt.s.Eval(tt.tensor, tt.t)
		if ok != tt.ok || got != tt.want {
			if f, isF := got.(float64); !(isF && ok && tt.ok && abs(f-tt.want.(float64)) < 1e-12) {
				t.Errorf("%s: Eval = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestDetectLayout(t *testing.T) {
	dir := t.TempDir()
	llama := llamaShaped(t, filepath.Join(dir, "llama"), "LlamaForCausalLM", 3, 1)
	qwen := llamaShaped(t, filepath.Join(dir, "qwen"), "Qwen2ForCausalLM", 2, 1)
	mistral := llamaShaped(t, filepath.Join(dir, "mistral"), "MistralForCausalLM", 2, 1)
	gpt := gpt2Shaped(t, filepath.Join(dir, "gpt2"), 2, true, 1)
	bare := gpt2Shaped(t, filepath.Join(dir, "bare"), 3, false, 1)
	// Only model_type: the architecture list is optional.
	typeOnly := llamaShaped(t, filepath.Join(dir, "typeonly"), "LlamaForCausalLM", 2, 1)
	os.WriteFile(filepath.Join(typeOnly, "config.json"), []byte(`{"model_type": "qwen2", "num_hidden_layers": 2}`), 0o644)
	// No config.json: layers and count from the names.
	noConfig := llamaShaped(t, filepath.Join(dir, "noconfig"), "LlamaForCausalLM", 5, 1)
	os.Remove(filepath.Join(noConfig, "config.json"))
	// Wrong count in config.json.
	wrong := llamaShaped(t, filepath.Join(dir, "wrong"), "LlamaForCausalLM", 2, 1)
	os.WriteFile(filepath.Join(wrong, "config.json"), []byte(`{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 7}`), 0o644)
	tests := []struct {
		path   string
		want   layout
		errSub string
	}{
		{llama, layout{arch: "llama", prefix: "model.layers.", layers: 3, countKey: "num_hidden_layers"}, ""},
		{qwen, layout{arch: "qwen2", prefix: "model.layers.", layers: 2, countKey: "num_hidden_layers"}, ""},
		{mistral, layout{arch: "mistral", prefix: "model.layers.", layers: 2, countKey: "num_hidden_layers"}, ""},
		{gpt, layout{arch: "gpt2", prefix: "transformer.h.", root: "transformer.", layers: 2, countKey: "n_layer"}, ""},
		{bare, layout{arch: "gpt2", prefix: "h.", layers: 3, countKey: "n_layer"}, ""},
		{typeOnly, layout{arch: "qwen2", prefix: "model.layers.", layers: 2, countKey: "num_hidden_layers"}, ""},
		{noConfig, layout{prefix: "model.layers.", layers: 5}, ""},
		{wrong, layout{}, "says num_hidden_layers = 7, but the tensor names have 2 layers"},
	}
	for _, tt := range tests {
		c, err := checkpoint.Open(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := detectLayout(tt.path, c)
		c.Close()
		if tt.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("%s: error %v, want %q", filepath.Base(tt.path), err, tt.errSub)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: layout %+v, %v; want %+v", filepath.Base(tt.path), got, err, tt.want)
		}
	}
	// A hole in the layer indexes.
	holey := writeModel(t, filepath.Join(dir, "holey"), 0, f32("layers.0.w", checkpoint.F32, []int64{1}, 1), f32("layers.2.w", checkpoint.F32, []int64{1}, 1))
	os.Remove(filepath.Join(holey, "config.json"))
	c, err := checkpoint.Open(holey)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := detectLayout(holey, c); err == nil || !strings.Contains(err.Error(), "layers [1] are missing") {
		t.Errorf("holey: error %v", err)
	}
}

func TestWithLayerCount(t *testing.T) {
	in := []byte("{\n  \"n_layer\": 12,\n  \"n_embd\": 8,\n  \"task_specific_params\": {\"x\": 1}\n}\n")
	got, err := withLayerCount(in, "n_layer", 20)
	if err != nil || string(got) != "{\n  \"n_layer\": 20,\n  \"n_embd\": 8,\n  \"task_specific_params\": {\"x\": 1}\n}\n" {
		t.Errorf("in place: %s, %v", got, err)
	}
	// No key: re-encoded with it.
	got, err = withLayerCount([]byte(`{"model_type": "gpt2"}`), "n_layer", 3)
	if err != nil || string(got) != "{\n  \"model_type\": \"gpt2\",\n  \"n_layer\": 3\n}\n" {
		t.Errorf("added: %s, %v", got, err)
	}
}

// TestHubCache builds a fake Hugging Face cache and merges models named by
// their hub ids: ORG/NAME takes the snapshot refs/main names, ORG/NAME@REV
// a commit or another ref.
func TestHubCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	repo := filepath.Join(cache, "models--org--tiny")
	main := llamaShaped(t, filepath.Join(repo, "snapshots", "c0ffee"), "LlamaForCausalLM", 2, 1)
	old := llamaShaped(t, filepath.Join(repo, "snapshots", "bead"), "LlamaForCausalLM", 2, 2)
	other := llamaShaped(t, filepath.Join(cache, "models--solo", "snapshots", "abc"), "LlamaForCausalLM", 2, 3)
	for ref, commit := range map[string]string{"models--org--tiny/refs/main": "c0ffee\n", "models--org--tiny/refs/v1": "bead", "models--solo/refs/main": "abc"} {
		os.MkdirAll(filepath.Dir(filepath.Join(cache, ref)), 0o755)
		if err := os.WriteFile(filepath.Join(cache, ref), []byte(commit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yml := "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - org/tiny\n  - org/tiny@bead\n"
	path := filepath.Join(dir, "hub.yaml")
	os.WriteFile(path, []byte(yml), 0o644)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Models[0].Model != "org/tiny" {
		t.Fatalf("hub id resolved at load: %q", cfg.Models[0].Model)
	}
	envs := map[string]map[string]string{
		"HF_HUB_CACHE": {"HF_HUB_CACHE": cache, "HF_HOME": filepath.Join(dir, "nowhere")},
		"HF_HOME":      {"HF_HOME": dir},
		"HOME":         {"HOME": filepath.Join(dir, "home")},
	}
	// $HF_HOME/hub and ~/.cache/huggingface/hub lead to the same cache.
	os.Symlink(cache, filepath.Join(dir, "hub"))
	os.MkdirAll(filepath.Join(dir, "home", ".cache", "huggingface"), 0o755)
	os.Symlink(cache, filepath.Join(dir, "home", ".cache", "huggingface", "hub"))
	a, b := readAll(t, main), readAll(t, old)
	for name, env := range envs {
		getenv := func(k string) string { return env[k] }
		out, _ := run(t, cfg, Options{Getenv: getenv})
		got := readAll(t, out)
		w := "model.layers.1.mlp.up_proj.weight"
		want := make([]float64, len(a[w]))
		for i := range want {
			want[i] = (float64(a[w][i]) + float64(b[w][i])) / 2
		}
		near(t, name+": "+w, got[w], want, 1e-6)
	}
	getenv := func(k string) string { return map[string]string{"HF_HUB_CACHE": cache}[k] }
	for ref, want := range map[string]string{"org/tiny": main, "org/tiny@bead": old, "org/tiny@v1": old, "solo": other} {
		if got, err := locateModel(ref, getenv); err != nil || got != want {
			t.Errorf("locateModel(%s) = %s, %v; want %s", ref, got, err, want)
		}
	}
	for ref, wantErr := range map[string]string{
		"org/missing":     "model org/missing: no such path, and not in the Hugging Face cache (looked for " + filepath.Join(cache, "models--org--missing"),
		"org/tiny@nope":   "model org/tiny@nope: revision nope is not in the Hugging Face cache (looked for " + filepath.Join(repo, "snapshots", "nope"),
		"org/tiny+org/lo": "not supported yet: model+lora references",
	} {
		_, err := locateModel(ref, getenv)
		if err == nil || !strings.Contains(err.Error(), wantErr) || strings.Contains(err.Error(), "\n") {
			t.Errorf("locateModel(%s) error %v, want %q", ref, err, wantErr)
		}
	}
	// A miss fails the pre-flight with nothing under --out.
	cfg.Models[1].Model = "org/absent"
	parent := t.TempDir()
	_, err = Run(context.Background(), cfg, filepath.Join(parent, "out"), Options{Getenv: getenv})
	if err == nil || !strings.Contains(err.Error(), "org/absent: no such path, and not in the Hugging Face cache") {
		t.Errorf("Run error %v", err)
	}
	if names := dirEntries(t, parent); len(names) != 0 {
		t.Errorf("failed merge left %v", names)
	}
}

func TestTokenizerSource(t *testing.T) {
	dir := t.TempDir()
	base := llamaShaped(t, filepath.Join(dir, "base"), "LlamaForCausalLM", 2, 1)
	chat := llamaShaped(t, filepath.Join(dir, "chat"), "LlamaForCausalLM", 2, 2)
	os.WriteFile(filepath.Join(chat, "tokenizer_config.json"), []byte(`{"chat_template": "chat's"}`), 0o644)
	cfg := &Config{MergeMethod: "task_arithmetic", BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0)},
		Models: []ModelRef{{Model: chat}}, TokenizerSource: chat}
	out, _ := run(t, cfg, Options{})
	for name, from := range map[string]string{"tokenizer.json": chat, "tokenizer_config.json": chat, "config.json": base} {
		got, _ := os.ReadFile(filepath.Join(out, name))
		want, _ := os.ReadFile(filepath.Join(from, name))
		if string(got) != string(want) {
			t.Errorf("%s = %s, want %s's", name, got, filepath.Base(from))
		}
	}
	// Another vocabulary: mergekit would permute embedding rows.
	odd := llamaShaped(t, filepath.Join(dir, "odd"), "LlamaForCausalLM", 2, 3)
	os.WriteFile(filepath.Join(odd, "tokenizer.json"), []byte(`{"model": {"vocab": {"<eos>": 0, "z": 1}}}`), 0o644)
	cfg.Models = append(cfg.Models, ModelRef{Model: odd})
	parent := t.TempDir()
	_, err := Run(context.Background(), cfg, filepath.Join(parent, "out"), Options{})
	if err == nil || !strings.Contains(err.Error(), "not supported yet: tokenizer_source with differing vocabularies (model "+odd) {
		t.Errorf("differing vocabularies: error %v", err)
	}
	if names := dirEntries(t, parent); len(names) != 0 {
		t.Errorf("failed merge left %v", names)
	}
}

func TestDTypeAndOutDType(t *testing.T) {
	dir := t.TempDir()
	const bf = checkpoint.BF16
	a := writeModel(t, filepath.Join(dir, "a"), 0, f32("w", bf, []int64{2}, 1, 2))
	b := writeModel(t, filepath.Join(dir, "b"), 0, f32("w", bf, []int64{2}, 2, 3))
	for _, tt := range []struct {
		dtype, outDType string
		want            checkpoint.DType
	}{
		{"", "", bf},
		{"float16", "", checkpoint.F16},
		{"float16", "float32", checkpoint.F32},
		{"", "float32", checkpoint.F32},
	} {
		cfg := &Config{MergeMethod: "linear", Parameters: ParamSet{"weight": Scalar(1.0)}, Models: []ModelRef{{Model: a}, {Model: b}},
			DType: tt.dtype, OutDType: tt.outDType}
		out, _ := run(t, cfg, Options{})
		c, err := checkpoint.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		ti, _ := c.Info("w")
		v, _ := c.Float32("w", nil)
		c.Close()
		if ti.DType != tt.want || v[0] != 1.5 || v[1] != 2.5 {
			t.Errorf("dtype %q out_dtype %q: %s %v, want %s [1.5 2.5]", tt.dtype, tt.outDType, ti.DType, v, tt.want)
		}
	}
}

// TestPlanErrors checks the errors found while planning: one line each,
// naming the parameter, model and tensor, and nothing under --out.
func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	base := llamaShaped(t, filepath.Join(dir, "base"), "LlamaForCausalLM", 3, 1)
	a := llamaShaped(t, filepath.Join(dir, "a"), "LlamaForCausalLM", 3, 2)
	short := llamaShaped(t, filepath.Join(dir, "short"), "LlamaForCausalLM", 2, 3)
	src := func(m string, lo, hi int) SliceSource { return SliceSource{Model: m, LayerRange: [2]int{lo, hi}} }
	tests := []struct {
		name string
		cfg  *Config
		want string
	}{
		{"required weight", &Config{MergeMethod: "ties", BaseModel: base, Models: []ModelRef{{Model: a}},
			Parameters: ParamSet{"weight": Setting{Conditionals: []Conditional{{Filter: "mlp", Value: Scalar(1.0)}}}}},
			"parameter weight is required for model " + a + ", tensor lm_head.weight, and no level of the recipe gives it"},
		{"required t", &Config{MergeMethod: "slerp", BaseModel: base, Models: []ModelRef{{Model: a}}},
			"parameter t is required for model " + a + ", all 30 tensors, and no level of the recipe gives it"},
		{"layer_range outside", &Config{MergeMethod: "passthrough", Slices: []Slice{{Sources: []SliceSource{src(short, 1, 3)}}}},
			"slices[0].sources[0]: layer_range [1, 3) is outside the 2 layers of model " + short},
		{"models with different layer counts", &Config{MergeMethod: "linear", Parameters: ParamSet{"weight": Scalar(1.0)}, Models: []ModelRef{{Model: a}, {Model: short}}},
			"models: " + a + " has 3 layers, " + short + " has 2"},
		{"slice lengths", &Config{MergeMethod: "linear", Parameters: ParamSet{"weight": Scalar(1.0)}, Slices: []Slice{{Sources: []SliceSource{src(a, 0, 3), src(short, 0, 2)}}}},
			"slices[0]: the sources of a slice must have the same number of layers"},
		{"global scope with slices", &Config{MergeMethod: "ties", BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0), "trim_scope": Scalar("global")},
			Slices: []Slice{{Sources: []SliceSource{src(base, 0, 3), src(a, 0, 3)}}}},
			"not supported yet: trim_scope global with slices"},
		{"global scope with a density gradient", &Config{MergeMethod: "ties", BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0), "trim_scope": Scalar("global"), "density": Gradient(0.2, 0.8)},
			Models: []ModelRef{{Model: a}}},
			"not supported yet: trim_scope global with a density that varies by tensor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			_, err := Run(context.Background(), tt.cfg, filepath.Join(parent, "out"), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tt.want)
			}
			var pe *PreflightError
			if !errors.As(err, &pe) && !strings.Contains(tt.want, "slices[0]: the sources") {
				t.Errorf("error %T, want a *PreflightError", err)
			}
			if names := dirEntries(t, parent); len(names) != 0 {
				t.Errorf("failed merge left %v", names)
			}
		})
	}
	// Method-wide parameters that differ between models of one tensor.
	b2 := llamaShaped(t, filepath.Join(dir, "b2"), "LlamaForCausalLM", 3, 4)
	cfg := &Config{MergeMethod: "ties", BaseModel: base,
		Models: []ModelRef{{Model: a, Parameters: ParamSet{"weight": Scalar(1.0), "lambda": Scalar(1.0)}}, {Model: b2, Parameters: ParamSet{"weight": Scalar(1.0), "lambda": Scalar(2.0)}}}}
	_, err := Check(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "parameter lambda must be the same for every model of a ties merge (1 for "+a+", 2 for "+b2+")") {
		t.Errorf("lambda differs: %v", err)
	}
}

// TestSettingCheckShape: a setting is exactly one of a value, a gradient or
// conditionals; none or several is an error naming the place, whatever the
// conditionals hold.
func TestSettingCheckShape(t *testing.T) {
	cond := []Conditional{{Filter: "mlp", Value: Scalar(0.5)}}
	tests := []struct {
		name string
		s    Setting
		want string
	}{
		{"value", Scalar(0.5), ""},
		{"gradient", Setting{List: []any{0.1, 0.9}}, ""},
		{"conditionals", Setting{Conditionals: cond}, ""},
		{"none", Setting{}, "missing value"},
		{"empty gradient", Setting{List: []any{}}, "a gradient with no values"},
		{"value and conditionals", Setting{Value: 0.5, Conditionals: cond}, "not 2"},
		{"gradient and conditionals", Setting{List: []any{0.1}, Conditionals: cond}, "not 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.check("linear", "weight", "models[0].parameters.weight")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "models[0].parameters.weight") {
				t.Fatalf("error %v, want one naming the place and saying %q", err, tt.want)
			}
		})
	}
}
