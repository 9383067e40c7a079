package world

import (
	"encoding/json"
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
		filepath.Join(dir, "t1/test.jsonl") + ":2: answer index 2 out of range for 2 options",
		filepath.Join(dir, "t1/test.jsonl") + ":4: malformed example",
		filepath.Join(dir, "t2/validation.jsonl") + ": missing (held_in tasks need validation.jsonl and test.jsonl)",
		filepath.Join(dir, "suite.json") + `:6: task "ghost" has no files`,
		filepath.Join(dir, "t3/test.jsonl") + ": missing (held_out tasks need test.jsonl)",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not say %q:\n%s", w, msg)
		}
	}
	for _, no := range []string{"t1/train.jsonl", "t1/validation.jsonl", "duplicate"} {
		if strings.Contains(msg, no) {
			t.Errorf("a repeated or overlapping prompt was reported (%s):\n%s", no, msg)
		}
	}
}

// writeTree writes files (relative path → text) under a new folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, text := range files {
		path := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestReadTaskDirScoringSettings reads a folder with every scoring setting
// and the three line shapes, and checks that Export writes it back the same.
func TestReadTaskDirScoringSettings(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"suite.json": `{"held_in": [{"category": "c", "tasks": [
  {"name": "norm", "chance": 0.5, "metric": "acc_norm", "target_delimiter": "", "eos": false},
  {"name": "wino", "chance": 0.5},
  {"name": "summ", "chance": 0, "metric": "rouge_l", "until": ["\n", "."]},
  {"name": "qa", "chance": 0, "metric": "f1"}
]}]}`,
		"norm/validation.jsonl": `{"prompt": "p1", "options": ["a", "bb"], "answer": 1}` + "\n",
		"norm/test.jsonl":       `{"prompt": "p2", "options": ["a", "bb"], "answer": 0}` + "\n",
		"wino/validation.jsonl": `{"contexts": ["x a", "x b"], "continuation": "went home", "answer": 1}` + "\n",
		"wino/test.jsonl":       `{"contexts": ["y a", "y b"], "continuation": "went home", "answer": 0}` + "\n" + `{"contexts": ["y b", "y a"], "continuation": "went home", "answer": 0}` + "\n",
		"summ/validation.jsonl": `{"prompt": "long text", "target": "short"}` + "\n",
		"summ/test.jsonl":       `{"prompt": "other text", "target": "brief"}` + "\n",
		"qa/validation.jsonl":   `{"prompt": "q1", "target": "the answer"}` + "\n",
		"qa/test.jsonl":         `{"prompt": "q2", "target": "an answer"}` + "\n",
	})
	ts, err := ReadTaskDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, metric, delim string
		eos, gen, ranks     bool
		until               []string
		form                Form
		chance              float64
	}
	var got []row
	for _, tk := range ts.Tasks {
		got = append(got, row{tk.Name, tk.Metric(), tk.TargetDelimiter(), tk.EOS(), tk.Generates(), tk.Ranks(), tk.Until(), tk.Form(), tk.Chance()})
	}
	want := []row{
		{"norm", MetricAccNorm, "", false, false, true, []string{}, FormOptions, 0.5},
		{"wino", MetricAccuracy, " ", true, false, true, []string{}, FormContexts, 0.5},
		{"summ", MetricRougeL, " ", true, true, false, []string{"\n", "."}, FormTarget, 0},
		{"qa", MetricF1, " ", true, true, false, []string{}, FormTarget, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tasks\n%+v\nwant\n%+v", got, want)
	}
	if in := ts.Tasks[1].Test[0]; !reflect.DeepEqual(in.Contexts, []string{"y a", "y b"}) || in.Continuation != "went home" || in.Choices() != 2 {
		t.Errorf("contexts instance %+v", in)
	}
	if in := ts.Tasks[2].Test[0]; in.Prompt != "other text" || in.Target != "brief" || in.Choices() != 0 {
		t.Errorf("target instance %+v", in)
	}

	// A suite built from these tasks exports the same settings and lines.
	b, _ := json.Marshal(ts.Tasks[0].summary())
	if string(b) != `{"name":"norm","chance":0.5,"generative":false,"target_delimiter":"","eos":false,"metric":"acc_norm","train":0,"validation":1,"test":1}` {
		t.Errorf("summary %s", b)
	}
	for _, c := range []struct {
		in   Instance
		want string
	}{
		{ts.Tasks[0].Test[0], `{"prompt":"p2","options":["a","bb"],"answer":0,"target":"a"}`},
		{ts.Tasks[1].Test[0], `{"contexts":["y a","y b"],"continuation":"went home","answer":0}`},
		{ts.Tasks[2].Test[0], `{"prompt":"other text","target":"brief"}`},
	} {
		b, err := json.Marshal(c.in)
		if err != nil || string(b) != c.want {
			t.Errorf("marshal %+v: %s, %v; want %s", c.in, b, err, c.want)
		}
		back, err := ParseTaskLine(b)
		if err != nil || !reflect.DeepEqual(back, c.in) {
			t.Errorf("parse %s: %+v, %v", b, back, err)
		}
	}
}

