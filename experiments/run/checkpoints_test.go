package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"mergescale/checkpoint"
	"mergescale/experiments/config"
	"mergescale/experiments/plan"
)

// zooDirs returns the artifact dirs of the tiny study's zoo by (base, role,
// category).
func zooDirs(t *testing.T, c *config.Config) map[string]string {
	t.Helper()
	p, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range p.Jobs {
		if j.Kind.IsTraining() {
			out[fmt.Sprintf("%s/%s/%s", j.Base, j.Kind, j.Category)] = filepath.Join(c.Out, j.ArtifactDir())
		}
	}
	return out
}

// checkpointConfig writes a config whose zoo.checkpoints list the zoo of a
// finished tiny study (size label micro, as the preset), with the tiny
// study's seeds and sweep, and extra appended.
func checkpointConfig(t *testing.T, trained *config.Config, cats []string, extra string) string {
	t.Helper()
	dirs := zooDirs(t, trained)
	var b strings.Builder
	b.WriteString("name: ckpt\nseed: 7\nzoo:\n  checkpoints:\n")
	for _, base := range []string{"pt", "it"} {
		baseDir := dirs[base+"/pretrain/"]
		if base == "it" {
			baseDir = dirs["it/instruct/"]
		}
		fmt.Fprintf(&b, "    - size: micro\n      base: %s\n      base_model: %s\n      experts:\n", base, baseDir)
		for _, cat := range cats {
			fmt.Fprintf(&b, "        %s: %s\n", cat, dirs[base+"/expert/"+cat])
		}
		fmt.Fprintf(&b, "      multitask: %s\n", dirs[base+"/multitask/"])
	}
	b.WriteString(`sweep:
  experts: [2, 8]
  subsets: 2
  methods:
    - {method: linear}
    - {method: task_arithmetic, lambda: [0.5, 1.0]}
    - {method: ties, density: 0.2, lambda: [1.0]}
workers: 1
`)
	b.WriteString(extra)
	path := filepath.Join(t.TempDir(), "ckpt.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// byIdentity lists every score with its model described by content rather
// than by key (keys differ between a trained and a registered zoo).
const byIdentity = `SELECT m.kind, m.size, m.params, m.base_type, m.category,
	COALESCE(g.k, ''), COALESCE(g.subset, ''), COALESCE(g.categories, ''), COALESCE(g.method, ''), COALESCE(g.hparams, ''), COALESCE(g.chosen, ''),
	COALESCE(printf('%.17g', g.sign_conflict), ''), s.task, s.split, s.metric, printf('%.17g', s.value), s.n
	FROM scores s JOIN models m ON m.id = s.model_id LEFT JOIN merges g ON g.model_id = s.model_id ORDER BY 1, 2, 4, 5, 6, 7, 9, 10, 13, 14, 15`

// TestCheckpointZooReproducesBuiltinStudy points zoo.checkpoints at the
// checkpoints a built-in study trained (size label micro, same seeds and
// sweep) and requires every score, every merge's selection and diagnostics
// to be identical.
func TestCheckpointZooReproducesBuiltinStudy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tiny study twice")
	}
	trained := loadTiny(t, t.TempDir())
	runTiny(t, trained, Options{})
	path := checkpointConfig(t, trained, config.HeldInCategories(), "world: {seed: 3, validation: 4, test: 8}\n")
	c, err := config.LoadEnv(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.Out = t.TempDir()
	sum := runTiny(t, c, Options{})
	if sum.Ran[plan.KindCheckpoint] != 20 || sum.Ran[plan.KindPretrain] != 0 {
		t.Errorf("ran %v, want 20 checkpoint registrations and no training", sum.Ran)
	}
	got, want := dump(t, c.StorePath(), byIdentity), dump(t, trained.StorePath(), byIdentity)
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("first difference at row %d:\n got  %s\n want %s", i, got[i], want[i])
			}
		}
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	if ents, _ := os.ReadDir(filepath.Join(c.Out, "merged")); len(ents) != 0 {
		t.Errorf("merged/ holds %d entries after the run, want none", len(ents))
	}
	// The identities were cached: a second plan hashes nothing.
	cache := loadIdentityCache(c.Out)
	if len(cache.entries) == 0 {
		t.Fatal("no identity cache written")
	}
	p1, _ := Plan(c)
	again, _ := Plan(c)
	if !reflect.DeepEqual(jobKeys(p1), jobKeys(again)) {
		t.Error("plan keys changed between two plans of the same checkpoints")
	}
}

