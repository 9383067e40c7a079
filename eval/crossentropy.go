package eval

import "math"

// CrossEntropy is a task's continuous scores, from the same option
// log-likelihoods that rank classification ranks (so they cost no model
// call): lower is better.
type CrossEntropy struct {
	// OptionCE is the mean over instances of −log softmax, over the
	// instance's options, of their log-likelihoods, at the answer option:
	// log Σ_j exp(ℓ_j) − ℓ_answer.
	OptionCE float64 `json:"option_ce"`
	// OptionCEChance is OptionCE of a uniform guess: the mean of ln K over
	// the instances, K their number of options.
	OptionCEChance float64 `json:"option_ce_chance"`
	// GoldNLL is the mean over instances of −ℓ_answer (the answer option's
	// request scored as sent: delimiter, option and, where the request asks
	// for it, the end-of-sequence token) ÷ the UTF-8 bytes of that
	// request's continuation text.
	GoldNLL float64 `json:"gold_nll"`
}

// ceSums accumulates one task's cross-entropies over its instances, in
// the loop that ranks their options (add) or scores their targets
// (addGold).
type ceSums struct {
	optionCE, chance, goldNLL float64
	n, gold                   int  // instances added by add, by add or addGold
	bad                       bool // an instance without options or with an empty gold continuation
}

// add adds one instance: lps the log-likelihoods of its options, answer
// the gold option's index, goldBytes the UTF-8 bytes of the gold
// continuation as sent.
func (c *ceSums) add(lps []float64, answer, goldBytes int) {
	if len(lps) == 0 || answer < 0 || answer >= len(lps) || goldBytes <= 0 {
		c.bad = true
		return
	}
	c.optionCE += optionCE(lps, answer)
	c.chance += math.Log(float64(len(lps)))
	c.goldNLL += -lps[answer] / float64(goldBytes)
	c.n++
	c.gold++
}

// optionCE is one instance's option cross-entropy: −log softmax of the
// options' log-likelihoods lps at the answer, log Σ_j exp(ℓ_j) − ℓ_answer.
func optionCE(lps []float64, answer int) float64 { return logSumExp(lps) - lps[answer] }

// addGold adds one instance of a task without options: lp the target's
// log-likelihood, goldBytes the UTF-8 bytes of its continuation as sent.
func (c *ceSums) addGold(lp float64, goldBytes int) {
	if goldBytes <= 0 {
		c.bad = true
		return
	}
	c.goldNLL += -lp / float64(goldBytes)
	c.gold++
}

// result returns the means and which of them exist: option_ce when every
// instance ranked options, gold_nll when every instance had a gold
// continuation; neither when an instance could not be added.
func (c *ceSums) result() (ce CrossEntropy, optionCE, goldNLL bool) {
	if c.bad || c.gold == 0 {
		return ce, false, false
	}
	ce.GoldNLL = c.goldNLL / float64(c.gold)
	if c.n == c.gold {
		n := float64(c.n)
		ce.OptionCE, ce.OptionCEChance = c.optionCE/n, c.chance/n
		return ce, true, true
	}
	return ce, false, true
}

// logSumExp is log Σ exp(x), computed from the largest x so that it does
// not overflow or underflow.
func logSumExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