// TestReadTaskDirScoringErrors checks that every bad setting or line is
// reported at once, each naming its file and line (or suite.json and the
// task).
func TestReadTaskDirScoringErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"suite.json": `{"held_in": [{"category": "c", "tasks": [
  {"name": "mixed", "chance": 0.5},
  {"name": "fewctx", "chance": 0.5},
  {"name": "normgen", "chance": 0, "metric": "acc_norm"},
  {"name": "notarget", "chance": 0},
  {"name": "badmetric", "chance": 0.5, "metric": "bleu"},
  {"name": "stops", "chance": 0, "until": ["\n", ""]},
  {"name": "ctxnorm", "chance": 0.5, "metric": "acc_norm"},
  {"name": "rougeopts", "chance": 0.5, "metric": "rouge_l"},
  {"name": "mixsplits", "chance": 0.5}
]}]}`,
		"mixed/validation.jsonl":     `{"prompt": "p1", "options": ["a", "b"], "answer": 1}` + "\n" + `{"prompt": "p2", "target": "t"}` + "\n" + `{"prompt": "p3", "options": ["a", "b"], "answer": 0, "contexts": ["x", "y"]}` + "\n",
		"mixed/test.jsonl":           `{"prompt": "p4", "options": ["a", "b"], "answer": 1}` + "\n",
		"fewctx/validation.jsonl":    `{"contexts": ["only one"], "continuation": "c", "answer": 0}` + "\n" + `{"contexts": ["x", "y"], "continuation": "c", "answer": 0}` + "\n",
		"fewctx/test.jsonl":          `{"contexts": ["x", "y"], "continuation": "c", "answer": 2}` + "\n",
		"normgen/validation.jsonl":   `{"prompt": "p", "target": "t"}` + "\n",
		"normgen/test.jsonl":         `{"prompt": "q", "target": "t"}` + "\n",
		"notarget/validation.jsonl":  `{"prompt": "p", "target": "  "}` + "\n" + `{"prompt": "p0"}` + "\n" + `{"prompt": "p1", "target": "t"}` + "\n",
		"notarget/test.jsonl":        `{"prompt": "q", "target": "t", "answer": 0}` + "\n",
		"badmetric/validation.jsonl": `{"prompt": "p", "options": ["a", "b"], "answer": 0}` + "\n",
		"badmetric/test.jsonl":       `{"prompt": "q", "options": ["a", "b"], "answer": 0}` + "\n",
		"stops/validation.jsonl":     `{"prompt": "p", "target": "t"}` + "\n",
		"stops/test.jsonl":           `{"prompt": "q", "target": "t"}` + "\n",
		"ctxnorm/validation.jsonl":   `{"contexts": ["x", "y"], "continuation": "c", "answer": 0}` + "\n",
		"ctxnorm/test.jsonl":         `{"contexts": ["x", "z"], "continuation": "c", "answer": 0}` + "\n",
		"rougeopts/validation.jsonl": `{"prompt": "p", "options": ["a", "b"], "answer": 0}` + "\n",
		"rougeopts/test.jsonl":       `{"prompt": "q", "options": ["a", ""], "answer": 0}` + "\n",
		"mixsplits/validation.jsonl": `{"prompt": "p", "options": ["a", "b"], "answer": 0}` + "\n",
		"mixsplits/test.jsonl":       `{"prompt": "q", "target": "t"}` + "\n",
	})
	_, err := ReadTaskDir(dir)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	suite := filepath.Join(dir, "suite.json")
	f := func(rel string) string { return filepath.Join(dir, rel) }
	for _, w := range []string{
		f("mixed/validation.jsonl") + `:2: line shape {"prompt", "target"} differs from the task's {"prompt", "options", "answer"} (` + f("mixed/validation.jsonl") + ":1)",
		f("mixed/validation.jsonl") + `:3: mixes line shapes: {"contexts", "continuation", "answer"} with "prompt", "options"`,
		f("fewctx/validation.jsonl") + ":1: 1 contexts (rank classification needs at least 2)",
		f("fewctx/test.jsonl") + ":1: answer index 2 out of range for 2 contexts",
		suite + `:4: task "normgen": metric acc_norm on a task without options`,
		f("notarget/validation.jsonl") + ":1: empty target",
		f("notarget/validation.jsonl") + `:2: neither "options", "contexts" nor "target"`,
		f("notarget/test.jsonl") + `:1: mixes line shapes: {"prompt", "target"} with "answer"`,
		suite + `:6: task "badmetric": unknown metric "bleu" (want one of accuracy, acc_norm, exact_match, rouge_l, f1)`,
		suite + `:7: task "stops": until[1] is an empty stop string`,
		suite + `:8: task "ctxnorm": acc_norm on a task with per-option contexts`,
		suite + `:9: task "rougeopts": metric rouge_l on a task with options`,
		f("mixsplits/test.jsonl") + `:1: line shape {"prompt", "target"} differs from the task's {"prompt", "options", "answer"} (` + f("mixsplits/validation.jsonl") + ":1)",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not say %q:\n%s", w, msg)
		}
	}
}

