package world

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadTaskDirHandWritten(t *testing.T) {
	ts, err := ReadTaskDir("testdata/tasks")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, cat string
		held      Heldness
		gen       bool
		n         [3]int
		chance    float64
	}
	var got []row
	for _, tk := range ts.Tasks {
		got = append(got, row{tk.Name, tk.Category, tk.Heldness, tk.Generative, [3]int{len(tk.Train), len(tk.Validation), len(tk.Test)}, tk.Chance()})
	}
	want := []row{
		{"hand_sentiment", "sentiment", HeldIn, false, [3]int{4, 3, 4}, 0.5},
		{"hand_topic", "topic_classification", HeldIn, true, [3]int{2, 2, 3}, 0.3333333333333333},
		{"hand_nli", "nli", HeldOut, false, [3]int{0, 0, 4}, 0.5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tasks\n%v\nwant\n%v", got, want)
	}
	if c := ts.Categories(HeldIn); !reflect.DeepEqual(c, []string{"sentiment", "topic_classification"}) {
		t.Errorf("held-in categories %v", c)
	}
	if tgt := ts.Tasks[1].Test[1].Target; tgt != "music" {
		t.Errorf("target defaults to the answer option: got %q", tgt)
	}
	// The folder is written in the built-in world's vocabulary.
	w, err := New(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts.Tasks {
		for _, sp := range []Split{Train, Validation, Test} {
			for i, in := range tk.Split(sp) {
				for _, text := range append([]string{in.Prompt}, in.Options...) {
					if _, err := w.Tokenizer().EncodeStrict(text); err != nil {
						t.Errorf("%s %s[%d]: %v", tk.Name, sp, i, err)
					}
				}
			}
		}
	}
}

// TestExportReadsBack checks that a folder written by Export reads back as
// the suite's held-in and held-out tasks.
func TestExportReadsBack(t *testing.T) {
	s, err := NewSuite(2, Sizes{Train: 6, Validation: 3, Test: 4})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := s.Export(dir); err != nil {
		t.Fatal(err)
	}
	ts, err := ReadTaskDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := append(s.TasksOf(HeldIn), s.TasksOf(HeldOut)...)
	if len(ts.Tasks) != len(want) {
		t.Fatalf("%d tasks, want %d", len(ts.Tasks), len(want))
	}
	for i, w := range want {
		g := ts.Tasks[i]
		if g.Name != w.Name || g.Category != w.Category || g.Heldness != w.Heldness || g.Generative != w.Generative || g.Chance() != w.Chance() ||
			!reflect.DeepEqual(g.Train, w.Train) || !reflect.DeepEqual(g.Validation, w.Validation) || !reflect.DeepEqual(g.Test, w.Test) {
			t.Errorf("task %d: read %s, exported %s differ", i, g.Name, w.Name)
		}
	}
	again, err := ReadTaskDir(dir)
	if err != nil || again.Hash != ts.Hash {
		t.Fatalf("hash not stable: %v", err)
	}
	path := filepath.Join(dir, want[0].Name, "test.jsonl")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, '\n'), 0o644) // a blank line: same tasks, new bytes
	if changed, err := ReadTaskDir(dir); err != nil || changed.Hash == ts.Hash {
		t.Errorf("hash did not follow a changed file: %v", err)
	}
}

func TestReadTaskDirErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		path := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("suite.json", `{
  "held_in": [
    {"category": "a", "tasks": [
      {"name": "t1", "chance": 0.5},
      {"name": "t2", "chance": 0.5},
      {"name": "ghost", "chance": 0.5}
    ]}
  ],
  "held_out": [
    {"category": "h", "tasks": [{"name": "t3", "chance": 0.5}]}
  ]
}
`)
	ex := func(p string, ans int) string {
		return `{"prompt": "` + p + `", "options": ["x", "y"], "answer": ` + string(rune('0'+ans)) + "}\n"
	}
	write("t1/train.jsonl", ex("p1", 0)+ex("p1", 0)+ex("p9", 1))
	write("t1/validation.jsonl", ex("p2", 0)+ex("p9", 1))
	write("t1/test.jsonl", ex("p3", 0)+"{\"prompt\": \"p4\", \"options\": [\"x\", \"y\"], \"answer\": 2}\n"+ex("p3", 1)+"not json\n")
	write("t2/test.jsonl", ex("q1", 0))
	write("t3/validation.jsonl", ex("r1", 0))
	_, err := ReadTaskDir(dir)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, w := range []string{
		filepath.Join(dir, "t1/validation.jsonl") + ":2: prompt also appears in train.jsonl line 3",
		filepath.Join(dir, "t1/test.jsonl") + ":2: answer index 2 out of range for 2 options",
		filepath.Join(dir, "t1/test.jsonl") + ":3: duplicate prompt (first on line 1)",
		filepath.Join(dir, "t1/test.jsonl") + ":4: malformed example",
		filepath.Join(dir, "t2/validation.jsonl") + ": missing (held_in tasks need validation.jsonl and test.jsonl)",
		filepath.Join(dir, "suite.json") + `:6: task "ghost" has no files`,
		filepath.Join(dir, "t3/test.jsonl") + ": missing (held_out tasks need test.jsonl)",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not say %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "t1/train.jsonl") {
		t.Errorf("a repeated train prompt was reported:\n%s", msg)
	}
}
