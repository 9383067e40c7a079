package model

import (
	"errors"
	"fmt"
	"strings"

	"mergescale/tokenizer"
)

// GenerateRequest is lm-evaluation-harness's "generate_until" request in
// text: greedy decoding after Context of at most MaxGenToks tokens, cut
// before the first occurrence of any string of Until. Decoding also stops at
// the tokenizer's end-of-sequence token.
type GenerateRequest struct {
	Context    string
	Until      []string
	MaxGenToks int
}

// Generation is the answer to a GenerateRequest.
type Generation struct {
	Text string
	// Truncated reports that the context lost tokens on the left so that
	// it and MaxGenToks tokens fit n_positions.
	Truncated bool
}

// GenerateUntil answers a generate_until request. As in
// lm-evaluation-harness, the context keeps its last n_positions −
// MaxGenToks tokens, and an empty context stands for the tokenizer's
// beginning-of-sequence token (end-of-sequence when it has none).
// MaxGenToks must be in [1, n_positions). It is safe for concurrent use.
func (m *Model) GenerateUntil(tok tokenizer.Codec, r GenerateRequest) (Generation, error) {
	N := m.Config.NPositions
	if r.MaxGenToks < 1 || r.MaxGenToks >= N {
		return Generation{}, fmt.Errorf("model: max_gen_toks %d is not in [1, n_positions = %d)", r.MaxGenToks, N)
	}
	ctx, err := tok.EncodeStrict(r.Context)
	if err != nil {
		return Generation{}, fmt.Errorf("model: context: %w", err)
	}
	sp := tok.Special()
	if len(ctx) == 0 {
		if ctx, err = emptyContext(sp); err != nil {
			return Generation{}, fmt.Errorf("model: %w", err)
		}
	}
	var g Generation
	if keep := N - r.MaxGenToks; len(ctx) > keep {
		ctx, g.Truncated = ctx[len(ctx)-keep:], true
	}
	cut := func(s string) (string, bool) {
		at := -1
		for _, u := range r.Until {
			if i := strings.Index(s, u); u != "" && i >= 0 && (at < 0 || i < at) {
				at = i
			}
		}
		if at < 0 {
			return s, false
		}
		return s[:at], true
	}
	out, err := m.greedy(ctx, r.MaxGenToks, sp.EOS, func(out []int) bool {
		_, found := cut(tok.Decode(out))
		return found
	})
	if err != nil {
		return Generation{}, err
	}
	g.Text, _ = cut(tok.Decode(out))
	return g, nil
}

// emptyContext is the token that stands for an empty context: the
// beginning-of-sequence token, or the end-of-sequence token.
func emptyContext(sp tokenizer.Special) ([]int, error) {
	switch {
	case sp.BOS != tokenizer.NoToken:
		return []int{sp.BOS}, nil
	case sp.EOS != tokenizer.NoToken:
		return []int{sp.EOS}, nil
	}
	return nil, errors.New("empty context and the tokenizer has no beginning- or end-of-sequence token to stand for it")
}