// FuzzParseTaskLine feeds arbitrary lines to the task-line parser: it never
// panics, and a line it accepts is one of the three shapes, marshals back
// to a line that parses to the same instance.
func FuzzParseTaskLine(f *testing.F) {
	for _, s := range []string{
		`{"prompt": "p", "options": ["a", "b"], "answer": 1}`,
		`{"prompt": "p", "options": ["a", "b"], "answer": 0, "target": "a b"}`,
		`{"contexts": ["x", "y"], "continuation": "c", "answer": 1}`,
		`{"prompt": "p", "target": "t"}`,
		`{"prompt": "p", "target": "t", "answer": 0}`,
		`{"contexts": [], "continuation": ""}`,
		`{"prompt": "p", "options": null}`,
		`{"prompt": 1}`,
		`{} {}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := ParseTaskLine(b)
		if err != nil {
			return
		}
		switch in.Form() {
		case FormOptions:
			if len(in.Options) < 2 || in.Answer < 0 || in.Answer >= len(in.Options) || strings.TrimSpace(in.Prompt) == "" {
				t.Fatalf("accepted a bad options line: %+v", in)
			}
		case FormContexts:
			if len(in.Contexts) < 2 || in.Answer < 0 || in.Answer >= len(in.Contexts) || in.Continuation == "" || in.Prompt != "" {
				t.Fatalf("accepted a bad contexts line: %+v", in)
			}
		case FormTarget:
			if strings.TrimSpace(in.Target) == "" || strings.TrimSpace(in.Prompt) == "" || in.Answer != 0 {
				t.Fatalf("accepted a bad target line: %+v", in)
			}
		}
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseTaskLine(out)
		if err != nil || !reflect.DeepEqual(back, in) {
			t.Fatalf("%s → %+v → %s → %+v, %v", b, in, out, back, err)
		}
	})
}
