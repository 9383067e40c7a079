package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mergescale/experiments/plan"
	"mergescale/merge"
	"mergescale/merge/mergefile"
	"mergescale/store"
)

// mergeRecipe is the merge recipe of job j: the mergekit-style config the
// standalone `mergescale merge` command would run for the same merge.
func (r *runner) mergeRecipe(j *plan.Job) (*mergefile.Config, error) {
	base, ok := r.plan.Job(j.Parent)
	if !ok {
		return nil, fmt.Errorf("base job %s is not in the plan", plan.ShortKey(j.Parent))
	}
	params, err := hparamsToParams(j.HParams)
	if err != nil {
		return nil, err
	}
	if info, err := merge.LookupMethod(j.Method); err == nil && params.Weight == nil && slices.Contains(info.Params, merge.ParamWeight) {
		// Every expert weighs the same, as mergekit recipes write it:
		// weight is a required parameter there.
		params.Weight = merge.F64(1)
	}
	cfg := &mergefile.Config{
		MergeMethod: j.Method,
		BaseModel:   r.modelDir(base),
		Parameters:  mergefile.ParamSetOf(params),
		Seed:        j.Seed,
		DType:       r.mergeDType(),
	}
	for _, key := range j.Experts {
		e, ok := r.plan.Job(key)
		if !ok {
			return nil, fmt.Errorf("expert job %s is not in the plan", plan.ShortKey(key))
		}
		cfg.Models = append(cfg.Models, mergefile.ModelRef{Model: r.modelDir(e)})
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// mergeDType is the dtype of merged checkpoints: sweep.dtype, else the
// base's own ("" to mergefile) for zoo.checkpoints and float32 for the
// built-in zoo (whose models are float32 anyway).
func (r *runner) mergeDType() string {
	switch {
	case r.cfg.Sweep.DType != "":
		return r.cfg.Sweep.DType
	case r.cfg.UsesCheckpoints():
		return ""
	}
	return "float32"
}

// hparamsToParams turns a sweep grid point into merge parameters. Boolean
// parameters are written as 0 or 1 in a sweep.
func hparamsToParams(hp map[string]float64) (merge.Params, error) {
	var p merge.Params
	keys := slices.Sorted(maps.Keys(hp))
	for _, k := range keys {
		v := hp[k]
		switch k {
		case "weight":
			p.Weight = &v
		case "density":
			p.Density = &v
		case "lambda":
			p.Lambda = &v
		case "gamma":
			p.Gamma = &v
		case "epsilon":
			p.Epsilon = &v
		case "t":
			p.T = &v
		case "normalize":
			b := v != 0
			p.Normalize = &b
		case "rescale":
			b := v != 0
			p.Rescale = &b
		default:
			return p, fmt.Errorf("sweep parameter %q is not a merge parameter", k)
		}
	}
	return p, nil
}

// merge runs a merge job: it merges the cell's experts at one grid point
// into <merged_dir>/<key> and records the model and the merge's diagnostics.
func (r *runner) merge(ctx context.Context, j *plan.Job) error {
	rel, dir := r.relModelDir(j), r.modelDir(j)
	start := time.Now()
	stats, err := r.mergeArtifact(ctx, j, dir)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	diag, err := json.Marshal(stats)
	if err != nil {
		return err
	}
	base, _ := r.plan.Job(j.Parent)
	var params int64
	if bm, ok, err := r.db.Model(ctx, base.Key); err == nil && ok {
		params = bm.Params
	}
	c := j.Cell
	return r.db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.UpsertModel(ctx, store.Model{
			ID: j.Key, Kind: store.KindMerged, Size: j.Size, Params: params,
			BaseType: j.Base, Path: rel, WallSeconds: secs, Variant: j.Variant,
		}); err != nil {
			return err
		}
		if err := tx.InsertMerge(ctx, store.Merge{
			ModelID: j.Key, Size: c.Size, BaseType: c.Base, K: c.K, Subset: c.Subset,
			Categories: c.Categories, Method: c.Method, HParams: j.HParamsJSON,
			Seed: j.Seed, WallSeconds: secs,
			MeanCosine: stats.MeanCosine, SignConflict: stats.SignConflict,
			MassRemoved: stats.MassRemoved, NormRatio: stats.NormRatio,
			Diagnostics: string(diag),
			Variant:     c.Variant, BaseID: j.Parent, ExpertIDs: j.Experts,
		}); err != nil {
			return err
		}
		return tx.MarkJobDone(ctx, j.Key, string(j.Kind), j.Key, secs)
	})
}

// mergeArtifact makes sure the merged checkpoint of j exists in dir and
// returns its diagnostics: it merges unless an earlier attempt (killed
// before it could commit) already left the finished directory.
func (r *runner) mergeArtifact(ctx context.Context, j *plan.Job, dir string) (*merge.Stats, error) {
	if st, err := readMergeStats(dir); err == nil {
		return st, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	recipe, err := r.mergeRecipe(j)
	if err != nil {
		return nil, err
	}
	if err := r.preflightDisk(j); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	stats, err := mergefile.Run(ctx, recipe, dir, mergefile.Options{Workers: r.threads, Notes: logLines{r.log}})
	if err != nil {
		if st, rerr := readMergeStats(dir); rerr == nil {
			// Another process finished the same merge first.
			return st, nil
		}
		return nil, err
	}
	return stats, nil
}

// logLines is an io.Writer that logs every line written to it.
type logLines struct{ log *slog.Logger }

func (l logLines) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.log.Info(line)
	}
	return len(p), nil
}

// readMergeStats reads the diagnostics a finished merge left in dir.
func readMergeStats(dir string) (*merge.Stats, error) {
	path := filepath.Join(dir, mergefile.StatsFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Stats *merge.Stats `json:"stats"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Stats == nil {
		var st merge.Stats
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &st, nil
	}
	return doc.Stats, nil
}

// ensureModel returns the directory of the model made by job key, merging
// again when a merged checkpoint was pruned before an evaluation that still
// needs it (merges are deterministic, so the result is the same model).
func (r *runner) ensureModel(ctx context.Context, key string) (string, error) {
	j, ok := r.plan.Job(key)
	if !ok {
		return "", fmt.Errorf("model job %s is not in the plan", plan.ShortKey(key))
	}
	dir := r.modelDir(j)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if j.Kind != plan.KindMerge {
		return "", fmt.Errorf("model %s (%s) is missing from %s", plan.ShortKey(key), j.Label(), dir)
	}
	r.regen.Lock()
	defer r.regen.Unlock()
	if _, err := r.mergeArtifact(ctx, j, dir); err != nil {
		return "", err
	}
	return dir, r.db.SetModelPath(ctx, key, r.relModelDir(j))
}
