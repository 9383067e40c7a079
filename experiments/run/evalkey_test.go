package run

import (
	"os"
	"path/filepath"
	"testing"

	"mergescale/experiments/config"
	"mergescale/experiments/plan"
)

// TestEditedAdapterReevaluates plans the tiny study with a command
// evaluator whose script is a file: editing the script changes every
// evaluation key (and no other), changing a key_ignore flag's value none.
func TestEditedAdapterReevaluates(t *testing.T) {
	script := filepath.Join(t.TempDir(), "adapter.py")
	keys := func(text, batch string) (evals, others map[string]bool) {
		t.Helper()
		if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c := loadTiny(t, t.TempDir())
		c.Eval = config.EvalConfig{Backend: "command", KeyIgnore: []string{"--batch-size"},
			Command: []string{"python3", script, "--model", "{model}", "--requests", "{requests}", "--out", "{out}", "--batch-size", batch}}
		p, err := Plan(c)
		if err != nil {
			t.Fatal(err)
		}
		evals, others = map[string]bool{}, map[string]bool{}
		for _, j := range p.Jobs {
			if j.Kind == plan.KindEval {
				evals[j.Key] = true
			} else {
				others[j.Key] = true
			}
		}
		return evals, others
	}
	e0, o0 := keys("print('v1')\n", "16")
	e1, o1 := keys("print('v1')\n", "64")
	e2, o2 := keys("print('v2')\n", "16")
	for k := range e0 {
		if !e1[k] {
			t.Fatal("the value of a key_ignore flag changed an evaluation key")
		}
		if e2[k] {
			t.Fatal("editing the adapter script left an evaluation key unchanged")
		}
	}
	for k := range o0 {
		if !o1[k] || !o2[k] {
			t.Fatal("the evaluator changed a training or merge key")
		}
	}
}
