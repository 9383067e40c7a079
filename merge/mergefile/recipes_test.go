package mergefile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mergescale/checkpoint"
)

// The tests of this file run mergekit's example recipes (testdata/recipes,
// adapted to tiny checkpoints) and compare every output tensor with values
// computed here from the inputs, with the per-layer t and parameters
// written out by hand.

// layerOf returns the layer index in a tensor name (…layers.{i}. or
// …h.{i}.), −1 when there is none.
func layerOf(name string) int {
	for _, p := range []string{"model.layers.", "transformer.h.", "h."} {
		if i, _, ok := layerIndex(name, p); ok {
			return i
		}
	}
	return -1
}

func TestRecipeGradientSlerp(t *testing.T) {
	dir := t.TempDir()
	orca := llamaShaped(t, filepath.Join(dir, "orca"), "LlamaForCausalLM", 4, 1)
	plat := llamaShaped(t, filepath.Join(dir, "platypus"), "LlamaForCausalLM", 4, 2)
	a, b := readAll(t, orca), readAll(t, plat)
	// Layer i of 4 has t = i/3; a gradient of 5 values is read at t·4 =
	// 0, 4/3, 8/3, 4:
	//   self_attn [0, 0.5, 0.3, 0.7, 1]: 0; 0.5·2/3 + 0.3·1/3 = 13/30;
	//     0.3·1/3 + 0.7·2/3 = 17/30; 1
	//   mlp [1, 0.5, 0.7, 0.3, 0]: 1; 0.5·2/3 + 0.7·1/3 = 17/30;
	//     0.7·1/3 + 0.3·2/3 = 13/30; 0
	// and every other tensor (layer norms, embeddings, final norm, head)
	// takes the fallback 0.5.
	attnT := []float64{0, 13.0 / 30, 17.0 / 30, 1}
	mlpT := []float64{1, 17.0 / 30, 13.0 / 30, 0}
	var outs []string
	for _, recipe := range []string{"gradient-slerp-slices.yaml", "gradient-slerp-models.yaml"} {
		t.Run(recipe, func(t *testing.T) {
			cfg, err := Load(copyRecipe(t, recipe, dir))
			if err != nil {
				t.Fatal(err)
			}
			out, _ := run(t, cfg, Options{})
			outs = append(outs, out)
			got := readAll(t, out)
			if len(got) != 1+4*len(llamaLayerTensors())+2 {
				t.Fatalf("%d output tensors", len(got))
			}
			plan := planLines(t, out)
			for name, g := range got {
				want, layer := 0.5, layerOf(name)
				switch {
				case strings.Contains(name, "self_attn"):
					want = attnT[layer]
				case strings.Contains(name, "mlp"):
					want = mlpT[layer]
				}
				near(t, name, g, refSlerp(want, a[name], b[name]), 1e-5)
				l := plan[name]
				if layer >= 0 && (l.Layer == nil || *l.Layer != layer || l.T != layerT(layer, 4)) ||
					layer < 0 && (l.Layer != nil || l.T != 0) {
					t.Errorf("plan of %s: layer %v, t %v", name, l.Layer, l.T)
				}
				if tv, ok := l.Params["t"].(float64); !ok || tv-want > 1e-12 || want-tv > 1e-12 {
					t.Errorf("plan of %s: t parameter %v, want %v", name, l.Params["t"], want)
				}
			}
			cj, _ := os.ReadFile(filepath.Join(out, "config.json"))
			oj, _ := os.ReadFile(filepath.Join(orca, "config.json"))
			if !bytes.Equal(cj, oj) {
				t.Errorf("config.json is not the base's as it is:\n%s", cj)
			}
		})
	}
	if len(outs) == 2 {
		x, _ := os.ReadFile(filepath.Join(outs[0], checkpoint.SingleFileName))
		y, _ := os.ReadFile(filepath.Join(outs[1], checkpoint.SingleFileName))
		if !bytes.Equal(x, y) {
			t.Error("the slices: and models: syntaxes give different outputs")
		}
	}
}

