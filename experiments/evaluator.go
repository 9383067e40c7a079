package experiments

import (
	"fmt"
	"path/filepath"
	"time"

	"mergescale/eval"
	"mergescale/model"
	"mergescale/tokenizer"
)

// EvalConfig selects the evaluator backend (the eval section).
type EvalConfig struct {
	Backend string   `mapstructure:"backend" json:"backend"`           // builtin or command
	Command []string `mapstructure:"command" json:"command,omitempty"` // argv with {model} {requests} {out} {worker}
	Timeout string   `mapstructure:"timeout" json:"timeout,omitempty"` // per call, a Go duration ("30m"); "" : none
	Batch   int      `mapstructure:"batch" json:"batch,omitempty"`     // requests per call; 0: all of one evaluation
}

// IsZero reports whether e is the default (the built-in backend with no
// other setting), which leaves the config hash of configs without an eval
// section as it was before the section existed.
func (e EvalConfig) IsZero() bool {
	return (e.Backend == "" || e.Backend == eval.BackendBuiltin) && len(e.Command) == 0 && e.Timeout == "" && e.Batch == 0
}

// keyPart is what the evaluator contributes to evaluation job keys: nothing
// for the built-in backend, the backend and the command otherwise (timeout
// and batch never change results).
func (e EvalConfig) keyPart() map[string]any {
	if e.Backend == "" || e.Backend == eval.BackendBuiltin {
		return nil
	}
	return map[string]any{"backend": e.Backend, "command": e.Command}
}

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

// newEvaluator builds the backend of the config's eval section; threads is
// the built-in engine's goroutines per evaluation.
func newEvaluator(c *Config, threads int) (eval.Evaluator, error) {
	switch c.Eval.Backend {
	case "", eval.BackendBuiltin:
		return eval.Builtin{Load: LoadScorer, Workers: threads}, nil
	case eval.BackendCommand:
		var timeout time.Duration
		if c.Eval.Timeout != "" {
			d, err := time.ParseDuration(c.Eval.Timeout)
			if err != nil {
				return nil, fmt.Errorf("eval.timeout: %w", err)
			}
			timeout = d
		}
		return eval.Command{Argv: c.Eval.Command, Timeout: timeout, Batch: c.Eval.Batch,
			TempDir: filepath.Join(c.Out, "eval-tmp")}, nil
	}
	return nil, fmt.Errorf("eval.backend: unknown backend %q", c.Eval.Backend)
}
