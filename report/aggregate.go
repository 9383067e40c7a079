package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"mergescale/store"
)

type sizeKey struct{ base, size string }

// aggregator holds the lookups of one aggregation. The per-variant maps
// (base, multitask, expert) hold the models of the variant being built.
type aggregator struct {
	d         *storeData
	base      map[sizeKey]string            // → base model id
	multitask map[sizeKey]string            // → multitask model id
	expert    map[sizeKey]map[string]string // → category → expert model id
	params    map[string]int64              // size → parameter count
	vrank     map[string]int                // variant JSON → index in Results.Variants
	missing   map[string]bool
	r         *Results
}

func (a *aggregator) note(format string, args ...any) {
	a.missing[fmt.Sprintf(format, args...)] = true
}

func aggregate(d *storeData) *Results {
	a := &aggregator{
		d: d, params: map[string]int64{}, vrank: map[string]int{},
		missing: map[string]bool{}, r: &Results{RunName: d.runName, ConfigText: d.configText, TaskMetrics: d.taskMetrics(), Knowledge: ptProbes(d)},
	}
	for _, m := range d.models {
		if m.Params > a.params[m.Size] {
			a.params[m.Size] = m.Params
		}
	}
	a.r.Axes = variantAxes(d)
	a.r.Variants = variantProduct(a.r.Axes)
	for key, n := range unlabeled(d, a.r.Axes) {
		a.note("%d models were recorded without a value of %s (by a run of a config that did not list it) and count under each of its values; "+
			"rerun the latest config to relabel them", n, key)
	}
	for i, v := range a.r.Variants {
		a.vrank[v.JSON] = i
		a.lookups(v)
		a.cells(v)
		a.baselines(v)
		a.tasks(v)
		a.taus(v)
	}
	a.orderings()
	a.r.KnowledgeGuards = a.knowledgeGuards()
	if len(d.models) == 0 {
		a.note("the store has no models")
	}
	if len(a.r.Cells) == 0 {
		a.note("the store has no chosen merges with test scores")
	} else if !d.hasCE {
		a.note("the store has no option_ce scores (it was written before the cross-entropy metrics), so gain kept in cross-entropy is n/a")
	}
	r := a.r
	r.Law = scalingLaw(r.Default(), d)
	r.Missing = append(r.Missing, d.missing...)
	var extra []string
	for m := range a.missing {
		extra = append(extra, m)
	}
	sort.Strings(extra)
	r.Missing = append(r.Missing, extra...)
	return r
}

// ptProbes are the knowledge probes of the PT bases: a study probes its IT
// bases too, but the knowledge section shows what pretraining left (the
// knowledge pilot's probes, of bases outside the models table, are all PT).
func ptProbes(d *storeData) []store.KnowledgeProbe {
	var out []store.KnowledgeProbe
	for _, p := range d.knowledge {
		if m, ok := d.models[p.ModelID]; !ok || m.BaseType != "it" {
			out = append(out, p)
		}
	}
	return out
}

// lookups indexes the base, expert and multitask models that belong to
// variant v by (base type, size) (the first by id when several do).
func (a *aggregator) lookups(v Variant) {
	a.base, a.multitask, a.expert = map[sizeKey]string{}, map[sizeKey]string{}, map[sizeKey]map[string]string{}
	for _, id := range a.modelIDs() {
		m := a.d.models[id]
		if !compatible(parseVariant(m.Variant), v.Values) {
			continue
		}
		key := sizeKey{m.BaseType, m.Size}
		switch m.Kind {
		case store.KindBase:
			if _, dup := a.base[key]; !dup {
				a.base[key] = id
			}
		case store.KindMultitask:
			if _, dup := a.multitask[key]; !dup {
				a.multitask[key] = id
			}
		case store.KindExpert:
			if a.expert[key] == nil {
				a.expert[key] = map[string]string{}
			}
			if _, dup := a.expert[key][m.Category]; !dup {
				a.expert[key][m.Category] = id
			}
		}
	}
}

func (a *aggregator) modelIDs() []string {
	ids := slices.Sorted(maps.Keys(a.d.models))
	return ids
}

