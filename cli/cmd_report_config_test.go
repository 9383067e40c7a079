package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportConfigWithoutCheckpoints renders `report --config` from a store
// whose config names checkpoints (and a task folder) that no longer exist:
// loading a config opens no file it names, so report, query and runs work
// wherever the store is, while `run` reports the missing files at their
// keys and lines before it does anything.
func TestReportConfigWithoutCheckpoints(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "study")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("..", "results", "ablation", "combined", "results.db")
	copyFile(t, src, filepath.Join(out, "results.db"))

	// The checkpoints and the task folder existed when the study ran.
	models := filepath.Join(dir, "models")
	var paths []string
	for _, name := range []string{"base", "sentiment", "paraphrase", "multitask", "tasks"} {
		p := filepath.Join(models, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cfg := filepath.Join(dir, "study.yaml")
	text := `name: study
out: ` + out + `
zoo:
  checkpoints:
    - size: 1b
      base: it
      base_model: ` + paths[0] + `
      experts:
        sentiment: ` + paths[1] + `
        paraphrase: ` + paths[2] + `
      multitask: ` + paths[3] + `
sweep:
  experts: [2]
  methods: [{method: linear}]
tasks:
  dir: ` + paths[4] + `
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(models); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, string) {
		t.Helper()
		var so, se bytes.Buffer
		if code := Execute(args, strings.NewReader(""), &so, &se); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, se.String())
		}
		return so.String(), se.String()
	}
	run("report", "--config", cfg)
	run("report", "--db", filepath.Join(out, "results.db"), "--out", filepath.Join(dir, "direct"))
	got, want := readTree(t, filepath.Join(out, "report")), readTree(t, filepath.Join(dir, "direct"))
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("report --config wrote %d files, report --db %d", len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s: report --config differs from report --db of the same store", name)
		}
	}
	if so, _ := run("query", "--config", cfg, "SELECT count(*) AS n FROM runs"); !strings.Contains(so, "n") {
		t.Errorf("query --config printed %q", so)
	}
	run("runs", "--config", cfg)

	// A run checks the files first and names each missing one at its key.
	var so, se bytes.Buffer
	code := Execute([]string{"run", "--plan", cfg}, strings.NewReader(""), &so, &se)
	for _, w := range []string{
		cfg + ":7: zoo.checkpoints[0].base_model: " + paths[0] + " does not exist",
		cfg + ":11: zoo.checkpoints[0].multitask: " + paths[3] + " does not exist",
		cfg + ":16: tasks.dir: ",
	} {
		if code == 0 || !strings.Contains(se.String(), w) {
			t.Errorf("run --plan: exit %d, stderr does not say %q:\n%s", code, w, se.String())
		}
	}
}

// copyFile copies the file src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	o, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(o, in); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}
