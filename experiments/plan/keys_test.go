package plan

import (
	"reflect"
	"testing"

	"mergescale/experiments/config"
)

// TestEvaluatorKeys checks what changes evaluation job keys: the backend and
// the command do, timeout and batch do not, and training keys never.
func TestEvaluatorKeys(t *testing.T) {
	keys := func(e config.EvalConfig) (train, evals map[string]bool) {
		c, err := config.LoadEnv(tinyConfig, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		c.Eval = e
		p, err := New(c, Inputs{})
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
	t0, e0 := keys(config.EvalConfig{Backend: "builtin"})
	cmd := []string{"python3", "hf_eval.py", "{model}", "{requests}", "{out}"}
	t1, e1 := keys(config.EvalConfig{Backend: "command", Command: cmd})
	t2, e2 := keys(config.EvalConfig{Backend: "command", Command: cmd, Timeout: "5m", Batch: 7})
	_, e3 := keys(config.EvalConfig{Backend: "command", Command: append(cmd, "--fp32")})
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
