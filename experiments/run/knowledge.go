package run

import (
	"context"
	"fmt"

	"mergescale/eval/builtin"
	"mergescale/experiments/plan"
	"mergescale/model"
	"mergescale/store"
	"mergescale/world"
)

// A suite-5 run probes what each base knows and scores knowledge tasks by
// it (world/EVIDENCE.md, issue 24): every pretrained and instruction-tuned
// base gets the knowledge probe over all facts of the knowledge base when
// it is recorded (store table knowledge, with each fact's exposure count in
// its pretraining corpus), and every model descended from a base has its
// knowledge tasks' instances scored apart by whether that base knows their
// fact (store table knowledge_scores).

// probeBase returns the knowledge probe of the base trained by job j, whose
// checkpoint is in dir: nil unless the run is in the suite-5 world and j
// trains a base.
func (r *runner) probeBase(j *plan.Job, dir string) ([]store.KnowledgeProbe, error) {
	if r.suite == nil || r.suite.Knowledge == nil || (j.Kind != plan.KindPretrain && j.Kind != plan.KindInstruct) {
		return nil, nil
	}
	// The exposures are those of the corpus the pt base of this size
	// pretrained on (an it base's parent).
	pt := j
	if j.Kind == plan.KindInstruct {
		parent, ok := r.plan.Job(j.Parent)
		if !ok || parent.Kind != plan.KindPretrain {
			return nil, fmt.Errorf("knowledge probe: the parent of %s is not a pretraining job of the plan", plan.ShortKey(j.Key))
		}
		pt = parent
	}
	m, err := model.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("knowledge probe: %w", err)
	}
	k := r.suite.Knowledge
	facts := k.Facts()
	lps, err := builtin.ProbeFacts(m, k.Tokenizer(), facts, "")
	if err != nil {
		return nil, fmt.Errorf("knowledge probe of %s: %w", plan.ShortKey(j.Key), err)
	}
	exp := k.Exposures(pt.Stage.Steps * pt.Stage.Batch)
	attrs := world.KnowledgeAttributes()
	out := make([]store.KnowledgeProbe, len(facts))
	for i, f := range facts {
		out[i] = store.KnowledgeProbe{ModelID: j.Key, Size: j.Size, Params: int64(m.NumParams()), WorldVersion: world.VersionKnowledge,
			Fact: f.ID(k), Attribute: attrs[f.Attribute].Name, Exposures: exp[f.Person], LogProb: lps[i]}
	}
	return out, nil
}

// baseOf returns the key of the base (pretraining or instruction-tuning
// job) the model of key descends from, following each job's parent; false
// for a model outside the plan's zoo (a registered checkpoint).
func (r *runner) baseOf(key string) (string, bool) {
	for range 8 { // base ← expert ← merge is the longest chain
		j, ok := r.plan.Job(key)
		if !ok {
			return "", false
		}
		switch {
		case j.Kind == plan.KindPretrain || j.Kind == plan.KindInstruct:
			return key, true
		case j.Parent == "":
			return "", false
		}
		key = j.Parent
	}
	return "", false
}

// knownFacts returns, for a model of a suite-5 run, the facts its base
// knows (probe p > 0.5) and those it does not, by fact ID: nil outside
// suite-5 or for a model without a base in the plan. The base's probe is
// read from the store once and cached.
func (r *runner) knownFacts(ctx context.Context, modelKey string) (map[string]bool, error) {
	if r.suite == nil || r.suite.Knowledge == nil {
		return nil, nil
	}
	base, ok := r.baseOf(modelKey)
	if !ok {
		return nil, nil
	}
	r.knownMu.Lock()
	defer r.knownMu.Unlock()
	if k, ok := r.known[base]; ok {
		return k, nil
	}
	probes, err := r.db.KnowledgeOf(ctx, base)
	if err != nil {
		return nil, err
	}
	if len(probes) == 0 {
		return nil, fmt.Errorf("base %s has no knowledge probe in the store (it is recorded with the base)", plan.ShortKey(base))
	}
	k := make(map[string]bool, len(probes))
	for _, p := range probes {
		k[p.Fact] = p.LogProb > builtin.KnownLogProb
	}
	r.known[base] = k
	return k, nil
}
