package plan

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"mergescale/experiments/config"
	"mergescale/store"
	"mergescale/world"
)

// Plan is a config expanded into jobs.
type Plan struct {
	Config *config.Config
	// Tasks is the task set of tasks.dir (nil: the built-in world's).
	Tasks *world.TaskSet
	// Categories are the held-in categories, canonical order.
	Categories []string
	// Subsets maps each k of the sweep to its expert subsets.
	Subsets map[int][][]string
	// Jobs lists every job, dependencies before dependents, in a fixed
	// order: per size the pretrain, instruct, expert and multitask jobs;
	// then the zoo evaluations; then per cell its merges, their validation
	// evaluations and its selection.
	Jobs []*Job
	// Cells lists the sweep's cells in the order of Jobs.
	Cells []*Cell
	// Shard is the share of the work this plan holds (Shard{0, 1}: all).
	Shard Shard

	index     map[string]*Job
	evalFiles map[string]string // Inputs.EvaluatorFiles
}

// Job returns the job with this key.
func (p *Plan) Job(key string) (*Job, bool) {
	j, ok := p.index[key]
	return j, ok
}

// zooEntry is one (size, base, variant) of the zoo as the sweep sees it.
type zooEntry struct {
	size, base string
	// variant is the store's variant of the entry's merges (canonical JSON
	// of the listed zoo keys; "" or "{}" for none); label is the
	// zoo.checkpoints variant label, which seeds and keys its merges.
	variant, label string
	baseJob        *Job
	experts        map[string]*Job // category → expert job
	cats           []string        // categories with experts, canonical order
}

// Inputs is what a plan needs beyond its config: what the config names on
// disk, read by the run's first step (run.Check, run.Plan).
type Inputs struct {
	// Tasks is the task set read from tasks.dir (nil: the built-in
	// world's suite).
	Tasks *world.TaskSet
	// Identity returns the identity of the checkpoint at an absolute path
	// (the SHA-256 of its files); zoo.checkpoints needs it.
	Identity func(path string) (string, error)
	// EvaluatorFiles maps each file the evaluator command names
	// (config.EvalConfig.KeyFiles) to its hex SHA-256: part of evaluation
	// keys.
	EvaluatorFiles map[string]string
}

