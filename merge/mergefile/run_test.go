package mergefile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"mergescale/checkpoint"
	"mergescale/merge"
)

var (
	f64 = merge.F64
)

// run merges cfg into a fresh dir and returns it with the stats.
func run(t *testing.T, cfg *Config, opts Options) (string, *merge.Stats) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "merged")
	st, err := Run(context.Background(), cfg, out, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out, st
}

// wantValues compares tensors exactly.
func wantValues(t *testing.T, got map[string][]float32, want map[string][]float32) {
	t.Helper()
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("tensor %s = %v, want %v", name, got[name], w)
		}
	}
}

func TestRunLinearNoBase(t *testing.T) {
	dir := t.TempDir()
	ids := tensor{name: "ids", dtype: checkpoint.I64, shape: []int64{2}, raw: []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}}
	a := writeModel(t, filepath.Join(dir, "a"), 0, f32("w", checkpoint.F32, []int64{2, 2}, 1, 2, 3, 4), ids)
	b := writeModel(t, filepath.Join(dir, "b"), 0, f32("w", checkpoint.F32, []int64{2, 2}, 3, 4, 5, 6), ids)
	cfg := &Config{MergeMethod: "linear", Models: []ModelRef{
		{Model: a, Parameters: ParamSetOf(merge.Params{Weight: f64(1)})},
		{Model: b, Parameters: ParamSetOf(merge.Params{Weight: f64(3)})},
	}}
	out, st := run(t, cfg, Options{})
	// θ = (1·a + 3·b) / 4: (1+9)/4, (2+12)/4, (3+15)/4, (4+18)/4.
	wantValues(t, readAll(t, out), map[string][]float32{"w": {2.5, 3.5, 4.5, 5.5}})
	c, err := checkpoint.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.Raw("ids")
	if err != nil || !bytes.Equal(raw, ids.raw) {
		t.Errorf("ids = %v, %v; want copied %v", raw, err, ids.raw)
	}
	if st == nil || st.Tensors != 1 || st.Experts != 2 {
		t.Errorf("stats = %+v, want 1 tensor, 2 experts", st)
	}
	// Without a base, config.json comes from the first model.
	if js, _ := os.ReadFile(filepath.Join(out, "config.json")); !strings.Contains(string(js), `"from": "a"`) {
		t.Errorf("config.json = %s, want the first model's", js)
	}
	wantFiles := []string{"config.json", PlanFileName, StatsFileName, ConfigFileName, checkpoint.SingleFileName, "tokenizer.json"}
	if got := dirEntries(t, out); !reflect.DeepEqual(got, wantFiles) {
		t.Errorf("output files = %v, want %v", got, wantFiles)
	}
}

