package builtin

import (
	"fmt"
	"strings"

	"mergescale/model"
	"mergescale/tokenizer"
	"mergescale/world"
)

// KnownLogProb is the log-probability above which a base knows a fact:
// ln 0.5, the knowledge probe's threshold (p(value | cloze) > 0.5).
const KnownLogProb = -0.6931471805599453

// ProbeFacts is the knowledge probe: for every fact, the model's summed
// log-probability of the value's tokens after <bos>, prefix (may be empty)
// and the fact's cloze context (the words before the value in its cloze
// sentence). Facts are scored in batches of one forward pass each; the
// result does not depend on the batching.
func ProbeFacts(m *model.Model, tok *tokenizer.Tokenizer, facts []world.Fact, prefix string) ([]float64, error) {
	sp := tok.Special()
	prompts := make([][]int, len(facts))
	options := make([][][]int, len(facts))
	for i, f := range facts {
		c, err := tok.EncodeStrict(strings.TrimSpace(prefix + " " + f.Context))
		if err != nil {
			return nil, fmt.Errorf("knowledge probe: fact %d (%s): %w", i, f.Context, err)
		}
		v, err := tok.EncodeStrict(f.Value)
		if err != nil {
			return nil, fmt.Errorf("knowledge probe: fact %d (%s): %w", i, f.Context, err)
		}
		prompts[i] = append([]int{sp.BOS}, c...)
		options[i] = [][]int{v}
	}
	out := make([]float64, 0, len(facts))
	const chunk = 256
	for lo := 0; lo < len(facts); lo += chunk {
		hi := min(lo+chunk, len(facts))
		lp, err := m.OptionLogProbsBatch(prompts[lo:hi], options[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("knowledge probe: %w", err)
		}
		for _, l := range lp {
			out = append(out, l[0])
		}
	}
	return out, nil
}