func TestRecipeLayerStack(t *testing.T) {
	dir := t.TempDir()
	orca := llamaShaped(t, filepath.Join(dir, "orca"), "LlamaForCausalLM", 4, 1)
	plat := llamaShaped(t, filepath.Join(dir, "platypus"), "LlamaForCausalLM", 4, 2)
	cfg, err := Load(copyRecipe(t, "layer-stack.yaml", dir))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, cfg, Options{})
	got, a, b := readAll(t, out), readAll(t, orca), readAll(t, plat)
	// Output layers 0-2 are orca's 0-2, layers 3-5 platypus's 1-3; the
	// embeddings come from the first slice (orca), the final norm and
	// head from the last (platypus).
	want := map[string][]float32{
		"model.embed_tokens.weight": a["model.embed_tokens.weight"],
		"model.norm.weight":         b["model.norm.weight"],
		"lm_head.weight":            b["lm_head.weight"],
	}
	for j := range 6 {
		for _, s := range llamaLayerTensors() {
			src, i := a, j
			if j >= 3 {
				src, i = b, j-2
			}
			want[fmt.Sprintf("model.layers.%d.%s", j, s.name)] = src[fmt.Sprintf("model.layers.%d.%s", i, s.name)]
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d output tensors, want %d", len(got), len(want))
	}
	wantValues(t, got, want)
	plan := planLines(t, out)
	// Output layer 4 is layer 1 of the second slice (3 layers: t = 0.5),
	// read from platypus's layer 2.
	if l := plan["model.layers.4.mlp.up_proj.weight"]; l.Slice != 1 || l.Layer == nil || *l.Layer != 4 || l.T != 0.5 ||
		len(l.Sources) != 1 || l.Sources[0].Tensor != "model.layers.2.mlp.up_proj.weight" {
		t.Errorf("plan of model.layers.4.mlp.up_proj.weight = %+v", l)
	}
	// config.json is orca's with the new layer count, formatting kept.
	var gotCfg, wantCfg map[string]any
	cj, _ := os.ReadFile(filepath.Join(out, "config.json"))
	oj, _ := os.ReadFile(filepath.Join(orca, "config.json"))
	if err := json.Unmarshal(cj, &gotCfg); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(oj, &wantCfg)
	wantCfg["num_hidden_layers"] = 6.0
	if !maps.EqualFunc(gotCfg, wantCfg, func(x, y any) bool { return fmt.Sprint(x) == fmt.Sprint(y) }) {
		t.Errorf("config.json = %s, want orca's with 6 layers", cj)
	}
	if want := bytes.Replace(oj, []byte(`"num_hidden_layers": 4`), []byte(`"num_hidden_layers": 6`), 1); !bytes.Equal(cj, want) {
		t.Errorf("config.json was reformatted:\n%s", cj)
	}
	// The resolved recipe reproduces the merge.
	again, err := Load(filepath.Join(out, ConfigFileName))
	if err != nil {
		t.Fatal(err)
	}
	out2, _ := run(t, again, Options{})
	x, _ := os.ReadFile(filepath.Join(out, checkpoint.SingleFileName))
	y, _ := os.ReadFile(filepath.Join(out2, checkpoint.SingleFileName))
	if !bytes.Equal(x, y) {
		t.Error("the resolved recipe gives another merge")
	}
}