// New expands a checked config into its full plan.
func New(c *config.Config, in Inputs) (*Plan, error) {
	p := &Plan{Config: c, Tasks: in.Tasks, Categories: config.HeldInCategories(), Subsets: map[int][][]string{},
		Shard: Shard{Index: 0, Count: 1}, index: map[string]*Job{}, evalFiles: in.EvaluatorFiles}
	if in.Tasks != nil {
		p.Categories = in.Tasks.Categories(world.HeldIn)
	}
	var entries []*zooEntry
	var zooModels []*Job // models evaluated once per (size, base)
	if c.UsesCheckpoints() {
		if in.Identity == nil {
			return nil, errors.New("plan: zoo.checkpoints needs the checkpoints' identities")
		}
		var err error
		if entries, zooModels, err = p.checkpointZoo(in.Identity); err != nil {
			return nil, err
		}
	} else {
		entries, zooModels = p.builtinZoo()
	}
	all := Scope{HeldIn: p.Categories, HeldOut: true}
	for _, m := range zooModels {
		p.add(p.evalJob(m.Key, nil, nil, "test", all, nil))
	}

	// The sweep.
	if !c.UsesCheckpoints() {
		for _, k := range c.Sweep.Experts {
			p.Subsets[k] = Subsets(c.Seed, p.Categories, k, c.Sweep.Subsets)
		}
	}
	cells := map[string]bool{}
	for _, e := range entries {
		subsets := p.Subsets
		if c.UsesCheckpoints() {
			subsets = map[int][][]string{}
			for _, k := range c.Sweep.Experts {
				subsets[k] = Subsets(c.Seed, e.cats, k, c.Sweep.Subsets)
			}
			if len(p.Subsets) == 0 {
				p.Subsets = subsets
			}
		}
		base := e.baseJob
		for _, k := range c.Sweep.Experts {
			for si, cats := range subsets[k] {
				expertKeys := make([]string, len(cats))
				for i, cat := range cats {
					expertKeys[i] = e.experts[cat].Key
				}
				seed := deriveSeed(c.Seed, "merge", e.size, e.base, cats)
				if e.label != "" {
					seed = deriveSeed(c.Seed, "merge", e.size, e.base, e.label, cats)
				}
				for _, g := range c.Sweep.Methods {
					cell := &Cell{Variant: e.variant, Size: e.size, Base: e.base, K: k, Subset: si, Categories: cats, Method: g.Method,
						Key: hashJSON(map[string]any{"cell": 1, "base": base.Key, "experts": expertKeys, "method": g.Method})}
					if cells[cell.Key] {
						continue // the same merges under another variant of keys that do not determine them
					}
					cells[cell.Key] = true
					p.Cells = append(p.Cells, cell)
					var merges, valEvals []string
					for _, pt := range g.Points() {
						hp := canonicalJSON(pt)
						key := map[string]any{"kind": KindMerge, "version": StageVersion(KindMerge),
							"method": g.Method, "hparams": pt, "seed": seed, "base": base.Key, "experts": expertKeys}
						if c.Sweep.DType != "" {
							key["dtype"] = c.Sweep.DType
						}
						m := p.add(&Job{Kind: KindMerge, Size: e.size, Base: e.base, Variant: e.variant, Categories: cats, Seed: seed,
							Parent: base.Key, Experts: expertKeys, Method: g.Method, HParams: pt, HParamsJSON: hp,
							Cell: cell, K: k, Subset: si,
							Deps: append([]string{base.Key}, expertKeys...),
							Key:  hashJSON(key)})
						v := p.add(p.evalJob(m.Key, nil, nil, c.Sweep.SelectOn, Scope{HeldIn: cats}, cell))
						merges = append(merges, m.Key)
						valEvals = append(valEvals, v.Key)
					}
					sel := p.add(p.evalJob("", merges, valEvals, "test", Scope{HeldIn: cats, HeldOut: true}, cell))
					cell.Last = sel.Key
					if rest := others(p.Categories, cats); len(rest) > 0 {
						// The chosen point on the held-in tasks outside its
						// categories, so that every chosen merge is scored on
						// every held-in task (the scaling law's in-domain loss).
						// A job of its own: the selection's key stays as it was.
						ch := p.add(p.chosenEvalJob(sel, "test", Scope{HeldIn: rest}))
						cell.Last = ch.Key
					}
				}
			}
		}
	}
	return p, nil
}

// add appends j to the plan unless a job with its key is there already
// (distinct identities hash to distinct keys; a duplicate would build the
// same artifact), and returns the plan's job.
func (p *Plan) add(j *Job) *Job {
	if prev, dup := p.index[j.Key]; dup {
		return prev
	}
	p.index[j.Key] = j
	p.Jobs = append(p.Jobs, j)
	return j
}

// builtinZoo plans the training of the built-in zoo, per variant (the
// full product of the listed zoo keys; a single one without lists): per
// size the pt base, the it base when listed, and per listed base one expert
// per held-in category and a multitask model. Models that a variant's keys
// do not change have the same key in every variant and are planned once.
func (p *Plan) builtinZoo() ([]*zooEntry, []*Job) {
	c := p.Config
	worldKey := map[string]any{"seed": c.World.Seed, "train": c.World.Train, "suite": suiteVersion(c)}
	train := func(kind Kind, size, base, category string, cats []string, st config.Stage, parent string, variant string) *Job {
		j := &Job{Kind: kind, Size: size, Base: base, Category: category, Categories: cats, Stage: st,
			Seed: deriveSeed(c.Seed, string(kind), size, base, category), Variant: variant}
		key := map[string]any{"kind": kind, "version": StageVersion(kind), "size": size, "base": base,
			"world": worldKey, "stage": st, "seed": j.Seed}
		if category != "" {
			key["category"] = category
		}
		if cats != nil {
			key["categories"] = cats
		}
		if parent != "" {
			key["parent"] = parent
			j.Deps = []string{parent}
			j.Parent = parent
		}
		j.Key = hashJSON(key)
		return p.add(j)
	}
	var entries []*zooEntry
	var zooModels []*Job
	for _, v := range c.Variants() {
		for _, size := range c.Zoo.Sizes {
			bases := map[string]*Job{}
			pt := train(KindPretrain, size, config.BasePT, "", nil, stage(c, KindPretrain, v), "", variantJSON(v, KindPretrain, config.BasePT))
			bases[config.BasePT] = pt
			if c.UsesBase(config.BaseIT) {
				bases[config.BaseIT] = train(KindInstruct, size, config.BaseIT, "", nil, stage(c, KindInstruct, v), pt.Key,
					variantJSON(v, KindInstruct, config.BaseIT))
			}
			for _, b := range c.Zoo.Bases {
				e := &zooEntry{size: size, base: b, variant: variantJSON(v, KindMerge, b), baseJob: bases[b],
					experts: map[string]*Job{}, cats: p.Categories}
				zooModels = append(zooModels, e.baseJob)
				for _, cat := range p.Categories {
					ex := train(KindExpert, size, b, cat, nil, stage(c, KindExpert, v), e.baseJob.Key, variantJSON(v, KindExpert, b))
					e.experts[cat] = ex
					zooModels = append(zooModels, ex)
				}
				zooModels = append(zooModels, train(KindMultitask, size, b, "", p.Categories, stage(c, KindMultitask, v), e.baseJob.Key,
					variantJSON(v, KindMultitask, b)))
				entries = append(entries, e)
			}
		}
	}
	return entries, zooModels
}

