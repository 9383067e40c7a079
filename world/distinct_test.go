package world

import "testing"

// Every training task has a varied train split: at least a quarter of its
// examples are distinct (a family whose inputs are nearly exhausted by
// validation and test would teach a handful of memorized prompts).
func TestTrainSplitsVaried(t *testing.T) {
	s, err := NewSuite(1, DefaultSizes())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range s.Tasks {
		if tk.Heldness == HeldOut {
			continue
		}
		distinct := map[string]bool{}
		for _, in := range tk.Train {
			distinct[in.Prompt] = true
		}
		if len(distinct) < len(tk.Train)/4 {
			t.Errorf("%s: %d distinct train prompts of %d", tk.Name, len(distinct), len(tk.Train))
		}
	}
}

// A large evaluation split (the power lever) generates: mixture families,
// which are never evaluated, keep the default validation and test sizes.
func TestLargeTestSplit(t *testing.T) {
	s, err := NewSuite(1, Sizes{Train: 50, Validation: 48, Test: 512})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range s.Tasks {
		want := 512
		if tk.Heldness == Mixture {
			want = DefaultSizes().Test
		}
		if len(tk.Test) != want {
			t.Errorf("%s: %d test examples, want %d", tk.Name, len(tk.Test), want)
		}
	}
}
