package eval

import (
	"fmt"
	"math"

	"mergescale/world"
)

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

// addCrossEntropy fills res[i].CE (and HasCE) for every task of tasks
// whose instances all have their option requests among reqs with answers,
// matched by request id, so that it does not depend on the order of the
// requests. res[i] is the result of tasks[i].
func addCrossEntropy(res []TaskResult, tasks []*world.Task, split world.Split, reqs []Request, answers []Answer) error {
	req := make(map[string]int, len(reqs))
	for i, r := range reqs {
		if r.Type == TypeLoglikelihood {
			req[r.ID] = i
		}
	}
	ans := make(map[string]int, len(answers))
	for i, a := range answers {
		ans[a.ID] = i
	}
	for ti, t := range tasks {
		ce, ok, err := taskCrossEntropy(t, split, reqs, req, answers, ans)
		if err != nil {
			return err
		}
		if ok {
			res[ti].CE, res[ti].HasCE = ce, true
		}
	}
	return nil
}

// taskCrossEntropy computes one task's cross-entropies; ok is false when
// the task has no instance, or an instance without options or without its
// option requests and answers.
func taskCrossEntropy(t *world.Task, split world.Split, reqs []Request, req map[string]int,
	answers []Answer, ans map[string]int) (ce CrossEntropy, ok bool, err error) {
	insts := t.Split(split)
	if len(insts) == 0 {
		return ce, false, nil
	}
	var optionCE, chance, goldNLL float64
	for i, in := range insts {
		if len(in.Options) == 0 || in.Answer < 0 || in.Answer >= len(in.Options) {
			return ce, false, nil
		}
		lps := make([]float64, len(in.Options))
		for j := range in.Options {
			id := requestID(t.Name, split, i, j)
			a, okA := ans[id]
			if _, okR := req[id]; !okR || !okA {
				return ce, false, nil
			}
			lps[j] = answers[a].LogProb
		}
		gold := requestID(t.Name, split, i, in.Answer)
		nb := len(reqs[req[gold]].Continuation)
		if nb == 0 {
			return ce, false, fmt.Errorf("eval: task %s %s[%d]: gold_nll of an empty continuation", t.Name, split, i)
		}
		optionCE += logSumExp(lps) - lps[in.Answer]
		chance += math.Log(float64(len(lps)))
		goldNLL += -lps[in.Answer] / float64(nb)
	}
	n := float64(len(insts))
	return CrossEntropy{OptionCE: optionCE / n, OptionCEChance: chance / n, GoldNLL: goldNLL / n}, true, nil
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
