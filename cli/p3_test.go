package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"mergescale/model"
)

// convertP3 runs adapters/p3_to_taskdir.py on the fixture testdata/p3 into
// dir/tasks (skipping the test when python3 is absent) and returns the
// converter's report.
func convertP3(t *testing.T, dir string) map[string]any {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the P3 converter is not tested")
	}
	out := filepath.Join(dir, "tasks")
	cmd := exec.Command(py, "../adapters/p3_to_taskdir.py", "--p3", "testdata/p3", "--mapping", "testdata/p3/mapping.json", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("converter: %v\n%s", err, b)
	}
	b, err := os.ReadFile(filepath.Join(out, "convert_report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestP3ConverterSelfTest runs the converter's own checks.
func TestP3ConverterSelfTest(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	if b, err := exec.Command(py, "../adapters/p3_to_taskdir.py", "--self-test").CombinedOutput(); err != nil {
		t.Fatalf("self-test: %v\n%s", err, b)
	}
}

// TestP3ToStudy converts the P3 fixture (a classification task, a
// generative task, a held-out task whose test labels are hidden, with
// repeats and prompts shared between splits), checks the converter's
// report of dropped rows, runs a study on random checkpoints with the rule
// evaluator (scoring.go's fake backend) and checks every score in the
// store, the held-out task's (test_from: validation) included. It then
// checks that tasks.max_examples draws the same examples for the same
// tasks.seed and others for another (the data hash of run --plan).
func TestP3ToStudy(t *testing.T) {
	dir := t.TempDir()
	rep := convertP3(t, dir)

	type counts map[string]map[string]float64
	got := map[string]counts{}
	for name, v := range rep["tasks"].(map[string]any) {
		got[name] = counts{}
		for sp, reasons := range v.(map[string]any)["dropped"].(map[string]any) {
			got[name][sp] = map[string]float64{}
			for r, n := range reasons.(map[string]any) {
				got[name][sp][r] = n.(float64)
			}
		}
	}
	want := map[string]counts{
		"movie": {"train": {"duplicate": 1, "in_test": 1}, "validation": {"duplicate": 1, "in_test": 1}, "test": {"duplicate": 1}},
		"news":  {"train": {"in_test": 1}, "validation": {}, "test": {}},
		"nli":   {"train": {"in_test": 1}, "validation": {}, "test": {}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dropped rows\n%v\nwant\n%v", got, want)
	}
	if n := rep["dropped_total"].(float64); n != 7 {
		t.Errorf("dropped_total %v, want 7", n)
	}
	movie := rep["tasks"].(map[string]any)["movie"].(map[string]any)
	if sk := movie["templates_skipped"].(map[string]any); len(sk) != 1 || sk["write_review"] == nil {
		t.Errorf("movie's skipped templates: %v (want write_review, which has no choices)", sk)
	}
	suite, _ := os.ReadFile(filepath.Join(dir, "tasks", "suite.json"))
	if !strings.Contains(string(suite), `"test_from": "validation"`) {
		t.Errorf("suite.json does not record test_from:\n%s", suite)
	}

	for i, name := range []string{"base", "e_sent", "e_summ"} {
		m := model.New(model.Config{VocabSize: 40, NPositions: 16, NEmbd: 8, NLayer: 1, NHead: 1}, uint64(i+1))
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		if err := m.Save(filepath.Join(dir, name), nil); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	study := func(tasks string) string {
		n++
		cfg := fmt.Sprintf(`name: p3
seed: 7
out: %[1]s/out
zoo:
  checkpoints:
    - size: micro
      base: it
      base_model: %[1]s/base
      experts: {sentiment: %[1]s/e_sent, summarization: %[1]s/e_summ}
tasks:
  dir: %[1]s/tasks
%[3]s
eval:
  backend: command
  command: [%[2]q, "{model}", "{requests}", "{out}"]
sweep:
  experts: [2]
  subsets: 1
  methods:
    - {method: task_arithmetic, lambda: [0.5, 1.0]}
workers: 1
`, dir, os.Args[0], tasks)
		path := filepath.Join(dir, fmt.Sprintf("study-%d.yaml", n))
		os.WriteFile(path, []byte(cfg), 0o644)
		return path
	}
	t.Setenv(ruleEvalEnv, "1")
	// Train is capped (evaluation never reads it): the run's log and
	// summary count what the cap left out.
	stdout, stderr, code := runCmd(t, "run", study("  max_examples: {train: 1}\n  seed: 3"))
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	for _, w := range []string{
		`msg="task folder: dropped" task=movie split=train reason=max_examples count=2`,
		`msg="task folder: test split from validation (test labels hidden)" task=nli`,
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("the run's log does not say %s:\n%s", w, stderr)
		}
	}
	if w := "task folder: lines dropped: 2 max_examples"; !strings.Contains(stdout, w) {
		t.Errorf("the run's summary does not say %q:\n%s", w, stdout)
	}

	// The rule evaluator picks the shortest option and echoes what follows
	// "say: " (cut at the stop string "."); every model answers alike.
	//   movie test: "no" and "bad" win, right on 2 of 4; validation on 1 of 3.
	//   nli test (P3's validation): "Never" and "True" win, right on 3 of 4.
	//   news test: ROUGE-L after SQuAD's normalization (articles dropped):
	//   "storm hits coast" against "storm hit coast" 2/3, and 1: mean 5/6;
	//   validation 1 and 0.8 (P 2/3, R 1): mean 0.9; exact match 1/2 on
	//   test, 0 on validation ("the mayor opens a park" ≠ "mayor opens park").
	rows := storeRows(t, filepath.Join(dir, "out", "results.db"),
		`SELECT DISTINCT task, split, metric, printf('%.6f', value), n FROM scores WHERE metric NOT IN ('gold_nll', 'option_ce') ORDER BY 1, 2, 3`)
	wantRows := []string{
		"movie|test|accuracy|0.500000|4",
		"movie|validation|accuracy|0.333333|3",
		"news|test|exact_match|0.500000|2",
		"news|test|rouge_l|0.833333|2",
		"news|validation|exact_match|0.000000|2",
		"news|validation|rouge_l|0.900000|2",
		"nli|test|accuracy|0.750000|4",
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("scores\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(wantRows, "\n"))
	}

	// tasks.max_examples: the same draw (data hash) for the same seed,
	// another for another seed.
	hash := regexp.MustCompile(`tasks \S+: 3 tasks, data ([0-9a-f]{12})`)
	plan := func(seed int) string {
		out, errOut, code := runCmd(t, "run", "--plan", study(fmt.Sprintf("  max_examples: {test: 2}\n  seed: %d", seed)))
		if code != 0 {
			t.Fatalf("run --plan: exit %d: %s", code, errOut)
		}
		m := hash.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "test from validation (test labels hidden): nli") ||
			!strings.Contains(out, "lines dropped: 4 max_examples") {
			t.Fatalf("run --plan says:\n%s", out)
		}
		return m[1]
	}
	a, b, c := plan(1), plan(1), plan(2)
	if a != b || a == c {
		t.Errorf("data hashes: seed 1 %s and %s, seed 2 %s", a, b, c)
	}
}
