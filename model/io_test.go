package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/checkpoint"
)

func TestSaveLoadBitExact(t *testing.T) {
	m := perturbed(tinyConfig, 21)
	dir := t.TempDir()
	if err := m.Save(dir, map[string]string{"world_seed": "42"}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config != m.Config {
		t.Fatalf("config %+v, want %+v", got.Config, m.Config)
	}
	toks := []int{1, 2, 3, 12, 0}
	a, _ := m.LastLogits(toks)
	b, _ := got.LastLogits(toks)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("logit %d: %v after load, %v before", i, b[i], a[i])
		}
	}
	extra, err := ReadExtra(dir)
	if err != nil || extra["world_seed"] != "42" {
		t.Fatalf("ReadExtra = %v, %v", extra, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"model_type": "gpt2", "n_embd": 8.0, "n_layer": 2.0, "n_head": 2.0, "n_positions": 10.0, "n_ctx": 10.0,
		"vocab_size": 13.0, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "tie_word_embeddings": true,
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("config.json %s = %v, want %v", k, cfg[k], v)
		}
	}
	if a, ok := cfg["architectures"].([]any); !ok || len(a) != 1 || a[0] != "GPT2LMHeadModel" {
		t.Errorf("config.json architectures = %v", cfg["architectures"])
	}
	ck, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	info, ok := ck.Info("transformer.h.1.attn.c_attn.weight")
	if !ok || info.DType != checkpoint.F32 || len(info.Shape) != 2 || info.Shape[0] != 8 || info.Shape[1] != 24 {
		t.Errorf("c_attn tensor info %+v, %v; want F32 [8 24] (Conv1D layout)", info, ok)
	}
	if _, ok := ck.Info("lm_head.weight"); ok {
		t.Error("tied lm_head.weight was saved")
	}
}

// writeForeign writes m the way other tools do: names without the
// "transformer." prefix, attention buffers, an explicit tied lm_head, and a
// config.json with only some keys.
func writeForeign(t *testing.T, m *Model, dir string, mutate func(name string, v []float32), cfgJSON string) {
	t.Helper()
	var infos []checkpoint.TensorInfo
	data := map[string][]float32{}
	add := func(name string, shape []int64, v []float32) {
		infos = append(infos, checkpoint.TensorInfo{Name: name, DType: checkpoint.F32, Shape: shape})
		data[name] = v
	}
	P := int64(m.Config.NPositions)
	for _, s := range m.specs {
		name := strings.TrimPrefix(s.name, "transformer.")
		shape := make([]int64, len(s.shape))
		for i, x := range s.shape {
			shape[i] = int64(x)
		}
		v := append([]float32(nil), m.data[s.offset:s.offset+s.size]...)
		add(name, shape, v)
		if strings.HasSuffix(name, "ln_1.weight") {
			layer := strings.TrimSuffix(name, "ln_1.weight")
			mask := make([]float32, P*P)
			for i := range P {
				for j := range i + 1 {
					mask[i*P+j] = 1
				}
			}
			add(layer+"attn.bias", []int64{1, 1, P, P}, mask)
			add(layer+"attn.masked_bias", []int64{}, []float32{-1e4})
		}
	}
	wte := m.data[:m.specs[0].size]
	add("lm_head.weight", []int64{int64(m.Config.VocabSize), int64(m.Config.NEmbd)}, append([]float32(nil), wte...))
	if mutate != nil {
		for n, v := range data {
			mutate(n, v)
		}
	}
	w, err := checkpoint.CreateFile(filepath.Join(dir, "model.safetensors"), infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if err := w.WriteFloat32(in.Name, data[in.Name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfgJSON), 0o644); err != nil {
		t.Fatal(err)
	}
}

const foreignConfig = `{"model_type": "gpt2", "vocab_size": 13, "n_positions": 10, "n_ctx": 10,
 "n_embd": 8, "n_layer": 2, "n_head": 2, "n_inner": null, "activation_function": "gelu_new",
 "layer_norm_epsilon": 1e-05, "architectures": ["GPT2LMHeadModel"]}`

func TestLoadForeignCheckpoint(t *testing.T) {
	m := perturbed(tinyConfig, 22)
	dir := t.TempDir()
	writeForeign(t, m, dir, nil, foreignConfig)
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.data {
		if m.data[i] != got.data[i] {
			t.Fatalf("parameter %d: %v, want %v", i, got.data[i], m.data[i])
		}
	}
}

func TestLoadRejects(t *testing.T) {
	m := perturbed(tinyConfig, 23)
	cases := []struct {
		name   string
		mutate func(string, []float32)
		config string
		want   string
	}{
		{"untied head", func(n string, v []float32) {
			if n == "lm_head.weight" {
				v[3] += 1
			}
		}, foreignConfig, "lm_head.weight"},
		{"activation", nil, strings.Replace(foreignConfig, `"gelu_new"`, `"relu"`, 1), "activation_function"},
		{"epsilon", nil, strings.Replace(foreignConfig, `1e-05`, `1e-6`, 1), "layer_norm_epsilon"},
		{"model type", nil, strings.Replace(foreignConfig, `"gpt2"`, `"llama"`, 1), "model_type"},
		{"missing key", nil, strings.Replace(foreignConfig, `"n_head": 2,`, ``, 1), "n_head"},
		{"shape", nil, strings.Replace(foreignConfig, `"vocab_size": 13`, `"vocab_size": 14`, 1), "wte.weight"},
		{"extra layer", nil, strings.Replace(foreignConfig, `"n_layer": 2`, `"n_layer": 1`, 1), "h.1."},
		{"missing layer", nil, strings.Replace(foreignConfig, `"n_layer": 2`, `"n_layer": 3`, 1), "h.2."},
		{"bad json", nil, `{"model_type": `, "config.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeForeign(t, m, dir, c.mutate, c.config)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load error %v; want one naming %q", err, c.want)
			}
		})
	}
}

// TestLoadShardedBF16 loads a sharded directory holding BF16 tensors: the
// weights come back as the BF16 values widened exactly.
func TestLoadShardedBF16(t *testing.T) {
	m := perturbed(tinyConfig, 24)
	dir := t.TempDir()
	var infos []checkpoint.TensorInfo
	for _, s := range m.specs {
		shape := make([]int64, len(s.shape))
		for i, x := range s.shape {
			shape[i] = int64(x)
		}
		infos = append(infos, checkpoint.TensorInfo{Name: s.name, DType: checkpoint.BF16, Shape: shape})
	}
	w, err := checkpoint.CreateDir(dir, infos, nil, 600)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.specs {
		if err := w.WriteFloat32(s.name, m.data[s.offset:s.offset+s.size]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors.index.json")); err != nil {
		t.Fatalf("test setup did not shard: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(foreignConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.data {
		if want := checkpoint.BF16ToFloat32(checkpoint.Float32ToBF16(v)); got.data[i] != want {
			t.Fatalf("parameter %d: %v, want bf16(%v) = %v", i, got.data[i], v, want)
		}
	}
}