// scoresOf returns the test scores of model id, noting when it has none.
func (a *aggregator) scoresOf(id, what string) map[string]store.Score {
	s := a.d.scores[id]
	if len(s) == 0 {
		a.note("no test scores for %s", what)
	}
	return s
}

// expertRef returns the test scores of the variant's expert of category
// cat for (base type, size).
func (a *aggregator) expertRef(key sizeKey) func(cat string) map[string]store.Score {
	return func(cat string) map[string]store.Score {
		id, ok := a.expert[key][cat]
		if !ok {
			a.note("no %s expert for category %s at size %s", key.base, cat, key.size)
			return nil
		}
		return a.scoresOf(id, fmt.Sprintf("the %s expert of %s at size %s", key.base, cat, key.size))
	}
}

// baseRef returns the variant's base model's test scores, whatever the
// category.
func (a *aggregator) baseRef(key sizeKey) func(cat string) map[string]store.Score {
	return func(string) map[string]store.Score {
		id, ok := a.base[key]
		if !ok {
			a.note("no %s base model at size %s", key.base, key.size)
			return nil
		}
		return a.scoresOf(id, fmt.Sprintf("the %s base at size %s", key.base, key.size))
	}
}

// mergeRefs returns the held-in and held-out references of a merge: the
// experts and base it was built from (merges.expert_ids, merges.base_id).
// A merge recorded before schema version 3 has neither; it falls back to
// the variant's experts and base of its size and base type.
func (a *aggregator) mergeRefs(m store.Merge) (experts, base func(string) map[string]store.Score) {
	key := sizeKey{m.BaseType, m.Size}
	if m.BaseID == "" || len(m.ExpertIDs) != len(m.Categories) {
		a.note("merges recorded without base_id and expert_ids (a store from before schema version 3) are normalized by the base and experts of their size and base type")
		return a.expertRef(key), a.baseRef(key)
	}
	byCat := map[string]string{}
	for i, c := range m.Categories {
		byCat[c] = m.ExpertIDs[i]
	}
	experts = func(cat string) map[string]store.Score {
		id, ok := byCat[cat]
		if !ok {
			return nil
		}
		if _, known := a.d.models[id]; !known {
			a.note("merge %s names expert %s, which is not in the models table", short(m.ModelID), short(id))
		}
		return a.scoresOf(id, fmt.Sprintf("expert %s (of merge %s)", short(id), short(m.ModelID)))
	}
	base = func(string) map[string]store.Score {
		if _, known := a.d.models[m.BaseID]; !known {
			a.note("merge %s names base %s, which is not in the models table", short(m.ModelID), short(m.BaseID))
		}
		return a.scoresOf(m.BaseID, fmt.Sprintf("base %s (of merge %s)", short(m.BaseID), short(m.ModelID)))
	}
	return experts, base
}

// ceRefs returns the option_ce scores of the references of merge m, the
// experts by category and the base (nil when the store has none). They are
// the models mergeRefs names, without its notes.
func (a *aggregator) ceRefs(m store.Merge) (experts, base func(string) map[string]store.Score) {
	byCat := map[string]string{}
	baseID := m.BaseID
	key := sizeKey{m.BaseType, m.Size}
	if baseID == "" || len(m.ExpertIDs) != len(m.Categories) {
		baseID = a.base[key]
		byCat = a.expert[key]
	} else {
		for i, c := range m.Categories {
			byCat[c] = m.ExpertIDs[i]
		}
	}
	experts = func(cat string) map[string]store.Score {
		id, ok := byCat[cat]
		if !ok {
			return nil
		}
		return a.d.ce[id]
	}
	base = func(string) map[string]store.Score { return a.d.ce[baseID] }
	return experts, base
}

