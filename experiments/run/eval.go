package run

import (
	"context"
	"fmt"
	"time"

	"mergescale/experiments/plan"
	"mergescale/store"
	"mergescale/world"
)

// scopeTasks lists the tasks an evaluation scope covers, in suite order.
func (r *runner) scopeTasks(s plan.Scope) []*world.Task {
	var tasks []*world.Task
	for _, c := range s.HeldIn {
		for _, t := range r.tasks {
			if t.Category == c && t.Heldness == world.HeldIn {
				tasks = append(tasks, t)
			}
		}
	}
	if s.HeldOut {
		for _, t := range r.tasks {
			if t.Heldness == world.HeldOut {
				tasks = append(tasks, t)
			}
		}
	}
	return tasks
}

// evaluate runs a plain evaluation job: one model on the tasks of its scope
// and split, all scores committed with the job's done marker.
func (r *runner) evaluate(ctx context.Context, j *plan.Job, worker int) error {
	start := time.Now()
	scores, err := r.scoreModel(ctx, j.Model, j.Scope, j.Split, worker)
	if err != nil {
		return err
	}
	return r.db.Write(ctx, func(tx *store.Tx) error {
		if err := scores.insert(ctx, tx); err != nil {
			return err
		}
		return tx.MarkJobDone(ctx, j.Key, string(j.Kind), j.Model, time.Since(start).Seconds())
	})
}

// selectAndEval runs a cell's selection: it picks the candidate merge with
// the best mean validation score over the cell's held-in tasks, each task
// scored by its own metric (accuracy for the built-in suite; the first in
// grid order on a tie), marks it chosen and evaluates it on the job's split
// and scope, in one transaction.
func (r *runner) selectAndEval(ctx context.Context, j *plan.Job, worker int) error {
	start := time.Now()
	metric := map[string]string{} // task → its own metric
	for _, t := range r.tasks {
		metric[t.Name] = t.Metric()
	}
	best, bestScore := "", -1.0
	for _, cand := range j.Candidates {
		all, err := r.db.Scores(ctx, store.ScoreFilter{ModelID: cand, Split: r.cfg.Sweep.SelectOn})
		if err != nil {
			return err
		}
		var scores []store.Score
		for _, s := range all {
			if s.Metric == metric[s.Task] {
				scores = append(scores, s)
			}
		}
		if len(scores) == 0 {
			return fmt.Errorf("candidate %s has no %s scores", plan.ShortKey(cand), r.cfg.Sweep.SelectOn)
		}
		var sum float64
		for _, s := range scores {
			sum += s.Value
		}
		mean := sum / float64(len(scores))
		if mean > bestScore {
			best, bestScore = cand, mean
		}
	}
	scores, err := r.scoreModel(ctx, best, j.Scope, j.Split, worker)
	if err != nil {
		return err
	}
	c := j.Cell
	err = r.db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SetChosen(ctx, store.Cell{Variant: c.Variant, Size: c.Size, BaseType: c.Base, K: c.K, Subset: c.Subset, Method: c.Method}, best); err != nil {
			return err
		}
		if err := scores.insert(ctx, tx); err != nil {
			return err
		}
		return tx.MarkJobDone(ctx, j.Key, string(j.Kind), best, time.Since(start).Seconds())
	})
	if err != nil {
		return err
	}
	return r.closeCell(ctx, j, j.Candidates)
}

// evaluateChosen runs the evaluation of a cell's chosen point beyond its
// selection (the held-in tasks outside the cell's categories): it reads
// which merge the selection chose from the store and scores it, merging
// it again when its checkpoint was pruned (a store whose cells were
// selected before this job existed).
func (r *runner) evaluateChosen(ctx context.Context, j *plan.Job, worker int) error {
	start := time.Now()
	c := j.Cell
	chosen, ok, err := r.db.ChosenMerge(ctx, store.Cell{Variant: c.Variant, Size: c.Size, BaseType: c.Base, K: c.K, Subset: c.Subset, Method: c.Method})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the store has no chosen merge for the cell of selection %s", plan.ShortKey(j.Chosen))
	}
	scores, err := r.scoreModel(ctx, chosen, j.Scope, j.Split, worker)
	if err != nil {
		return err
	}
	err = r.db.Write(ctx, func(tx *store.Tx) error {
		if err := scores.insert(ctx, tx); err != nil {
			return err
		}
		return tx.MarkJobDone(ctx, j.Key, string(j.Kind), chosen, time.Since(start).Seconds())
	})
	if err != nil {
		return err
	}
	var cands []string
	if sel, ok := r.plan.Job(j.Chosen); ok {
		cands = sel.Candidates
	}
	return r.closeCell(ctx, j, cands)
}

// closeCell deletes the merged checkpoints of j's cell (its candidates)
// when j is the cell's last job and the config does not keep them: the
// selection is made and the chosen point's test scores are stored.
func (r *runner) closeCell(ctx context.Context, j *plan.Job, candidates []string) error {
	if r.cfg.Sweep.KeepMerged || !j.ClosesCell() {
		return nil
	}
	for _, cand := range candidates {
		if err := r.pruneOne(ctx, cand); err != nil {
			return err
		}
	}
	return nil
}

// scoreModel makes sure the model of job key exists and scores it on the
// scope's tasks with the config's evaluator.
func (r *runner) scoreModel(ctx context.Context, key string, s plan.Scope, split string, worker int) (scored, error) {
	dir, err := r.ensureModel(ctx, key)
	if err != nil {
		return scored{}, err
	}
	return r.scoreTasks(ctx, key, dir, r.scopeTasks(s), split, worker)
}
