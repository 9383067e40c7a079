package run

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"mergescale/experiments/config"
	"mergescale/experiments/plan"
	"mergescale/merge/mergefile"
	"mergescale/model"
)

// TestTinyStudyMergesGolden runs every merge of the tiny study's plan
// through the harness's own recipe (mergeRecipe) and mergefile.Run, on a
// zoo of GPT-2 checkpoints initialized from the jobs' seeds (training is
// skipped: initialization is a pure function of the seed, so the inputs
// are the same on every machine), and compares SHA-256 digests of each
// merged model.safetensors, its config.json and its diagnostics with
// testdata/tiny.merges.golden. The golden file was written before the
// merge driver learned layers, slices and gradients: it proves the
// harness's merges are byte-identical through the layer-aware path.
func TestTinyStudyMergesGolden(t *testing.T) {
	c, err := config.LoadEnv(tinyConfig, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.Out = t.TempDir()
	pl, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: c, plan: pl, threads: 1}
	var buf bytes.Buffer
	for _, j := range pl.Jobs {
		if !j.Kind.IsTraining() {
			continue
		}
		p, err := model.PresetByName(j.Size)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(c.Out, j.ArtifactDir())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := model.New(p.Config(40), j.Seed).Save(dir, nil); err != nil {
			t.Fatal(err)
		}
	}
	merges := 0
	for _, j := range pl.Jobs {
		if j.Kind != plan.KindMerge {
			continue
		}
		merges++
		recipe, err := r.mergeRecipe(j)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(c.Out, j.ArtifactDir())
		stats, err := mergefile.Run(context.Background(), recipe, dir, mergefile.Options{Workers: 1})
		if err != nil {
			t.Fatalf("merge %s: %v", j.Key, err)
		}
		st, err := json.Marshal(stats)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&buf, "%s %s", j.Key[:12], j.Method)
		for _, name := range []string{"model.safetensors", "config.json"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&buf, " %s", digest(b))
		}
		fmt.Fprintf(&buf, " %s\n", digest(st))
	}
	if merges == 0 {
		t.Fatal("the tiny plan has no merges")
	}
	const golden = "testdata/tiny.merges.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./experiments/run -run TinyStudyMergesGolden -update on a trusted revision)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("merged outputs differ from %s:\n%s", golden, buf.String())
	}
}

// digest is the first 16 hex digits of b's SHA-256.
func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
