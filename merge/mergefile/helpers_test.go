package mergefile

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"mergescale/checkpoint"
)

// tensor is one tensor of a generated test checkpoint: float data for a
// float dtype, raw bytes otherwise.
type tensor struct {
	name  string
	dtype checkpoint.DType
	shape []int64
	data  []float32
	raw   []byte
}

// writeModel writes a model directory (sharded when shard > 0 and the
// tensors exceed it) with a config.json and tokenizer.json, and returns dir.
func writeModel(t testing.TB, dir string, shard int64, tensors ...tensor) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	infos := make([]checkpoint.TensorInfo, len(tensors))
	for i, x := range tensors {
		infos[i] = checkpoint.TensorInfo{Name: x.name, DType: x.dtype, Shape: x.shape}
	}
	w, err := checkpoint.CreateDir(dir, infos, map[string]string{"format": "pt"}, shard)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range tensors {
		if x.dtype.IsFloat() {
			err = w.WriteFloat32(x.name, x.data)
		} else {
			err = w.WriteRaw(x.name, x.raw)
		}
		if err != nil {
			w.Abort()
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"config.json":    `{"model_type": "gpt2", "from": "` + filepath.Base(dir) + `"}`,
		"tokenizer.json": `{"from": "` + filepath.Base(dir) + `"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// f32 is a float tensor of the given dtype.
func f32(name string, dtype checkpoint.DType, shape []int64, data ...float32) tensor {
	return tensor{name: name, dtype: dtype, shape: shape, data: data}
}

// randomModel is a model of a few float tensors with values drawn from seed
// around a shared centre (so task vectors are small), plus an int tensor.
func randomModel(t testing.TB, dir string, dtype checkpoint.DType, shard int64, seed uint64) string {
	t.Helper()
	shapes := []struct {
		name  string
		shape []int64
	}{
		{"h.0.attn.c_attn.weight", []int64{16, 48}},
		{"h.0.mlp.c_fc.weight", []int64{16, 64}},
		{"h.1.attn.c_attn.weight", []int64{16, 48}},
		{"ln_f.bias", []int64{16}},
		{"wte.weight", []int64{300, 16}},
	}
	centre := rand.New(rand.NewPCG(1, 1))
	r := rand.New(rand.NewPCG(seed, 99))
	var ts []tensor
	for _, s := range shapes {
		n := int64(1)
		for _, d := range s.shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(centre.NormFloat64()) + 0.1*float32(r.NormFloat64())
		}
		ts = append(ts, tensor{name: s.name, dtype: dtype, shape: s.shape, data: data})
	}
	ts = append(ts, tensor{name: "attn.bias_mask", dtype: checkpoint.U8, shape: []int64{4}, raw: []byte{1, 0, 1, 1}})
	return writeModel(t, dir, shard, ts...)
}

// readAll returns every float tensor of a checkpoint, widened.
func readAll(t testing.TB, path string) map[string][]float32 {
	t.Helper()
	c, err := checkpoint.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string][]float32{}
	for _, ti := range c.Tensors() {
		if !ti.DType.IsFloat() {
			continue
		}
		v, err := c.Float32(ti.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		out[ti.Name] = v
	}
	return out
}

// dirEntries lists the names in dir (nil when dir does not exist).
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
