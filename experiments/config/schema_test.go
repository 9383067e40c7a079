package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSchema checks the schema read from Config's tags: every tag parses,
// the keys are the config's keys in their documented order, and every
// default lies in its key's range.
func TestSchema(t *testing.T) {
	if _, err := structFields(reflect.TypeFor[Config](), nil); err != nil {
		t.Fatal(err)
	}
	stage := []string{"steps", "batch", "lr", "weight_decay", "warmup_frac", "clip_norm", "dropout"}
	want := []string{"name", "seed", "out", "merged_dir", "db", "zoo_dir", "world", "world.seed", "world.validation", "world.test", "world.train", "world.version",
		"zoo", "zoo.checkpoints", "zoo.checkpoints[].size", "zoo.checkpoints[].base", "zoo.checkpoints[].variant",
		"zoo.checkpoints[].base_model", "zoo.checkpoints[].experts", "zoo.checkpoints[].multitask", "zoo.sizes", "zoo.bases"}
	for _, s := range []string{"pretrain", "instruct", "expert", "multitask"} {
		want = append(want, "zoo."+s)
		for _, k := range stage {
			want = append(want, "zoo."+s+"."+k)
		}
	}
	want = append(want, "sweep", "sweep.experts", "sweep.subsets", "sweep.methods", "sweep.methods[].method",
		"sweep.methods[].density", "sweep.methods[].gamma", "sweep.methods[].lambda", "sweep.methods[].normalize",
		"sweep.methods[].rescale", "sweep.methods[].epsilon", "sweep.select_on", "sweep.keep_merged", "sweep.dtype",
		"workers", "eval", "eval.backend", "eval.command", "eval.timeout", "eval.batch", "eval.version", "eval.key_ignore",
		"eval.persistent", "eval.slots", "eval.gpus_per_worker", "eval.retries", "tasks", "tasks.dir", "tasks.seed",
		"tasks.max_examples", "tasks.max_examples.train", "tasks.max_examples.validation", "tasks.max_examples.test")
	if got := Keys(); !slices.Equal(got, want) {
		t.Errorf("Keys =\n%q\nwant\n%q", got, want)
	}
	if got := len(EnvKeys()); got != 57 {
		t.Errorf("%d environment keys, want 57 (every scalar key)", got)
	}

	def := reflect.ValueOf(defaultConfig())
	var walk func(prefix string, fs []field)
	walk = func(prefix string, fs []field) {
		for _, f := range fs {
			path := join(prefix, f.key)
			walk(path, f.fields)
			if f.rng != nil && f.def != "" {
				if msg := f.rng.outside(numberAt(def, f)); msg != "" {
					t.Errorf("%s: the default %s", path, msg)
				}
			}
			if f.listable && !strings.HasPrefix(path, "zoo.") {
				t.Errorf("%s: only zoo training keys may be lists", path)
			}
		}
	}
	walk("", configSchema())

	for _, tc := range []struct{ tag, want string }{
		{"[1,2]", ""}, {"(0,1]", ""}, {"[0,1)", ""}, {"[2,1]", "want [lo,hi]"}, {"1,2", "want [lo,hi]"}, {"[a,b]", "want [lo,hi]"},
	} {
		_, err := parseInterval(tc.tag)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("parseInterval(%q) = %v, want %q", tc.tag, err, tc.want)
		}
	}
}

// TestIntervalMessages checks the range errors: integers as integers,
// numbers as %v prints them, open ends with a parenthesis.
func TestIntervalMessages(t *testing.T) {
	for _, tc := range []struct {
		rng  string
		v    any
		want string
	}{
		{"[0,4611686018427387904]", int64(4611686018427387905), "must be in [0, 4611686018427387904], got 4611686018427387905"},
		{"[0,4611686018427387904]", int64(4611686018427387904), ""},
		{"(0,1]", 0.0, "must be in (0, 1], got 0"},
		{"(0,1]", 1.0, ""},
		{"[0,1)", 1.0, "must be in [0, 1), got 1"},
		{"[0,1e6]", 2e6, "must be in [0, 1e+06], got 2e+06"},
	} {
		r, err := parseInterval(tc.rng)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.outside(tc.v); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.rng, tc.v, got, tc.want)
		}
	}
}
