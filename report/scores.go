package report

import (
	"maps"
	"math"
	"mergescale/store"
	"slices"
	"sort"
)

// catResult is a model's scores over the tasks of one heldness.
type catResult struct {
	norm, chance, raw, chanceLevel float64
	// chanceTasks of tasks have a defined chance-adjusted score.
	chanceTasks, tasks int
}

// catScores computes, over the target's tasks of the given heldness whose
// category is in cats (all categories when cats is nil), the per-category
// mean of the per-task normalized, chance-adjusted and raw scores, then the
// mean over categories. A category whose tasks lack a reference makes the
// normalized values NaN (the raw value is still given). The chance-adjusted
// score (score − chance) ÷ (reference − chance) is undefined for a task
// whose reference equals chance; it is averaged over the tasks where it is
// defined (per category, then over the categories that have one), and
// chanceTasks says how many there were.
func catScores(target map[string]store.Score, heldness string, cats []string,
	ref func(cat string) map[string]store.Score) catResult {
	want := map[string]bool{}
	for _, c := range cats {
		want[c] = true
	}
	type acc struct {
		norm, chance, raw, level []float64
	}
	byCat := map[string]*acc{}
	tasks := slices.Sorted(maps.Keys(target))
	refs := map[string]map[string]store.Score{}
	out := catResult{norm: math.NaN(), chance: math.NaN(), raw: math.NaN(), chanceLevel: math.NaN()}
	for _, t := range tasks {
		s := target[t]
		if s.Heldness != heldness || (cats != nil && !want[s.Category]) {
			continue
		}
		out.tasks++
		c := byCat[s.Category]
		if c == nil {
			c = &acc{}
			byCat[s.Category] = c
		}
		c.raw = append(c.raw, s.Value)
		c.level = append(c.level, s.Chance)
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
		if ok && r.Value != s.Chance {
			c.chance = append(c.chance, (s.Value-s.Chance)/(r.Value-s.Chance))
			out.chanceTasks++
		}
	}
	if len(byCat) == 0 || (cats != nil && len(byCat) < len(want)) {
		return out
	}
	var n, ch, rw, lv []float64
	names := slices.Sorted(maps.Keys(byCat))
	for _, name := range names {
		c := byCat[name]
		n = append(n, mean(c.norm))
		if len(c.chance) > 0 {
			ch = append(ch, mean(c.chance))
		}
		rw = append(rw, mean(c.raw))
		lv = append(lv, mean(c.level))
	}
	out.norm, out.chance, out.raw, out.chanceLevel = mean(n), mean(ch), mean(rw), mean(lv)
	return out
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

// rawCategory is the mean raw accuracy of s over the tasks of category cat
// and the given heldness; when over is given, over the tasks of cat in over
// instead (each of which s must have). NaN when there is no such task or
// one is missing.
func rawCategory(s map[string]store.Score, heldness, cat string, over map[string]store.Score) float64 {
	src := s
	if over != nil {
		src = over
	}
	var xs []float64
	for t, r := range src {
		if r.Heldness != heldness || r.Category != cat {
			continue
		}
		v, ok := s[t]
		if !ok {
			return math.NaN()
		}
		xs = append(xs, v.Value)
	}
	sort.Float64s(xs) // a fixed summation order
	return mean(xs)
}

// gainSums returns Σ_c (merged_c − base_c) and Σ_c (expert_c − base_c)
// over the categories cats, each term a score averaged over the merged
// model's held-in tasks of c (the expert of c from experts, the base from
// base); ok is false when a score is missing.
func gainSums(target map[string]store.Score, cats []string, experts, base func(string) map[string]store.Score) (num, den float64, ok bool) {
	if len(cats) == 0 || len(target) == 0 {
		return 0, 0, false
	}
	for _, c := range cats {
		m := rawCategory(target, store.HeldIn, c, nil)
		b := rawCategory(base(c), store.HeldIn, c, target)
		e := rawCategory(experts(c), store.HeldIn, c, target)
		if !isNum(m) || !isNum(b) || !isNum(e) {
			return 0, 0, false
		}
		num += m - b
		den += e - b
	}
	return num, den, true
}

// gainKept is Σ_c (merged_c − base_c) ÷ Σ_c (expert_c − base_c) of raw
// accuracy over the categories cats (see gainSums). NaN when a score is
// missing or the experts' summed gain is not positive.
func gainKept(target map[string]store.Score, cats []string, experts, base func(string) map[string]store.Score) float64 {
	num, den, ok := gainSums(target, cats, experts, base)
	if !ok || !(den > 0) {
		return math.NaN()
	}
	return num / den
}

// gainKeptCE is gain kept in option cross-entropy (lower is better):
// Σ_c (base_c − merged_c) ÷ Σ_c (base_c − expert_c) of option_ce over the
// categories cats, each term averaged over the merged model's held-in
// tasks of c. NaN when a score is missing (a store without option_ce) or
// the experts did not lower the summed cross-entropy.
func gainKeptCE(target map[string]store.Score, cats []string, experts, base func(string) map[string]store.Score) float64 {
	num, den, ok := gainSums(target, cats, experts, base)
	if !ok || !(den < 0) {
		return math.NaN()
	}
	return num / den
}
