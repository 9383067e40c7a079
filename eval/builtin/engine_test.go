package builtin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"mergescale/eval"
	"mergescale/tokenizer"
	"mergescale/world"
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

func (s *tableScorer) Loglikelihood(reqs []eval.Request, workers int) ([]eval.Answer, error) {
	s.calls.Add(1)
	out := make([]eval.Answer, len(reqs))
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

func (s *tableScorer) GenerateUntil(r eval.Request) (eval.Answer, error) {
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
	return eval.Answer{Text: text}, nil
}

// TestAnswerRequests checks that loglikelihood and generate_until requests
// mixed in one file come back in order with their ids, the same as answered
// one at a time, and that a model's error names the request.
func TestAnswerRequests(t *testing.T) {
	tok, _ := tokenizer.New([]string{"q", "red", "dark", "blue", "x"})
	id := func(w string) int { return tok.MustID(w) }
	s := &tableScorer{tok: tok, tokLP: map[int]float64{id("red"): -1, id("dark"): -0.5, id("blue"): -1.25, tokenizer.EOSID: -0.125},
		greedy: map[string][]int{"q": {id("dark"), id("red"), id("x"), id("blue")}}}
	ctx := context.Background()
	reqs := []eval.Request{
		{ID: "1", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " red", EOS: true},
		{ID: "2", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " dark red"},
		{ID: "3", Type: eval.TypeGenerateUntil, Context: "q", MaxGenToks: 10, Until: []string{" x", "blue"}},
		{ID: "4", Type: eval.TypeLoglikelihood, Context: "q x", Continuation: " blue", EOS: true},
		{ID: "5", Type: eval.TypeGenerateUntil, Context: "q", MaxGenToks: 1},
	}
	want := []eval.Answer{{ID: "1", LogProb: -1.125}, {ID: "2", LogProb: -1.5}, {ID: "3", Text: "dark red"}, {ID: "4", LogProb: -1.375}, {ID: "5", Text: "dark"}}
	got, err := AnswerRequests(ctx, s, reqs, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		one, err := AnswerRequest(ctx, s, reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want[i] || one != want[i] {
			t.Errorf("request %s: batched %+v, alone %+v, want %+v", reqs[i].ID, got[i], one, want[i])
		}
	}
	bad := eval.Request{ID: "u", Type: eval.TypeLoglikelihood, Context: "q zzz", Continuation: " red"}
	if _, err := AnswerRequest(ctx, s, bad); err == nil || !strings.Contains(err.Error(), `context: tokenizer: unknown word "zzz"`) {
		t.Errorf("unknown word: %v", err)
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
		res, err := EvaluateTasks(context.Background(), s, []*world.Task{task, other}, world.Test, eval.Options{Workers: workers})
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
		cm := eval.CategoryMean(res)
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

func (*failingScorer) Loglikelihood([]eval.Request, int) ([]eval.Answer, error) {
	return nil, errors.New("boom")
}

func TestEvaluateErrors(t *testing.T) {
	tok, _ := tokenizer.New([]string{"q", "a", "b"})
	task := &world.Task{Name: "t", Test: []world.Instance{{Prompt: "q <ans>", Options: []string{"a", "b"}}}}
	if _, err := EvaluateTasks(context.Background(), &failingScorer{}, []*world.Task{task}, world.Test, eval.Options{}); err == nil {
		t.Fatal("scorer error not reported")
	}
	bad := &world.Task{Name: "t", Test: []world.Instance{{Prompt: "q zzz <ans>", Options: []string{"a", "b"}}}}
	if _, err := EvaluateTasks(context.Background(), &tableScorer{tok: tok}, []*world.Task{bad}, world.Test, eval.Options{}); err == nil {
		t.Fatal("unknown word not reported")
	}
}