// modelScores scores a model on held-in tasks of cats (nil: all),
// normalized by experts, and on all held-out tasks, normalized by base.
func modelScores(s map[string]store.Score, cats []string, experts, base func(string) map[string]store.Score) Scores {
	if len(s) == 0 {
		return nanScores()
	}
	out := nanScores()
	in := catScores(s, store.HeldIn, cats, experts)
	outS := catScores(s, store.HeldOut, nil, base)
	out.HeldIn, out.HeldInChance, out.RawHeldIn, out.ChanceHeldIn = in.norm, in.chance, in.raw, in.chanceLevel
	out.HeldInChanceTasks, out.HeldInTasks = in.chanceTasks, in.tasks
	out.HeldOut, out.HeldOutChance, out.RawHeldOut, out.ChanceHeldOut = outS.norm, outS.chance, outS.raw, outS.chanceLevel
	out.HeldOutChanceTasks, out.HeldOutTasks = outS.chanceTasks, outS.tasks
	return out
}

// orNaN is *v, or NaN when v is nil (not recorded).
func orNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

type cellKey struct {
	base, size, method string
	k                  int
}

// cells builds the cells of variant v from the chosen merges that belong
// to it.
func (a *aggregator) cells(v Variant) {
	byCell := map[cellKey][]SubsetResult{}
	for _, m := range a.d.merges {
		if !m.Chosen || !compatible(parseVariant(m.Variant), v.Values) {
			continue
		}
		if len(a.d.scores[m.ModelID]) == 0 {
			a.note("chosen merge %s (%s %s %s k=%d subset %d) has no test accuracy scores",
				short(m.ModelID), m.BaseType, m.Size, m.Method, m.K, m.Subset)
			continue
		}
		key := sizeKey{m.BaseType, m.Size}
		experts, base := a.mergeRefs(m)
		target := a.d.scores[m.ModelID]
		sr := SubsetResult{
			Subset: m.Subset, Categories: m.Categories, ModelID: m.ModelID,
			Hparams: m.HParams, Seed: int64(m.Seed),
			Merged:       modelScores(target, m.Categories, experts, base),
			Multitask:    nanScores(),
			SignConflict: m.SignConflict, MeanCosine: m.MeanCosine,
		}
		sr.Merged.GainKept = gainKept(target, m.Categories, experts, base)
		ceExperts, ceBase := a.ceRefs(m)
		sr.Merged.GainKeptCE = gainKeptCE(a.d.ce[m.ModelID], m.Categories, ceExperts, ceBase)
		sr.Kinds = a.kindGains(m, target, experts, base, a.d.ce[m.ModelID], ceExperts, ceBase)
		if id, ok := a.multitask[key]; ok {
			sr.Multitask = modelScores(a.d.scores[id], m.Categories, experts, base)
		} else {
			a.note("no %s multitask model at size %s", m.BaseType, m.Size)
		}
		ck := cellKey{m.BaseType, m.Size, m.Method, m.K}
		byCell[ck] = append(byCell[ck], sr)
	}
	var cells []Cell
	for ck, subs := range byCell {
		sort.Slice(subs, func(i, j int) bool { return subs[i].Subset < subs[j].Subset })
		col := func(f func(SubsetResult) float64) Stat {
			xs := make([]float64, len(subs))
			for i, s := range subs {
				xs[i] = f(s)
			}
			return newStat(xs)
		}
		cells = append(cells, Cell{
			Variant:  v.JSON,
			BaseType: ck.base, Size: ck.size, Params: a.params[ck.size], Method: ck.method, K: ck.k,
			Subsets:         subs,
			HeldIn:          col(func(s SubsetResult) float64 { return s.Merged.HeldIn }),
			HeldOut:         col(func(s SubsetResult) float64 { return s.Merged.HeldOut }),
			HeldInChance:    col(func(s SubsetResult) float64 { return s.Merged.HeldInChance }),
			HeldOutChance:   col(func(s SubsetResult) float64 { return s.Merged.HeldOutChance }),
			RawHeldIn:       col(func(s SubsetResult) float64 { return s.Merged.RawHeldIn }),
			RawHeldOut:      col(func(s SubsetResult) float64 { return s.Merged.RawHeldOut }),
			GainKept:        col(func(s SubsetResult) float64 { return s.Merged.GainKept }),
			GainKeptCE:      col(func(s SubsetResult) float64 { return s.Merged.GainKeptCE }),
			MTHeldIn:        col(func(s SubsetResult) float64 { return s.Multitask.HeldIn }),
			MTHeldOut:       col(func(s SubsetResult) float64 { return s.Multitask.HeldOut }),
			MTHeldInChance:  col(func(s SubsetResult) float64 { return s.Multitask.HeldInChance }),
			MTHeldOutChance: col(func(s SubsetResult) float64 { return s.Multitask.HeldOutChance }),
			SignConflict:    col(func(s SubsetResult) float64 { return s.SignConflict }),
			MeanCosine:      col(func(s SubsetResult) float64 { return s.MeanCosine }),
		})
	}
	sort.Slice(cells, func(i, j int) bool { return a.cellLess(cells[i], cells[j]) })
	a.r.Cells = append(a.r.Cells, cells...)
}

