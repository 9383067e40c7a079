package builtin

import (
	"reflect"
	"testing"

	"mergescale/eval"
	"mergescale/model"
	"mergescale/tokenizer"
)

// TestModelScorer checks the built-in model's scorer: a model directory
// loaded with LoadScorer answers like the model it was saved from, and
// ScorerModel returns the model behind a scorer.
func TestModelScorer(t *testing.T) {
	tok, err := tokenizer.New([]string{"the", "cat", "sat", "on", "mat", "."})
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.PresetByName("micro")
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(p.Config(tok.Size()), 1)
	m.Special = tok.Special()
	dir := t.TempDir()
	if err := m.Save(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}

	direct := NewModelScorer(m, tok)
	if got, ok := ScorerModel(direct); !ok || got != m {
		t.Fatalf("ScorerModel = %p, %v; want the model %p", got, ok, m)
	}
	loaded, err := LoadScorer(dir)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []eval.Request{
		{ID: "a", Context: "the cat", Continuation: " sat"},
		{ID: "b", Context: "the cat sat on the", Continuation: " mat", EOS: true},
	}
	want, err := direct.Loglikelihood(reqs, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := loaded.Loglikelihood(reqs, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got) != 2 || got[1].ID != "b" || got[0].LogProb >= 0 {
		t.Errorf("loaded scorer answers %+v, the model %+v", got, want)
	}
	gen := eval.Request{ID: "g", Context: "the cat", Until: []string{"."}, MaxGenToks: 3}
	g1, err := direct.GenerateUntil(gen)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := loaded.GenerateUntil(gen)
	if err != nil || g1 != g2 || g1.ID != "g" {
		t.Errorf("GenerateUntil: loaded %+v (%v), the model %+v", g2, err, g1)
	}

	if _, ok := ScorerModel(nil); ok {
		t.Error("ScorerModel(nil) found a model")
	}
	if _, err := LoadScorer(t.TempDir()); err == nil {
		t.Error("LoadScorer of an empty folder succeeded")
	}
}
