package model

import (
	"fmt"

	"mergescale/gemm"
)

// ContinuationScores scores continuations after contexts, several examples
// in one forward pass: logprobs[i][j] is Σ log p(token | context i and the
// continuation's earlier tokens) over the tokens of continuations[i][j], the
// same number OptionLogProbsBatch returns, and greedy[i][j] reports whether
// every one of those tokens is the most likely next token (the lowest id on
// ties, as in Greedy). It is what the evaluator protocol's loglikelihood
// requests need: the sum and lm-evaluation-harness's is_greedy. The same
// limits as OptionLogProbs apply. It is safe for concurrent use.
func (m *Model) ContinuationScores(contexts [][]int, continuations [][][]int) (logprobs [][]float64, greedy [][]bool, err error) {
	if len(contexts) != len(continuations) {
		return nil, nil, fmt.Errorf("model: %d contexts but %d continuation lists", len(contexts), len(continuations))
	}
	for i := range contexts {
		if err := m.checkOptions(contexts[i], continuations[i]); err != nil {
			return nil, nil, fmt.Errorf("example %d: %w", i, err)
		}
	}
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	var head []int
	starts := make([]int, len(contexts)+1)
	for i := range contexts {
		head = ws.appendOptions(contexts[i], continuations[i], head)
		starts[i+1] = len(head)
	}
	logits := m.forward(gemm.Default(), ws, head)
	V := m.Config.VocabSize
	logprobs = make([][]float64, len(contexts))
	greedy = make([][]bool, len(contexts))
	for i := range contexts {
		part := logits[starts[i]*V : starts[i+1]*V]
		logprobs[i] = optionScores(part, V, continuations[i])
		greedy[i] = optionGreedy(part, V, continuations[i])
	}
	return logprobs, greedy, nil
}

// optionGreedy reports, per option laid out by appendOptions, whether each
// of its tokens is the argmax of the logits that predict it.
func optionGreedy(logits []float32, V int, options [][]int) []bool {
	argmax := func(h int) int {
		row := logits[h*V : (h+1)*V]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		return best
	}
	out := make([]bool, len(options))
	first := argmax(0)
	h := 1
	for i, o := range options {
		ok := o[0] == first
		for j := 1; j < len(o); j++ {
			if argmax(h) != o[j] {
				ok = false
			}
			h++
		}
		out[i] = ok
	}
	return out
}
