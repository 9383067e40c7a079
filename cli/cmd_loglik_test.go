package cli

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/eval/command"
	"mergescale/experiments/config"
	"mergescale/experiments/run"
	"mergescale/store"
	"mergescale/world"
)

// asCLIEnv makes this test binary run as the mergescale command, so a
// study's command evaluator can call `mergescale loglik` through it.
const asCLIEnv = "MERGESCALE_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(ruleEvalEnv) == "1" {
		os.Exit(ruleEvaluator(os.Args[1:]))
	}
	if os.Getenv(fakeEvalEnv) == "1" {
		os.Exit(fakeEval(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// storeRows returns the rows of query over a store as text.
func storeRows(t *testing.T, path, query string) []string {
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

// TestBuiltinAndLoglikCommandAgree runs the tiny study with the built-in
// evaluator and with the command evaluator calling `mergescale loglik`:
// every accuracy, exact match, option_ce and gold_nll is identical, and the
// log-probabilities of a zoo model's requests agree within 1e-6 (with equal
// is_greedy and text).
func TestBuiltinAndLoglikCommandAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tiny study twice")
	}
	t.Setenv(asCLIEnv, "1")
	load := func() *config.Config {
		c, err := config.LoadEnv("../experiments/testdata/tiny.yaml", func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		c.Out = t.TempDir()
		return c
	}
	bcfg, ccfg := load(), load()
	ccfg.Eval = config.EvalConfig{Backend: eval.BackendCommand,
		Command: []string{os.Args[0], "loglik", "--model", "{model}", "--requests", "{requests}", "--out", "{out}", "--workers", "1"}}
	for _, c := range []*config.Config{bcfg, ccfg} {
		if _, err := run.Run(context.Background(), c, run.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT model_id, task, split, metric, printf('%.17g', value), n FROM scores ORDER BY 1, 2, 3, 4`
	a, b := storeRows(t, bcfg.StorePath(), q), storeRows(t, ccfg.StorePath(), q)
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Fatalf("scores differ: %d built-in rows, %d command rows", len(a), len(b))
	}
	if n := len(storeRows(t, bcfg.StorePath(), `SELECT 1 FROM scores WHERE metric = 'exact_match'`)); n == 0 {
		t.Fatal("no exact-match scores compared")
	}
	// option_ce and gold_nll beside every accuracy (every model, task and
	// split of the tiny study has options), equal from both backends above.
	acc := len(storeRows(t, bcfg.StorePath(), `SELECT 1 FROM scores WHERE metric = 'accuracy'`))
	for _, m := range []string{store.OptionCE, store.GoldNLL} {
		q := `SELECT 1 FROM scores a JOIN scores c USING (model_id, task, split) WHERE a.metric = 'accuracy' AND c.metric = '` + m + `'`
		if n := len(storeRows(t, bcfg.StorePath(), q)); n == 0 || n != acc {
			t.Fatalf("%d %s scores beside %d accuracies", n, m, acc)
		}
	}

	// Log-probabilities, request by request, of every zoo model.
	s, err := world.NewSuite(uint64(bcfg.World.Seed), world.Sizes{Validation: 4, Test: 8})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := eval.TaskRequests(s.Tasks, world.Test, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(bcfg.Out, "zoo", "*"))
	if len(dirs) == 0 {
		t.Fatal("no zoo models")
	}
	cmd := command.Evaluator{Argv: ccfg.Eval.Command, TempDir: t.TempDir()}
	for _, dir := range dirs[:3] {
		want, err := builtin.Evaluator{}.Evaluate(context.Background(), dir, reqs, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cmd.Evaluate(context.Background(), dir, reqs, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(got[i].LogProb-want[i].LogProb) > 1e-6 || got[i].IsGreedy != want[i].IsGreedy || got[i].Text != want[i].Text {
				t.Fatalf("%s request %s: command %+v, built-in %+v", dir, reqs[i].ID, got[i], want[i])
			}
		}
	}
}

func TestLoglikErrors(t *testing.T) {
	dir := t.TempDir()
	reqs := filepath.Join(dir, "r.jsonl")
	os.WriteFile(reqs, []byte(`{"id":"a","type":"loglikelihood","context":"x","continuation":" y"}`+"\n"+`{"id":"b","type":"oops","context":"x"}`+"\n"), 0o644)
	err := runLoglik(context.Background(), loglikOptions{Model: dir, Requests: reqs, Out: filepath.Join(dir, "o.jsonl")})
	if err == nil || !strings.Contains(err.Error(), "r.jsonl:2: unknown type \"oops\"") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "o.jsonl")); err == nil {
		t.Fatal("an answers file was written on failure")
	}
}

// TestHFAdapterSelfTest runs the self-test of the reference Hugging Face
// adapter (no PyTorch needed) when python3 is installed: the protocol and
// lm-eval's encoding rules on toy tokenizers, the persistent protocol with a
// fake model, and the out-of-memory back-off on a simulated device (the
// batch halves down to 1, the smaller size stays, out of memory at 1 is an
// error naming the request).
func TestHFAdapterSelfTest(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	out, err := exec.Command(py, "../adapters/hf_eval.py", "--self-test").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "self-test ok") || !strings.Contains(string(out), "out-of-memory back-off") {
		t.Fatalf("adapter self-test: %v\n%s", err, out)
	}
}
