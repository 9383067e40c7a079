package run

import (
	"context"
	"mergescale/experiments/plan"
	"mergescale/store"
	"os"
)

// refreshOrigins brings the origin columns of models already in the store
// in line with this plan before any job runs: a model (content-addressed,
// so the same model under any config) takes the variant this config gives
// it, which changes when the config lists a zoo key it did not list before
// or the reverse; an expert recorded without ‖τ‖ ÷ ‖θ₀‖ gets it when its
// checkpoints are on disk; a merge recorded without its base and experts
// (before schema version 3) gets them. Rows of models outside the plan are
// left alone.
func (r *runner) refreshOrigins(ctx context.Context) error {
	models, err := r.db.Models(ctx)
	if err != nil {
		return err
	}
	merges, err := r.db.Merges(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]store.Model, len(models))
	for _, m := range models {
		have[m.ID] = m
	}
	lineage := make(map[string]store.Merge, len(merges))
	for _, m := range merges {
		lineage[m.ModelID] = m
	}
	type update struct {
		j   *plan.Job
		tau *float64
	}
	var ups []update
	for _, j := range r.plan.Jobs {
		m, ok := have[j.Key]
		if !ok || !(j.Kind.IsTraining() || j.Kind == plan.KindMerge) {
			continue
		}
		u := update{j: j}
		if j.Kind == plan.KindExpert && m.TauNormRatio == nil {
			parent, ok := r.plan.Job(j.Parent)
			baseDir, dir := r.modelDir(parent), r.modelDir(j)
			if ok && exists(baseDir) && exists(dir) {
				ratio, err := tauNormRatio(baseDir, dir)
				if err != nil {
					return err
				}
				u.tau = &ratio
			}
		}
		mg, isMerge := lineage[j.Key]
		if store.VariantOrEmpty(m.Variant) == store.VariantOrEmpty(j.Variant) && u.tau == nil && (!isMerge || mg.BaseID != "") {
			continue
		}
		ups = append(ups, u)
	}
	if len(ups) == 0 {
		return nil
	}
	return r.db.Write(ctx, func(tx *store.Tx) error {
		for _, u := range ups {
			j := u.j
			var base string
			var cats, experts []string
			if j.Kind == plan.KindMerge {
				base, cats, experts = j.Parent, j.Categories, j.Experts
			}
			if err := tx.SetOrigin(ctx, j.Key, j.Variant, u.tau, base, cats, experts); err != nil {
				return err
			}
		}
		return nil
	})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
