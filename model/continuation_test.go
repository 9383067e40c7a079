package model

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestContinuationScores checks that the log-probabilities equal
// OptionLogProbsBatch's bit for bit, and that is_greedy is true exactly for
// a continuation Greedy itself decodes.
func TestContinuationScores(t *testing.T) {
	cfg := Config{VocabSize: 40, NPositions: 24, NEmbd: 16, NLayer: 2, NHead: 4}
	m := perturbed(cfg, 3)
	rng := rand.New(rand.NewPCG(5, 5))
	var prompts [][]int
	var options [][][]int
	for range 6 {
		pr, op := randomExample(rng, cfg.VocabSize, 10, 4)
		g, err := m.Greedy(pr, 3, -1)
		if err != nil {
			t.Fatal(err)
		}
		off := slices.Clone(g)
		off[len(off)-1] = (off[len(off)-1] + 1) % cfg.VocabSize
		op = append(op, g, off)
		prompts, options = append(prompts, pr), append(options, op)
	}
	want, err := m.OptionLogProbsBatch(prompts, options)
	if err != nil {
		t.Fatal(err)
	}
	lps, greedy, err := m.ContinuationScores(prompts, options)
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		if !slices.Equal(lps[i], want[i]) {
			t.Errorf("example %d: log-probs %v, OptionLogProbsBatch %v", i, lps[i], want[i])
		}
		n := len(options[i])
		if !greedy[i][n-2] || greedy[i][n-1] {
			t.Errorf("example %d: is_greedy of the greedy continuation %v, of the altered one %v; want true, false", i, greedy[i][n-2], greedy[i][n-1])
		}
	}
	if _, _, err := m.ContinuationScores(prompts[:1], nil); err == nil {
		t.Error("length mismatch accepted")
	}
}