func (a *aggregator) sizeLess(x, y string) bool {
	if a.params[x] != a.params[y] {
		return a.params[x] < a.params[y]
	}
	return x < y
}

func (a *aggregator) cellLess(x, y Cell) bool {
	switch {
	case x.Variant != y.Variant:
		return a.vrank[x.Variant] < a.vrank[y.Variant]
	case x.BaseType != y.BaseType:
		return baseLess(x.BaseType, y.BaseType)
	case x.Size != y.Size:
		return a.sizeLess(x.Size, y.Size)
	case x.Method != y.Method:
		return methodLess(x.Method, y.Method)
	}
	return x.K < y.K
}

// baselines scores the base, expert and multitask models of variant v
// against the variant's experts and base.
func (a *aggregator) baselines(v Variant) {
	var bl []Baseline
	for _, id := range a.modelIDs() {
		m := a.d.models[id]
		if m.Kind != store.KindBase && m.Kind != store.KindExpert && m.Kind != store.KindMultitask {
			continue
		}
		if !compatible(parseVariant(m.Variant), v.Values) {
			continue
		}
		key := sizeKey{m.BaseType, m.Size}
		var cats []string
		b := Baseline{Variant: v.JSON, BaseType: m.BaseType, Size: m.Size, Params: m.Params, Kind: m.Kind,
			Category: m.Category, ModelID: id, Gain: math.NaN(), TauNormRatio: orNaN(m.TauNormRatio)}
		if m.Kind == store.KindExpert {
			cats = []string{m.Category}
			b.Gain = a.expertGain(id, key, m.Category)
		}
		b.Scores = modelScores(a.d.scores[id], cats, a.expertRef(key), a.baseRef(key))
		bl = append(bl, b)
	}
	kind := map[string]int{store.KindBase: 0, store.KindMultitask: 1, store.KindExpert: 2}
	sort.SliceStable(bl, func(i, j int) bool {
		x, y := bl[i], bl[j]
		switch {
		case x.BaseType != y.BaseType:
			return baseLess(x.BaseType, y.BaseType)
		case x.Size != y.Size:
			return a.sizeLess(x.Size, y.Size)
		case x.Kind != y.Kind:
			return kind[x.Kind] < kind[y.Kind]
		}
		return x.Category < y.Category
	})
	a.r.Baselines = append(a.r.Baselines, bl...)
}

// expertGain is an expert's raw accuracy on its category minus the
// variant's base's on the same tasks.
func (a *aggregator) expertGain(id string, key sizeKey, cat string) float64 {
	bid, ok := a.base[key]
	if !ok {
		return math.NaN()
	}
	e := rawCategory(a.d.scores[id], store.HeldIn, cat, nil)
	b := rawCategory(a.d.scores[bid], store.HeldIn, cat, a.d.scores[id])
	return e - b
}

