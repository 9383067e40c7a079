package run

import (
	"context"
	"fmt"
	"path/filepath"

	"mergescale/checkpoint"
	"mergescale/experiments/plan"
	"mergescale/store"
)

// register runs a checkpoint job: it records an existing checkpoint of
// zoo.checkpoints in the store (its parameter count read from the file), so
// that merges, evaluations and the report treat it like a trained zoo
// model.
func (r *runner) register(ctx context.Context, j *plan.Job) error {
	ck, err := checkpoint.Open(j.Path)
	if err != nil {
		return fmt.Errorf("zoo checkpoint: %w", err)
	}
	var params int64
	for _, t := range ck.Tensors() {
		params += t.NumElements()
	}
	ck.Close()
	m := store.Model{ID: j.Key, Kind: j.Role, Size: j.Size, Params: params, BaseType: j.Base, Category: j.Category, Path: j.Path}
	return r.db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.UpsertModel(ctx, m); err != nil {
			return err
		}
		return tx.MarkJobDone(ctx, j.Key, string(j.Kind), j.Key, 0)
	})
}

// modelDir is where the model of job j lives: out/<artifact dir> for
// trained and merged models (zoo_dir/<key> for trained ones when zoo_dir is
// set, merged_dir/<key> for merged ones), the checkpoint's own path for
// zoo.checkpoints.
func (r *runner) modelDir(j *plan.Job) string {
	switch {
	case j.Kind == plan.KindCheckpoint:
		return j.Path
	case j.Kind == plan.KindMerge:
		return filepath.Join(r.cfg.MergedPath(), j.Key)
	case j.Kind.IsTraining() && r.cfg.ZooDir != "":
		return filepath.Join(r.cfg.ZooDir, j.Key)
	}
	return filepath.Join(r.cfg.Out, j.ArtifactDir())
}

// relModelDir is modelDir relative to out, as the store records it.
func (r *runner) relModelDir(j *plan.Job) string {
	dir := r.modelDir(j)
	if rel, err := filepath.Rel(r.cfg.Out, dir); err == nil {
		return filepath.ToSlash(rel)
	}
	return dir
}