// checkpointZoo plans the registration of zoo.checkpoints: one job per
// checkpoint, keyed by its identity (the SHA-256 of its files), so a
// replaced checkpoint reruns exactly what depends on it.
func (p *Plan) checkpointZoo(identity func(string) (string, error)) ([]*zooEntry, []*Job, error) {
	c := p.Config
	register := func(z config.ZooCheckpoint, role, category, path string) (*Job, error) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		id, err := identity(abs)
		if err != nil {
			return nil, fmt.Errorf("zoo.checkpoints %s: %w", z.Label(), err)
		}
		j := &Job{Kind: KindCheckpoint, Size: z.Size, Base: z.Base, Category: category, Role: role, Path: abs}
		key := map[string]any{"kind": KindCheckpoint, "version": StageVersion(KindCheckpoint), "identity": id,
			"role": role, "size": z.Size, "base": z.Base}
		if z.Variant != "" {
			key["variant"] = z.Variant
		}
		if category != "" {
			key["category"] = category
		}
		if role == store.KindMultitask {
			j.Categories = p.Categories
		}
		j.Key = hashJSON(key)
		return p.add(j), nil
	}
	var entries []*zooEntry
	var zooModels []*Job
	for _, z := range c.Zoo.Checkpoints {
		bj, err := register(z, store.KindBase, "", z.BaseModel)
		if err != nil {
			return nil, nil, err
		}
		e := &zooEntry{size: z.Size, base: z.Base, label: z.Variant, baseJob: bj, experts: map[string]*Job{}}
		zooModels = append(zooModels, bj)
		for _, cat := range p.Categories {
			path, ok := z.Experts[cat]
			if !ok {
				continue
			}
			ej, err := register(z, store.KindExpert, cat, path)
			if err != nil {
				return nil, nil, err
			}
			e.experts[cat] = ej
			e.cats = append(e.cats, cat)
			zooModels = append(zooModels, ej)
		}
		if z.Multitask != "" {
			mj, err := register(z, store.KindMultitask, "", z.Multitask)
			if err != nil {
				return nil, nil, err
			}
			zooModels = append(zooModels, mj)
		}
		entries = append(entries, e)
	}
	return entries, zooModels, nil
}

// evalKey is the part of an evaluation's key that every evaluation has:
// kind, version, split, scope, the task data and the evaluator.
func (p *Plan) evalKey(split string, scope Scope) map[string]any {
	c := p.Config
	size := c.World.Test
	if split == "validation" {
		size = c.World.Validation
	}
	key := map[string]any{"kind": KindEval, "version": StageVersion(KindEval), "split": split, "scope": scope,
		"world": map[string]any{"seed": c.World.Seed, "examples": size, "suite": suiteVersion(c)}}
	if p.Tasks != nil {
		delete(key, "world")
		key["tasks"] = p.Tasks.Hash
	}
	if ev := c.Eval.KeyPart(p.evalFiles); ev != nil {
		key["evaluator"] = ev
	}
	return key
}

