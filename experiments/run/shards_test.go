package run

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mergescale/checkpoint"
	"mergescale/eval"
	"mergescale/experiments/config"
	"mergescale/experiments/plan"
)

// The tests of running as a cluster's shards do: a zoo of tiny
// checkpoints (one 4-element tensor each), scored by a fake command
// evaluator that answers without loading the model, so a whole study runs
// in a second.

// shardsFake is the fake evaluator's modes for these tests (the test binary
// runs itself as the evaluator, see fakeEvaluator): "const" answers every
// loglikelihood request with minus the words of its continuation; "once:DIR"
// fails the first call for each model (a marker in DIR), then answers like
// const; "failfor:FILE" fails every call for a model whose path contains
// the text of FILE, until FILE is removed (the evaluator is fixed; its
// command, part of every evaluation's key, stays the same).
// Every mode prints a line to stdout and one to stderr first.
func shardsFake(mode, model, reqPath, outPath string) (int, bool) {
	name, arg, _ := strings.Cut(mode, ":")
	switch name {
	case "const", "once", "failfor":
	default:
		return 0, false
	}
	fmt.Printf("fake evaluator %s on %s\n", name, model)
	fmt.Fprintf(os.Stderr, "fake evaluator stderr for %s\n", model)
	switch name {
	case "once":
		sum := sha256.Sum256([]byte(model))
		marker := filepath.Join(arg, hex.EncodeToString(sum[:8]))
		if _, err := os.Stat(marker); err != nil {
			os.WriteFile(marker, nil, 0o644)
			fmt.Fprintln(os.Stderr, "transient failure (first call)")
			return 3, true
		}
	case "failfor":
		if b, err := os.ReadFile(arg); err == nil && strings.Contains(model, string(b)) {
			fmt.Fprintln(os.Stderr, "this model always fails")
			return 4, true
		}
	}
	f, err := os.Open(reqPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	reqs, err := eval.ReadRequests(f, reqPath)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	ans := make([]eval.Answer, len(reqs))
	for i, r := range reqs {
		ans[i] = eval.Answer{ID: r.ID, LogProb: -float64(len(strings.Fields(r.Continuation))), Text: "x"}
	}
	out, err := os.Create(outPath)
	if err != nil {
		return 1, true
	}
	defer out.Close()
	if err := eval.WriteAnswers(out, reqs, ans); err != nil {
		return 1, true
	}
	return 0, true
}

// writeTinyModel writes a model directory: model.safetensors with one
// tensor w = [v, 1, 2, 3] and a config.json.
func writeTinyModel(t *testing.T, dir string, v float32) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := checkpoint.CreateFile(filepath.Join(dir, "model.safetensors"), []checkpoint.TensorInfo{{Name: "w", DType: checkpoint.F32, Shape: []int64{4}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32("w", []float32{v, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"n": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tinyZoo writes a base and two experts (the first two held-in categories)
// under dir and returns their paths.
func tinyZoo(t *testing.T, dir string) (base string, experts map[string]string) {
	t.Helper()
	cats := config.HeldInCategories()[:2]
	base = writeTinyModel(t, filepath.Join(dir, "base"), 0)
	experts = map[string]string{}
	for i, c := range cats {
		experts[c] = writeTinyModel(t, filepath.Join(dir, c), float32(i+1))
	}
	return base, experts
}

// shardsConfig is the study of tests here on a zoo of checkpoints: 3
// registrations, 3 zoo evaluations, 2 merges, their 2 validation
// evaluations and 1 selection (11 jobs), with the fake evaluator in mode
// and extra appended (top-level keys).
func shardsConfig(t *testing.T, base string, experts map[string]string, mode, extra string) *config.Config {
	t.Helper()
	// The evaluator is this test binary: without the variable it would
	// run the tests again.
	t.Setenv(fakeEvaluatorEnv, "1")
	var b strings.Builder
	fmt.Fprintf(&b, "name: shards\nseed: 7\nworld: {seed: 3, validation: 4, test: 8}\nzoo:\n  checkpoints:\n    - size: x\n      base: pt\n      base_model: %s\n      experts:\n", base)
	for _, c := range config.HeldInCategories()[:2] {
		fmt.Fprintf(&b, "        %s: %s\n", c, experts[c])
	}
	fmt.Fprintf(&b, "sweep: {experts: [2], methods: [{method: task_arithmetic, lambda: [0.5, 1.0]}]}\n")
	fmt.Fprintf(&b, "eval: {backend: command, command: [%q, %q, \"{model}\", \"{requests}\", \"{out}\"]}\n", os.Args[0], mode)
	b.WriteString(extra)
	c, err := config.Parse("shards.yaml", []byte(b.String()), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shardsJobs is the size of shardsConfig's plan: 3 registrations, 2
// merges and 7 evaluations (one of them scores the chosen merge on the
// held-in categories it did not merge).
const shardsJobs = 12

// logTo returns a logger writing text lines into b (safe for concurrent
// use).
func logTo(b *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hfSnapshot lays out the model dir src as a Hugging Face cache entry
// under hub: models--org--NAME/blobs/<sha256> holding the files and
// snapshots/<commit>/<file> relative links to them, as huggingface_hub
// writes it; it returns the snapshot folder.
func hfSnapshot(t *testing.T, hub, name, src string) string {
	t.Helper()
	repo := filepath.Join(hub, "models--org--"+name)
	snap := filepath.Join(repo, "snapshots", "0123456789abcdef")
	for _, d := range []string{filepath.Join(repo, "blobs"), snap, filepath.Join(repo, "refs")} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("0123456789abcdef"), 0o644)
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		blob := hex.EncodeToString(sum[:])
		os.WriteFile(filepath.Join(repo, "blobs", blob), b, 0o644)
		if err := os.Symlink(filepath.Join("..", "..", "blobs", blob), filepath.Join(snap, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

// TestSymlinkedSnapshotZoo points zoo.checkpoints at Hugging Face cache
// snapshots (every file a link into blobs/): the plan works and keys the
// checkpoints exactly as copies of the same files; the first plan hashes
// every file once, a second hashes none (its log line says so).
func TestSymlinkedSnapshotZoo(t *testing.T) {
	dir := t.TempDir()
	base, experts := tinyZoo(t, filepath.Join(dir, "plain"))
	hub := filepath.Join(dir, "hub")
	sBase := hfSnapshot(t, hub, "base", base)
	sExperts := map[string]string{}
	for c, p := range experts {
		sExperts[c] = hfSnapshot(t, hub, c, p)
	}
	c := shardsConfig(t, sBase, sExperts, "const", "")
	c.Out = t.TempDir()
	var log syncBuffer
	p1, err := PlanLogged(c, logTo(&log))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "identities: hashed 6 files, 0 from cache") {
		t.Errorf("first plan's log:\n%s", log.String())
	}
	var log2 syncBuffer
	p2, err := PlanLogged(c, logTo(&log2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log2.String(), "identities: hashed 0 files, 3 from cache") {
		t.Errorf("second plan's log:\n%s", log2.String())
	}
	if !reflect.DeepEqual(jobKeys(p1), jobKeys(p2)) || len(p1.Jobs) != shardsJobs {
		t.Errorf("plans differ or have %d jobs", len(p1.Jobs))
	}
	// The links count as the files they point to: the keys of the
	// registrations equal those of plain copies.
	plain := shardsConfig(t, base, experts, "const", "")
	plain.Out = t.TempDir()
	p3, err := Plan(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(jobKeys(p1), jobKeys(p3)) {
		t.Error("a snapshot of links and a copy of its files have different keys")
	}
	// A whole run on the snapshots.
	sum := runTiny(t, c, Options{})
	if sum.Ran[plan.KindCheckpoint] != 3 || sum.Jobs != shardsJobs {
		t.Errorf("ran %v of %d jobs", sum.Ran, sum.Jobs)
	}
	// A broken link is an error naming it.
	os.Remove(filepath.Join(hub, "models--org--base", "blobs", mustBlob(t, filepath.Join(base, "config.json"))))
	if _, err := Plan(c); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("broken link: %v", err)
	}
}

func mustBlob(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestIdentityCacheMergeOnWrite has two processes' caches (two shards, or a
// `run --plan` beside a shard) hash different checkpoints from the same
// cache file and save at once: the file ends with both's hashes, and a
// third plan hashes nothing.
func TestIdentityCacheMergeOnWrite(t *testing.T) {
	dir := t.TempDir()
	base, experts := tinyZoo(t, dir)
	out := t.TempDir()
	var paths [][]string
	for _, e := range experts {
		paths = append(paths, []string{e})
	}
	paths[0] = append(paths[0], base)
	var wg sync.WaitGroup
	errs := make([]error, len(paths))
	for i, ps := range paths {
		wg.Go(func() {
			c := loadIdentityCache(out)
			if err := c.hashAll(ps); err != nil {
				errs[i] = err
				return
			}
			errs[i] = c.save()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := loadIdentityCache(out)
	if len(c.entries) != 6 {
		t.Fatalf("the cache holds %d file hashes, want 6 (both writers' 3 checkpoints × 2 files)", len(c.entries))
	}
	if err := c.hashAll(checkpointPaths(shardsConfig(t, base, experts, "const", ""))); err != nil || c.hashed != 0 || c.fromCache != 3 {
		t.Errorf("after both saves: hashed %d, %d from cache (%v)", c.hashed, c.fromCache, err)
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".identity-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestMergedDirAndDB moves merged checkpoints to merged_dir and the store
// to db: merges happen there (nothing under <out>/merged), the store is
// db, and the shards' stores go beside it.
func TestMergedDirAndDB(t *testing.T) {
	t.Setenv(fakeEvaluatorEnv, "1")
	base, experts := tinyZoo(t, t.TempDir())
	scratch, data := t.TempDir(), t.TempDir()
	db := filepath.Join(data, "store", "study.db")
	c := shardsConfig(t, base, experts, "const", fmt.Sprintf("merged_dir: %s\ndb: %s\n", filepath.Join(scratch, "m"), db))
	c.Out = t.TempDir()
	seen := 0
	opts := Options{afterJob: func(j *plan.Job) {
		if j.Kind == plan.KindMerge {
			if _, err := os.Stat(filepath.Join(scratch, "m", j.Key, "model.safetensors")); err == nil {
				seen++
			}
		}
	}}
	sum := runTiny(t, c, opts)
	if sum.Store != db || seen != 2 {
		t.Errorf("store %s, %d merges seen in merged_dir; want %s and 2", sum.Store, seen, db)
	}
	if _, err := os.Stat(filepath.Join(c.Out, "merged")); err == nil {
		t.Error("<out>/merged exists")
	}
	if _, err := os.Stat(filepath.Join(c.Out, "results.db")); err == nil {
		t.Error("<out>/results.db exists")
	}
	if n := count(t, db, `SELECT count(*) FROM jobs`); n != shardsJobs {
		t.Errorf("%d jobs in db, want %d", n, shardsJobs)
	}
	// Shards: their stores beside db.
	c2 := shardsConfig(t, base, experts, "const", fmt.Sprintf("merged_dir: %s\ndb: %s\n", filepath.Join(scratch, "m2"), db))
	c2.Out = t.TempDir()
	total := 0
	for i := range 2 {
		sum := runTiny(t, c2, Options{Shard: plan.Shard{Index: i, Count: 2}})
		want := filepath.Join(data, "store", fmt.Sprintf("results-shard-%d-of-2.db", i))
		if sum.Store != want {
			t.Errorf("shard %d store %s, want %s", i, sum.Store, want)
		}
		total += count(t, want, `SELECT count(*) FROM jobs WHERE kind <> 'checkpoint'`)
	}
	if total != shardsJobs-3 {
		t.Errorf("the shards did %d merge and evaluation jobs, want %d", total, shardsJobs-3)
	}
}

// TestEvalRetriesAndLogs runs the study with an evaluator whose first call
// for every model fails: without retries the run stops at the first
// evaluation; with eval.retries: 1 every evaluation passes on its second
// attempt. Every evaluation's log holds the evaluator's stdout and stderr
// of both attempts, and the store keeps its path.
func TestEvalRetriesAndLogs(t *testing.T) {
	t.Setenv(fakeEvaluatorEnv, "1")
	base, experts := tinyZoo(t, t.TempDir())
	markers := t.TempDir()
	c := shardsConfig(t, base, experts, "once:"+markers, "")
	c.Out = t.TempDir()
	if _, err := Run(context.Background(), c, Options{}); err == nil || !strings.Contains(err.Error(), "transient failure") {
		t.Fatalf("without retries: %v", err)
	}
	os.RemoveAll(markers)
	os.MkdirAll(markers, 0o755)
	c = shardsConfigRetries(t, base, experts, "once:"+markers, 1)
	c.Out = t.TempDir()
	var log syncBuffer
	sum, err := Run(context.Background(), c, Options{Log: logTo(&log), retryBase: time.Millisecond})
	if err != nil {
		t.Fatalf("with eval.retries 1: %v", err)
	}
	if sum.Ran[plan.KindEval] != 7 || !strings.Contains(log.String(), "failed (attempt 1 of 2), retrying in 1ms") {
		t.Errorf("ran %v; log:\n%s", sum.Ran, log.String())
	}
	rows := dump(t, c.StorePath(), `SELECT kind, log_path FROM jobs ORDER BY kind, log_path`)
	evals, retried := 0, 0
	for _, r := range rows {
		kind, rel, _ := strings.Cut(r, "|")
		if kind != "eval" {
			if rel != "" {
				t.Errorf("a %s job has a log: %s", kind, rel)
			}
			continue
		}
		evals++
		b, err := os.ReadFile(filepath.Join(c.Out, rel))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, w := range []string{"attempt 1 of 2", "fake evaluator once on ", "fake evaluator stderr for ", "== done"} {
			if !strings.Contains(text, w) {
				t.Errorf("%s does not say %q:\n%s", rel, w, text)
			}
		}
		if strings.Contains(text, "attempt 2 of 2") {
			retried++
			for _, w := range []string{"transient failure (first call)", "== failed: eval: evaluator", "exit status 3"} {
				if !strings.Contains(text, w) {
					t.Errorf("%s does not say %q:\n%s", rel, w, text)
				}
			}
		}
	}
	// The selection, and the chosen merge's evaluation on the other
	// held-in categories, evaluate a model its validation evaluation called
	// the evaluator for already: they pass at once.
	if evals != 7 || retried != 5 {
		t.Errorf("%d evaluation jobs with logs, %d of them retried; want 7 and 5", evals, retried)
	}
	if n := count(t, c.StorePath(), `SELECT count(*) FROM scores`); n == 0 {
		t.Error("no scores")
	}
}

// shardsConfigRetries is shardsConfig with eval.retries set.
func shardsConfigRetries(t *testing.T, base string, experts map[string]string, mode string, retries int) *config.Config {
	t.Helper()
	c := shardsConfig(t, base, experts, mode, "")
	c.Eval.Retries = retries
	return c
}

// TestKeepGoing runs the study with an evaluator that always fails for one
// expert: with KeepGoing every other job finishes and the error names the
// model; a rerun with a good evaluator does only that job, and nothing is
// counted twice.
func TestKeepGoing(t *testing.T) {
	t.Setenv(fakeEvaluatorEnv, "1")
	base, experts := tinyZoo(t, t.TempDir())
	bad := experts[config.HeldInCategories()[1]]
	flag := filepath.Join(t.TempDir(), "broken")
	os.WriteFile(flag, []byte(bad), 0o644)
	c := shardsConfig(t, base, experts, "failfor:"+flag, "")
	c.Out = t.TempDir()
	// Without keep-going the run stops at the failure.
	sum, err := Run(context.Background(), c, Options{})
	if err == nil || sum.Failed != 0 {
		t.Fatalf("without keep-going: %v", err)
	}
	stopped := count(t, c.StorePath(), `SELECT count(*) FROM jobs`)
	sum, err = Run(context.Background(), c, Options{KeepGoing: true, Workers: 2})
	if err == nil {
		t.Fatal("keep-going: no error")
	}
	for _, w := range []string{"1 job(s) failed; every other job finished", "[model " + bad + "]", "this model always fails", "exit status 4"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	done := count(t, c.StorePath(), `SELECT count(*) FROM jobs`)
	if done != shardsJobs-1 || sum.Failed != 1 || sum.NotRun != 0 || done <= stopped {
		t.Errorf("%d jobs done (%d before), %d failed, %d not run; want %d, 1, 0", done, stopped, sum.Failed, sum.NotRun, shardsJobs-1)
	}
	scores := count(t, c.StorePath(), `SELECT count(*) FROM scores`)
	os.Remove(flag) // the evaluator is fixed
	sum = runTiny(t, c, Options{})
	if sum.Skipped != shardsJobs-1 || sum.Ran[plan.KindEval] != 1 || len(sum.Ran) != 1 {
		t.Errorf("rerun skipped %d and ran %v; want %d skipped and 1 evaluation", sum.Skipped, sum.Ran, shardsJobs-1)
	}
	if n := count(t, c.StorePath(), `SELECT count(*) FROM jobs`); n != shardsJobs {
		t.Errorf("%d jobs after the rerun, want %d", n, shardsJobs)
	}
	after := count(t, c.StorePath(), `SELECT count(*) FROM scores`)
	if per := after - scores; per <= 0 || after != count(t, c.StorePath(), `SELECT count(DISTINCT model_id || task || split || metric) FROM scores`) {
		t.Errorf("scores %d → %d", scores, after)
	}

	// Failed validations drop their cell's selection; the cell's merged
	// checkpoints are deleted once none of its jobs is left, and the
	// rerun merges them again for what is left.
	os.WriteFile(flag, []byte("/merged/"), 0o644)
	c.Out = t.TempDir()
	sum, err = Run(context.Background(), c, Options{KeepGoing: true})
	if err == nil || sum.Failed != 2 || sum.NotRun != 2 || !strings.Contains(err.Error(), "2 job(s) failed, 2 more not run because they depend on them") {
		t.Fatalf("failed validations: %d failed, %d not run, %v", sum.Failed, sum.NotRun, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.Out, "merged")); len(ents) != 0 {
		t.Errorf("merged/ holds %d entries after the cell broke", len(ents))
	}
	os.Remove(flag)
	sum = runTiny(t, c, Options{})
	if sum.Ran[plan.KindEval] != 4 || sum.Ran[plan.KindMerge] != 0 || sum.Skipped != shardsJobs-4 {
		t.Errorf("rerun ran %v, skipped %d", sum.Ran, sum.Skipped)
	}
	if n := count(t, c.StorePath(), `SELECT count(*) FROM merges WHERE chosen = 1`); n != 1 {
		t.Errorf("%d chosen merges, want 1", n)
	}
}

// TestPreflightBeforeAnyWrite runs the study with out on a 24 KiB file
// system: it fails at the disk pre-flight, naming the need and the free
// space, and writes nothing (no identity cache, no store, no folder). On
// a real 24 KiB tmpfs where this process may mount one, else with the free
// space reported by a stand-in.
func TestPreflightBeforeAnyWrite(t *testing.T) {
	t.Setenv(fakeEvaluatorEnv, "1")
	base, experts := tinyZoo(t, t.TempDir())
	c := shardsConfig(t, base, experts, "const", "")
	c.Out = t.TempDir()
	opts := Options{}
	if err := syscall.Mount("tmpfs", c.Out, "tmpfs", 0, "size=24k"); err != nil {
		t.Logf("no tmpfs here (%v): the free space of out is reported as 24 KiB instead", err)
		opts.freeSpace = func(string) (uint64, error) { return 24 << 10, nil }
	} else {
		defer syscall.Unmount(c.Out, 0)
	}
	_, err := Run(context.Background(), c, opts)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"disk pre-flight, before any write: " + c.Out + " has 24.0 KiB free, this run writes up to",
		"store " + c.StorePath(), "identity cache " + filepath.Join(c.Out, identityCacheFile),
		"merged checkpoints " + filepath.Join(c.Out, "merged"), "evaluation logs "} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	if ents, _ := os.ReadDir(c.Out); len(ents) != 0 {
		t.Errorf("out holds %d entries after the pre-flight failed", len(ents))
	}
}