func TestRunTaskArithmeticBF16Sharded(t *testing.T) {
	dir := t.TempDir()
	const bf = checkpoint.BF16
	writeModel(t, filepath.Join(dir, "base"), 8,
		f32("a", bf, []int64{2}, 1, 2), f32("b", bf, []int64{3}, 0.5, -1, 4))
	writeModel(t, filepath.Join(dir, "e1"), 8,
		f32("a", bf, []int64{2}, 2, 2), f32("b", bf, []int64{3}, 0.5, -1, 4.5))
	writeModel(t, filepath.Join(dir, "e2"), 8,
		f32("a", bf, []int64{2}, 1, 4), f32("b", bf, []int64{3}, 1.5, -1, 4))
	// Written as a user would, with the base also listed under models.
	yml := "merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: base\n  - model: e1\n  - model: e2\n" +
		"parameters: {lambda: 0.5, weight: 1}\nout_shard_size: 8\n"
	cfgPath := filepath.Join(dir, "merge.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	out, st := run(t, cfg, Options{})
	// τ1 = (1, 0 | 0, 0, 0.5), τ2 = (0, 2 | 1, 0, 0); θ = θ₀ + 0.5(τ1 + τ2).
	wantValues(t, readAll(t, out), map[string][]float32{"a": {1.5, 3}, "b": {1, -1, 4.25}})
	names := dirEntries(t, out)
	for _, want := range []string{checkpoint.IndexFileName, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if !slices.Contains(names, want) {
			t.Errorf("output %v lacks %s", names, want)
		}
	}
	c, err := checkpoint.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if ti, _ := c.Info("a"); ti.DType != bf {
		t.Errorf("output dtype %s, want the base's BF16", ti.DType)
	}
	c.Close()
	// ‖τ_merged‖² = 0.25·(1+4+1+0.25) over mean ‖τᵢ‖ = (√1.25 + √5)/2.
	if st.NormRatio <= 0 {
		t.Errorf("NormRatio = %v, want > 0", st.NormRatio)
	}
	var sf statsFile
	js, err := os.ReadFile(filepath.Join(out, StatsFileName))
	if err != nil || json.Unmarshal(js, &sf) != nil || sf.Stats == nil || sf.Method != "task_arithmetic" || len(sf.Experts) != 2 {
		t.Errorf("%s = %s (%v), want the diagnostics of 2 experts", StatsFileName, js, err)
	}

	// The resolved config reproduces the merge bit for bit, here as float32.
	resolved, err := Load(filepath.Join(out, ConfigFileName))
	if err != nil {
		t.Fatalf("reloading %s: %v", ConfigFileName, err)
	}
	if len(resolved.Models) != 3 || resolved.Parameters["lambda"].Value != 0.5 || resolved.Parameters["normalize"].Value != false || resolved.OutShardSize != 8 {
		t.Errorf("resolved config = %+v", resolved)
	}
	resolved.DType = "float32"
	out2, _ := run(t, resolved, Options{})
	wantValues(t, readAll(t, out2), map[string][]float32{"a": {1.5, 3}, "b": {1, -1, 4.25}})
	c, err = checkpoint.Open(out2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ti, _ := c.Info("b"); ti.DType != checkpoint.F32 {
		t.Errorf("dtype float32 gave %s", ti.DType)
	}
}

func TestRunTIES(t *testing.T) {
	dir := t.TempDir()
	const f = checkpoint.F32
	base := writeModel(t, filepath.Join(dir, "base"), 0, f32("a", f, []int64{4}, 0, 0, 0, 0))
	e1 := writeModel(t, filepath.Join(dir, "e1"), 0, f32("a", f, []int64{4}, 3, -1, 2, 0))
	e2 := writeModel(t, filepath.Join(dir, "e2"), 0, f32("a", f, []int64{4}, -2, 1, 1, 0))
	cfg := &Config{MergeMethod: "ties", BaseModel: base, Parameters: ParamSetOf(merge.Params{Weight: f64(1), Density: f64(0.5)}),
		Models: []ModelRef{{Model: e1}, {Model: e2}}}
	out, _ := run(t, cfg, Options{})
	// Trim to k = 2: τ̂1 = (3, 0, 2, 0); τ̂2 = (−2, 1, 0, 0) (|1| tie: the lower
	// index wins). Signs of Σ = (1, 1, 2, 0) → all + (0 elects +). Disjoint
	// mean over agreeing experts: (3/1, 1/1, 2/1, 0).
	wantValues(t, readAll(t, out), map[string][]float32{"a": {3, 1, 2, 0}})
}

func TestRunTIESGlobalScope(t *testing.T) {
	dir := t.TempDir()
	const f = checkpoint.F32
	base := writeModel(t, filepath.Join(dir, "base"), 0,
		f32("a", f, []int64{4}, 0, 0, 0, 0), f32("b", f, []int64{2}, 0, 0), f32("c", f, []int64{2}, 0, 0), f32("d", f, []int64{2}, 0, 0))
	e1 := writeModel(t, filepath.Join(dir, "e1"), 0,
		f32("a", f, []int64{4}, 3, -1, 2, 0), f32("b", f, []int64{2}, 0.5, 0.25), f32("c", f, []int64{2}, 0, 0), f32("d", f, []int64{2}, 0, 0))
	// e2's magnitudes tie: |τ| = 1 everywhere but two zeros.
	e2 := writeModel(t, filepath.Join(dir, "e2"), 0,
		f32("a", f, []int64{4}, 0, 0, 0, 0), f32("b", f, []int64{2}, 0, 0), f32("c", f, []int64{2}, -1, 1), f32("d", f, []int64{2}, 1, 1))
	for _, tt := range []struct {
		scope string
		want  map[string][]float32
	}{
		// Per tensor, k = round(0.5·n) in each tensor: e1 keeps (3, 2 | 0.5 | - | -),
		// e2 keeps the lower index of each tie: (- | - | −1, 0 | 1, 0). The experts
		// never overlap, so each kept entry is the merge (weights 1, normalize).
		{"tensor", map[string][]float32{"a": {3, 0, 2, 0}, "b": {0.5, 0}, "c": {-1, 0}, "d": {1, 0}}},
		// Globally, k = round(0.5·10) = 5 per expert: e1 keeps 3, 2, −1, 0.5, 0.25;
		// e2 keeps its four |1| entries (only 4 are non-zero; the 5th kept is 0).
		{"global", map[string][]float32{"a": {3, -1, 2, 0}, "b": {0.5, 0.25}, "c": {-1, 1}, "d": {1, 1}}},
	} {
		cfg := &Config{MergeMethod: "ties", BaseModel: base, Parameters: ParamSetOf(merge.Params{Weight: f64(1), Density: f64(0.5), TrimScope: tt.scope}),
			Models: []ModelRef{{Model: e1}, {Model: e2}}}
		out, _ := run(t, cfg, Options{})
		got := readAll(t, out)
		for name, w := range tt.want {
			if !slices.Equal(got[name], w) {
				t.Errorf("trim_scope %s: tensor %s = %v, want %v", tt.scope, name, got[name], w)
			}
		}
	}
	// Ties across tensors in global scope keep the earlier tensor first:
	// |τ| = 1 in all four entries, k = 2 → a kept, b dropped.
	b2 := writeModel(t, filepath.Join(dir, "b2"), 0, f32("a", f, []int64{2}, 0, 0), f32("b", f, []int64{2}, 0, 0))
	x := writeModel(t, filepath.Join(dir, "x"), 0, f32("a", f, []int64{2}, 1, -1), f32("b", f, []int64{2}, 1, 1))
	cfg := &Config{MergeMethod: "ties", BaseModel: b2, Parameters: ParamSetOf(merge.Params{Weight: f64(1), Density: f64(0.5), TrimScope: "global"}),
		Models: []ModelRef{{Model: x}}}
	out, _ := run(t, cfg, Options{})
	wantValues(t, readAll(t, out), map[string][]float32{"a": {1, -1}, "b": {0, 0}})
}

func TestPreflightReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	const f = checkpoint.F32
	base := writeModel(t, filepath.Join(dir, "base"), 0, f32("a", f, []int64{2}, 0, 0), f32("b", f, []int64{2}, 0, 0))
	short := writeModel(t, filepath.Join(dir, "short"), 0, f32("a", f, []int64{2}, 1, 1))
	wide := writeModel(t, filepath.Join(dir, "wide"), 0, f32("a", f, []int64{3}, 1, 1, 1), f32("b", f, []int64{2}, 1, 1), f32("c", f, []int64{1}, 1))
	missing := filepath.Join(dir, "nowhere")
	cfg := &Config{MergeMethod: "task_arithmetic", BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0)}, Models: []ModelRef{{Model: short}, {Model: wide}}}
	parent := t.TempDir()
	out := filepath.Join(parent, "merged")
	_, err := Run(context.Background(), cfg, out, Options{})
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("Run error = %v, want a *PreflightError", err)
	}
	want := []string{
		"model " + short + ": tensor b is missing",
		"model " + wide + ": tensor a has shape [3], base model " + base + " has [2]",
		"model " + wide + ": tensor c is not in base model " + base,
	}
	if len(pe.Problems) != len(want) {
		t.Errorf("problems = %q, want %d", pe.Problems, len(want))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines")
	}
	if names := dirEntries(t, parent); len(names) != 0 {
		t.Errorf("failed merge left %v in the output's parent", names)
	}

	// A missing model is reported with the others too.
	cfg.Models = append(cfg.Models, ModelRef{Model: missing})
	_, err = Run(context.Background(), cfg, out, Options{})
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("missing model: error %v, want it named", err)
	}

	// --allow-missing copies b from the base; the shape mismatch remains.
	cfg.Models = []ModelRef{{Model: short}}
	o, _ := run(t, cfg, Options{AllowMissing: true})
	wantValues(t, readAll(t, o), map[string][]float32{"a": {1, 1}, "b": {0, 0}})
}

func TestRunFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	const f = checkpoint.F32
	base := writeModel(t, filepath.Join(dir, "base"), 0, f32("a", f, []int64{2}, 0, 0), f32("b", f, []int64{1}, 0))
	bad := writeModel(t, filepath.Join(dir, "bad"), 0, f32("a", f, []int64{2}, 1, 1), f32("b", f, []int64{1}, float32(nanValue())))
	cfg := &Config{MergeMethod: "task_arithmetic", BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0)}, Models: []ModelRef{{Model: bad}}}
	parent := t.TempDir()
	_, err := Run(context.Background(), cfg, filepath.Join(parent, "merged"), Options{})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("NaN input: error %v, want it to name model %s and tensor b", err, bad)
	}
	if names := dirEntries(t, parent); len(names) != 0 {
		t.Errorf("failed merge left %v", names)
	}
}

func nanValue() float64 { z := 0.0; return z / z }

func TestRunOutputDir(t *testing.T) {
	dir := t.TempDir()
	const f = checkpoint.F32
	a := writeModel(t, filepath.Join(dir, "a"), 0, f32("w", f, []int64{1}, 2))
	cfg := &Config{MergeMethod: "linear", Parameters: ParamSet{"weight": Scalar(1.0)}, Models: []ModelRef{{Model: a}}}
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// An existing empty directory is fine.
	if _, err := Run(context.Background(), cfg, out, Options{}); err != nil {
		t.Fatalf("empty out dir: %v", err)
	}
	before := dirEntries(t, out)
	if _, err := Run(context.Background(), cfg, out, Options{}); err == nil || !strings.Contains(err.Error(), "not empty (use --force") {
		t.Fatalf("non-empty out dir: error %v", err)
	}
	if err := os.WriteFile(filepath.Join(out, "stale.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, out, Options{Force: true}); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if got := dirEntries(t, out); !reflect.DeepEqual(got, before) {
		t.Errorf("after --force: %v, want %v (stale files gone)", got, before)
	}
	if got := dirEntries(t, dir); !reflect.DeepEqual(got, []string{"a", "out"}) {
		t.Errorf("temporary directories left behind: %v", got)
	}
}

func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	base := randomModel(t, filepath.Join(dir, "base"), checkpoint.F32, 0, 1)
	e1 := randomModel(t, filepath.Join(dir, "e1"), checkpoint.F32, 0, 2)
	cfg := &Config{MergeMethod: "ties", BaseModel: base, Parameters: ParamSetOf(merge.Params{Weight: f64(1), Density: f64(0.2)}), Models: []ModelRef{{Model: e1}}}
	var buf bytes.Buffer
	out := filepath.Join(dir, "out")
	st, err := Run(context.Background(), cfg, out, Options{DryRun: true, Summary: &buf})
	if err != nil || st != nil {
		t.Fatalf("dry run = %v, %v", st, err)
	}
	for _, want := range []string{"method:   ties", "model m1: " + e1, "layers:   2 in 1 slice(s)", "6 (5 merged, 1 copied, 0 copied"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, buf.String())
		}
	}
	// The table: one row per tensor, layers with t = i ÷ (L − 1), tensors
	// outside the layers at t = 0, every resolved parameter.
	var rows []string
	for _, line := range strings.Split(buf.String(), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	for _, want := range []string{
		"TENSOR ACTION SLICE LAYER T SOURCES PARAMETERS",
		"attn.bias_mask copy 0 - 0 m0",
		"h.0.mlp.c_fc.weight merge 0 0 0 base m0 m1 m1{density=0.2 weight=1} lambda=1 normalize=true trim_scope=tensor",
		"h.1.attn.c_attn.weight merge 0 1 1 base m0 m1 m1{density=0.2 weight=1} lambda=1 normalize=true trim_scope=tensor",
		"wte.weight merge 0 - 0 base m0 m1 m1{density=0.2 weight=1} lambda=1 normalize=true trim_scope=tensor",
	} {
		if !slices.Contains(rows, want) {
			t.Errorf("plan table lacks row %q:\n%s", want, buf.String())
		}
	}
	// --json: the JSON lines of merge_plan.jsonl.
	buf.Reset()
	if _, err := Run(context.Background(), cfg, out, Options{DryRun: true, PlanJSON: true, Summary: &buf}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("JSONL plan has %d lines, want 6:\n%s", len(lines), buf.String())
	}
	var l planLine
	if err := json.Unmarshal([]byte(lines[3]), &l); err != nil {
		t.Fatal(err)
	}
	if l.Tensor != "h.1.attn.c_attn.weight" || l.Layer == nil || *l.Layer != 1 || l.T != 1 || l.Base == nil || l.Base.Model != base ||
		len(l.Sources) != 1 || l.Sources[0].Model != e1 || l.Sources[0].Params["density"] != 0.2 || l.Params["lambda"] != 1.0 {
		t.Errorf("JSONL line 3 = %s", lines[3])
	}
	if dirEntries(t, out) != nil || len(dirEntries(t, dir)) != 2 {
		t.Errorf("dry run wrote something: %v", dirEntries(t, dir))
	}
}