// TestLookupOrder stacks GPT-2 layers of a transformer.h.{i}. model and an
// h.{i}. model with passthrough's per-model scale set at every level:
// source parameters match the source's tensor names, slice and top-level
// parameters the output's, and a conditional list without a match passes
// the lookup on.
func TestLookupOrder(t *testing.T) {
	dir := t.TempDir()
	a := gpt2Shaped(t, filepath.Join(dir, "a"), 2, true, 1)
	b := gpt2Shaped(t, filepath.Join(dir, "b"), 4, false, 2)
	yml := `
merge_method: passthrough
slices:
  - sources:
      - {model: a, layer_range: [0, 2]}
    parameters:
      scale: [{filter: h.1., value: 3}]
  - sources:
      - model: b
        layer_range: [1, 4]
        parameters:
          scale: [{filter: h.1., value: 2}]
    parameters:
      scale:
        - {filter: h.2., value: 5}
        - {filter: h.3., value: 7}
parameters:
  scale: [{filter: ln_f, value: 0.5}, {filter: h.4., value: 11}]
`
	path := filepath.Join(dir, "stack.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, cfg, Options{})
	got, av, bv := readAll(t, out), readAll(t, a), readAll(t, b)
	// Output layer: source tensor prefix and the scale that applies.
	//   0: a h.0  none matches                              1
	//   1: a h.1  slice 0 (transformer.h.1. contains h.1.)   3
	//   2: b h.1  b's own filter on its name h.1.             2 (before slice's h.2.)
	//   3: b h.2  slice 1 on the output name transformer.h.3. 7
	//   4: b h.3  top level on transformer.h.4.               11
	// wte and wpe (first slice, a) 1; ln_f (last slice, b) top level 0.5.
	scaled := func(v []float32, s float32) []float32 {
		out := make([]float32, len(v))
		for i := range v {
			out[i] = v[i] * s
		}
		return out
	}
	want := map[string][]float32{
		"transformer.wte.weight":  av["transformer.wte.weight"],
		"transformer.wpe.weight":  av["transformer.wpe.weight"],
		"transformer.ln_f.weight": scaled(bv["ln_f.weight"], 0.5),
		"transformer.ln_f.bias":   scaled(bv["ln_f.bias"], 0.5),
	}
	for _, s := range gpt2LayerTensors() {
		want["transformer.h.0."+s.name] = av["transformer.h.0."+s.name]
		want["transformer.h.1."+s.name] = scaled(av["transformer.h.1."+s.name], 3)
		want["transformer.h.2."+s.name] = scaled(bv["h.1."+s.name], 2)
		want["transformer.h.3."+s.name] = scaled(bv["h.2."+s.name], 7)
		want["transformer.h.4."+s.name] = scaled(bv["h.3."+s.name], 11)
	}
	if len(got) != len(want) {
		t.Errorf("%d output tensors, want %d: %v", len(got), len(want), slices.Sorted(maps.Keys(got)))
	}
	wantValues(t, got, want)
	var c map[string]any
	cj, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if json.Unmarshal(cj, &c) != nil || c["n_layer"] != 5.0 {
		t.Errorf("config.json = %s, want n_layer 5", cj)
	}
}

func TestRecipeTIES(t *testing.T) {
	dir := t.TempDir()
	const arch = "LlamaForCausalLM"
	base := llamaShaped(t, filepath.Join(dir, "llama"), arch, 4, 1)
	orca := llamaShaped(t, filepath.Join(dir, "orca"), arch, 4, 2)
	plat := llamaShaped(t, filepath.Join(dir, "platypus"), arch, 4, 3)
	wiz := llamaShaped(t, filepath.Join(dir, "wizardmath"), arch, 4, 4)
	cfg, err := Load(copyRecipe(t, "ties.yaml", dir))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, cfg, Options{})
	got := readAll(t, out)
	b, o, p, w := readAll(t, base), readAll(t, orca), readAll(t, plat), readAll(t, wiz)
	// Per layer i (t = i/3), outside the layers t = 0:
	//   orca density [1, 0.7, 0.1] at t·2 = 0, 2/3, 4/3, 2:
	//     1; 1·1/3 + 0.7·2/3 = 0.8; 0.7·2/3 + 0.1·1/3 = 0.5; 0.1
	//   platypus weight [0, 0.3, 0.7, 1] at t·3 = 0, 1, 2, 3: the values
	//   wizardmath weight 0.5 on mlp tensors, 0 elsewhere
	orcaDensity := []float64{1, 0.8, 0.5, 0.1}
	platWeight := []float64{0, 0.3, 0.7, 1}
	for name, g := range got {
		layer := layerOf(name)
		dOrca, wPlat, wWiz := 1.0, 0.0, 0.0
		if layer >= 0 {
			dOrca, wPlat = orcaDensity[layer], platWeight[layer]
		}
		if strings.Contains(name, "mlp") {
			wWiz = 0.5
		}
		want := refTIES(b[name], [][]float32{o[name], p[name], w[name]}, []float64{1, wPlat, wWiz}, []float64{dOrca, 0.5, 0.33}, 1, true)
		near(t, name, g, want, 1e-3) // float16 output
	}
	c, err := checkpoint.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ti, _ := c.Info("model.layers.0.mlp.up_proj.weight"); ti.DType != checkpoint.F16 {
		t.Errorf("output dtype %s, want F16 (dtype: float16)", ti.DType)
	}
	l := planLines(t, out)["model.layers.2.mlp.down_proj.weight"]
	if len(l.Sources) != 3 || l.Sources[0].Params["density"] != 0.5 || l.Sources[1].Params["weight"] != 0.7 || l.Sources[2].Params["weight"] != 0.5 {
		t.Errorf("plan of layer 2 down_proj: %+v", l.Sources)
	}
}

func TestRecipeBioMerge(t *testing.T) {
	dir := t.TempDir()
	const arch = "MistralForCausalLM"
	base := llamaShaped(t, filepath.Join(dir, "mistral"), arch, 3, 1)
	inst := llamaShaped(t, filepath.Join(dir, "mistral-instruct"), arch, 3, 2)
	bio := llamaShaped(t, filepath.Join(dir, "biomistral"), arch, 3, 3)
	cfg, err := Load(copyRecipe(t, "bio-merge.yaml", dir))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, cfg, Options{})
	got, b, x, y := readAll(t, out), readAll(t, base), readAll(t, inst), readAll(t, bio)
	if len(got) != len(b) {
		t.Errorf("%d output tensors, want %d", len(got), len(b))
	}
	for name, g := range got {
		// normalize: false: the agreeing entries' weighted sum, undivided.
		near(t, name, g, refTIES(b[name], [][]float32{x[name], y[name]}, []float64{0.5, 0.5}, []float64{0.5, 0.5}, 1, false), 1e-3)
	}
}

func TestRecipeLinear(t *testing.T) {
	dir := t.TempDir()
	orca := gpt2Shaped(t, filepath.Join(dir, "orca"), 2, true, 1)
	wiz := gpt2Shaped(t, filepath.Join(dir, "wizardlm"), 2, false, 2)
	plat := gpt2Shaped(t, filepath.Join(dir, "platypus"), 2, true, 3)
	cfg, err := Load(copyRecipe(t, "linear.yaml", dir))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, cfg, Options{})
	got, o, w, p := readAll(t, out), readAll(t, orca), readAll(t, wiz), readAll(t, plat)
	if len(got) != len(o) {
		t.Errorf("%d output tensors, want %d", len(got), len(o))
	}
	for name, g := range got {
		wname := strings.TrimPrefix(name, "transformer.") // wizardlm's names
		want := make([]float64, len(g))
		for i := range want {
			want[i] = (1*float64(o[name][i]) + 0.3*float64(w[wname][i]) + 0.5*float64(p[name][i])) / 1.8
		}
		near(t, name, g, want, 1e-3)
	}
}
