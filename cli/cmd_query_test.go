package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mergescale/store"
)

// runStoreCLI executes the command line in-process and returns its exit status,
// stdout and stderr.
func runStoreCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// makeStoreDB writes a small results database: one run, one model, two scores.
func makeStoreDB(t *testing.T, path, tag string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	id, err := db.InsertRun(ctx, store.Run{Name: "tiny", ConfigHash: "0123456789abcdef", CodeVersion: "v1", Shard: tag, StartedAt: start})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishRun(ctx, id, start.Add(75*time.Second)); err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.UpsertModel(ctx, store.Model{ID: "m-" + tag, Kind: store.KindExpert, Size: "xs", BaseType: "pt", Category: "sentiment"}); err != nil {
			return err
		}
		return tx.InsertScores(ctx, []store.Score{
			{ModelID: "m-" + tag, Task: "sent_a", Category: "sentiment", Heldness: store.HeldIn, Split: store.Test, Metric: store.Accuracy, Value: 0.5, N: 8},
			{ModelID: "m-" + tag, Task: "sent_b", Category: "sentiment", Heldness: store.HeldIn, Split: store.Test, Metric: store.Accuracy, Value: 0.25, N: 8},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueryCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.db")
	makeStoreDB(t, path, "0/2")

	code, out, errs := runStoreCLI(t, "query", "--db", path, "--csv", "SELECT task, value FROM scores ORDER BY task")
	if code != 0 || out != "task,value\nsent_a,0.5\nsent_b,0.25\n" {
		t.Fatalf("query --csv: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = runStoreCLI(t, "query", "--db", path, "SELECT model_id, avg(value) AS mean FROM scores GROUP BY model_id")
	if code != 0 || !strings.Contains(out, "model_id") || !strings.Contains(out, "m-0/2") || !strings.Contains(out, "0.375") {
		t.Fatalf("query table: exit %d, stdout:\n%s", code, out)
	}

	for _, q := range []string{"DELETE FROM scores", "DROP TABLE runs", "INSERT INTO jobs(key, kind) VALUES ('k', 'eval')"} {
		code, _, errs := runStoreCLI(t, "query", "--db", path, q)
		if code != 1 || !strings.Contains(errs, "readonly") {
			t.Errorf("query %q: exit %d, stderr %q; want a read-only failure", q, code, errs)
		}
	}
	code, out, _ = runStoreCLI(t, "query", "--db", path, "--csv", "SELECT count(*) AS n FROM scores")
	if code != 0 || out != "n\n2\n" {
		t.Fatalf("scores after refused writes: %q", out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "SELECT 1"}, "error: which database? give --db FILE or --config CONFIG\n"},
		{[]string{"query", "--db", path, "--config", "x.yaml", "SELECT 1"}, "error: give either --db or --config, not both\n"},
		{[]string{"query", "--db", path, "SELEC 1"}, "syntax error"},
	} {
		code, _, errs := runStoreCLI(t, c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errs, c.want)
		}
	}
}

func TestQueryCommandConfigFlag(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	makeStoreDBDir(t, out)
	cfg := filepath.Join(dir, "c.yaml")
	writeStoreTestFile(t, cfg, `name: c
out: `+out+`
zoo: {sizes: [micro], bases: [pt], pretrain: {steps: 1}, expert: {steps: 1}, multitask: {steps: 1}}
sweep: {experts: [2], methods: [{method: linear}]}
`)
	code, stdout, errs := runStoreCLI(t, "query", "--config", cfg, "--csv", "SELECT count(*) AS n FROM scores")
	if code != 0 || stdout != "n\n2\n" {
		t.Fatalf("query --config: exit %d, stdout %q, stderr %q", code, stdout, errs)
	}
}

func TestRunsCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.db")
	makeStoreDB(t, path, "1/2")
	code, out, errs := runStoreCLI(t, "runs", "--db", path)
	if code != 0 {
		t.Fatalf("runs: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"tiny", "1/2", "2025-05-01 12:00:00", "2025-05-01 12:01:15", "1m15s", "0123456789ab", "v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("runs output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := runStoreCLI(t, "runs", "--db", filepath.Join(t.TempDir(), "none.db")); code != 1 || !strings.Contains(errs, "none.db") {
		t.Errorf("runs on a missing file: exit %d, stderr %q", code, errs)
	}
}

func TestGatherCommand(t *testing.T) {
	dir := t.TempDir()
	a, b, out := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "out.db")
	makeStoreDB(t, a, "0/2")
	makeStoreDB(t, b, "1/2")
	code, stdout, errs := runStoreCLI(t, "gather", out, a, b)
	want := "gathered 2 shard database(s) into " + out + ": added 2 runs, 2 models, 0 merges, 4 scores, 0 jobs\n"
	if code != 0 || stdout != want {
		t.Fatalf("gather: exit %d, stdout %q, stderr %q; want %q", code, stdout, errs, want)
	}
	code, stdout, _ = runStoreCLI(t, "gather", out, a, b)
	if code != 0 || !strings.Contains(stdout, "added 0 runs, 0 models, 0 merges, 0 scores, 0 jobs") {
		t.Fatalf("second gather: exit %d, stdout %q", code, stdout)
	}
	if code, _, _ := runStoreCLI(t, "gather", out); code != 1 {
		t.Error("gather without shards succeeded")
	}
}

func makeStoreDBDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	makeStoreDB(t, filepath.Join(dir, "results.db"), "")
}

func writeStoreTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