// TestDeterminism merges the same random bf16 sharded checkpoints under
// GOMAXPROCS 1 and 4 (and 1 and 3 workers): every output file must be
// byte-identical.
func TestDeterminism(t *testing.T) {
	dir := t.TempDir()
	base := randomModel(t, filepath.Join(dir, "base"), checkpoint.BF16, 4096, 1)
	var models []ModelRef
	for i := range 3 {
		models = append(models, ModelRef{Model: randomModel(t, filepath.Join(dir, "e"+string(rune('0'+i))), checkpoint.BF16, 4096, uint64(10+i))})
	}
	for _, method := range []string{"dare_ties", "ties", "ties_global", "task_arithmetic"} {
		cfg := &Config{MergeMethod: method, BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0)}, Models: models, Seed: 5, OutShardSize: 6000}
		if method != "task_arithmetic" {
			cfg.Parameters["density"] = Scalar(0.3)
		}
		if method == "ties_global" {
			cfg.MergeMethod, cfg.Parameters["trim_scope"] = "ties", Scalar("global")
		}
		var outs []string
		for _, procs := range []struct{ gomaxprocs, workers int }{{1, 1}, {4, 3}} {
			prev := runtime.GOMAXPROCS(procs.gomaxprocs)
			o, _ := run(t, cfg, Options{Workers: procs.workers})
			runtime.GOMAXPROCS(prev)
			outs = append(outs, o)
		}
		names := dirEntries(t, outs[0])
		if !reflect.DeepEqual(names, dirEntries(t, outs[1])) || len(names) < 4 {
			t.Fatalf("%s: file lists differ or too few: %v vs %v", method, names, dirEntries(t, outs[1]))
		}
		for _, n := range names {
			a, _ := os.ReadFile(filepath.Join(outs[0], n))
			b, _ := os.ReadFile(filepath.Join(outs[1], n))
			if !bytes.Equal(a, b) {
				t.Errorf("%s: %s differs between GOMAXPROCS 1 and 4", method, n)
			}
		}
	}
}

