package world

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func smallSizes() Sizes { return Sizes{Train: 300, Validation: 32, Test: 64} }

func dump(t *testing.T, seed uint64) []byte {
	t.Helper()
	s, err := NewSuite(seed, smallSizes())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, tk := range s.Tasks {
		if err := enc.Encode(tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Encode(s.World.Entities); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(s.World.Corpus(50, 3)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterminism(t *testing.T) {
	a, b, c := dump(t, 1), dump(t, 1), dump(t, 2)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different bytes")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave identical bytes")
	}
	w, _ := New(1)
	if bytes.Equal([]byte(strings.Join(w.Corpus(20, 1), "\n")), []byte(strings.Join(w.Corpus(20, 2), "\n"))) {
		t.Fatal("corpus seed is ignored")
	}
}

func TestSuiteShape(t *testing.T) {
	s, err := NewSuite(7, smallSizes())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := s.Categories(HeldIn); strings.Join(got, ",") != strings.Join(HeldInCategories(), ",") {
		t.Fatalf("held-in categories %v", got)
	}
	if got := s.Categories(HeldOut); strings.Join(got, ",") != strings.Join(HeldOutCategories(), ",") {
		t.Fatalf("held-out categories %v", got)
	}
	for _, c := range HeldInCategories() {
		if n := len(s.CategoryTasks(c)); n != 2 {
			t.Errorf("held-in category %s has %d tasks, want 2", c, n)
		}
	}
	if n := len(s.TasksOf(HeldOut)); n != 7 {
		t.Errorf("%d held-out tasks, want 7", n)
	}
	names := map[string]bool{}
	for _, tk := range s.Tasks {
		if names[tk.Name] {
			t.Errorf("duplicate task name %s", tk.Name)
		}
		names[tk.Name] = true
		sz := smallSizes()
		if len(tk.Train) != sz.Train || len(tk.Validation) != sz.Validation || len(tk.Test) != sz.Test {
			t.Errorf("%s: split sizes %d/%d/%d", tk.Name, len(tk.Train), len(tk.Validation), len(tk.Test))
		}
		if tk.Heldness == HeldOut && len(tk.Skills) == 0 {
			t.Errorf("held-out task %s has no skill map", tk.Name)
		}
		// Answers should not sit at one position: a model could learn the position.
		pos := map[int]int{}
		for _, in := range tk.Train {
			pos[in.Answer]++
			if in.Target != in.Options[in.Answer] {
				t.Fatalf("%s: target %q is not the answer option", tk.Name, in.Target)
			}
		}
		for p, n := range pos {
			if float64(n) > 0.75*float64(len(tk.Train)) {
				t.Errorf("%s: answer index %d in %d of %d train examples", tk.Name, p, n, len(tk.Train))
			}
		}
	}
}

func TestSplitsDisjoint(t *testing.T) {
	s, err := NewSuite(3, smallSizes())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range s.Tasks {
		train := map[string]bool{}
		for _, in := range tk.Train {
			train[in.Prompt] = true
		}
		val := map[string]bool{}
		for _, in := range tk.Validation {
			if train[in.Prompt] {
				t.Errorf("%s: validation prompt in train: %q", tk.Name, in.Prompt)
			}
			val[in.Prompt] = true
		}
		for _, in := range tk.Test {
			if train[in.Prompt] || val[in.Prompt] {
				t.Errorf("%s: test prompt in train or validation: %q", tk.Name, in.Prompt)
			}
		}
	}
}

// Closed-book tasks ask about different people in train and test, so the
// expert must recall facts from pretraining rather than memorize them.
func TestClosedBookEntitiesDisjoint(t *testing.T) {
	s, err := NewSuite(5, smallSizes())
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := s.Task("cbqa_city")
	nameIn := func(p string) string {
		f := strings.Fields(p)
		for i, w := range f {
			if (w == "does") && i+1 < len(f) {
				return f[i+1]
			}
		}
		return ""
	}
	train := map[string]bool{}
	for _, in := range tk.Train {
		train[nameIn(in.Prompt)] = true
	}
	for _, in := range tk.Test {
		if n := nameIn(in.Prompt); n == "" || train[n] {
			t.Fatalf("test question about %q, who is asked about in train too", n)
		}
	}
}

func trigrams(s string) map[string]bool {
	f := strings.Fields(s)
	out := map[string]bool{}
	for i := 0; i+3 <= len(f); i++ {
		out[strings.Join(f[i:i+3], " ")] = true
	}
	return out
}

// No held-out task shares an instruction template (or any three-word run of
// one) with a held-in or instruction-mixture task.
func TestHeldOutInstructionsUnique(t *testing.T) {
	s, err := NewSuite(1, Sizes{Train: 1, Validation: 1, Test: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tk := range s.Tasks {
		if tk.TrainInstructions[0] != tk.Instruction {
			t.Errorf("%s: first train instruction %q is not the instruction %q", tk.Name, tk.TrainInstructions[0], tk.Instruction)
		}
		if tk.Heldness == HeldOut && len(tk.TrainInstructions) != 1 {
			t.Errorf("held-out %s has %d instructions", tk.Name, len(tk.TrainInstructions))
		}
		for _, in := range tk.TrainInstructions {
			if seen[in] {
				t.Errorf("instruction %q used twice", in)
			}
			seen[in] = true
		}
	}
	for _, ho := range s.TasksOf(HeldOut) {
		for _, other := range s.Tasks {
			if other.Heldness == HeldOut {
				continue
			}
			for _, in := range other.TrainInstructions {
				if strings.Contains(in, ho.Instruction) || strings.Contains(ho.Instruction, in) {
					t.Errorf("held-out %s and %s share the instruction %q", ho.Name, other.Name, in)
				}
				for g := range trigrams(ho.Instruction) {
					if trigrams(in)[g] {
						t.Errorf("held-out %s shares %q with %s (%q)", ho.Name, g, other.Name, in)
					}
				}
			}
		}
	}
}

func TestVocabularyFixed(t *testing.T) {
	a, _ := New(1)
	b, _ := New(99)
	if strings.Join(a.Tokenizer().Words(), " ") != strings.Join(b.Tokenizer().Words(), " ") {
		t.Fatal("vocabulary depends on the seed")
	}
	if n := a.Tokenizer().Size(); n < 300 || n > 700 {
		t.Fatalf("vocabulary of %d words", n)
	}
	for _, d := range a.Corpus(200, 1) {
		if _, err := a.Tokenizer().EncodeStrict(d); err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(d)); n > MaxDocTokens || n == 0 {
			t.Fatalf("document of %d words", n)
		}
	}
}

func TestChance(t *testing.T) {
	tk := &Task{Test: []Instance{{Options: []string{"a", "b"}}, {Options: []string{"a", "b", "c", "d"}}}}
	if got, want := tk.Chance(), (0.5+0.25)/2; got != want {
		t.Fatalf("Chance = %v, want %v", got, want)
	}
	tk = &Task{Test: []Instance{{Options: []string{"a", "b", "c"}}, {Options: []string{"a", "b", "c"}}}}
	if got := tk.Chance(); got != 1.0/3 {
		t.Fatalf("Chance = %v, want exactly 1/3", got)
	}
}