// taus summarizes ‖τ‖ ÷ ‖θ₀‖ of the variant's experts per base type and size.
func (a *aggregator) taus(v Variant) {
	type acc struct{ xs []float64 }
	by := map[sizeKey]*acc{}
	for _, id := range a.modelIDs() {
		m := a.d.models[id]
		if m.Kind != store.KindExpert || m.TauNormRatio == nil || !compatible(parseVariant(m.Variant), v.Values) {
			continue
		}
		k := sizeKey{m.BaseType, m.Size}
		if by[k] == nil {
			by[k] = &acc{}
		}
		by[k].xs = append(by[k].xs, *m.TauNormRatio)
	}
	var out []TauRatio
	for k, x := range by {
		out = append(out, TauRatio{Variant: v.JSON, BaseType: k.base, Size: k.size, Params: a.params[k.size], Ratio: newStat(x.xs)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].BaseType != out[j].BaseType {
			return baseLess(out[i].BaseType, out[j].BaseType)
		}
		return a.sizeLess(out[i].Size, out[j].Size)
	})
	a.r.TauRatios = append(a.r.TauRatios, out...)
}

// tasks builds the per-task raw accuracy table of variant v: baselines,
// then each cell's merges averaged over subsets.
func (a *aggregator) tasks(v Variant) {
	add := func(base, size, model string, k int, cat string, scoreSets []map[string]store.Score) {
		byTask := map[string][]float64{}
		info := map[string]store.Score{}
		for _, ss := range scoreSets {
			for t, s := range ss {
				byTask[t] = append(byTask[t], s.Value)
				info[t] = s
			}
		}
		names := make([]string, 0, len(byTask))
		for t := range byTask {
			names = append(names, t)
		}
		sort.Slice(names, func(i, j int) bool {
			x, y := info[names[i]], info[names[j]]
			if x.Heldness != y.Heldness {
				return x.Heldness < y.Heldness // held_in before held_out
			}
			if x.Category != y.Category {
				return x.Category < y.Category
			}
			return names[i] < names[j]
		})
		for _, t := range names {
			a.r.Tasks = append(a.r.Tasks, TaskScore{
				Variant:  v.JSON,
				BaseType: base, Size: size, Params: a.params[size], Model: model, K: k, Category: cat,
				Task: t, TaskCategory: info[t].Category, Heldness: info[t].Heldness,
				Accuracy: newStat(byTask[t]),
			})
		}
	}
	for _, b := range a.r.Baselines {
		if b.Variant == v.JSON {
			add(b.BaseType, b.Size, b.Kind, 0, b.Category, []map[string]store.Score{a.d.scores[b.ModelID]})
		}
	}
	for _, c := range a.r.Cells {
		if c.Variant != v.JSON {
			continue
		}
		var sets []map[string]store.Score
		for _, s := range c.Subsets {
			sets = append(sets, a.d.scores[s.ModelID])
		}
		add(c.BaseType, c.Size, c.Method, c.K, "", sets)
	}
}

func (a *aggregator) orderings() {
	sizes, bases, methods, ks := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[int]bool{}
	for _, c := range a.r.Cells {
		sizes[c.Size], bases[c.BaseType], methods[c.Method], ks[c.K] = true, true, true, true
	}
	for _, b := range a.r.Baselines {
		sizes[b.Size], bases[b.BaseType] = true, true
	}
	for s := range sizes {
		a.r.Sizes = append(a.r.Sizes, SizeInfo{Name: s, Params: a.params[s]})
	}
	sort.Slice(a.r.Sizes, func(i, j int) bool { return a.sizeLess(a.r.Sizes[i].Name, a.r.Sizes[j].Name) })
	for b := range bases {
		if b != "" {
			a.r.BaseTypes = append(a.r.BaseTypes, b)
		}
	}
	sort.Slice(a.r.BaseTypes, func(i, j int) bool { return baseLess(a.r.BaseTypes[i], a.r.BaseTypes[j]) })
	for m := range methods {
		a.r.Methods = append(a.r.Methods, m)
	}
	sort.Slice(a.r.Methods, func(i, j int) bool { return methodLess(a.r.Methods[i], a.r.Methods[j]) })
	for k := range ks {
		a.r.Ks = append(a.r.Ks, k)
	}
	sort.Ints(a.r.Ks)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// joinCats renders a category list for tables.
func joinCats(c []string) string { return strings.Join(c, "+") }
