package run

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"mergescale/experiments/config"
	"mergescale/experiments/plan"
	"mergescale/store"
	"mergescale/world"
)

// The harness tests run the tiny config (micro preset, a few steps, tiny
// splits). One full run takes a few seconds.

// TestMain lets the crash test re-run this test binary as the process it
// kills: with MERGESCALE_TEST_RUN_CONFIG set, the binary runs that config
// and exits.
func TestMain(m *testing.M) {
	if os.Getenv(fakeEvaluatorEnv) == "1" {
		if len(os.Args) > 1 && os.Args[1] == "persistent" {
			os.Exit(persistentFake(os.Args[2:]))
		}
		os.Exit(fakeEvaluator(os.Args[1:]))
	}
	if path := os.Getenv("MERGESCALE_TEST_RUN_CONFIG"); path != "" {
		os.Exit(childRun(path, os.Getenv("MERGESCALE_TEST_RUN_OUT")))
	}
	os.Exit(m.Run())
}

func childRun(path, out string) int {
	c, err := config.LoadEnv(path, func(string) (string, bool) { return "", false })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c.Out = out
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if _, err := Run(context.Background(), c, Options{Log: log}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// The tiny configs are shared by the experiments packages' tests.
const tinyConfig = "../testdata/tiny.yaml"

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func loadTiny(t *testing.T, out string) *config.Config {
	t.Helper()
	c, err := config.LoadEnv(tinyConfig, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	c.Out = out
	return c
}

func runTiny(t *testing.T, c *config.Config, opts Options) *Summary {
	t.Helper()
	sum, err := Run(context.Background(), c, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum
}

// dump returns the rows of a table that a rerun must not change, as text.
func dump(t *testing.T, path, query string) []string {
	t.Helper()
	db, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tab, err := db.Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(tab.Rows))
	for i, r := range tab.Rows {
		out[i] = strings.Join(r, "|")
	}
	return out
}

const (
	scoresQuery = `SELECT model_id, task, split, metric, printf('%.17g', value), n FROM scores ORDER BY 1, 2, 3, 4`
	mergesQuery = `SELECT model_id, size, base_type, k, subset, categories, method, hparams, chosen, printf('%.17g', sign_conflict), printf('%.17g', mean_cosine),
		variant, base_id, expert_ids FROM merges ORDER BY 1`
	modelsQuery = `SELECT id, kind, size, params, base_type, category, steps, printf('%.17g', final_loss), variant, printf('%.17g', tau_norm_ratio) FROM models ORDER BY 1`
)

func count(t *testing.T, path, query string) int {
	t.Helper()
	rows := dump(t, path, query)
	var n int
	fmt.Sscan(rows[0], &n)
	return n
}

func TestRunTinyStudy(t *testing.T) {
	out := t.TempDir()
	c := loadTiny(t, out)
	pl, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	sum := runTiny(t, c, Options{})
	if sum.Skipped != 0 || sum.Jobs != len(pl.Jobs) {
		t.Fatalf("first run: %d jobs, %d skipped; plan has %d", sum.Jobs, sum.Skipped, len(pl.Jobs))
	}
	db := c.StorePath()

	// Every cell has exactly one chosen point, scored on test.
	var merges int
	for _, j := range pl.Jobs {
		if j.Kind == plan.KindMerge {
			merges++
		}
	}
	if got := count(t, db, `SELECT count(*) FROM runs WHERE world_version = 'suite-4'`); got != 1 {
		t.Errorf("runs of world suite-4 = %d, want 1", got)
	}
	if got := count(t, db, `SELECT count(*) FROM merges`); got != merges {
		t.Errorf("merges rows = %d, want %d", got, merges)
	}
	if got := count(t, db, `SELECT count(*) FROM merges WHERE chosen = 1`); got != len(pl.Cells) {
		t.Errorf("chosen merges = %d, want one per cell (%d)", got, len(pl.Cells))
	}
	if got := count(t, db, `SELECT count(DISTINCT m.model_id) FROM merges m JOIN scores s ON s.model_id = m.model_id WHERE s.split = 'test'`); got != len(pl.Cells) {
		t.Errorf("merges scored on test = %d, want %d", got, len(pl.Cells))
	}
	// Every chosen merge is scored on every held-in task's test split: its
	// own categories' by the selection, the others' by the evaluation of
	// the chosen point that follows it.
	if got := count(t, db, `SELECT count(*) FROM (SELECT m.model_id FROM merges m JOIN scores s ON s.model_id = m.model_id
		WHERE m.chosen = 1 AND s.split = 'test' AND s.heldness = 'held_in' AND s.metric = 'accuracy'
		GROUP BY m.model_id HAVING count(DISTINCT s.task) = 16)`); got != len(pl.Cells) {
		t.Errorf("chosen merges scored on all 16 held-in tasks = %d, want %d", got, len(pl.Cells))
	}
	// Zoo models are scored on every task (16 held-in + 7 held-out).
	if got := count(t, db, `SELECT count(DISTINCT task) FROM scores s JOIN models m ON m.id = s.model_id WHERE m.kind = 'expert'`); got != 23 {
		t.Errorf("experts scored on %d tasks, want 23", got)
	}
	// Every job that does work records its wall time: the store says where
	// the time went.
	if got := count(t, db, `SELECT count(*) FROM jobs WHERE wall_seconds <= 0 AND kind IN ('eval', 'merge', 'pretrain', 'instruct', 'expert', 'multitask')`); got != 0 {
		t.Errorf("%d jobs recorded no wall time", got)
	}
	// keep_merged: false prunes every merged checkpoint.
	if ents, _ := os.ReadDir(filepath.Join(out, "merged")); len(ents) != 0 {
		t.Errorf("merged/ holds %d entries after the run, want none", len(ents))
	}

	// A rerun does no work and adds only its runs row.
	before := [][]string{dump(t, db, scoresQuery), dump(t, db, mergesQuery), dump(t, db, modelsQuery)}
	sum2 := runTiny(t, c, Options{})
	if sum2.Skipped != sum2.Jobs || len(sum2.Ran) != 0 {
		t.Fatalf("rerun ran %v (skipped %d of %d)", sum2.Ran, sum2.Skipped, sum2.Jobs)
	}
	after := [][]string{dump(t, db, scoresQuery), dump(t, db, mergesQuery), dump(t, db, modelsQuery)}
	if !reflect.DeepEqual(before, after) {
		t.Error("a rerun changed the store")
	}
	if got := count(t, db, `SELECT count(*) FROM runs`); got != 2 {
		t.Errorf("runs rows = %d after two runs, want 2", got)
	}

	// Another out dir with two workers gives identical scores.
	t.Run("workers", func(t *testing.T) {
		c2 := loadTiny(t, t.TempDir())
		c2.Workers = 2
		runTiny(t, c2, Options{})
		if a, b := dump(t, db, scoresQuery), dump(t, c2.StorePath(), scoresQuery); !reflect.DeepEqual(a, b) {
			t.Errorf("scores differ between workers 1 and 2 (%d vs %d rows)", len(a), len(b))
		}
		if a, b := dump(t, db, mergesQuery), dump(t, c2.StorePath(), mergesQuery); !reflect.DeepEqual(a, b) {
			t.Error("merges differ between workers 1 and 2")
		}
	})

	// Two shards gathered equal the unsharded run.
	t.Run("shards", func(t *testing.T) {
		c3 := loadTiny(t, t.TempDir())
		var dbs []string
		for i := 0; i < 2; i++ {
			s := runTiny(t, c3, Options{Shard: plan.Shard{Index: i, Count: 2}})
			dbs = append(dbs, s.Store)
		}
		if _, err := store.Gather(context.Background(), c3.StorePath(), dbs...); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{scoresQuery, mergesQuery, modelsQuery} {
			if a, b := dump(t, db, q), dump(t, c3.StorePath(), q); !reflect.DeepEqual(a, b) {
				t.Errorf("gathered shards differ from the unsharded run (%d vs %d rows) for %s", len(a), len(b), q)
			}
		}
	})
}

// TestRunAddsChosenEvals: a store whose cells were selected before the
// chosen points were scored on the other held-in tasks (simulated by
// removing those jobs and their scores) gets exactly those evaluations on
// a rerun, merging the pruned chosen points again, and ends equal to a
// store that had them from the start.
func TestRunAddsChosenEvals(t *testing.T) {
	out := t.TempDir()
	c := loadTiny(t, out)
	pl, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	runTiny(t, c, Options{})
	db := c.StorePath()
	want := [][]string{dump(t, db, scoresQuery), dump(t, db, mergesQuery), dump(t, db, modelsQuery)}

	var chosen []*plan.Job
	for _, j := range pl.Jobs {
		if j.IsChosenEval() {
			chosen = append(chosen, j)
		}
	}
	if len(chosen) == 0 {
		t.Fatal("the tiny plan has no evaluations of chosen points")
	}
	w, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = w.Write(ctx, func(tx *store.Tx) error {
		for _, j := range chosen {
			cats := "'" + strings.Join(j.Scope.HeldIn, "','") + "'"
			if _, err := tx.Exec(ctx, `DELETE FROM scores WHERE split = 'test' AND category IN (`+cats+`)
				AND model_id = (SELECT model_id FROM jobs WHERE key = ?)`, j.Key); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM jobs WHERE key = ?`, j.Key); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	sum := runTiny(t, c, Options{})
	if want := map[plan.Kind]int{plan.KindEval: len(chosen)}; !reflect.DeepEqual(sum.Ran, want) {
		t.Errorf("rerun ran %v, want %v", sum.Ran, want)
	}
	got := [][]string{dump(t, db, scoresQuery), dump(t, db, mergesQuery), dump(t, db, modelsQuery)}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("table %d after the rerun: %d rows, want %d (content differs)", i, len(got[i]), len(want[i]))
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "merged")); len(ents) != 0 {
		t.Errorf("merged/ holds %d entries after the rerun, want none", len(ents))
	}
}

// TestRunCrashResume kills a run with SIGKILL, once right after a job
// committed and once in the middle of a job, restarts it, and checks that
// the final store equals an uninterrupted run's.
func TestRunCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("re-runs the test binary")
	}
	ref := loadTiny(t, t.TempDir())
	runTiny(t, ref, Options{})
	want := [][]string{dump(t, ref.StorePath(), scoresQuery), dump(t, ref.StorePath(), mergesQuery), dump(t, ref.StorePath(), modelsQuery)}
	pl, err := Plan(ref)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		// afterJobs is the number of "job done" lines to wait for; delay
		// is how long to wait after that before the kill.
		afterJobs int
		delay     time.Duration
	}{
		{"at a job boundary", 3, 0},
		{"in the middle of a job", 1, 15 * time.Millisecond},
		{"late, during merges", 30, 5 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if !killAfter(t, out, tc.afterJobs, tc.delay) {
				t.Fatal("the child finished before the kill")
			}
			c := loadTiny(t, out)
			if done := count(t, c.StorePath(), `SELECT count(*) FROM jobs`); done >= len(pl.Jobs) {
				t.Fatalf("%d jobs done before the restart: the kill came too late to test anything", done)
			}
			runTiny(t, c, Options{})
			got := [][]string{dump(t, c.StorePath(), scoresQuery), dump(t, c.StorePath(), mergesQuery), dump(t, c.StorePath(), modelsQuery)}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("table %d after kill and resume: %d rows, want %d (content differs)", i, len(got[i]), len(want[i]))
				}
			}
			if ents, _ := filepath.Glob(filepath.Join(out, "*", ".tmp-*")); len(ents) > 0 {
				t.Logf("leftover temporary dirs (harmless, ignored): %v", ents)
			}
		})
	}
}

// killAfter runs the tiny config in a child process writing to out and
// kills it with SIGKILL after n jobs finished plus delay. It reports
// whether the kill happened before the child finished.
func killAfter(t *testing.T, out string, n int, delay time.Duration) bool {
	t.Helper()
	abs, err := filepath.Abs(tinyConfig)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MERGESCALE_TEST_RUN_CONFIG="+abs, "MERGESCALE_TEST_RUN_OUT="+out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	seen := 0
	for seen < n && sc.Scan() {
		if strings.Contains(sc.Text(), "job done") {
			seen++
		}
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	go io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return true
	}
	if err != nil {
		t.Fatalf("child failed before the kill: %v", err)
	}
	return false
}

// TestRunVariantStudy runs a study with a zoo variant axis and checks what
// the store records: each model's variant, each merge's base and experts,
// the experts' task-vector norm ratios and one chosen merge per cell.
func TestRunVariantStudy(t *testing.T) {
	out := t.TempDir()
	// First the config with its list overridden to the default value: no
	// variants; then, in the same out dir, with the list. The second run
	// trains only the other value's experts and relabels the first run's
	// models, and it fills in what an older store lacks (removed here).
	c0, err := config.LoadEnv("../testdata/tiny_variants.yaml", envMap(map[string]string{"MERGESCALE_ZOO_EXPERT_LR": "0.001"}))
	if err != nil {
		t.Fatal(err)
	}
	c0.Out = out
	runTiny(t, c0, Options{})
	if got := count(t, c0.StorePath(), `SELECT count(*) FROM models WHERE variant <> '{}'`); got != 0 {
		t.Fatalf("%d models with a variant from a config without lists", got)
	}
	func() {
		db, err := store.Open(c0.StorePath())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := context.Background()
		if err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE models SET tau_norm_ratio = NULL; UPDATE merges SET base_id = '', expert_ids = ''`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}()

	c, err := config.LoadEnv("../testdata/tiny_variants.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.Out = out
	pl, err := Plan(c)
	if err != nil {
		t.Fatal(err)
	}
	sum := runTiny(t, c, Options{})
	if sum.Ran[plan.KindExpert] != 16 || sum.Ran[plan.KindPretrain] != 0 || sum.Ran[plan.KindMerge] != 4 {
		t.Errorf("the run with the list ran %v, want only the second learning rate's 16 experts and 4 merges (and their evaluations)", sum.Ran)
	}
	db, err := store.OpenReadOnly(c.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	models, err := db.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]store.Model{}
	variants := map[string]map[string]int{} // kind → variant → count
	for _, m := range models {
		byID[m.ID] = m
		if variants[m.Kind] == nil {
			variants[m.Kind] = map[string]int{}
		}
		variants[m.Kind][m.Variant]++
		if (m.Kind == store.KindExpert) != (m.TauNormRatio != nil) {
			t.Errorf("%s model %s: tau_norm_ratio %v (want one exactly for experts)", m.Kind, plan.ShortKey(m.ID), m.TauNormRatio)
		}
		if m.TauNormRatio != nil && !(*m.TauNormRatio > 0 && *m.TauNormRatio < 1) {
			t.Errorf("expert %s: ‖τ‖/‖θ₀‖ = %v after 2 steps, want in (0, 1)", plan.ShortKey(m.ID), *m.TauNormRatio)
		}
	}
	lo, hi := `{"zoo.expert.lr":0.001}`, `{"zoo.expert.lr":0.003}`
	want := map[string]map[string]int{
		store.KindBase:      {"{}": 2}, // shared by both variants
		store.KindMultitask: {"{}": 2},
		store.KindExpert:    {lo: 16, hi: 16},
		store.KindMerged:    {lo: 4, hi: 4}, // 2 bases × 2 λ per variant
	}
	if !reflect.DeepEqual(variants, want) {
		t.Errorf("models per kind and variant %v, want %v", variants, want)
	}
	merges, err := db.Merges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chosen := map[string]int{}
	for _, m := range merges {
		j, ok := pl.Job(m.ModelID)
		if !ok {
			t.Fatalf("merge %s is not in the plan", plan.ShortKey(m.ModelID))
		}
		if m.Variant != j.Variant || m.BaseID != j.Parent {
			t.Errorf("merge %s: variant %s base %s, want %s %s", plan.ShortKey(m.ModelID), m.Variant, plan.ShortKey(m.BaseID), j.Variant, plan.ShortKey(j.Parent))
		}
		if b := byID[m.BaseID]; b.Kind != store.KindBase || b.BaseType != m.BaseType {
			t.Errorf("merge %s: base_id %s is a %s %s model", plan.ShortKey(m.ModelID), plan.ShortKey(m.BaseID), b.BaseType, b.Kind)
		}
		for i, id := range m.ExpertIDs {
			e := byID[id]
			if e.Kind != store.KindExpert || e.Category != m.Categories[i] || e.Variant != m.Variant {
				t.Errorf("merge %s: expert %d (%s) is %+v, want the %s expert of variant %s", plan.ShortKey(m.ModelID), i, plan.ShortKey(id), e, m.Categories[i], m.Variant)
			}
		}
		if m.Chosen {
			chosen[fmt.Sprintf("%s %s %s k=%d #%d %s", m.Variant, m.Size, m.BaseType, m.K, m.Subset, m.Method)]++
		}
	}
	if len(chosen) != len(pl.Cells) || len(pl.Cells) != 4 {
		t.Errorf("%d cells with a chosen merge, plan has %d (want 4): %v", len(chosen), len(pl.Cells), chosen)
	}
	for cell, n := range chosen {
		if n != 1 {
			t.Errorf("cell %s has %d chosen merges", cell, n)
		}
	}

	// Two shards gathered hold the same variants, bases, experts, norms
	// and choices.
	c2 := *c
	c2.Out = t.TempDir()
	var dbs []string
	for i := 0; i < 2; i++ {
		dbs = append(dbs, runTiny(t, &c2, Options{Shard: plan.Shard{Index: i, Count: 2}}).Store)
	}
	if _, err := store.Gather(ctx, c2.StorePath(), dbs...); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{mergesQuery, modelsQuery} {
		if a, b := dump(t, c.StorePath(), q), dump(t, c2.StorePath(), q); !reflect.DeepEqual(a, b) {
			t.Errorf("gathered shards differ from the unsharded run (%d vs %d rows) for %s", len(a), len(b), q)
		}
	}
}

// Two studies that name one zoo_dir share its models: the second reuses the
// first's trained models (it reads their recorded training summaries, here
// marked), keeps nothing under its own out/zoo, and scores them the same.
func TestZooDirShared(t *testing.T) {
	root := t.TempDir()
	zoo := filepath.Join(root, "zoo")
	a, b := loadTiny(t, filepath.Join(root, "a")), loadTiny(t, filepath.Join(root, "b"))
	a.ZooDir, b.ZooDir = zoo, zoo
	runTiny(t, a, Options{})
	if _, err := os.Stat(filepath.Join(a.Out, "zoo")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a/zoo exists (%v): models belong in zoo_dir", err)
	}
	// Mark one model's training summary: a study that reuses the model
	// reads it; one that retrains it writes its own.
	var key string
	for _, r := range dump(t, a.StorePath(), `SELECT id FROM models WHERE kind = 'expert' ORDER BY id LIMIT 1`) {
		key = r
	}
	sumFile := filepath.Join(zoo, key, trainSummaryFile)
	raw, err := os.ReadFile(sumFile)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	s["final_loss"] = 123.5
	raw, _ = json.Marshal(s)
	if err := os.WriteFile(sumFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	runTiny(t, b, Options{})
	if got := dump(t, b.StorePath(), `SELECT printf('%.1f', final_loss) || ' ' || path FROM models WHERE id = '`+key+`'`); len(got) != 1 || got[0] != "123.5 ../zoo/"+key {
		t.Errorf("b's record of %s = %v, want the shared model (final loss 123.5, path ../zoo/%s)", key, got, key)
	}
	if x, y := dump(t, a.StorePath(), scoresQuery), dump(t, b.StorePath(), scoresQuery); !slices.Equal(x, y) {
		t.Errorf("scores differ between the two studies sharing a zoo (%d vs %d rows)", len(x), len(y))
	}
}

// TestRunSuite5: a study in the suite-5 world pretrains on the knowledge
// corpus, probes every base over all facts (with the facts' exposures in
// that corpus), scores knowledge tasks by known flag for every model
// descended from a base, and splits each knowledge task's instances exactly
// between the two flags.
func TestRunSuite5(t *testing.T) {
	c := loadTiny(t, filepath.Join(t.TempDir(), "out"))
	c.World.Version = "suite-5"
	runTiny(t, c, Options{})
	path := StorePathFor(c, plan.Shard{Index: 0, Count: 1})
	facts := len(world.KnowledgeAttributes()) * world.KnowledgeSuiteParams.People
	probes := dump(t, path, `SELECT m.base_type, count(*), sum(k.exposures) FROM knowledge k JOIN models m ON m.id = k.model_id GROUP BY m.id ORDER BY 1`)
	if len(probes) == 0 {
		t.Fatal("no knowledge probe in the store")
	}
	docs := c.Zoo.Pretrain.Steps * c.Zoo.Pretrain.Batch
	wantExp := int(math.Round(world.KnowledgeSuiteParams.BioShare*float64(docs))) * len(world.KnowledgeAttributes())
	for _, p := range probes {
		if p != fmt.Sprintf("%s|%d|%d", strings.Split(p, "|")[0], facts, wantExp) {
			t.Errorf("probe of a base: %s, want %d facts with %d exposures in all", p, facts, wantExp)
		}
	}
	if v := dump(t, path, `SELECT DISTINCT world_version FROM runs`); len(v) != 1 || v[0] != "suite-5" {
		t.Errorf("runs.world_version = %v", v)
	}
	// Every knowledge task's test score of every model has its known split,
	// whose counts add up to the score's n; no in-context task has one.
	bad := dump(t, path, `SELECT s.model_id, s.task, s.n, (SELECT coalesce(sum(n), 0) FROM knowledge_scores k
			WHERE k.model_id = s.model_id AND k.task = s.task AND k.split = s.split AND k.metric = 'accuracy') AS split_n
		FROM scores s JOIN models m ON m.id = s.model_id
		WHERE s.metric = 'accuracy' AND m.kind <> 'untrained'
		AND ((s.task IN ('cbqa_fact', 'mcqa_fact', 's2t_person', 'sum_fact', 'para_fact', 'complete_fact', 'nli_fact') AND split_n <> s.n)
			OR (s.task NOT IN ('cbqa_fact', 'mcqa_fact', 's2t_person', 'sum_fact', 'para_fact', 'complete_fact', 'nli_fact') AND split_n <> 0))`)
	if len(bad) > 0 {
		t.Errorf("%d scores whose known split does not add up, e.g. %s", len(bad), bad[0])
	}
	if n := dump(t, path, `SELECT count(*) FROM knowledge_scores`); n[0] == "0" {
		t.Error("no knowledge_scores rows")
	}
	// The same study in two shards, gathered: every shard records the
	// bases it uses with their probes, and the knowledge scores are the
	// unsharded run's, row for row.
	sc := loadTiny(t, filepath.Join(t.TempDir(), "sharded"))
	sc.World.Version = "suite-5"
	var shards []string
	for i := range 2 {
		sum := runTiny(t, sc, Options{Shard: plan.Shard{Index: i, Count: 2}})
		shards = append(shards, sum.Store)
	}
	all := filepath.Join(t.TempDir(), "all.db")
	if _, err := store.Gather(context.Background(), all, shards...); err != nil {
		t.Fatal(err)
	}
	const ks = `SELECT model_id, task, split, known, metric, printf('%.17g', value), n FROM knowledge_scores ORDER BY 1, 2, 3, 4, 5`
	const kp = `SELECT model_id, fact, exposures, printf('%.17g', logprob) FROM knowledge ORDER BY 1, 2`
	for _, q := range []string{ks, kp} {
		if x, y := dump(t, path, q), dump(t, all, q); !slices.Equal(x, y) {
			t.Errorf("sharded and gathered: %d rows, unsharded %d (%s)", len(y), len(x), q)
		}
	}
}
