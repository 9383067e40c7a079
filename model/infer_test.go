package model

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// randomExample draws a prompt of 1..maxPrompt tokens and 1..4 options of
// 1..maxOpt tokens over vocabulary V.
func randomExample(rng *rand.Rand, V, maxPrompt, maxOpt int) ([]int, [][]int) {
	prompt := make([]int, 1+rng.IntN(maxPrompt))
	for i := range prompt {
		prompt[i] = rng.IntN(V)
	}
	options := make([][]int, 1+rng.IntN(4))
	for i := range options {
		options[i] = make([]int, 1+rng.IntN(maxOpt))
		for j := range options[i] {
			options[i][j] = rng.IntN(V)
		}
	}
	return prompt, options
}

// refOptionLogProbs scores options with the float64 reference, running
// prompt+option as a plain sequence (no shared prompt, no tree mask).
func refOptionLogProbs(ref *refModel, prompt []int, options [][]int) []float64 {
	out := make([]float64, len(options))
	for i, o := range options {
		full := append(append([]int(nil), prompt...), o...)
		lg := ref.logits(full[:len(full)-1])
		for j := range o {
			out[i] += refLogSoftmax(lg[len(prompt)-1+j], o[j])
		}
	}
	return out
}

// TestOptionTreeMatchesReference checks the one-forward scoring of a
// prompt with several multi-token options (each option must see the prompt
// and its own earlier tokens, never another option's) against the float64
// reference, on a model whose weights are large enough that any leak
// between options would show.
func TestOptionTreeMatchesReference(t *testing.T) {
	cfg := Config{VocabSize: 40, NPositions: 24, NEmbd: 16, NLayer: 2, NHead: 4}
	m := perturbed(cfg, 11)
	ref := newRef(m)
	rng := rand.New(rand.NewPCG(4, 4))
	for it := range 12 {
		prompt, options := randomExample(rng, cfg.VocabSize, 12, 6)
		got, err := m.OptionLogProbs(prompt, options)
		if err != nil {
			t.Fatal(err)
		}
		want := refOptionLogProbs(ref, prompt, options)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-4*max(1, math.Abs(want[i])) {
				t.Errorf("example %d option %d %v after %v: %.7g, reference %.7g", it, i, options[i], prompt, got[i], want[i])
			}
		}
	}
}

// TestOptionLogProbsBatch checks that batching examples changes no score by
// a single bit, whatever GOMAXPROCS, and that it validates its input.
func TestOptionLogProbsBatch(t *testing.T) {
	p, err := PresetByName("s")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config(97)
	m := perturbed(cfg, 5)
	rng := rand.New(rand.NewPCG(8, 8))
	var prompts [][]int
	var options [][][]int
	for range 9 {
		pr, op := randomExample(rng, cfg.VocabSize, 40, 5)
		prompts, options = append(prompts, pr), append(options, op)
	}
	single := make([][]float64, len(prompts))
	for i := range prompts {
		if single[i], err = m.OptionLogProbs(prompts[i], options[i]); err != nil {
			t.Fatal(err)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		batch, err := m.OptionLogProbsBatch(prompts, options)
		if err != nil {
			t.Fatal(err)
		}
		for i := range prompts {
			if !slices.Equal(batch[i], single[i]) {
				t.Errorf("GOMAXPROCS=%d example %d: batch %v, alone %v", procs, i, batch[i], single[i])
			}
		}
		again, err := m.OptionLogProbs(prompts[0], options[0])
		if err != nil || !slices.Equal(again, single[0]) {
			t.Errorf("GOMAXPROCS=%d: alone %v, %v; first run %v", procs, again, err, single[0])
		}
	}
	bad := []struct {
		name    string
		prompts [][]int
		options [][][]int
	}{
		{"length mismatch", prompts[:2], options[:1]},
		{"empty prompt", [][]int{prompts[0], nil}, options[:2]},
		{"empty option", [][]int{prompts[0]}, [][][]int{{{}}}},
		{"token out of range", [][]int{{1}}, [][][]int{{{cfg.VocabSize}}}},
		{"too long", [][]int{make([]int, cfg.NPositions)}, [][][]int{{{1, 2}}}},
	}
	for _, b := range bad {
		if _, err := m.OptionLogProbsBatch(b.prompts, b.options); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
	if got, err := m.OptionLogProbsBatch(nil, nil); err != nil || len(got) != 0 {
		t.Errorf("empty batch: %v, %v", got, err)
	}
}

// TestGreedyMatchesLastLogits checks Greedy's decoding steps (one row
// against the key/value cache, multiplied without the GEMM) against
// re-running the whole sequence through LastLogits.
func TestGreedyMatchesLastLogits(t *testing.T) {
	cfg := Config{VocabSize: 31, NPositions: 20, NEmbd: 24, NLayer: 2, NHead: 3}
	m := perturbed(cfg, 21)
	seq := []int{4, 9, 2, 30, 7}
	gen, err := m.Greedy(seq, 8, -1)
	if err != nil || len(gen) != 8 {
		t.Fatalf("Greedy gave %v, %v", gen, err)
	}
	for i, tok := range gen {
		lg, err := m.LastLogits(seq)
		if err != nil {
			t.Fatal(err)
		}
		best := 0
		for j, v := range lg {
			if v > lg[best] {
				best = j
			}
		}
		// Accept a different argmax only on a near tie.
		if best != tok && lg[best]-lg[tok] > 1e-4*max(1, float32(math.Abs(float64(lg[best])))) {
			t.Fatalf("step %d: Greedy chose %d (logit %v), full forward %d (logit %v)", i, tok, lg[tok], best, lg[best])
		}
		seq = append(seq, tok)
	}
}
