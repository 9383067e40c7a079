package world

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// dropFolder is a task folder with repeats and overlaps in every place
// they can be: held-in t1 (train repeats, train lines in validation and
// test, a validation line also in test, repeats in validation and test) and
// held-out t2 whose test comes from validation.
func dropFolder(t *testing.T) string {
	ex := func(p string) string { return `{"prompt": "` + p + `", "options": ["x", "y"], "answer": 0}` + "\n" }
	return writeTree(t, map[string]string{
		"suite.json": `{"held_in": [{"category": "a", "tasks": [{"name": "t1", "chance": 0.5}]},
  {"category": "b", "tasks": [{"name": "t3", "chance": 0.5}]}],
 "held_out": [{"category": "h", "tasks": [{"name": "t2", "chance": 0.5, "test_from": "validation"}]}]}`,
		"t1/train.jsonl":      ex("a") + ex("a") + ex("v1") + ex("s1") + ex("b"),
		"t1/validation.jsonl": ex("v1") + ex("v1") + ex("s2") + ex("v2"),
		"t1/test.jsonl":       ex("s1") + ex("s2") + ex("s1") + ex("s3"),
		"t2/test.jsonl":       ex("h1") + ex("h2"),
		"t3/validation.jsonl": ex("w1"),
		"t3/test.jsonl":       ex("w2"),
	})
}

// TestReadTaskDirDrops checks that repeats and overlaps are dropped where
// hygiene wants them dropped (never from test), counted, and located.
func TestReadTaskDirDrops(t *testing.T) {
	dir := dropFolder(t)
	ts, err := ReadTaskDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	prompts := func(insts []Instance) []string {
		var out []string
		for _, in := range insts {
			out = append(out, in.Prompt)
		}
		return out
	}
	t1 := ts.Tasks[0]
	for _, c := range []struct {
		sp   Split
		want []string
	}{
		{Train, []string{"a", "a", "b"}},         // train keeps its repeats
		{Validation, []string{"v1", "s2", "v2"}}, // validation may share prompts with test
		{Test, []string{"s1", "s2", "s3"}},
	} {
		if got := prompts(t1.Split(c.sp)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("t1 %s: %v, want %v", c.sp, got, c.want)
		}
	}
	f := func(rel string, line int) string { return fmt.Sprintf("%s:%d", filepath.Join(dir, rel), line) }
	want := []Dropped{
		{"t1", Train, DropInTest, 1, f("t1/train.jsonl", 4)},
		{"t1", Train, DropInValidation, 1, f("t1/train.jsonl", 3)},
		{"t1", Validation, DropDuplicate, 1, f("t1/validation.jsonl", 2)},
		{"t1", Test, DropDuplicate, 1, f("t1/test.jsonl", 3)},
	}
	if !reflect.DeepEqual(ts.Dropped, want) {
		t.Errorf("dropped\n%v\nwant\n%v", ts.Dropped, want)
	}
	if got := ts.Dropped[0].String(); !strings.Contains(got, "t1 train: 1 dropped (in_test), first ") {
		t.Errorf("String: %q", got)
	}
	if tf := ts.Tasks[2].TestFrom; ts.Tasks[2].Name != "t2" || tf != TestFromValidation {
		t.Errorf("t2 test_from %q", tf)
	}
	if ts.Tasks[0].TestFrom != "" {
		t.Errorf("t1 test_from %q", ts.Tasks[0].TestFrom)
	}
}

// TestReadTaskDirTestFromErrors checks test_from's values.
func TestReadTaskDirTestFromErrors(t *testing.T) {
	ex := func(p string) string { return `{"prompt": "` + p + `", "options": ["x", "y"], "answer": 0}` + "\n" }
	dir := writeTree(t, map[string]string{
		"suite.json": `{"held_in": [{"category": "a", "tasks": [
  {"name": "t1", "chance": 0.5, "test_from": "train"}]}]}`,
		"t1/validation.jsonl": ex("s1"),
		"t1/test.jsonl":       ex("s1"),
	})
	_, err := ReadTaskDir(dir)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		filepath.Join(dir, "suite.json") + `:2: task "t1": test_from "train" (want "validation", or none)`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

// TestSubsample checks that a cap keeps the same examples for the same
// seed, others for another, nested as the cap grows, and that the hash
// follows caps and seed.
func TestSubsample(t *testing.T) {
	s, err := NewSuite(3, Sizes{Train: 20, Validation: 16, Test: 24})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := s.Export(dir); err != nil {
		t.Fatal(err)
	}
	read := func(caps SplitCaps, seed uint64) *TaskSet {
		ts, err := ReadTaskDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		ts.Subsample(caps, seed)
		return ts
	}
	whole := read(SplitCaps{}, 1)
	if again := read(SplitCaps{}, 2); again.Hash != whole.Hash || len(again.Dropped) != 0 {
		t.Errorf("zero caps changed the set")
	}
	caps := SplitCaps{Validation: 5, Test: 7}
	a, b, c := read(caps, 1), read(caps, 1), read(caps, 2)
	if !reflect.DeepEqual(a.Tasks, b.Tasks) || a.Hash != b.Hash {
		t.Errorf("same seed, different draws")
	}
	if reflect.DeepEqual(a.Tasks, c.Tasks) || a.Hash == c.Hash {
		t.Errorf("another seed, the same draw (or hash)")
	}
	if a.Hash == whole.Hash || a.Hash == read(SplitCaps{Validation: 5, Test: 8}, 1).Hash {
		t.Errorf("the hash does not follow the caps")
	}
	bigger := read(SplitCaps{Validation: 9, Test: 7}, 1)
	for i, tk := range a.Tasks {
		w := whole.Tasks[i]
		if len(tk.Test) != 7 || len(tk.Train) != len(w.Train) || (len(w.Validation) > 0 && len(tk.Validation) != 5) {
			t.Fatalf("%s: sizes %d/%d/%d", tk.Name, len(tk.Train), len(tk.Validation), len(tk.Test))
		}
		if !isSubsequence(tk.Test, w.Test) || !isSubsequence(tk.Validation, bigger.Tasks[i].Validation) {
			t.Errorf("%s: not a subsequence in file order (or not nested)", tk.Name)
		}
	}
	var n int
	for _, d := range a.Dropped {
		if d.Reason != DropMaxExamples || d.Split == Train {
			t.Errorf("unexpected drop %v", d)
		}
		n += d.Count
	}
	if n == 0 {
		t.Error("no drops counted")
	}
}

// isSubsequence reports whether sub's instances appear in all in order.
func isSubsequence(sub, all []Instance) bool {
	j := 0
	for _, in := range all {
		if j < len(sub) && reflect.DeepEqual(in, sub[j]) {
			j++
		}
	}
	return j == len(sub)
}
