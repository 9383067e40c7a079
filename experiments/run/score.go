package run

import (
	"context"

	"mergescale/eval"
	"mergescale/store"
	"mergescale/world"
)

// scoreTasks evaluates the model at path on one split of every task with
// the config's evaluator and returns the scores as store rows under
// modelID: one row per metric the evaluation computed (eval.TaskResult's
// Scores: rank-classification accuracy for tasks with options, exact match
// for those that generate, and the task's own metric when it is another),
// and the cross-entropies: option_ce (its chance the mean ln K) for every
// task that ranks options or contexts, gold_nll (no chance level: 0) for
// every task.
// On the selection split (validation) generative tasks with options skip
// greedy decoding, which selection does not use.
func (r *runner) scoreTasks(ctx context.Context, modelID, path string, tasks []*world.Task, split string, worker int) ([]store.Score, error) {
	// Selection uses each task's own metric only: on its split, tasks with
	// options are not also decoded greedily (tasks without options are:
	// generation is their metric).
	opts := eval.Options{Workers: r.threads, SkipExactMatch: split == r.cfg.Sweep.SelectOn}
	res, err := eval.EvaluateWith(ctx, r.ev, path, worker, tasks, world.Split(split), opts)
	if err != nil {
		return nil, err
	}
	var out []store.Score
	for _, t := range res {
		row := func(metric string, value, chance float64) store.Score {
			return store.Score{ModelID: modelID, Task: t.Task, Category: t.Category, Heldness: string(t.Heldness),
				Split: split, Metric: metric, Value: value, N: t.N, Chance: chance}
		}
		for _, m := range t.Scores {
			out = append(out, row(m.Metric, m.Value, m.Chance))
		}
		if t.HasOptionCE {
			out = append(out, row(store.OptionCE, t.CE.OptionCE, t.CE.OptionCEChance))
		}
		if t.HasGoldNLL {
			out = append(out, row(store.GoldNLL, t.CE.GoldNLL, 0))
		}
	}
	return out, nil
}
