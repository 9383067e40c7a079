package run

import (
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/experiments/config"
)

// fakeEvaluatorEnv turns this test binary into an evaluator program run as
// `experiments.test MODE {model} {requests} {out}`: "fail" exits 2,
// "hang" sleeps, "malformed" writes a broken second line, "good" answers
// with the built-in engine (what `mergescale loglik` does).
const fakeEvaluatorEnv = "MERGESCALE_TEST_FAKE_EVALUATOR"

func fakeEvaluator(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: MODE MODEL REQUESTS OUT")
		return 2
	}
	mode, model, reqPath, outPath := args[0], args[1], args[2], args[3]
	if code, ok := shardsFake(mode, model, reqPath, outPath); ok {
		return code
	}
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "no GPU here")
		return 2
	case "hang":
		time.Sleep(time.Minute)
		return 0
	}
	f, err := os.Open(reqPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reqs, err := eval.ReadRequests(f, reqPath)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ans, err := builtin.Evaluator{Load: builtin.LoadScorer, Workers: 1}.Evaluate(context.Background(), model, reqs, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, err := os.Create(outPath)
	if err != nil {
		return 1
	}
	defer out.Close()
	if mode == "malformed" {
		eval.WriteAnswers(out, reqs[:1], ans[:1])
		fmt.Fprintln(out, "not json")
		return 0
	}
	if err := eval.WriteAnswers(out, reqs, ans); err != nil {
		return 1
	}
	return 0
}

// TestCommandEvaluatorFailsThenReruns runs the tiny study with an evaluator
// program that exits non-zero, times out and writes a malformed line (each
// run stops with an error naming the model and what went wrong, keeping the
// jobs it finished), then with a good one, which finishes the run with the
// scores of the built-in evaluator.
func TestCommandEvaluatorFailsThenReruns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tiny study twice")
	}
	t.Setenv(fakeEvaluatorEnv, "1")
	builtin := loadTiny(t, t.TempDir())
	runTiny(t, builtin, Options{})

	out := t.TempDir()
	c := loadTiny(t, out)
	c.Eval = config.EvalConfig{Backend: eval.BackendCommand}
	done := 0
	for _, step := range []struct {
		mode, timeout string
		want          []string
	}{
		{"fail", "", []string{"for model " + out + "/zoo/", "exit status 2", "no GPU here"}},
		{"hang", "300ms", []string{"for model " + out + "/zoo/", "timed out after 300ms"}},
		{"malformed", "", []string{"for model " + out + "/zoo/", "answers.jsonl:2: malformed answer"}},
	} {
		c.Eval.Command = []string{os.Args[0], step.mode, "{model}", "{requests}", "{out}"}
		c.Eval.Timeout = step.timeout
		_, err := Run(context.Background(), c, Options{})
		if err == nil {
			t.Fatalf("%s: the run succeeded", step.mode)
		}
		for _, w := range step.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", step.mode, err, w)
			}
		}
		n := count(t, c.StorePath(), `SELECT count(*) FROM jobs`)
		if n == 0 || n < done {
			t.Errorf("%s: %d jobs done after the failed run, %d before", step.mode, n, done)
		}
		done = n
	}
	c.Eval.Command = []string{os.Args[0], "good", "{model}", "{requests}", "{out}"}
	c.Eval.Timeout, c.Eval.Batch = "1m", 50 // neither changes a key
	sum := runTiny(t, c, Options{})
	if sum.Skipped != done {
		t.Errorf("good run skipped %d jobs, want the %d finished before", sum.Skipped, done)
	}
	// Accuracy and exact match are identical; the cross-entropies agree
	// within 1e-6: the command's batches sum the float32 log-probabilities
	// in another order than the built-in evaluator.
	const discrete = `SELECT model_id, task, split, metric, printf('%.17g', value), n FROM scores
		WHERE metric IN ('accuracy', 'exact_match') ORDER BY 1, 2, 3, 4`
	if got, want := dump(t, c.StorePath(), discrete), dump(t, builtin.StorePath(), discrete); !reflect.DeepEqual(got, want) {
		t.Errorf("command evaluator scores differ from the built-in's (%d vs %d rows)", len(got), len(want))
	}
	const ce = `SELECT model_id || '|' || task || '|' || split || '|' || metric || '|' || n, printf('%.17g', value) FROM scores
		WHERE metric IN ('option_ce', 'gold_nll') ORDER BY 1`
	got, want := dump(t, c.StorePath(), ce), dump(t, builtin.StorePath(), ce)
	if len(got) == 0 || len(got) != len(want) {
		t.Fatalf("%d option_ce and gold_nll scores from the command evaluator, %d from the built-in", len(got), len(want))
	}
	for i := range got {
		g, w := strings.Split(got[i], "|"), strings.Split(want[i], "|")
		var gv, wv float64
		fmt.Sscan(g[len(g)-1], &gv)
		fmt.Sscan(w[len(w)-1], &wv)
		if strings.Join(g[:len(g)-1], "|") != strings.Join(w[:len(w)-1], "|") || math.Abs(gv-wv) > 1e-6 {
			t.Fatalf("command %s, built-in %s", got[i], want[i])
		}
	}
}
