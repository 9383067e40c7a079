package experiments

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"mergescale/eval"
	"mergescale/eval/builtin"
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
	c.Eval = EvalConfig{Backend: eval.BackendCommand}
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
	if got, want := dump(t, c.StorePath(), scoresQuery), dump(t, builtin.StorePath(), scoresQuery); !reflect.DeepEqual(got, want) {
		t.Errorf("command evaluator scores differ from the built-in's (%d vs %d rows)", len(got), len(want))
	}
}

// TestEvaluatorKeys checks what changes evaluation job keys: the backend and
// the command do, timeout and batch do not, and training keys never.
func TestEvaluatorKeys(t *testing.T) {
	keys := func(e EvalConfig) (train, evals map[string]bool) {
		c := loadTiny(t, t.TempDir())
		c.Eval = e
		p, err := NewPlan(c)
		if err != nil {
			t.Fatal(err)
		}
		train, evals = map[string]bool{}, map[string]bool{}
		for _, j := range p.Jobs {
			if j.Kind == KindEval {
				evals[j.Key] = true
			} else {
				train[j.Key] = true
			}
		}
		return train, evals
	}
	t0, e0 := keys(EvalConfig{Backend: "builtin"})
	cmd := []string{"python3", "hf_eval.py", "{model}", "{requests}", "{out}"}
	t1, e1 := keys(EvalConfig{Backend: "command", Command: cmd})
	t2, e2 := keys(EvalConfig{Backend: "command", Command: cmd, Timeout: "5m", Batch: 7})
	_, e3 := keys(EvalConfig{Backend: "command", Command: append(cmd, "--fp32")})
	if !reflect.DeepEqual(t0, t1) || !reflect.DeepEqual(t1, t2) {
		t.Error("the evaluator changed the keys of training or merge jobs")
	}
	for k := range e1 {
		if e0[k] || e3[k] {
			t.Fatal("an evaluation key did not change with the backend or the command")
		}
	}
	if !reflect.DeepEqual(e1, e2) {
		t.Error("timeout or batch changed evaluation keys")
	}
}

func TestEvalConfigErrors(t *testing.T) {
	for _, c := range []struct{ name, section, want string }{
		{"backend", "eval: {backend: vllm}", `eval.backend: unknown backend "vllm" (known: builtin, command)`},
		{"no command", "eval: {backend: command}", "eval.command: backend command needs a command"},
		{"placeholders", "eval: {backend: command, command: [prog, '{model}']}", "eval.command: must pass {requests} to the program"},
		{"builtin with command", "eval: {command: [prog]}", "eval.command: is only used by backend: command"},
		{"timeout", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}'], timeout: soon}", `eval.timeout: must be a positive duration like 30m or 90s, got "soon"`},
		{"batch", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}'], batch: -1}", "eval.batch: must be ≥ 0"},
	} {
		_, err := ParseConfig("e.yaml", []byte(baseConfig+c.section+"\n"), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	good := baseConfig + "eval: {backend: command, command: [p, --model, '{model}', '{requests}', '{out}', 'cuda:{worker}'], timeout: 30m, batch: 64}\n"
	c, err := ParseConfig("e.yaml", []byte(good), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Eval.Backend != "command" || c.Eval.Timeout != "30m" || c.Eval.Batch != 64 || len(c.Eval.Command) != 6 {
		t.Errorf("eval section %+v", c.Eval)
	}
	plain, err := ParseConfig("e.yaml", []byte(baseConfig), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := ParseConfig("e.yaml", []byte(baseConfig+"eval: {backend: builtin}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Hash() != explicit.Hash() {
		t.Error("an explicit builtin backend changed the config hash")
	}
}
