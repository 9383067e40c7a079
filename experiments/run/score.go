package run

import (
	"context"

	"mergescale/eval"
	"mergescale/store"
	"mergescale/world"
)

// scoreTasks evaluates the model at path on one split of every task with
// the config's evaluator and returns the scores as store rows under
// modelID: rank-classification accuracy for every task, greedy exact
// match for the generative ones, and the cross-entropies option_ce (its
// chance the mean ln K) and gold_nll (no chance level: 0) for every task
// whose instances have options.
func (r *runner) scoreTasks(ctx context.Context, modelID, path string, tasks []*world.Task, split string, worker int) ([]store.Score, error) {
	res, err := eval.EvaluateWith(ctx, r.ev, path, worker, tasks, world.Split(split), eval.Options{Workers: r.threads})
	if err != nil {
		return nil, err
	}
	var out []store.Score
	for _, t := range res {
		s := store.Score{
			ModelID: modelID, Task: t.Task, Category: t.Category, Heldness: string(t.Heldness),
			Split: split, Metric: store.Accuracy, Value: t.Accuracy, N: t.N, Chance: t.Chance,
		}
		out = append(out, s)
		if t.HasExactMatch {
			s.Metric, s.Value, s.Chance = store.ExactMatch, t.ExactMatch, 0
			out = append(out, s)
		}
		if t.HasCE {
			s.Metric, s.Value, s.Chance = store.OptionCE, t.CE.OptionCE, t.CE.OptionCEChance
			out = append(out, s)
			s.Metric, s.Value, s.Chance = store.GoldNLL, t.CE.GoldNLL, 0
			out = append(out, s)
		}
	}
	return out, nil
}
