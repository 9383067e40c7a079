package mergefile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mergescale/checkpoint"
)

// The tiny checkpoints of the recipe tests: Llama-family (Llama, Mistral,
// Qwen2: model.layers.{i}.) and GPT-2 (transformer.h.{i}. or h.{i}.)
// shapes with hidden size 4 and a vocabulary of 6, each with a config.json
// naming its architecture and layer count and a tokenizer.json. Values are
// drawn from a seed around a shared centre, so task vectors are small.

const (
	tinyHidden = 4
	tinyVocab  = 6
)

// llamaLayerTensors are the tensors of one Llama layer (after
// model.layers.{i}.) with their shapes.
func llamaLayerTensors() []tensorShape {
	h := int64(tinyHidden)
	return []tensorShape{
		{"input_layernorm.weight", []int64{h}},
		{"self_attn.q_proj.weight", []int64{h, h}},
		{"self_attn.k_proj.weight", []int64{h, h}},
		{"self_attn.v_proj.weight", []int64{h, h}},
		{"self_attn.o_proj.weight", []int64{h, h}},
		{"post_attention_layernorm.weight", []int64{h}},
		{"mlp.gate_proj.weight", []int64{2 * h, h}},
		{"mlp.up_proj.weight", []int64{2 * h, h}},
		{"mlp.down_proj.weight", []int64{h, 2 * h}},
	}
}

// gpt2LayerTensors are the tensors of one GPT-2 block (after h.{i}.).
func gpt2LayerTensors() []tensorShape {
	h := int64(tinyHidden)
	return []tensorShape{
		{"ln_1.weight", []int64{h}}, {"ln_1.bias", []int64{h}},
		{"attn.c_attn.weight", []int64{h, 3 * h}}, {"attn.c_attn.bias", []int64{3 * h}},
		{"attn.c_proj.weight", []int64{h, h}}, {"attn.c_proj.bias", []int64{h}},
		{"ln_2.weight", []int64{h}}, {"ln_2.bias", []int64{h}},
		{"mlp.c_fc.weight", []int64{h, 4 * h}}, {"mlp.c_fc.bias", []int64{4 * h}},
		{"mlp.c_proj.weight", []int64{4 * h, h}}, {"mlp.c_proj.bias", []int64{h}},
	}
}

// tensorShape is a tensor name and shape.
type tensorShape struct {
	name  string
	shape []int64
}

// tinyValues draws n values around a centre shared by every model (keyed
// by the tensor name) plus noise keyed by seed.
func tinyValues(name string, n int64, seed uint64) []float32 {
	var key uint64
	for _, c := range name {
		key = key*131 + uint64(c)
	}
	centre := rand.New(rand.NewPCG(key, 1))
	noise := rand.New(rand.NewPCG(key, seed))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(centre.NormFloat64()) + 0.2*float32(noise.NormFloat64())
	}
	return v
}

