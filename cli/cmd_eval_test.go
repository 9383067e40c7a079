package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"mergescale/model"
	"mergescale/world"
)

func TestEvalCommand(t *testing.T) {
	w, err := world.New(3)
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(model.Config{VocabSize: w.Tokenizer().Size(), NPositions: 64, NEmbd: 8, NLayer: 1, NHead: 1}, 1)
	dir := t.TempDir()
	if err := m.Save(dir, map[string]string{"world_seed": "3"}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, "eval", "--model", dir, "--tasks", "sentiment,nli_synonym", "--test", "8", "--json", "--workers", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Seed  uint64
		Tasks []struct {
			Task             string
			N                int
			Accuracy, Chance float64
		}
		Categories []struct{ Category string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Seed != 3 || len(doc.Tasks) != 3 || doc.Tasks[2].Task != "nli_synonym" || doc.Tasks[2].N != 8 || len(doc.Categories) != 2 {
		t.Fatalf("result %s", out)
	}
	// Same model, one worker: identical bytes.
	out1, _, _ := runCmd(t, "eval", "--model", dir, "--tasks", "sentiment,nli_synonym", "--test", "8", "--json", "--workers", "1")
	if out1 != out {
		t.Fatal("results depend on the number of workers")
	}
	out, _, code = runCmd(t, "eval", "--model", dir, "--tasks", "coref_pronoun", "--test", "4", "--seed", "5")
	if code != 0 || !strings.Contains(out, "world seed 5") || !strings.Contains(out, "coref_pronoun") {
		t.Fatalf("table output (%d): %s", code, out)
	}
	for _, bad := range [][]string{{"--tasks", "nope"}, {"--split", "train"}, {"--world", "suite-5"}, {"--world", "suite-9"}} {
		_, errOut, code := runCmd(t, append([]string{"eval", "--model", dir}, bad...)...)
		if code == 0 || !strings.HasPrefix(errOut, "error: ") {
			t.Fatalf("%v: exit %d, %q", bad, code, errOut)
		}
	}
}

// suite --world suite-5 lists the knowledge world's suite with its
// knowledge tasks marked; an unknown world is one error.
func TestSuiteWorldFlag(t *testing.T) {
	out, _, code := runCmd(t, "suite", "--world", "suite-5", "--train", "20", "--validation", "4", "--test", "4")
	if code != 0 || !strings.Contains(out, "world suite-5: 600 people") || !strings.Contains(out, "cbqa_fact *") || strings.Contains(out, "cbqa_given *") {
		t.Fatalf("suite --world suite-5 (%d): %s", code, out)
	}
	if _, errOut, code := runCmd(t, "suite", "--world", "suite-9"); code == 0 || !strings.Contains(errOut, "suite-9") {
		t.Fatalf("unknown world: exit %d, %q", code, errOut)
	}
}
