package report

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"
)

// Heldness values in the scores table.
const (
	heldIn  = "held_in"
	heldOut = "held_out"
)

// Stat is a mean over expert subsets with its 95% confidence interval.
type Stat struct {
	Mean float64 // NaN when N == 0
	// CI is the half-width of the 95% confidence interval of the mean,
	// t(0.975, N−1)·s/√N with s the sample standard deviation; NaN when N < 2.
	CI float64
	N  int // number of subsets with a value
}

// Valid reports whether the statistic has at least one value.
func (s Stat) Valid() bool { return s.N > 0 && !math.IsNaN(s.Mean) }

// newStat summarizes the finite values of xs.
func newStat(xs []float64) Stat {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	s := Stat{Mean: math.NaN(), CI: math.NaN(), N: len(v)}
	if len(v) == 0 {
		return s
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	n := float64(len(v))
	s.Mean = sum / n
	if len(v) < 2 {
		return s
	}
	var ss float64
	for _, x := range v {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	sd := math.Sqrt(ss / (n - 1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(0.975)
	s.CI = t * sd / math.Sqrt(n)
	return s
}

// Scores are the normalized and raw scores of one model on one expert
// subset: each is a mean over categories of per-category means over tasks.
type Scores struct {
	HeldIn, HeldOut             float64 // merged ÷ reference (expert / base)
	HeldInChance, HeldOutChance float64 // (score − chance) ÷ (reference − chance)
	RawHeldIn, RawHeldOut       float64 // accuracy
}

func nanScores() Scores {
	n := math.NaN()
	return Scores{n, n, n, n, n, n}
}

// SubsetResult is one chosen merge (one expert subset) of a cell.
type SubsetResult struct {
	Subset     int
	Categories []string
	ModelID    string
	Hparams    string
	Seed       int64
	Merged     Scores
	Multitask  Scores // the multitask model on the same categories
	// Diagnostics from the merges table (NaN when not recorded).
	SignConflict, MeanCosine float64
}

// Cell aggregates the chosen test merges of one (base type, size, method, k).
type Cell struct {
	BaseType, Size string
	Params         int64
	Method         string
	K              int
	Subsets        []SubsetResult // by subset index

	HeldIn, HeldOut             Stat
	HeldInChance, HeldOutChance Stat
	RawHeldIn, RawHeldOut       Stat
	// The multitask baseline over the same subsets' categories.
	MTHeldIn, MTHeldOut             Stat
	MTHeldInChance, MTHeldOutChance Stat
	SignConflict, MeanCosine        Stat
}

// Baseline is a non-merged model's scores: the base, an expert or the
// multitask model. Normalized held-in is over all held-in categories for
// the base and multitask models and over its own category for an expert.
type Baseline struct {
	BaseType, Size string
	Params         int64
	Kind           string // base | expert | multitask
	Category       string // expert's category
	ModelID        string
	Scores         Scores
}

// TaskScore is one model's raw test accuracy on one task, averaged over
// subsets for merged models.
type TaskScore struct {
	BaseType, Size string
	Params         int64
	Model          string // "base", "expert", "multitask" or the merge method
	K              int    // 0 for non-merged models
	Category       string // expert's category; '' otherwise
	Task           string
	TaskCategory   string
	Heldness       string
	Accuracy       Stat
}

// SizeInfo is a model size of the store with its parameter count.
type SizeInfo struct {
	Name   string
	Params int64
}

// Results is everything the report shows, aggregated from a store.
type Results struct {
	Cells     []Cell // ordered by base type, size, method, k
	Baselines []Baseline
	Tasks     []TaskScore
	Sizes     []SizeInfo // ascending by parameter count
	BaseTypes []string   // pt before it
	Methods   []string   // in canonical order
	Ks        []int
	// RunName and ConfigText are from the latest run in the store.
	RunName, ConfigText string
	// Missing lists, in words, what the store lacks for a full report.
	Missing []string
}

// Cell returns the cell for the key, if present.
func (r *Results) Cell(baseType, size, method string, k int) (Cell, bool) {
	for _, c := range r.Cells {
		if c.BaseType == baseType && c.Size == size && c.Method == method && c.K == k {
			return c, true
		}
	}
	return Cell{}, false
}

// methodOrder is the paper's order; unknown methods follow alphabetically.
var methodOrder = map[string]int{"linear": 0, "task_arithmetic": 1, "ties": 2, "dare_ties": 3}

func methodLess(a, b string) bool {
	ra, oka := methodOrder[a]
	rb, okb := methodOrder[b]
	switch {
	case oka && okb:
		return ra < rb
	case oka != okb:
		return oka
	}
	return a < b
}

func baseLess(a, b string) bool {
	rank := func(s string) int {
		switch s {
		case "pt":
			return 0
		case "it":
			return 1
		}
		return 2
	}
	if rank(a) != rank(b) {
		return rank(a) < rank(b)
	}
	return a < b
}

// Load reads the store at dbPath read-only and aggregates it. A store
// without data gives Results whose Missing says what is absent; only an
// unreadable store is an error.
func Load(ctx context.Context, dbPath string) (*Results, error) {
	d, err := loadStore(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	return aggregate(d), nil
}

type sizeKey struct{ base, size string }

// aggregator holds the lookups of one aggregation.
type aggregator struct {
	d         *storeData
	base      map[sizeKey]string            // → base model id
	multitask map[sizeKey]string            // → multitask model id
	expert    map[sizeKey]map[string]string // → category → expert model id
	params    map[string]int64              // size → parameter count
	missing   map[string]bool
	r         *Results
}

func (a *aggregator) note(format string, args ...any) {
	a.missing[fmt.Sprintf(format, args...)] = true
}

func aggregate(d *storeData) *Results {
	a := &aggregator{
		d: d, base: map[sizeKey]string{}, multitask: map[sizeKey]string{},
		expert: map[sizeKey]map[string]string{}, params: map[string]int64{},
		missing: map[string]bool{}, r: &Results{RunName: d.runName, ConfigText: d.configText},
	}
	ids := make([]string, 0, len(d.models))
	for id := range d.models {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := d.models[id]
		if m.Params > a.params[m.Size] {
			a.params[m.Size] = m.Params
		}
		key := sizeKey{m.BaseType, m.Size}
		switch m.Kind {
		case "base":
			if _, dup := a.base[key]; !dup {
				a.base[key] = id
			}
		case "multitask":
			if _, dup := a.multitask[key]; !dup {
				a.multitask[key] = id
			}
		case "expert":
			if a.expert[key] == nil {
				a.expert[key] = map[string]string{}
			}
			if _, dup := a.expert[key][m.Category]; !dup {
				a.expert[key][m.Category] = id
			}
		}
	}
	a.cells()
	a.baselines()
	a.tasks()
	a.orderings()
	if len(d.models) == 0 {
		a.note("the store has no models")
	}
	if len(a.r.Cells) == 0 {
		a.note("the store has no chosen merges with test scores")
	}
	r := a.r
	r.Missing = append(r.Missing, d.missing...)
	var extra []string
	for m := range a.missing {
		extra = append(extra, m)
	}
	sort.Strings(extra)
	r.Missing = append(r.Missing, extra...)
	return r
}

// expertRef returns the test scores of the expert of category cat.
func (a *aggregator) expertRef(key sizeKey) func(cat string) map[string]scoreRow {
	return func(cat string) map[string]scoreRow {
		id, ok := a.expert[key][cat]
		if !ok {
			a.note("no %s expert for category %s at size %s", key.base, cat, key.size)
			return nil
		}
		s := a.d.scores[id]
		if len(s) == 0 {
			a.note("no test scores for the %s expert of %s at size %s", key.base, cat, key.size)
		}
		return s
	}
}

// baseRef returns the base model's test scores, whatever the category.
func (a *aggregator) baseRef(key sizeKey) func(cat string) map[string]scoreRow {
	return func(string) map[string]scoreRow {
		id, ok := a.base[key]
		if !ok {
			a.note("no %s base model at size %s", key.base, key.size)
			return nil
		}
		s := a.d.scores[id]
		if len(s) == 0 {
			a.note("no test scores for the %s base at size %s", key.base, key.size)
		}
		return s
	}
}

// catScores computes, over the target's tasks of the given heldness whose
// category is in cats (all categories when cats is nil), the per-category
// mean of the per-task normalized, chance-adjusted and raw scores, then the
// mean over categories. A category whose tasks lack a reference makes the
// normalized values NaN (the raw value is still given).
func catScores(target map[string]scoreRow, heldness string, cats []string,
	ref func(cat string) map[string]scoreRow) (norm, chance, raw float64) {
	want := map[string]bool{}
	for _, c := range cats {
		want[c] = true
	}
	type acc struct {
		norm, chance, raw []float64
	}
	byCat := map[string]*acc{}
	tasks := make([]string, 0, len(target))
	for t := range target {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	refs := map[string]map[string]scoreRow{}
	for _, t := range tasks {
		s := target[t]
		if s.Heldness != heldness || (cats != nil && !want[s.Category]) {
			continue
		}
		c := byCat[s.Category]
		if c == nil {
			c = &acc{}
			byCat[s.Category] = c
		}
		c.raw = append(c.raw, s.Value)
		rs, ok := refs[s.Category]
		if !ok {
			rs = ref(s.Category)
			refs[s.Category] = rs
		}
		r, ok := rs[t]
		if !ok || r.Value == 0 {
			c.norm = append(c.norm, math.NaN())
		} else {
			c.norm = append(c.norm, s.Value/r.Value)
		}
		if !ok || r.Value == s.Chance {
			c.chance = append(c.chance, math.NaN())
		} else {
			c.chance = append(c.chance, (s.Value-s.Chance)/(r.Value-s.Chance))
		}
	}
	if len(byCat) == 0 || (cats != nil && len(byCat) < len(want)) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	var n, ch, rw []float64
	for _, c := range byCat {
		n = append(n, mean(c.norm))
		ch = append(ch, mean(c.chance))
		rw = append(rw, mean(c.raw))
	}
	return mean(n), mean(ch), mean(rw)
}

// mean is the arithmetic mean; NaN if any value is NaN or xs is empty.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// modelScores scores a model on held-in tasks of cats (nil: all, normalized
// by the experts) and on all held-out tasks (normalized by the base).
func (a *aggregator) modelScores(id string, key sizeKey, cats []string) Scores {
	s := a.d.scores[id]
	if len(s) == 0 {
		return nanScores()
	}
	var out Scores
	out.HeldIn, out.HeldInChance, out.RawHeldIn = catScores(s, heldIn, cats, a.expertRef(key))
	out.HeldOut, out.HeldOutChance, out.RawHeldOut = catScores(s, heldOut, nil, a.baseRef(key))
	return out
}

func nullOrNaN(v sql.NullFloat64) float64 {
	if v.Valid {
		return v.Float64
	}
	return math.NaN()
}

type cellKey struct {
	base, size, method string
	k                  int
}

func (a *aggregator) cells() {
	byCell := map[cellKey][]SubsetResult{}
	for _, m := range a.d.merges {
		if !m.Chosen {
			continue
		}
		if len(a.d.scores[m.ModelID]) == 0 {
			a.note("chosen merge %s (%s %s %s k=%d subset %d) has no test accuracy scores",
				short(m.ModelID), m.BaseType, m.Size, m.Method, m.K, m.Subset)
			continue
		}
		key := sizeKey{m.BaseType, m.Size}
		sr := SubsetResult{
			Subset: m.Subset, Categories: m.Categories, ModelID: m.ModelID,
			Hparams: m.Hparams, Seed: m.Seed,
			Merged:       a.modelScores(m.ModelID, key, m.Categories),
			Multitask:    nanScores(),
			SignConflict: nullOrNaN(m.SignConflict), MeanCosine: nullOrNaN(m.MeanCosine),
		}
		if id, ok := a.multitask[key]; ok {
			sr.Multitask = a.modelScores(id, key, m.Categories)
		} else {
			a.note("no %s multitask model at size %s", m.BaseType, m.Size)
		}
		ck := cellKey{m.BaseType, m.Size, m.Method, m.K}
		byCell[ck] = append(byCell[ck], sr)
	}
	for ck, subs := range byCell {
		sort.Slice(subs, func(i, j int) bool { return subs[i].Subset < subs[j].Subset })
		col := func(f func(SubsetResult) float64) Stat {
			xs := make([]float64, len(subs))
			for i, s := range subs {
				xs[i] = f(s)
			}
			return newStat(xs)
		}
		a.r.Cells = append(a.r.Cells, Cell{
			BaseType: ck.base, Size: ck.size, Params: a.params[ck.size], Method: ck.method, K: ck.k,
			Subsets:         subs,
			HeldIn:          col(func(s SubsetResult) float64 { return s.Merged.HeldIn }),
			HeldOut:         col(func(s SubsetResult) float64 { return s.Merged.HeldOut }),
			HeldInChance:    col(func(s SubsetResult) float64 { return s.Merged.HeldInChance }),
			HeldOutChance:   col(func(s SubsetResult) float64 { return s.Merged.HeldOutChance }),
			RawHeldIn:       col(func(s SubsetResult) float64 { return s.Merged.RawHeldIn }),
			RawHeldOut:      col(func(s SubsetResult) float64 { return s.Merged.RawHeldOut }),
			MTHeldIn:        col(func(s SubsetResult) float64 { return s.Multitask.HeldIn }),
			MTHeldOut:       col(func(s SubsetResult) float64 { return s.Multitask.HeldOut }),
			MTHeldInChance:  col(func(s SubsetResult) float64 { return s.Multitask.HeldInChance }),
			MTHeldOutChance: col(func(s SubsetResult) float64 { return s.Multitask.HeldOutChance }),
			SignConflict:    col(func(s SubsetResult) float64 { return s.SignConflict }),
			MeanCosine:      col(func(s SubsetResult) float64 { return s.MeanCosine }),
		})
	}
	sort.Slice(a.r.Cells, func(i, j int) bool { return a.cellLess(a.r.Cells[i], a.r.Cells[j]) })
}

func (a *aggregator) sizeLess(x, y string) bool {
	if a.params[x] != a.params[y] {
		return a.params[x] < a.params[y]
	}
	return x < y
}

func (a *aggregator) cellLess(x, y Cell) bool {
	switch {
	case x.BaseType != y.BaseType:
		return baseLess(x.BaseType, y.BaseType)
	case x.Size != y.Size:
		return a.sizeLess(x.Size, y.Size)
	case x.Method != y.Method:
		return methodLess(x.Method, y.Method)
	}
	return x.K < y.K
}

func (a *aggregator) baselines() {
	ids := make([]string, 0, len(a.d.models))
	for id, m := range a.d.models {
		if m.Kind == "base" || m.Kind == "expert" || m.Kind == "multitask" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := a.d.models[id]
		key := sizeKey{m.BaseType, m.Size}
		var cats []string
		if m.Kind == "expert" {
			cats = []string{m.Category}
		}
		a.r.Baselines = append(a.r.Baselines, Baseline{
			BaseType: m.BaseType, Size: m.Size, Params: m.Params, Kind: m.Kind,
			Category: m.Category, ModelID: id, Scores: a.modelScores(id, key, cats),
		})
	}
	kind := map[string]int{"base": 0, "multitask": 1, "expert": 2}
	sort.SliceStable(a.r.Baselines, func(i, j int) bool {
		x, y := a.r.Baselines[i], a.r.Baselines[j]
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
}

// tasks builds the per-task raw accuracy table: baselines, then each cell's
// merges averaged over subsets.
func (a *aggregator) tasks() {
	add := func(base, size, model string, k int, cat string, scoreSets []map[string]scoreRow) {
		byTask := map[string][]float64{}
		info := map[string]scoreRow{}
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
				BaseType: base, Size: size, Params: a.params[size], Model: model, K: k, Category: cat,
				Task: t, TaskCategory: info[t].Category, Heldness: info[t].Heldness,
				Accuracy: newStat(byTask[t]),
			})
		}
	}
	for _, b := range a.r.Baselines {
		add(b.BaseType, b.Size, b.Kind, 0, b.Category, []map[string]scoreRow{a.d.scores[b.ModelID]})
	}
	for _, c := range a.r.Cells {
		var sets []map[string]scoreRow
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