// writeTiny writes a model directory with the given tensors (F32), a
// config.json and a tokenizer.json of vocab tokens.
func writeTiny(t testing.TB, dir string, config map[string]any, vocab []string, seed uint64, shapes []tensorShape) string {
	t.Helper()
	var ts []tensor
	for _, s := range shapes {
		n := int64(1)
		for _, d := range s.shape {
			n *= d
		}
		ts = append(ts, f32(s.name, checkpoint.F32, s.shape, tinyValues(s.name, n, seed)...))
	}
	writeModel(t, dir, 0, ts...)
	js, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for i, w := range vocab {
		ids[w] = i
	}
	tok, _ := json.Marshal(map[string]any{"model": map[string]any{"type": "WordLevel", "vocab": ids}, "from": filepath.Base(dir)})
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tinyVocabulary is the vocabulary of the tiny models.
func tinyVocabulary() []string { return []string{"<eos>", "a", "b", "c", "d", "e"} }

// llamaShaped writes a Llama-family checkpoint: arch is the architectures
// entry of config.json (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM).
func llamaShaped(t testing.TB, dir, arch string, layers int, seed uint64) string {
	t.Helper()
	h := int64(tinyHidden)
	shapes := []tensorShape{{"model.embed_tokens.weight", []int64{tinyVocab, h}}}
	for i := range layers {
		for _, s := range llamaLayerTensors() {
			shapes = append(shapes, tensorShape{fmt.Sprintf("model.layers.%d.%s", i, s.name), s.shape})
		}
	}
	shapes = append(shapes, tensorShape{"model.norm.weight", []int64{h}}, tensorShape{"lm_head.weight", []int64{tinyVocab, h}})
	config := map[string]any{
		"architectures": []string{arch}, "model_type": strings.ToLower(strings.TrimSuffix(arch, "ForCausalLM")),
		"hidden_size": tinyHidden, "num_hidden_layers": layers, "vocab_size": tinyVocab, "torch_dtype": "float32",
	}
	return writeTiny(t, dir, config, tinyVocabulary(), seed, shapes)
}

// gpt2Shaped writes a GPT-2 checkpoint whose names carry the
// "transformer." prefix when rooted (transformer.h.{i}.) and not otherwise
// (h.{i}., wte.weight), as both exist on the hub.
func gpt2Shaped(t testing.TB, dir string, layers int, rooted bool, seed uint64) string {
	t.Helper()
	root := ""
	if rooted {
		root = "transformer."
	}
	h := int64(tinyHidden)
	shapes := []tensorShape{{root + "wte.weight", []int64{tinyVocab, h}}, {root + "wpe.weight", []int64{8, h}}}
	for i := range layers {
		for _, s := range gpt2LayerTensors() {
			shapes = append(shapes, tensorShape{fmt.Sprintf("%sh.%d.%s", root, i, s.name), s.shape})
		}
	}
	shapes = append(shapes, tensorShape{root + "ln_f.weight", []int64{h}}, tensorShape{root + "ln_f.bias", []int64{h}})
	config := map[string]any{"architectures": []string{"GPT2LMHeadModel"}, "model_type": "gpt2", "n_layer": layers, "n_embd": tinyHidden, "vocab_size": tinyVocab}
	return writeTiny(t, dir, config, tinyVocabulary(), seed, shapes)
}

// copyRecipe copies a recipe of testdata/recipes into dir and returns its
// path there (its model references are relative to dir).
func copyRecipe(t testing.TB, name, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "recipes", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// near checks got against want within tol·max(1, |want|) per entry.
func near(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d", name, len(got), len(want))
		return
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*max(1, math.Abs(want[i])) || math.IsNaN(d) {
			t.Errorf("%s[%d] = %v, want %v (|diff| %.3g)", name, i, got[i], want[i], d)
			return
		}
	}
}

// refSlerp is spherical interpolation in float64 as mergekit writes it:
// the angle between the normalized tensors, linear interpolation when they
// are nearly colinear.
func refSlerp(t float64, v0, v1 []float32) []float64 {
	var n0, n1, dot float64
	for i := range v0 {
		n0 += float64(v0[i]) * float64(v0[i])
		n1 += float64(v1[i]) * float64(v1[i])
	}
	n0, n1 = math.Sqrt(n0), math.Sqrt(n1)
	for i := range v0 {
		dot += float64(v0[i]) / n0 * float64(v1[i]) / n1
	}
	out := make([]float64, len(v0))
	if math.Abs(dot) > 0.9995 {
		for i := range out {
			out[i] = (1-t)*float64(v0[i]) + t*float64(v1[i])
		}
		return out
	}
	theta := math.Acos(dot)
	s0 := math.Sin(theta-theta*t) / math.Sin(theta)
	s1 := math.Sin(theta*t) / math.Sin(theta)
	for i := range out {
		out[i] = s0*float64(v0[i]) + s1*float64(v1[i])
	}
	return out
}

// refTIES is TIES in float64: each task vector trimmed to its
// round(density·n) largest magnitudes (at least one), the sign of
// Σ wᵢτ̂ᵢ elected (0 elects +), the weighted sum of the entries whose wᵢτ̂ᵢ
// has the elected sign, divided by the sum of their weights when
// normalize; θ₀ + λ·that.
func refTIES(base []float32, experts [][]float32, weights, densities []float64, lambda float64, normalize bool) []float64 {
	n := len(base)
	trimmed := make([][]float64, len(experts))
	for e, x := range experts {
		tau := make([]float64, n)
		for i := range tau {
			tau[i] = float64(x[i]) - float64(base[i])
		}
		k := int(math.Round(densities[e] * float64(n)))
		if densities[e] > 0 {
			k = max(k, 1)
		}
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(math.Abs(tau[b]), math.Abs(tau[a])) })
		trimmed[e] = make([]float64, n)
		for _, i := range order[:k] {
			trimmed[e][i] = tau[i]
		}
	}
	out := make([]float64, n)
	for i := range out {
		var s float64
		for e := range experts {
			s += weights[e] * trimmed[e][i]
		}
		sign := 1.0
		if s < 0 {
			sign = -1
		}
		var num, den float64
		for e := range experts {
			if v := weights[e] * trimmed[e][i]; v != 0 && math.Signbit(v) == math.Signbit(sign) {
				num += v
				den += weights[e]
			}
		}
		if normalize && den != 0 {
			num /= den
		}
		out[i] = float64(base[i]) + lambda*num
	}
	return out
}

// planLines reads merge_plan.jsonl of an output directory, by tensor.
func planLines(t *testing.T, dir string) map[string]planLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, PlanFileName))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]planLine{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l planLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s: %v", PlanFileName, err)
		}
		out[l.Tensor] = l
	}
	return out
}

// layerT is t of layer i of a slice of n layers, written out.
func layerT(i, n int) float64 {
	if n == 1 {
		return 1
	}
	return float64(i) / float64(n-1)
}
