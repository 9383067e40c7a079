package model

import (
	"errors"
	"fmt"

	"mergescale/gemm"
)

func (m *Model) checkTokens(what string, toks []int) error {
	for _, t := range toks {
		if t < 0 || t >= m.Config.VocabSize {
			return fmt.Errorf("model: %s has token id %d outside the vocabulary [0, %d)", what, t, m.Config.VocabSize)
		}
	}
	return nil
}

// appendSeq adds toks as a causal context at positions from, from 0,
// attending to the cache (if any) and to each other, and returns the
// context.
func (ws *workspace) appendSeq(toks []int, cache *kvCache) inferCtx {
	c := inferCtx{row0: len(ws.rows), rows: len(toks), cache: cache}
	n := 0
	if cache != nil {
		n = cache.n
	}
	for i, t := range toks {
		ws.rows = append(ws.rows, inferRow{tok: t, pos: n + i, self: n + i})
	}
	ws.ctxs = append(ws.ctxs, c)
	return c
}

// LastLogits returns the logits of the token after tokens (the outputs at
// the last position). It is safe for concurrent use.
func (m *Model) LastLogits(tokens []int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("model: no input tokens")
	}
	if len(tokens) > m.Config.NPositions {
		return nil, fmt.Errorf("model: %d input tokens, more than n_positions = %d", len(tokens), m.Config.NPositions)
	}
	if err := m.checkTokens("input", tokens); err != nil {
		return nil, err
	}
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	ws.appendSeq(tokens, nil)
	logits := m.forward(gemm.Default(), ws, []int{len(tokens) - 1})
	return append([]float32(nil), logits...), nil
}

// checkOptions validates one example of option scoring.
func (m *Model) checkOptions(prompt []int, options [][]int) error {
	if len(prompt) == 0 {
		return errors.New("model: option scoring needs a non-empty prompt")
	}
	if err := m.checkTokens("prompt", prompt); err != nil {
		return err
	}
	for i, o := range options {
		if len(o) == 0 {
			return fmt.Errorf("model: option %d is empty", i)
		}
		if len(prompt)+len(o)-1 > m.Config.NPositions {
			return fmt.Errorf("model: prompt (%d tokens) with option %d (%d tokens) exceeds n_positions = %d", len(prompt), i, len(o), m.Config.NPositions)
		}
		if err := m.checkTokens(fmt.Sprintf("option %d", i), o); err != nil {
			return err
		}
	}
	return nil
}

// appendOptions adds one example of option scoring to ws as a single
// context: the prompt's rows, then, for every option, the rows of all its
// tokens but the last, which attend to the prompt and to the option's
// earlier tokens only. It appends to head the rows whose logits score the
// options: the prompt's last row first, then the option rows in order.
func (ws *workspace) appendOptions(prompt []int, options [][]int, head []int) []int {
	c := ws.appendSeq(prompt, nil)
	P := len(prompt)
	head = append(head, c.row0+P-1)
	for _, o := range options {
		lo := c.rows // the key index of this option's first row
		for j, t := range o[:len(o)-1] {
			head = append(head, len(ws.rows))
			ws.rows = append(ws.rows, inferRow{tok: t, pos: P + j, self: lo + j, split: P, lo: lo})
		}
		c.rows += len(o) - 1
	}
	ws.ctxs[len(ws.ctxs)-1] = c
	return head
}

// optionScores turns the logits of one example's head rows (as laid out by
// appendOptions) into the options' summed log-probabilities, in float64.
func optionScores(logits []float32, V int, options [][]int) []float64 {
	return optionScoresGreedy(logits, V, options, nil)
}

// optionScoresGreedy is optionScores that also sets, when greedy is not
// nil, greedy[i] to whether every token of option i is the most likely one
// at its position (the lowest id on ties).
func optionScoresGreedy(logits []float32, V int, options [][]int, greedy []bool) []float64 {
	out := make([]float64, len(options))
	h := 1
	for i, o := range options {
		lp, top := logSoftmaxArgmax(logits[:V], o[0])
		for j := 1; j < len(o); j++ {
			l, t := logSoftmaxArgmax(logits[h*V:(h+1)*V], o[j])
			lp += l
			top = top && t
			h++
		}
		out[i] = lp
		if greedy != nil {
			greedy[i] = top
		}
	}
	return out
}