// evalJob builds an evaluation of model (or, with candidates, of the
// candidate whose validation eval in deps scores best).
func (p *Plan) evalJob(model string, candidates, deps []string, split string, scope Scope, cell *Cell) *Job {
	j := &Job{Kind: KindEval, Model: model, Candidates: candidates, Split: split, Scope: scope, Cell: cell}
	key := p.evalKey(split, scope)
	if model != "" {
		key["model"] = model
		j.Deps = []string{model}
	} else {
		key["candidates"] = candidates
		key["select_on"] = deps
		j.Deps = append(append([]string(nil), candidates...), deps...)
	}
	if cell != nil {
		j.Size, j.Base, j.Variant, j.K, j.Subset, j.Method, j.Categories = cell.Size, cell.Base, cell.Variant, cell.K, cell.Subset, cell.Method, cell.Categories
	} else if m, ok := p.index[model]; ok {
		j.Size, j.Base, j.Variant, j.Category = m.Size, m.Base, m.Variant, m.Category
	}
	j.Key = hashJSON(key)
	return j
}

// chosenEvalJob builds the evaluation of the merge that selection sel
// chooses, on split and scope. Its key holds the selection's key in place
// of a model, since the chosen merge is known only once sel has run.
func (p *Plan) chosenEvalJob(sel *Job, split string, scope Scope) *Job {
	j := p.evalJob("", nil, nil, split, scope, sel.Cell)
	j.Chosen = sel.Key
	j.Deps = []string{sel.Key}
	key := p.evalKey(split, scope)
	key["chosen_of"] = sel.Key
	j.Key = hashJSON(key)
	return j
}

// others lists the categories of all that are not in cats, in all's order.
func others(all, cats []string) []string {
	var out []string
	for _, c := range all {
		if !slices.Contains(cats, c) {
			out = append(out, c)
		}
	}
	return out
}

// Shard is one of Count equal shares of a plan's merge and evaluation jobs;
// Index counts from 0.
type Shard struct {
	Index, Count int
}

// ParseShard parses "i/n" with 0 ≤ i < n.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// String formats s as "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Has reports whether job j belongs to shard s. Training jobs belong to
// every shard (shards share the zoo through out/); other jobs to the shard
// their ShardKey hashes to.
func (s Shard) Has(j *Job) bool {
	if s.Count <= 1 || j.Kind.IsTraining() || j.Kind == KindCheckpoint {
		return true
	}
	b, err := hex.DecodeString(j.ShardKey()[:16])
	if err != nil {
		return false
	}
	return binary.BigEndian.Uint64(b)%uint64(s.Count) == uint64(s.Index)
}

// ForShard returns the plan restricted to shard s. The result is closed
// under dependencies.
func (p *Plan) ForShard(s Shard) *Plan {
	q := &Plan{Config: p.Config, Tasks: p.Tasks, Categories: p.Categories, Subsets: p.Subsets, Shard: s, index: map[string]*Job{},
		evalFiles: p.evalFiles}
	for _, j := range p.Jobs {
		if s.Has(j) {
			q.Jobs = append(q.Jobs, j)
			q.index[j.Key] = j
		}
	}
	for _, c := range p.Cells {
		if s.Count <= 1 || s.Has(&Job{Kind: KindMerge, Cell: c}) {
			q.Cells = append(q.Cells, c)
		}
	}
	return q
}

// KindCount is the number of jobs of one kind.
type KindCount struct {
	Kind  Kind
	Count int
}

// Counts returns the number of jobs of every kind, in Kinds order.
func (p *Plan) Counts() []KindCount {
	n := map[Kind]int{}
	for _, j := range p.Jobs {
		n[j.Kind]++
	}
	out := make([]KindCount, 0, len(n))
	for _, k := range Kinds() {
		// A zoo is either trained or registered: leave out the other's kinds.
		if n[k] == 0 && (k == KindCheckpoint || (k.IsTraining() && n[KindCheckpoint] > 0)) {
			continue
		}
		out = append(out, KindCount{Kind: k, Count: n[k]})
	}
	return out
}

// suiteVersion is the world version of c: world.version, or the default
// world for a config built without it (the suite-4 keys are unchanged).
func suiteVersion(c *config.Config) string {
	if c.World.Version == "" {
		return world.Version
	}
	return c.World.Version
}
