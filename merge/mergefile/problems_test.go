package mergefile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/checkpoint"
)

// TestPreflightFoldsPerTensorProblems: a per-tensor problem that holds for
// every tensor of a model is one line for that model with the count of
// tensors: 8 experts of 32 tensors without weight are 8 problems, not 256.
// A problem that holds for only some tensors stays one line per tensor.
func TestPreflightFoldsPerTensorProblems(t *testing.T) {
	dir := t.TempDir()
	const nExperts, nTensors = 8, 32
	model := func(name string, shapeOf func(i int) int64) string {
		ts := make([]tensor, nTensors)
		for i := range ts {
			n := shapeOf(i)
			ts[i] = f32(fmt.Sprintf("t%02d", i), checkpoint.F32, []int64{n}, make([]float32, n)...)
		}
		return writeModel(t, filepath.Join(dir, name), 0, ts...)
	}
	two := func(int) int64 { return 2 }
	var experts []ModelRef
	for e := range nExperts {
		experts = append(experts, ModelRef{Model: model(fmt.Sprintf("expert%d", e), two)})
	}

	cfg := &Config{MergeMethod: "linear", Models: experts}
	_, err := Check(cfg, Options{})
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("Check error = %v, want a *PreflightError", err)
	}
	if len(pe.Problems) != nExperts {
		t.Errorf("%d problems, want %d:\n%s", len(pe.Problems), nExperts, strings.Join(pe.Problems, "\n"))
	}
	for i, e := range experts {
		want := fmt.Sprintf("parameter weight is required for model %s, all %d tensors, and no level of the recipe gives it", e.Model, nTensors)
		if i < len(pe.Problems) && pe.Problems[i] != want {
			t.Errorf("problem %d = %q, want %q", i, pe.Problems[i], want)
		}
	}
	if msg := err.Error(); !strings.HasPrefix(msg, fmt.Sprintf("pre-flight: %d problem(s): ", nExperts)) || strings.Contains(msg, "more") {
		t.Errorf("error %q, want all %d problems spelled out", msg, nExperts)
	}
	t.Logf("%s", err)

	// weight for t00–t09 only (filter t0): the other 22 tensors of each
	// expert are named one by one.
	cfg.Parameters = ParamSet{"weight": Setting{Conditionals: []Conditional{{Filter: "t0", Value: Scalar(1.0)}}}}
	_, err = Check(cfg, Options{})
	if !errors.As(err, &pe) || len(pe.Problems) != nExperts*(nTensors-10) {
		t.Fatalf("partly given weight: %d problems, want %d (%v)", len(pe.Problems), nExperts*(nTensors-10), err)
	}
	if want := "parameter weight is required for model " + experts[0].Model + ", tensor t10, and"; !strings.Contains(pe.Problems[0], want) {
		t.Errorf("first problem %q, want it to contain %q", pe.Problems[0], want)
	}

	// A model whose every tensor has another shape than the base's is one
	// line; one whose single tensor differs is named by tensor.
	base := model("base", two)
	wide := model("wide", func(int) int64 { return 3 })
	odd := model("odd", func(i int) int64 { return 2 + int64(i/(nTensors-1)) })
	cfg = &Config{MergeMethod: "task_arithmetic", BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0)},
		Models: []ModelRef{{Model: wide}, {Model: odd}}}
	_, err = Check(cfg, Options{})
	want := []string{
		fmt.Sprintf("model %s: all %d tensors have shape [3], base model %s has [2]", wide, nTensors, base),
		fmt.Sprintf("model %s: tensor t%d has shape [3], base model %s has [2]", odd, nTensors-1, base),
	}
	if !errors.As(err, &pe) || strings.Join(pe.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("shapes: error %v, want problems %q", err, want)
	}
}
