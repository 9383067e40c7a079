package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"mergescale/eval/world"
	"mergescale/tokenizer"
)

// tableScorer is a hand-made model: every token id has a fixed
// log-probability, whatever the context, so a continuation's score is the
// sum of its tokens' values (with <eos> when asked); GenerateUntil returns a
// fixed token list per context, cut to max_gen_toks and before an until
// string.
type tableScorer struct {
	tokLP  map[int]float64
	greedy map[string][]int
	tok    *tokenizer.Tokenizer
	calls  atomic.Int64
}

func (s *tableScorer) Loglikelihood(reqs []Request, workers int) ([]Answer, error) {
	s.calls.Add(1)
	out := make([]Answer, len(reqs))
	for i, r := range reqs {
		if _, err := s.tok.EncodeStrict(r.Context); err != nil {
			return nil, fmt.Errorf("request %d: context: %w", i, err)
		}
		ids, err := s.tok.EncodeStrict(r.Continuation)
		if err != nil {
			return nil, err
		}
		if r.EOS {
			ids = append(ids, tokenizer.EOSID)
		}
		for _, id := range ids {
			out[i].LogProb += s.tokLP[id]
		}
	}
	return out, nil
}

func (s *tableScorer) GenerateUntil(r Request) (Answer, error) {
	g := s.greedy[r.Context]
	if len(g) > r.MaxGenToks {
		g = g[:r.MaxGenToks]
	}
	text := s.tok.Decode(g)
	for _, u := range r.Until {
		if i := strings.Index(text, u); i >= 0 {
			text = text[:i]
		}
	}
	return Answer{Text: text}, nil
}

func TestArgmax(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want int
	}{
		{[]float64{-1, -2, -3}, 0},
		{[]float64{-3, -1, -1}, 1}, // tie: lowest index
		{[]float64{math.NaN(), -5}, 1},
		{nil, -1},
	} {
		if got := Argmax(c.in); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestEvaluateRankClassificationAndExactMatch(t *testing.T) {
	tok, err := tokenizer.New([]string{"q", "red", "dark", "blue", "x"})
	if err != nil {
		t.Fatal(err)
	}
	id := func(w string) int { return tok.MustID(w) }
	s := &tableScorer{tok: tok, tokLP: map[int]float64{
		id("red"): -1.0, id("dark"): -0.5, id("blue"): -1.2, tokenizer.EOSID: -0.1,
	}, greedy: map[string][]int{
		"q <ans>":   {id("dark"), id("red")},
		"q x <ans>": {id("blue"), id("x")}, // one token too many: not exact
	}}
	// Scores with <eos>: red = -1.1, "dark red" = -1.6, blue = -1.3.
	task := &world.Task{Name: "t", Category: "c", Heldness: world.HeldIn, Generative: true, Test: []world.Instance{
		{Prompt: "q <ans>", Options: []string{"dark red", "red"}, Answer: 1, Target: "red"},          // red wins: correct; greedy "dark red" != "red"
		{Prompt: "q <ans>", Options: []string{"blue", "dark red"}, Answer: 1, Target: "dark red"},    // blue wins: wrong; greedy exact
		{Prompt: "q x <ans>", Options: []string{"red", "red red", "blue"}, Answer: 0, Target: "red"}, // red wins: correct
		{Prompt: "q x <ans>", Options: []string{"blue", "red"}, Answer: 0, Target: "blue"},           // red wins: wrong
	}}
	other := &world.Task{Name: "u", Category: "c", Heldness: world.HeldIn, Test: []world.Instance{
		{Prompt: "q <ans>", Options: []string{"red", "blue"}, Answer: 0, Target: "red"},
	}}
	for _, workers := range []int{1, 3} {
		res, err := EvaluateTasks(context.Background(), s, []*world.Task{task, other}, world.Test, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		if r.N != 4 || r.Accuracy != 0.5 || !r.HasExactMatch || r.ExactMatch != 0.25 {
			t.Fatalf("workers=%d: %+v, want N=4 accuracy 0.5 exact 0.25", workers, r)
		}
		if want := (0.5 + 0.5 + 1.0/3 + 0.5) / 4; math.Abs(r.Chance-want) > 1e-12 {
			t.Fatalf("chance %v, want %v", r.Chance, want)
		}
		if res[1].Accuracy != 1 || res[1].HasExactMatch {
			t.Fatalf("second task %+v", res[1])
		}
		cm := CategoryMean(res)
		if len(cm) != 1 || cm[0].Accuracy != 0.75 {
			t.Fatalf("category mean %+v", cm)
		}
	}
	// All loglikelihood requests of an evaluation go to the model at once.
	if n := s.calls.Load(); n != 2 {
		t.Errorf("%d loglikelihood calls for two evaluations, want 2", n)
	}
}

type failingScorer struct{ tableScorer }

func (*failingScorer) Loglikelihood([]Request, int) ([]Answer, error) {
	return nil, errors.New("boom")
}

func TestEvaluateErrors(t *testing.T) {
	tok, _ := tokenizer.New([]string{"q", "a", "b"})
	task := &world.Task{Name: "t", Test: []world.Instance{{Prompt: "q <ans>", Options: []string{"a", "b"}}}}
	if _, err := EvaluateTasks(context.Background(), &failingScorer{}, []*world.Task{task}, world.Test, Options{}); err == nil {
		t.Fatal("scorer error not reported")
	}
	bad := &world.Task{Name: "t", Test: []world.Instance{{Prompt: "q zzz <ans>", Options: []string{"a", "b"}}}}
	if _, err := EvaluateTasks(context.Background(), &tableScorer{tok: tok}, []*world.Task{bad}, world.Test, Options{}); err == nil {
		t.Fatal("unknown word not reported")
	}
}

func TestEncodeInstanceAligned(t *testing.T) {
	s, err := world.NewSuite(1, world.Sizes{Train: 5, Validation: 2, Test: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok := s.World.Tokenizer()
	ex, err := ExpertExamples(s, "sentiment")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 10 {
		t.Fatalf("%d examples, want 10", len(ex))
	}
	for _, e := range ex {
		if e.Prompt[len(e.Prompt)-1] != tokenizer.AnsID || e.Target[len(e.Target)-1] != tokenizer.EOSID {
			t.Fatalf("example not aligned: %v -> %v", tok.Decode(e.Prompt), tok.Decode(e.Target))
		}
		w := tok.Decode(e.Target[:len(e.Target)-1])
		if w != "positive" && w != "negative" {
			t.Fatalf("target %q", w)
		}
	}
	if _, err := ExpertExamples(s, "nli"); err == nil {
		t.Fatal("held-out category accepted as an expert")
	}
	docs, err := CorpusExamples(s.World, 3, 1)
	if err != nil || len(docs) != 3 || docs[0].Target[0] != tokenizer.BOSID || len(docs[0].Prompt) != 0 {
		t.Fatalf("corpus examples %v %v", docs, err)
	}
}

func TestFormatEvidence(t *testing.T) {
	var b strings.Builder
	rows := []EvidenceRow{
		{Model: "base", HeldIn: 0.25, HeldOut: 0.5, HasHeldOut: true, Categories: map[string]float64{"a": 0.25, "h": 0.5}},
		{Model: "expert a", HeldIn: 0.75, Categories: map[string]float64{"a": 0.75}},
	}
	if err := FormatEvidence(&b, rows, []string{"a", "h"}); err != nil {
		t.Fatal(err)
	}
	want := "| model | held-in | held-out | a | h |\n|---|---|---|---|---|\n| base | 0.250 | 0.500 | 0.250 | 0.500 |\n| expert a | 0.750 | – | 0.750 | |\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
