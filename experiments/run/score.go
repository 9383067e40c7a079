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
// for those that generate, and the task's own metric when it is another).
func (r *runner) scoreTasks(ctx context.Context, modelID, path string, tasks []*world.Task, split string, worker int) ([]store.Score, error) {
	res, err := eval.EvaluateWith(ctx, r.ev, path, worker, tasks, world.Split(split), eval.Options{Workers: r.threads})
	if err != nil {
		return nil, err
	}
	var out []store.Score
	for _, t := range res {
		for _, m := range t.Scores {
			out = append(out, store.Score{
				ModelID: modelID, Task: t.Task, Category: t.Category, Heldness: string(t.Heldness),
				Split: split, Metric: m.Metric, Value: m.Value, N: t.N, Chance: m.Chance,
			})
		}
	}
	return out, nil
}
