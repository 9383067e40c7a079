package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mergescale/checkpoint"
)

// writeMergeModel writes a model dir with float tensors a (2 entries) and
// b (3 entries) of the given dtype, sharded when shard > 0.
func writeMergeModel(t *testing.T, dir string, dtype checkpoint.DType, shard int64, a, b []float32) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	infos := []checkpoint.TensorInfo{
		{Name: "a", DType: dtype, Shape: []int64{int64(len(a))}},
		{Name: "b", DType: dtype, Shape: []int64{int64(len(b))}},
	}
	w, err := checkpoint.CreateDir(dir, infos, nil, shard)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32("a", a); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32("b", b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"gpt2"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runMergeCLI runs mergescale in-process and returns exit status, stdout, stderr.
func runMergeCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Execute(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	for _, layout := range []struct {
		name  string
		dtype checkpoint.DType
		shard int64
	}{{"f32-single", checkpoint.F32, 0}, {"bf16-sharded", checkpoint.BF16, 8}} {
		t.Run(layout.name, func(t *testing.T) {
			d := filepath.Join(dir, layout.name)
			writeMergeModel(t, filepath.Join(d, "base"), layout.dtype, layout.shard, []float32{1, 2}, []float32{0, 0, 0})
			writeMergeModel(t, filepath.Join(d, "e1"), layout.dtype, layout.shard, []float32{2, 2}, []float32{1, 0, -1})
			writeMergeModel(t, filepath.Join(d, "e2"), layout.dtype, layout.shard, []float32{1, 4}, []float32{1, 2, 3})
			cfg := filepath.Join(d, "ta.yaml")
			yml := "merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: e1\n    parameters: {weight: 1}\n" +
				"  - model: e2\n    parameters: {weight: 0.5}\nparameters: {lambda: 2}\n"
			if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(d, "merged")
			code, stdout, stderr := runMergeCLI("merge", cfg, "--out", out, "--stats")
			if code != 0 {
				t.Fatalf("merge exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "merged 2 tensors") || !strings.Contains(stdout, "mean pairwise cosine") {
				t.Errorf("stdout lacks the summary or stats:\n%s", stdout)
			}
			c, err := checkpoint.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// θ = θ₀ + 2(1·τ1 + 0.5·τ2): a = (1,2) + 2((1,0) + 0.5(0,2)) = (3, 4);
			// b = 2((1,0,−1) + 0.5(1,2,3)) = (3, 2, 1).
			for name, want := range map[string][]float32{"a": {3, 4}, "b": {3, 2, 1}} {
				got, err := c.Float32(name, nil)
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("%s = %v, %v; want %v", name, got, err, want)
				}
				if ti, _ := c.Info(name); ti.DType != layout.dtype {
					t.Errorf("%s dtype %s, want %s", name, ti.DType, layout.dtype)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "config.json")); err != nil {
				t.Errorf("config.json not copied: %v", err)
			}
		})
	}
}

func TestMergeCommandErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HF_HUB_CACHE", filepath.Join(dir, "hub"))
	writeMergeModel(t, filepath.Join(dir, "base"), checkpoint.F32, 0, []float32{1, 2}, []float32{0, 0, 0})
	writeMergeModel(t, filepath.Join(dir, "e1"), checkpoint.F32, 0, []float32{2, 2}, []float32{1, 0, -1})
	writeMergeModel(t, filepath.Join(dir, "long"), checkpoint.F32, 0, []float32{2, 2, 2}, []float32{1, 0, -1})
	tests := []struct {
		name, yml string
		args      []string
		want      string
	}{
		{"unknown key", "merge_method: ties\nbase_model: base\nmodels: [e1]\ndensty: 0.2\n", nil, `:4: unknown key "densty"`},
		{"empty slices", "merge_method: passthrough\nslices: []\n", nil, ":2: slices: want a non-empty list"},
		{"missing model", "merge_method: task_arithmetic\nbase_model: base\nparameters: {weight: 1}\nmodels: [e1, ./nope]\n", nil, "nope"},
		{"not in hub cache", "merge_method: task_arithmetic\nbase_model: base\nparameters: {weight: 1}\nmodels: [e1, org/nope]\n", nil, "model org/nope: no such path, and not in the Hugging Face cache (looked for "},
		{"lora", "merge_method: task_arithmetic\nbase_model: base\nparameters: {weight: 1}\nmodels: [e1, org/a+org/lora]\n", nil, "not supported yet: model+lora references"},
		{"weight required", "merge_method: task_arithmetic\nbase_model: base\nmodels: [e1]\n", nil, "parameter weight is required for model "},
		{"layer_range outside", "merge_method: passthrough\nslices:\n  - sources:\n      - {model: e1, layer_range: [0, 2]}\n", nil, "layer_range [0, 2) is outside the 0 layers of model "},
		{"json without dry-run", "merge_method: linear\nmodels: [e1]\n", []string{"--json"}, "--json needs --dry-run"},
		{"shape mismatch", "merge_method: task_arithmetic\nbase_model: base\nparameters: {weight: 1}\nmodels: [e1, long]\n", nil, "tensor a has shape [3]"},
		{"no out", "merge_method: linear\nmodels: [e1]\n", []string{"--out="}, "--out DIR is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yaml")
			if err := os.WriteFile(cfg, []byte(tt.yml), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(tt.name, " ", "_"))
			args := append([]string{"merge", cfg, "--out", out}, tt.args...)
			code, _, stderr := runMergeCLI(args...)
			if code != 1 || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, tt.want)
			}
			if strings.Count(stderr, "\n") != 1 {
				t.Errorf("error is not one line: %q", stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failed merge", out)
			}
		})
	}
	for _, e := range mustReadMergeDir(t, dir) {
		if strings.HasPrefix(e, ".") {
			t.Errorf("temporary %s left in %s", e, dir)
		}
	}
	// --dry-run prints the plan and writes nothing.
	cfg := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(cfg, []byte("merge_method: ties\nbase_model: base\nmodels: [e1]\nparameters: {weight: 1, density: 0.5}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runMergeCLI("merge", cfg, "--out", filepath.Join(dir, "dry"), "--dry-run")
	if code != 0 || !strings.Contains(stdout, "method:   ties") {
		t.Fatalf("dry run: exit %d, %q %q", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "TENSOR") || !strings.Contains(stdout, "base m0 m1") {
		t.Errorf("dry run lacks the plan table:\n%s", stdout)
	}
	code, stdout, stderr = runMergeCLI("merge", cfg, "--dry-run", "--json")
	if code != 0 || strings.Count(stdout, "\n") != 2 || !strings.HasPrefix(stdout, `{"tensor":"a",`) {
		t.Fatalf("dry run --json: exit %d, %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "dry")); !os.IsNotExist(err) {
		t.Errorf("dry run created its output")
	}
}

func mustReadMergeDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