func jobKeys(p *plan.Plan) []string {
	var out []string
	for _, j := range p.Jobs {
		out = append(out, j.Key)
	}
	return out
}

// TestCheckpointIdentity checks that identities are cached per file version
// and that a changed expert changes its own key and those of the jobs that
// depend on it, and nothing else.
func TestCheckpointIdentity(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, v float32) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		w, err := checkpoint.CreateFile(filepath.Join(d, "model.safetensors"), []checkpoint.TensorInfo{{Name: "w", DType: checkpoint.F32, Shape: []int64{2}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFloat32("w", []float32{v, 1}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"n": 1}`), 0o644)
		return d
	}
	base, a, b, cc := mk("base", 0), mk("a", 1), mk("b", 2), mk("c", 3)
	src := fmt.Sprintf(`name: id
zoo:
  checkpoints:
    - {size: x, base: pt, base_model: %s, experts: {sentiment: %s, paraphrase: %s, nli_missing: %s}}
sweep: {experts: [2], methods: [{method: linear}]}
`, base, a, b, cc)
	// Loading accepts an unknown category; the run's first step does not.
	unknown, err := config.Parse("id.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(unknown); err == nil || !strings.Contains(err.Error(), `id.yaml:4: zoo.checkpoints[0].experts.nli_missing: category "nli_missing" is not a held-in category`) {
		t.Fatalf("unknown category: %v", err)
	}
	src = strings.Replace(src, "nli_missing", "sentiment_x", 1)
	src = strings.Replace(src, ", sentiment_x: "+cc, "", 1)
	c, err := config.Parse("id.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.Out = t.TempDir()
	p1, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	var listing strings.Builder
	if err := plan.Print(&listing, p1, true); err != nil || !strings.Contains(listing.String(), "checkpoints x/pt (2 experts)") ||
		!strings.Contains(listing.String(), "eval      expert x pt sentiment on test") || strings.Contains(listing.String(), "pretrain") {
		t.Errorf("plan listing (%v):\n%s", err, listing.String())
	}
	cache := loadIdentityCache(c.Out)
	if n := len(cache.entries); n != 6 { // 3 checkpoints × (weights + config.json)
		t.Fatalf("%d cached file hashes, want 6", n)
	}
	if _, err := cache.identity(a); err != nil || cache.hashed != 0 {
		t.Fatalf("a cached file was hashed again (%d, %v)", cache.hashed, err)
	}
	// Retrain expert a: a new file version.
	mk("a", 5)
	p2, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[plan.Kind]int{}
	old := map[string]bool{}
	for _, j := range p1.Jobs {
		old[j.Key] = true
	}
	for _, j := range p2.Jobs {
		if !old[j.Key] {
			changed[j.Kind]++
		}
	}
	// The expert's registration and zoo evaluation, the merge, its
	// validation evaluation, the selection and the chosen point's
	// evaluation on the other held-in categories.
	if want := (map[plan.Kind]int{plan.KindCheckpoint: 1, plan.KindEval: 4, plan.KindMerge: 1}); !reflect.DeepEqual(changed, want) {
		t.Errorf("jobs with new keys %v, want %v", changed, want)
	}
}

func TestCheckpointConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, shape []int64) string {
		p := filepath.Join(dir, name)
		w, err := checkpoint.CreateFile(p, []checkpoint.TensorInfo{{Name: "w", DType: checkpoint.F32, Shape: shape}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteFloat32("w", make([]float32, shape[0]))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base, good, wide := write("base.safetensors", []int64{2}), write("good.safetensors", []int64{2}), write("wide.safetensors", []int64{3})
	junk := filepath.Join(dir, "junk.safetensors")
	os.WriteFile(junk, []byte("not a checkpoint"), 0o644)
	src := fmt.Sprintf(`name: bad
zoo:
  sizes: [xs]
  checkpoints:
    - size: 1b
      base: it
      base_model: %s
      experts:
        sentiment: %s
        paraphrase: %s
        topic_classification: %s
        cooking: %s
      multitask: %s/missing
    - size: 1b
      base: zz
      base_model: %s
      experts: {sentiment: %s}
sweep:
  experts: [2, 6]
  methods: [{method: linear}]
tasks:
  dir: ../../world/testdata/tasks
world: {seed: 3}
`, base, good, wide, junk, good, dir, base, good)
	_, err := config.Parse("bad.yaml", []byte(src), noEnv)
	if err == nil {
		t.Fatal("no error")
	}
	// Loading reports what the config says of itself, and opens no file.
	want := []string{
		"bad.yaml:3: zoo.sizes: not used with zoo.checkpoints",
		"bad.yaml:15: zoo.checkpoints[1].base: unknown base \"zz\" (known: pt, it)",
		"bad.yaml:17: zoo.checkpoints[1].experts: must list at least 2 experts, got 1",
		"bad.yaml:19: sweep.experts[0]: k = 2, but zoo.checkpoints[1] (1b/zz) has 1 experts",
		"bad.yaml:23: world: not used with tasks.dir",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not say\n  %s\nfull error:\n%s", w, msg)
		}
	}
	for _, w := range []string{"does not exist", "unreadable", "does not match", "held-in category"} {
		if strings.Contains(msg, w) {
			t.Errorf("loading reported a problem of the files (%q):\n%s", w, msg)
		}
	}

	// The run's first step checks the files, on a config that loads: the
	// same lines, with zoo.sizes, world and the second entry fixed.
	src = strings.Replace(src, "  sizes: [xs]\n", "  # no sizes\n", 1)
	src = strings.Replace(src, "world: {seed: 3}\n", "", 1)
	src = strings.Replace(src, "base: zz", "base: pt", 1)
	src = strings.Replace(src, "experts: {sentiment: "+good+"}", "experts: {sentiment: "+good+", topic_classification: "+good+", paraphrase: "+good+"}", 1)
	src = strings.Replace(src, "experts: [2, 6]", "experts: [2, 3]", 1)
	c, err := config.Parse("bad.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Check(c)
	if err == nil {
		t.Fatal("Check: no error")
	}
	want = []string{
		"bad.yaml:10: zoo.checkpoints[0].experts.paraphrase: " + wide + " does not match the base model " + base + ": w has shape [3], the base [2]",
		"bad.yaml:10: zoo.checkpoints[0].experts.paraphrase: category \"paraphrase\" is not a held-in category of the task set (known: sentiment, topic_classification)",
		"bad.yaml:11: zoo.checkpoints[0].experts.topic_classification: unreadable checkpoint",
		"bad.yaml:12: zoo.checkpoints[0].experts.cooking: category \"cooking\" is not a held-in category",
		"bad.yaml:13: zoo.checkpoints[0].multitask: " + dir + "/missing does not exist",
		"bad.yaml:17: zoo.checkpoints[1].experts.paraphrase: category \"paraphrase\" is not a held-in category",
		"bad.yaml:19: sweep.experts[1]: must be in [2, 2] (the number of held-in categories), got 3",
	}
	msg = err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("Check does not say\n  %s\nfull error:\n%s", w, msg)
		}
	}
	if _, err := Plan(c); err == nil || err.Error() != msg {
		t.Errorf("Plan does not start with Check: %v", err)
	}

	// tasks.dir needs zoo.checkpoints; a task folder's problems name file and line.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "suite.json"), []byte(`{"held_in": [{"category": "a", "tasks": [{"name": "t"}]}]}`), 0o644)
	src2 := "name: t\nzoo: {sizes: [xs], bases: [pt], pretrain: {steps: 1}, expert: {steps: 1}, multitask: {steps: 1}}\nsweep: {experts: [2], methods: [{method: linear}]}\ntasks: {dir: " + bad + "}\n"
	_, err = config.Parse("t.yaml", []byte(src2), noEnv)
	if w := "t.yaml:4: tasks.dir: requires zoo.checkpoints"; err == nil || !strings.Contains(err.Error(), w) {
		t.Errorf("error %v does not say %q", err, w)
	}
	src3 := "name: t\nzoo: {checkpoints: [{size: x, base: pt, base_model: " + base + ", experts: {sentiment: " + good + ", topic_classification: " + good + "}}]}\nsweep: {experts: [2], methods: [{method: linear}]}\ntasks: {dir: " + bad + "}\n"
	c3, err := config.Parse("t.yaml", []byte(src3), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Check(c3)
	if w := "t.yaml:4: tasks.dir: " + filepath.Join(bad, "suite.json") + `:1: task "t" has no files`; err == nil || !strings.Contains(err.Error(), w) {
		t.Errorf("error %v does not say %q", err, w)
	}
}

// TestTaskDirStudy runs a study on the checkpoints of a built-in study
// with the hand-written task folder: it evaluates exactly the folder's tasks
// and keys evaluations by the folder's hash.
func TestTaskDirStudy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tiny study")
	}
	trained := loadTiny(t, t.TempDir())
	runTiny(t, trained, Options{})
	tasksDir, _ := filepath.Abs("../../world/testdata/tasks")
	path := checkpointConfig(t, trained, []string{"sentiment", "topic_classification"}, "tasks: {dir: "+tasksDir+"}\n")
	src, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(src), "experts: [2, 8]", "experts: [2]", 1)), 0o644)
	c, err := config.LoadEnv(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.Out = t.TempDir()
	runTiny(t, c, Options{})
	got := dump(t, c.StorePath(), `SELECT DISTINCT task || ' ' || split || ' ' || metric FROM scores ORDER BY 1`)
	var want []string
	for _, ts := range []string{"hand_nli test", "hand_sentiment test", "hand_sentiment validation", "hand_topic test", "hand_topic validation"} {
		metrics := []string{"accuracy", "gold_nll", "option_ce"}
		if ts == "hand_topic test" { // selection (validation) does not generate
			metrics = []string{"accuracy", "exact_match", "gold_nll", "option_ce"}
		}
		for _, m := range metrics {
			want = append(want, ts+" "+m)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scored %v, want %v", got, want)
	}
	if n := count(t, c.StorePath(), `SELECT count(*) FROM merges WHERE chosen = 1`); n != 2*3 {
		t.Errorf("%d chosen merges, want 6 (2 bases × 1 subset × 3 methods)", n)
	}
}

// TestDiskPreflight fails a run whose file systems lack room for what it
// writes: before any write (the up-front estimate, with the built-in
// zoo's merged size from its presets), and before the first merge of a
// base (with the base's real size) when merged_dir's free space shrank;
// and on a real 64 KiB tmpfs as merged_dir where the platform allows
// mounting one.
func TestDiskPreflight(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the tiny zoo")
	}
	c := loadTiny(t, t.TempDir())
	_, err := Run(context.Background(), c, Options{Workers: 2, freeSpace: func(string) (uint64, error) { return 1000, nil }})
	if err == nil || !strings.Contains(err.Error(), "disk pre-flight, before any write: "+c.Out+" has 1000 B free") ||
		!strings.Contains(err.Error(), "merged checkpoints "+filepath.Join(c.Out, "merged")) || !strings.Contains(err.Error(), "(4 at once of") {
		t.Fatalf("error %v", err)
	}
	if ents, _ := os.ReadDir(c.Out); len(ents) != 0 {
		t.Fatalf("the failed pre-flight wrote %d entries", len(ents))
	}
	// The micro preset merges to a checkpoint of a few hundred KiB; 2
	// workers × 2 points (task_arithmetic's grid).
	merged := filepath.Join(c.Out, "merged")
	_, err = Run(context.Background(), c, Options{Workers: 2, freeSpace: func(p string) (uint64, error) {
		if p == merged {
			return 1000, nil
		}
		return 1 << 40, nil
	}})
	if err == nil || !strings.Contains(err.Error(), "disk pre-flight: "+merged+" has 1000 B free") ||
		!strings.Contains(err.Error(), "(4 merged checkpoints of") {
		t.Fatalf("error %v", err)
	}
	if err := syscall.Mount("tmpfs", merged, "tmpfs", 0, "size=64k"); err != nil {
		t.Logf("no tmpfs here (%v): the real file system case is skipped", err)
		return
	}
	defer syscall.Unmount(merged, 0)
	_, err = Run(context.Background(), c, Options{Workers: 2})
	if err == nil || !strings.Contains(err.Error(), "disk pre-flight, before any write: "+merged+" has 64.0 KiB free") {
		t.Fatalf("on a 64 KiB tmpfs: %v", err)
	}
}

// TestMergedCheckpointsBounded runs the tiny study with 2 workers and
// checks after every job that <out>/merged never holds more than workers ×
// the largest grid (2 × 2) checkpoints, and none at the end: a cell's
// merges go as soon as its selection commits (pruning only at the end of
// the run would leave all 24). The scheduler's open-cell limit guarantees
// the bound under any timing; the natural job order already keeps this
// run within it.
func TestMergedCheckpointsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tiny study")
	}
	c := loadTiny(t, t.TempDir())
	var mu sync.Mutex
	most := 0
	opts := Options{Workers: 2, afterJob: func(j *plan.Job) {
		ents, _ := os.ReadDir(filepath.Join(c.Out, "merged"))
		n := 0
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		mu.Lock()
		most = max(most, n)
		mu.Unlock()
	}}
	runTiny(t, c, opts)
	if most > 4 || most == 0 {
		t.Errorf("at most %d merged checkpoints existed at once, want 1 … 4", most)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.Out, "merged")); len(ents) != 0 {
		t.Errorf("%d merged checkpoints left", len(ents))
	}
}

// toBF16 copies the checkpoint dir src to dst with every tensor in bfloat16.
func toBF16(t *testing.T, src, dst string) {
	t.Helper()
	ck, err := checkpoint.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	var infos []checkpoint.TensorInfo
	for _, ti := range ck.Tensors() {
		ti.DType = checkpoint.BF16
		infos = append(infos, ti)
	}
	os.MkdirAll(dst, 0o755)
	w, err := checkpoint.CreateDir(dst, infos, ck.Metadata(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range infos {
		x, err := ck.Float32(ti.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFloat32(ti.Name, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.CopyModelFiles(src, dst); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointMergeDType merges bfloat16 checkpoints: the merged models
// keep the base's dtype unless sweep.dtype says otherwise, and sweep.dtype
// changes the merge keys.
func TestCheckpointMergeDType(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the tiny zoo")
	}
	trained := loadTiny(t, t.TempDir())
	runTiny(t, trained, Options{})
	dirs := zooDirs(t, trained)
	bf := t.TempDir()
	for _, k := range []string{"pt/pretrain/", "pt/expert/sentiment", "pt/expert/paraphrase"} {
		toBF16(t, dirs[k], filepath.Join(bf, strings.ReplaceAll(k, "/", "_")))
	}
	src := fmt.Sprintf(`name: bf
seed: 7
world: {seed: 3, validation: 4, test: 8}
zoo:
  checkpoints:
    - {size: micro, base: pt, base_model: %[1]s/pt_pretrain_, experts: {sentiment: %[1]s/pt_expert_sentiment, paraphrase: %[1]s/pt_expert_paraphrase}}
sweep:
  experts: [2]
  keep_merged: true
  methods: [{method: task_arithmetic, lambda: [1.0]}]
`, bf)
	dtypes := func(extra string) (map[checkpoint.DType]int, []string) {
		c, err := config.Parse("bf.yaml", []byte(src+extra), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		c.Out = t.TempDir()
		runTiny(t, c, Options{})
		p, _ := Plan(c)
		var keys []string
		for _, j := range p.Jobs {
			if j.Kind == plan.KindMerge {
				keys = append(keys, j.Key)
			}
		}
		got := map[checkpoint.DType]int{}
		ents, _ := filepath.Glob(filepath.Join(c.Out, "merged", "*"))
		for _, d := range ents {
			ck, err := checkpoint.Open(d)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range ck.Tensors() {
				got[ti.DType]++
			}
			ck.Close()
		}
		return got, keys
	}
	base, k1 := dtypes("")
	f32, k2 := dtypes("  dtype: float32\n")
	if len(base) != 1 || base[checkpoint.BF16] == 0 {
		t.Errorf("merged dtypes %v, want bfloat16 only (the base's)", base)
	}
	if len(f32) != 1 || f32[checkpoint.F32] == 0 {
		t.Errorf("with sweep.dtype float32: merged dtypes %v", f32)
	}
	if len(k1) != 1 || reflect.DeepEqual(k1, k2) {
		t.Errorf("merge keys %v and %v: sweep.dtype must change them", k1, k2)
	}
}
