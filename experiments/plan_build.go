package experiments

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Plan is a config expanded into jobs.
type Plan struct {
	Config *Config
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

	index map[string]*Job
}

// Job returns the job with this key.
func (p *Plan) Job(key string) (*Job, bool) {
	j, ok := p.index[key]
	return j, ok
}

// NewPlan expands a checked config into its full plan.
func NewPlan(c *Config) (*Plan, error) {
	p := &Plan{Config: c, Categories: heldInCategories(), Subsets: map[int][][]string{},
		Shard: Shard{Index: 0, Count: 1}, index: map[string]*Job{}}
	world := map[string]any{"seed": c.World.Seed, "train": c.World.Train, "suite": suiteVersion()}
	add := func(j *Job) *Job {
		if _, dup := p.index[j.Key]; dup {
			// Distinct identities hash to distinct keys; a duplicate means
			// two jobs would build the same artifact.
			return p.index[j.Key]
		}
		p.index[j.Key] = j
		p.Jobs = append(p.Jobs, j)
		return j
	}
	train := func(kind Kind, size, base, category string, cats []string, st Stage, parent string) *Job {
		j := &Job{Kind: kind, Size: size, Base: base, Category: category, Categories: cats, Stage: st,
			Seed: deriveSeed(c.Seed, string(kind), size, base, category)}
		key := map[string]any{"kind": kind, "version": StageVersion(kind), "size": size, "base": base,
			"world": world, "stage": st, "seed": j.Seed}
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
		return add(j)
	}

	// The zoo.
	type zooKey struct{ size, base string }
	bases := map[zooKey]*Job{}
	experts := map[zooKey]map[string]*Job{}
	var zooModels []*Job // models evaluated once per (size, base)
	for _, size := range c.Zoo.Sizes {
		pt := train(KindPretrain, size, BasePT, "", nil, c.Zoo.Pretrain, "")
		bases[zooKey{size, BasePT}] = pt
		if c.UsesBase(BaseIT) {
			bases[zooKey{size, BaseIT}] = train(KindInstruct, size, BaseIT, "", nil, c.Zoo.Instruct, pt.Key)
		}
		for _, b := range c.Zoo.Bases {
			zk := zooKey{size, b}
			base := bases[zk]
			zooModels = append(zooModels, base)
			experts[zk] = map[string]*Job{}
			for _, cat := range p.Categories {
				e := train(KindExpert, size, b, cat, nil, c.Zoo.Expert, base.Key)
				experts[zk][cat] = e
				zooModels = append(zooModels, e)
			}
			zooModels = append(zooModels, train(KindMultitask, size, b, "", p.Categories, c.Zoo.Multitask, base.Key))
		}
	}
	all := Scope{HeldIn: p.Categories, HeldOut: true}
	for _, m := range zooModels {
		add(p.evalJob(m.Key, nil, nil, "test", all, nil))
	}

	// The sweep.
	for _, k := range c.Sweep.Experts {
		p.Subsets[k] = Subsets(c.Seed, p.Categories, k, c.Sweep.Subsets)
	}
	for _, size := range c.Zoo.Sizes {
		for _, b := range c.Zoo.Bases {
			zk := zooKey{size, b}
			base := bases[zk]
			for _, k := range c.Sweep.Experts {
				for si, cats := range p.Subsets[k] {
					expertKeys := make([]string, len(cats))
					for i, cat := range cats {
						expertKeys[i] = experts[zk][cat].Key
					}
					seed := deriveSeed(c.Seed, "merge", size, b, cats)
					for _, g := range c.Sweep.Methods {
						cell := &Cell{Size: size, Base: b, K: k, Subset: si, Categories: cats, Method: g.Method,
							Key: hashJSON(map[string]any{"cell": 1, "base": base.Key, "experts": expertKeys, "method": g.Method})}
						p.Cells = append(p.Cells, cell)
						var merges, valEvals []string
						for _, pt := range g.Points() {
							hp := canonicalJSON(pt)
							m := add(&Job{Kind: KindMerge, Size: size, Base: b, Categories: cats, Seed: seed,
								Parent: base.Key, Experts: expertKeys, Method: g.Method, HParams: pt, HParamsJSON: hp,
								Cell: cell, K: k, Subset: si,
								Deps: append([]string{base.Key}, expertKeys...),
								Key: hashJSON(map[string]any{"kind": KindMerge, "version": StageVersion(KindMerge),
									"method": g.Method, "hparams": pt, "seed": seed, "base": base.Key, "experts": expertKeys})})
							v := add(p.evalJob(m.Key, nil, nil, c.Sweep.SelectOn, Scope{HeldIn: cats}, cell))
							merges = append(merges, m.Key)
							valEvals = append(valEvals, v.Key)
						}
						add(p.evalJob("", merges, valEvals, "test", Scope{HeldIn: cats, HeldOut: true}, cell))
					}
				}
			}
		}
	}
	return p, nil
}

// evalJob builds an evaluation of model (or, with candidates, of the
// candidate whose validation eval in deps scores best).
func (p *Plan) evalJob(model string, candidates, deps []string, split string, scope Scope, cell *Cell) *Job {
	c := p.Config
	size := c.World.Test
	if split == "validation" {
		size = c.World.Validation
	}
	j := &Job{Kind: KindEval, Model: model, Candidates: candidates, Split: split, Scope: scope, Cell: cell}
	key := map[string]any{"kind": KindEval, "version": StageVersion(KindEval), "split": split, "scope": scope,
		"world": map[string]any{"seed": c.World.Seed, "examples": size, "suite": suiteVersion()}}
	if ev := c.Eval.keyPart(); ev != nil {
		key["evaluator"] = ev
	}
	if model != "" {
		key["model"] = model
		j.Deps = []string{model}
	} else {
		key["candidates"] = candidates
		key["select_on"] = deps
		j.Deps = append(append([]string(nil), candidates...), deps...)
	}
	if cell != nil {
		j.Size, j.Base, j.K, j.Subset, j.Method, j.Categories = cell.Size, cell.Base, cell.K, cell.Subset, cell.Method, cell.Categories
	} else if m, ok := p.index[model]; ok {
		j.Size, j.Base, j.Category = m.Size, m.Base, m.Category
	}
	j.Key = hashJSON(key)
	return j
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
	if s.Count <= 1 || j.Kind.IsTraining() {
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
	q := &Plan{Config: p.Config, Categories: p.Categories, Subsets: p.Subsets, Shard: s, index: map[string]*Job{}}
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
		out = append(out, KindCount{Kind: k, Count: n[k]})
	}
	return out
}
