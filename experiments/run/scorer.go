package run

import (
	"fmt"

	"mergescale/eval"
	"mergescale/model"
	"mergescale/tokenizer"
)

// LoadScorer opens a model directory for the built-in engine: the GPT-2
// weights and the tokenizer beside them (word-level or byte-level BPE).
func LoadScorer(dir string) (eval.Scorer, error) {
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.LoadCodec(dir)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	if tok.Size() > m.Config.VocabSize {
		return nil, fmt.Errorf("model %s: the tokenizer has %d tokens but vocab_size is %d", dir, tok.Size(), m.Config.VocabSize)
	}
	return NewModelScorer(m, tok), nil
}

// NewModelScorer adapts a model and its tokenizer to the built-in engine's
// interface: loglikelihood requests go to model.Loglikelihood,
// generate_until requests to model.GenerateUntil (lm-evaluation-harness's
// tokenization and truncation).
func NewModelScorer(m *model.Model, tok tokenizer.Codec) eval.Scorer {
	return &modelScorer{m: m, tok: tok}
}

// ScorerModel returns the model behind a scorer made by NewModelScorer.
func ScorerModel(s eval.Scorer) (*model.Model, bool) {
	ms, ok := s.(*modelScorer)
	if !ok {
		return nil, false
	}
	return ms.m, true
}

type modelScorer struct {
	m   *model.Model
	tok tokenizer.Codec
}

// Loglikelihood implements eval.Scorer.
func (s *modelScorer) Loglikelihood(reqs []eval.Request, workers int) ([]eval.Answer, error) {
	treqs := make([]model.TokenRequest, len(reqs))
	for i, r := range reqs {
		tr, err := model.EncodeRequest(s.tok, model.TextRequest{Context: r.Context, Continuation: r.Continuation, EOS: r.EOS})
		if err != nil {
			return nil, fmt.Errorf("request %q: %w", r.ID, err)
		}
		treqs[i] = tr
	}
	ll, _, err := s.m.Loglikelihood(treqs, model.LoglikOptions{Workers: workers})
	if err != nil {
		return nil, err
	}
	out := make([]eval.Answer, len(reqs))
	for i, a := range ll {
		out[i] = eval.Answer{ID: reqs[i].ID, LogProb: a.LogProb, IsGreedy: a.IsGreedy}
	}
	return out, nil
}

// GenerateUntil implements eval.Scorer.
func (s *modelScorer) GenerateUntil(r eval.Request) (eval.Answer, error) {
	g, err := s.m.GenerateUntil(s.tok, model.GenerateRequest{Context: r.Context, Until: r.Until, MaxGenToks: r.MaxGenToks})
	if err != nil {
		return eval.Answer{}, err
	}
	return eval.Answer{ID: r.ID, Text: g.Text}, nil
}
