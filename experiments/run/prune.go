package run

import (
	"context"
	"errors"
	"fmt"
	"mergescale/experiments/plan"
	"os"
	"sort"
)

// pruneMerged deletes the checkpoints of merges whose cell's last job is
// done (its selection, or the evaluation of its chosen point on the other
// held-in tasks) when the config does not keep them. Scores and
// diagnostics stay.
func (r *runner) pruneMerged(ctx context.Context) error {
	if r.cfg.Sweep.KeepMerged {
		return nil
	}
	done, err := r.db.DoneJobs(ctx)
	if err != nil {
		return err
	}
	var keys []string
	for _, j := range r.plan.Jobs {
		if j.Kind == plan.KindEval && j.IsSelection() && done[j.Key] && done[j.Cell.Last] {
			keys = append(keys, j.Candidates...)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := r.pruneOne(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) pruneOne(ctx context.Context, key string) error {
	j, ok := r.plan.Job(key)
	if !ok {
		return nil
	}
	dir := r.modelDir(j)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("prune merged model: %w", err)
	}
	return r.db.SetModelPath(ctx, key, "")
}
