package run

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"mergescale/checkpoint"
	"mergescale/eval"
	"mergescale/experiments/config"
	"mergescale/experiments/plan"
	"mergescale/world"
)

// Plan is a run's first step: it checks what c names on disk (Check) and
// expands c into its full plan, the identities of zoo.checkpoints read from
// (and saved to) <out>/checkpoint-identity.json. `run --plan` prints it.
func Plan(c *config.Config) (*plan.Plan, error) { return PlanLogged(c, nil) }

// PlanLogged is Plan logging, for zoo.checkpoints, how many checkpoint
// files it hashed and how many identities it took whole from the cache
// ("identities: hashed 3 files, 18 from cache"); a nil log discards it.
func PlanLogged(c *config.Config, log *slog.Logger) (*plan.Plan, error) {
	p, cache, err := prepare(c, log)
	if err != nil {
		return nil, err
	}
	if err := cache.save(); err != nil {
		return nil, fmt.Errorf("checkpoint identity cache: %w", err)
	}
	return p, nil
}

// prepare checks c's files and plans it, writing nothing: the file hashes
// it computed are in the returned cache (nil without zoo.checkpoints),
// which the caller saves once the disk pre-flight has passed.
func prepare(c *config.Config, log *slog.Logger) (*plan.Plan, *identityCache, error) {
	tasks, err := Check(c)
	if err != nil {
		return nil, nil, err
	}
	files, err := evaluatorFiles(c.Eval)
	if err != nil {
		return nil, nil, err
	}
	in := plan.Inputs{Tasks: tasks, EvaluatorFiles: files}
	var cache *identityCache
	if c.UsesCheckpoints() {
		cache = loadIdentityCache(c.Out)
		if err := cache.hashAll(checkpointPaths(c)); err != nil {
			return nil, nil, err
		}
		if log != nil {
			log.Info(fmt.Sprintf("identities: hashed %d files, %d from cache", cache.hashed, cache.fromCache))
		}
		in.Identity = cache.identity
	}
	p, err := plan.New(c, in)
	if err != nil {
		return nil, nil, err
	}
	return p, cache, nil
}

// Check checks the files a loaded config names, which loading never opens:
// the task folder of tasks.dir (read, subsampled by tasks.max_examples and
// returned; nil means the built-in world's suite) and the checkpoints of zoo.checkpoints (each must exist
// and open, an expert's tensor names and shapes must match its base's, its
// category must be a held-in category of the task set). With tasks.dir it
// also checks sweep.experts against the folder's number of held-in
// categories. Every problem is reported like loading's, at its key and
// line in the config file.
func Check(c *config.Config) (*world.TaskSet, error) {
	ps := c.Problems()
	categories := config.HeldInCategories()
	var tasks *world.TaskSet
	if c.Tasks.Dir != "" {
		ts, err := world.ReadTaskDir(c.Tasks.Dir)
		switch {
		case err != nil:
			for _, line := range strings.Split(err.Error(), "\n") {
				ps.Add("tasks.dir", "%s", line)
			}
		case len(ts.Categories(world.HeldIn)) < 2:
			ps.Add("tasks.dir", "%s has %d held-in categories; merging needs at least 2", c.Tasks.Dir, len(ts.Categories(world.HeldIn)))
		default:
			ts.Subsample(c.Tasks.Caps(), uint64(c.Tasks.Seed))
			tasks = ts
			categories = ts.Categories(world.HeldIn)
		}
	}
	checkZooCheckpoints(ps, c, categories)
	if c.Tasks.Dir != "" {
		for i, k := range c.Sweep.Experts {
			if k < 2 || k > len(categories) {
				ps.Add(fmt.Sprintf("sweep.experts[%d]", i), "%s", config.ExpertsRangeMsg(k, len(categories)))
			}
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return tasks, nil
}

// checkZooCheckpoints checks the checkpoints of every zoo.checkpoints entry
// against the file system and the task set's held-in categories: a missing
// path, an unreadable checkpoint, an expert whose tensor names or shapes
// differ from its base, a category the task set does not have.
func checkZooCheckpoints(ps *config.Problems, c *config.Config, categories []string) {
	for i, z := range c.Zoo.Checkpoints {
		ep := fmt.Sprintf("zoo.checkpoints[%d]", i)
		var base *checkpoint.Checkpoint
		if z.BaseModel != "" {
			base = openCheckpoint(ps, ep+".base_model", z.BaseModel)
		}
		cats := slices.Sorted(maps.Keys(z.Experts))
		for _, cat := range cats {
			kp := ep + ".experts." + cat
			if !slices.Contains(categories, cat) {
				ps.Add(kp, "category %q is not a held-in category of the task set (known: %s)", cat, strings.Join(categories, ", "))
			}
			if ex := openCheckpoint(ps, kp, z.Experts[cat]); ex != nil {
				if base != nil {
					if diff := tensorDiff(base, ex); diff != "" {
						ps.Add(kp, "%s does not match the base model %s: %s", z.Experts[cat], z.BaseModel, diff)
					}
				}
				ex.Close()
			}
		}
		if z.Multitask != "" {
			if mt := openCheckpoint(ps, ep+".multitask", z.Multitask); mt != nil {
				mt.Close()
			}
		}
		if base != nil {
			base.Close()
		}
	}
}

// openCheckpoint opens the checkpoint at path, reporting a missing or
// unreadable one at key.
func openCheckpoint(ps *config.Problems, key, path string) *checkpoint.Checkpoint {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			ps.Add(key, "%s does not exist", path)
		} else {
			ps.Add(key, "%v", err)
		}
		return nil
	}
	ck, err := checkpoint.Open(path)
	if err != nil {
		ps.Add(key, "unreadable checkpoint: %v", err)
		return nil
	}
	return ck
}

// tensorDiff describes how b's tensor names and shapes differ from a's ("" :
// they agree), naming at most three tensors.
func tensorDiff(a, b *checkpoint.Checkpoint) string {
	var diffs []string
	for _, t := range a.Tensors() {
		u, ok := b.Info(t.Name)
		switch {
		case !ok:
			diffs = append(diffs, "no tensor "+t.Name)
		case !slices.Equal(t.Shape, u.Shape):
			diffs = append(diffs, fmt.Sprintf("%s has shape %v, the base %v", t.Name, u.Shape, t.Shape))
		}
	}
	for _, u := range b.Tensors() {
		if _, ok := a.Info(u.Name); !ok {
			diffs = append(diffs, "extra tensor "+u.Name)
		}
	}
	if len(diffs) > 3 {
		diffs = append(diffs[:3], fmt.Sprintf("and %d more", len(diffs)-3))
	}
	return strings.Join(diffs, "; ")
}

// evaluatorFiles hashes the files the evaluator command names
// (config.EvalConfig.KeyFiles): argument → hex SHA-256, nil for the
// built-in backend.
func evaluatorFiles(e config.EvalConfig) (map[string]string, error) {
	if e.Backend != eval.BackendCommand {
		return nil, nil
	}
	var out map[string]string
	for _, name := range e.KeyFiles() {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("eval.command: %w", err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = fmt.Sprintf("%x", sha256.Sum256(data))
	}
	return out, nil
}
