package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/world"
)

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// update rewrites golden files under testdata (go test . -run Golden -update).
// It is package cli's one -update flag; other golden tests can share it.
var update = flag.Bool("update", false, "rewrite golden files under testdata")

// checkGolden compares got with testdata/name; -update (or
// MERGESCALE_UPDATE_GOLDEN=1) rewrites it.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update || os.Getenv("MERGESCALE_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the output; rerun with -update if the change is intended.\ngot:\n%s", path, got)
	}
}

func TestSuiteJSONGolden(t *testing.T) {
	out, errOut, code := runCmd(t, "suite", "--seed", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkGolden(t, "suite_seed1.json", out)
	var doc struct {
		Seed    uint64                  `json:"seed"`
		HeldIn  []world.CategorySummary `json:"held_in"`
		HeldOut []world.CategorySummary `json:"held_out"`
		Mixture []world.CategorySummary `json:"instruction_mixture"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Seed != 1 || len(doc.HeldIn) != 8 || len(doc.HeldOut) != 4 || len(doc.Mixture) == 0 {
		t.Fatalf("shape: %+v", doc)
	}
	for _, c := range doc.HeldIn {
		if c.Category == "sentiment" && (c.Tasks[0].Name != "sentiment_reviews" || c.Tasks[0].Chance != 0.5 ||
			c.Tasks[0].Train != 2000 || c.Tasks[0].Validation != 64 || c.Tasks[0].Test != 128) {
			t.Fatalf("sentiment: %+v", c)
		}
	}
}

func TestSuiteTextGolden(t *testing.T) {
	out, errOut, code := runCmd(t, "suite", "--seed", "1", "--train", "10", "--validation", "4", "--test", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	checkGolden(t, "suite_seed1.txt", out)
}

func TestSuiteExport(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := runCmd(t, "suite", "--seed", "2", "--train", "5", "--validation", "2", "--test", "3", "--export", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, "nli_synonym", "test.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	var in world.Instance
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if len(in.Options) != 3 || in.Target != in.Options[in.Answer] || !strings.HasSuffix(in.Prompt, "<ans>") {
		t.Fatalf("instance %+v", in)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
}

// TestSuiteRequestsGolden pins the requests the harness sends an evaluator
// for the built-in suite (seed 1, default sizes, validation and test) by
// their SHA-256. The per-task scoring settings left them as they were,
// except that generate_until requests now always carry "until" ([]).
func TestSuiteRequestsGolden(t *testing.T) {
	var b strings.Builder
	for _, split := range []string{"validation", "test"} {
		path := filepath.Join(t.TempDir(), "r.jsonl")
		if _, errOut, code := runCmd(t, "suite", "--seed", "1", "--split", split, "--requests", path); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%x  %s split, %d requests\n", sha256.Sum256(data), split, bytes.Count(data, []byte("\n")))
	}
	checkGolden(t, "suite_seed1_requests.sha256", b.String())
}