// OptionLogProbs returns, for each option, Σ log p(option tokens | prompt):
// the sum over the option's tokens of the log-probability of each given the
// prompt and the option tokens before it. The prompt and all options run as
// one forward pass in which every option sees the prompt and its own earlier
// tokens. The prompt and every option must be non-empty, and prompt+option
// must fit in n_positions. It is safe for concurrent use.
func (m *Model) OptionLogProbs(prompt []int, options [][]int) ([]float64, error) {
	if err := m.checkOptions(prompt, options); err != nil {
		return nil, err
	}
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	head := ws.appendOptions(prompt, options, nil)
	logits := m.forward(gemm.Default(), ws, head)
	return optionScores(logits, m.Config.VocabSize, options), nil
}

// OptionLogProbsBatch is OptionLogProbs for several examples at once:
// element i of the result scores options[i] after prompts[i]. The examples
// share one forward pass, so the projections run as larger matrix products;
// each example still attends only to itself, and its scores are identical
// (bit for bit) to those of OptionLogProbs(prompts[i], options[i]). It is
// safe for concurrent use.
func (m *Model) OptionLogProbsBatch(prompts [][]int, options [][][]int) ([][]float64, error) {
	if len(prompts) != len(options) {
		return nil, fmt.Errorf("model: %d prompts but %d option lists", len(prompts), len(options))
	}
	for i := range prompts {
		if err := m.checkOptions(prompts[i], options[i]); err != nil {
			return nil, fmt.Errorf("example %d: %w", i, err)
		}
	}
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	var head []int
	starts := make([]int, len(prompts)+1)
	for i := range prompts {
		head = ws.appendOptions(prompts[i], options[i], head)
		starts[i+1] = len(head)
	}
	logits := m.forward(gemm.Default(), ws, head)
	V := m.Config.VocabSize
	out := make([][]float64, len(prompts))
	for i := range prompts {
		out[i] = optionScores(logits[starts[i]*V:starts[i+1]*V], V, options[i])
	}
	return out, nil
}

// Greedy appends up to maxNew tokens to prompt, each the most likely next
// token (the lowest id on ties), and returns the new tokens. It stops after
// generating stop (which is not included in the result; a negative stop
// never matches) or when prompt and output reach n_positions+1 tokens (the
// last one predicted from a full context). It is safe for concurrent use.
func (m *Model) Greedy(prompt []int, maxNew int, stop int) ([]int, error) {
	return m.greedy(prompt, maxNew, stop, nil)
}

// greedy is Greedy that also stops as soon as done (when not nil) returns
// true for the tokens generated so far.
func (m *Model) greedy(prompt []int, maxNew int, stop int, done func(out []int) bool) ([]int, error) {
	if len(prompt) == 0 {
		return nil, errors.New("model: greedy decoding needs a non-empty prompt")
	}
	if len(prompt) > m.Config.NPositions {
		return nil, fmt.Errorf("model: prompt of %d tokens is longer than n_positions = %d", len(prompt), m.Config.NPositions)
	}
	if err := m.checkTokens("prompt", prompt); err != nil {
		return nil, err
	}
	if maxNew <= 0 {
		return nil, nil
	}
	k := gemm.Default()
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	cache := m.newCache(len(prompt) + maxNew)
	ws.appendSeq(prompt, cache)
	head := []int{len(prompt) - 1}
	logits := m.forward(k, ws, head)
	var out []int
	for {
		best := 0
		for j, v := range logits {
			if v > logits[best] {
				best = j
			}
		}
		if best == stop {
			break
		}
		out = append(out, best)
		if cache.n >= m.Config.NPositions || len(out) == maxNew || (done != nil && done(out)) {
			break
		}
		ws.rows, ws.ctxs = ws.rows[:0], ws.ctxs[:0]
		ws.appendSeq([]int{best}, cache)
		ws.oneRow = true
		head[0] = 0
		logits = m.forward(k, ws, head)
	}
	return out, nil
}