// recordedProgress records what a merge reports to its Progress.
type recordedProgress struct {
	total, added int64
	last         string
	finished     bool
	aborted      bool
}

func (r *recordedProgress) Start(total, done int64) { r.total, r.added = total, done }
func (r *recordedProgress) Add(n int64)             { r.added += n }
func (r *recordedProgress) SetTotal(total int64)    { r.total = total }
func (r *recordedProgress) Describe(s string)       { r.last = s }
func (r *recordedProgress) Finish()                 { r.finished = true }
func (r *recordedProgress) Abort()                  { r.aborted = true }

func TestRunProgressAndSummary(t *testing.T) {
	dir := t.TempDir()
	base := randomModel(t, filepath.Join(dir, "base"), checkpoint.F32, 0, 1)
	e1 := randomModel(t, filepath.Join(dir, "e1"), checkpoint.F32, 0, 2)
	cfg := &Config{MergeMethod: "ties", BaseModel: base, Parameters: ParamSetOf(merge.Params{Weight: f64(1), Density: f64(0.2), TrimScope: "global"}), Models: []ModelRef{{Model: e1}}}
	var bar recordedProgress
	var sum bytes.Buffer
	if _, err := Run(context.Background(), cfg, filepath.Join(dir, "out"), Options{Progress: &bar, Summary: &sum}); err != nil {
		t.Fatal(err)
	}
	if bar.last != "merge 6/6 tensors" || !bar.finished || bar.aborted {
		t.Errorf("progress ended at %q (finished %v, aborted %v), want \"merge 6/6 tensors\", finished", bar.last, bar.finished, bar.aborted)
	}
	if bar.total == 0 || bar.added != bar.total {
		t.Errorf("progress counted %d of %d bytes, want all", bar.added, bar.total)
	}
	if !strings.HasPrefix(sum.String(), "merged 6 tensors") || strings.Count(sum.String(), "\n") != 1 {
		t.Errorf("summary = %q, want one line", sum.String())
	}
}
