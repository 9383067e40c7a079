package config

import (
	"strings"
	"testing"

	"mergescale/world"
)

// tasksConfig is a valid config on existing checkpoints with tasks.dir;
// tail is appended under tasks: (line 9 on).
func tasksConfig(tail string) string {
	return `name: t
seed: 5
zoo:
  checkpoints:
    - {size: s, base: pt, base_model: /b, experts: {a: /a, b: /c}}
sweep: {experts: [2], methods: [{method: linear}]}
tasks:
  dir: /data/tasks
` + tail
}

// TestMaxExamples checks tasks.max_examples as one integer and as a
// mapping, and tasks.seed's default (the top-level seed).
func TestMaxExamples(t *testing.T) {
	for _, tc := range []struct {
		tail string
		caps world.SplitCaps
		seed int64
	}{
		{"", world.SplitCaps{}, 0},
		{"  max_examples: 50\n", world.SplitCaps{Train: 50, Validation: 50, Test: 50}, 5},
		{"  max_examples: {validation: 20, test: 30}\n  seed: 9\n", world.SplitCaps{Validation: 20, Test: 30}, 9},
		{"  max_examples:\n    train: 1000\n", world.SplitCaps{Train: 1000}, 5},
	} {
		c, err := Parse("t.yaml", []byte(tasksConfig(tc.tail)), noEnv)
		if err != nil {
			t.Errorf("%q: %v", tc.tail, err)
			continue
		}
		if c.Tasks.Caps() != tc.caps || c.Tasks.Seed != tc.seed {
			t.Errorf("%q: caps %+v seed %d, want %+v seed %d", tc.tail, c.Tasks.Caps(), c.Tasks.Seed, tc.caps, tc.seed)
		}
	}
	a, _ := Parse("t.yaml", []byte(tasksConfig("")), noEnv)
	b, _ := Parse("t.yaml", []byte(tasksConfig("  max_examples: 50\n")), noEnv)
	if a.Hash() == b.Hash() {
		t.Error("max_examples does not change the config hash")
	}
	env, err := Parse("t.yaml", []byte(tasksConfig("  max_examples: 50\n")), envMap(map[string]string{"MERGESCALE_TASKS_MAX_EXAMPLES_TEST": "7"}))
	if err != nil || env.Tasks.Caps() != (world.SplitCaps{Train: 50, Validation: 50, Test: 7}) {
		t.Errorf("environment override of one split: %v %+v", err, env)
	}
}

// TestBadMaxExamples checks the errors of tasks.max_examples and
// tasks.seed, each at its file and line.
func TestBadMaxExamples(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{tasksConfig("  max_examples: -1\n"), "t.yaml:9: tasks.max_examples: must be in [0, 1000000000], got -1"},
		{tasksConfig("  max_examples: many\n"), `t.yaml:9: tasks.max_examples: must be an integer or a mapping of test, train, validation, got string "many"`},
		{tasksConfig("  max_examples: [1, 2]\n"), "t.yaml:9: tasks.max_examples: must be an integer or a mapping of test, train, validation, got a list"},
		{tasksConfig("  max_examples: {tests: 3}\n"), "t.yaml:9: tasks.max_examples.tests: unknown key (known: test, train, validation)"},
		{tasksConfig("  max_examples: {test: -3}\n"), "t.yaml:9: tasks.max_examples.test: must be in [0, 1000000000], got -3"},
		{tasksConfig("  max_examples: {test: 2.5}\n"), "t.yaml:9: tasks.max_examples.test: must be an integer, got number 2.5"},
		{tasksConfig("  seed: 3\n"), "t.yaml:9: tasks.seed: only used with tasks.max_examples"},
		{strings.Replace(tasksConfig("  max_examples: 5\n"), "  dir: /data/tasks\n", "", 1), "t.yaml:8: tasks.max_examples: requires tasks.dir"},
	} {
		_, err := Parse("t.yaml", []byte(tc.src), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
