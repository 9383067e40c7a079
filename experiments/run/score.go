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
//
// In a suite-5 run, a knowledge task's instances are also scored apart by
// whether the model's base knows their fact (knownFacts): accuracy and
// option_ce per known flag, in scored.known.
func (r *runner) scoreTasks(ctx context.Context, modelID, path string, tasks []*world.Task, split string, worker int) (scored, error) {
	// Selection uses each task's own metric only: on its split, tasks with
	// options are not also decoded greedily (tasks without options are:
	// generation is their metric).
	opts := eval.Options{Workers: r.threads, SkipExactMatch: split == r.cfg.Sweep.SelectOn}
	known, err := r.knownFacts(ctx, modelID)
	if err != nil {
		return scored{}, err
	}
	if known != nil {
		opts.Group = func(t *world.Task, in *world.Instance) string {
			switch {
			case !t.Knowledge || in.Fact == "":
				return ""
			case known[in.Fact]:
				return store.KnownYes
			}
			return store.KnownNo
		}
	}
	res, err := eval.EvaluateWith(ctx, r.ev, path, worker, tasks, world.Split(split), opts)
	if err != nil {
		return scored{}, err
	}
	var out scored
	for _, t := range res {
		row := func(metric string, value, chance float64) store.Score {
			return store.Score{ModelID: modelID, Task: t.Task, Category: t.Category, Heldness: string(t.Heldness),
				Split: split, Metric: metric, Value: value, N: t.N, Chance: chance}
		}
		for _, m := range t.Scores {
			out.scores = append(out.scores, row(m.Metric, m.Value, m.Chance))
		}
		if t.HasOptionCE {
			out.scores = append(out.scores, row(store.OptionCE, t.CE.OptionCE, t.CE.OptionCEChance))
		}
		if t.HasGoldNLL {
			out.scores = append(out.scores, row(store.GoldNLL, t.CE.GoldNLL, 0))
		}
		for _, g := range t.Groups {
			out.known = append(out.known,
				store.KnowledgeScore{ModelID: modelID, Task: t.Task, Split: split, Known: g.Group, Metric: store.Accuracy, Value: g.Accuracy, N: g.N},
				store.KnowledgeScore{ModelID: modelID, Task: t.Task, Split: split, Known: g.Group, Metric: store.OptionCE, Value: g.OptionCE, N: g.N})
		}
	}
	return out, nil
}

// scored is one model's scores on one split: the rows of scores and, in a
// suite-5 run, the knowledge tasks' rows by known flag.
type scored struct {
	scores []store.Score
	known  []store.KnowledgeScore
}

// insert writes both kinds of rows in tx.
func (s scored) insert(ctx context.Context, tx *store.Tx) error {
	if err := tx.InsertScores(ctx, s.scores); err != nil {
		return err
	}
	return tx.InsertKnowledgeScores(ctx, s.known)
}
