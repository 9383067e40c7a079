package plan

import (
	"reflect"
	"testing"

	"mergescale/experiments/config"
	"mergescale/world"
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

	// The version, the files the command names and every flag but those of
	// key_ignore change evaluation keys.
	withFiles := func(e config.EvalConfig, files map[string]string) map[string]bool {
		c, err := config.LoadEnv(tinyConfig, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		c.Eval = e
		p, err := New(c, Inputs{EvaluatorFiles: files})
		if err != nil {
			t.Fatal(err)
		}
		evals := map[string]bool{}
		for _, j := range p.ForShard(Shard{Index: 0, Count: 2}).Jobs {
			if j.Kind == KindEval {
				evals[j.Key] = true
			}
		}
		return evals
	}
	base := config.EvalConfig{Backend: "command", Command: append(cmd, "--batch-size", "16"), KeyIgnore: []string{"--batch-size"}}
	k0 := withFiles(base, map[string]string{"hf_eval.py": "aa"})
	other := base
	other.Command = append(cmd, "--batch-size", "64")
	if !reflect.DeepEqual(k0, withFiles(other, map[string]string{"hf_eval.py": "aa"})) {
		t.Error("a key_ignore flag's value changed evaluation keys")
	}
	versioned := base
	versioned.Version = "2"
	for name, keys := range map[string]map[string]bool{
		"an edited file":           withFiles(base, map[string]string{"hf_eval.py": "bb"}),
		"a version":                withFiles(versioned, map[string]string{"hf_eval.py": "aa"}),
		"a flag not in key_ignore": withFiles(config.EvalConfig{Backend: "command", Command: append(cmd, "--batch-size", "64")}, map[string]string{"hf_eval.py": "aa"}),
	} {
		for k := range keys {
			if k0[k] {
				t.Errorf("%s left an evaluation key unchanged", name)
				break
			}
		}
	}
	if len(k0) == 0 {
		t.Fatal("no evaluation jobs in the shard")
	}
}

// TestTaskSubsampleKeys checks that evaluation keys follow the draw of
// tasks.max_examples: the same caps and seed give the same keys, another
// seed or cap others, and training keys never change.
func TestTaskSubsampleKeys(t *testing.T) {
	s, err := world.NewSuite(1, world.Sizes{Train: 4, Validation: 12, Test: 12})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := s.Export(dir); err != nil {
		t.Fatal(err)
	}
	keys := func(caps world.SplitCaps, seed uint64) (train, evals map[string]bool) {
		c, err := config.LoadEnv(tinyConfig, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := world.ReadTaskDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		ts.Subsample(caps, seed)
		p, err := New(c, Inputs{Tasks: ts})
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
	caps := world.SplitCaps{Validation: 5, Test: 6}
	t0, e0 := keys(world.SplitCaps{}, 1)
	t1, e1 := keys(caps, 1)
	_, e1b := keys(caps, 1)
	t2, e2 := keys(caps, 2)
	_, e3 := keys(world.SplitCaps{Validation: 5, Test: 7}, 1)
	if !reflect.DeepEqual(t0, t1) || !reflect.DeepEqual(t1, t2) {
		t.Error("subsampling changed training or merge keys")
	}
	if !reflect.DeepEqual(e1, e1b) {
		t.Error("the same caps and seed gave other evaluation keys")
	}
	for k := range e1 {
		if e0[k] || e2[k] || e3[k] {
			t.Fatal("an evaluation key did not change with the caps or the seed")
		}
	}
}
