package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// pairedKs are the k of the paired comparisons: the values of k at which
// configs/paper.yaml draws several expert subsets (k = 8 has one, so its
// cells are shown beside the comparisons, without a CI).
var pairedKs = []int{2, 4, 6}

// The bootstrap of the slope against k (finding 3): resamples and seed, so
// that the interval is the same on every machine.
const (
	bootstrapReps = 2000
	bootstrapSeed = 1
)

// pairKey identifies one expert subset of one k: the unit that comparisons
// between sizes, bases and methods are paired over. Subsets are seeded the
// same for every size and base, so (k, subset) names the same categories
// everywhere; the categories are part of the key, so that two subsets that
// differ are never paired.
type pairKey struct {
	k, subset int
	cats      string
}

func pairLess(a, b pairKey) bool {
	if a.k != b.k {
		return a.k < b.k
	}
	if a.subset != b.subset {
		return a.subset < b.subset
	}
	return a.cats < b.cats
}

// pairs is one series' values by pair.
type pairs map[pairKey]float64

// sortedKeys returns the keys of p in (k, subset) order, so that sums are
// taken in a fixed order.
func (p pairs) sortedKeys() []pairKey {
	keys := make([]pairKey, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return pairLess(keys[i], keys[j]) })
	return keys
}

// pairValues returns the chosen merges of (base, size, method) at
// k ∈ pairedKs by pair, the value of each from get (NaN values left out).
func (r *Results) pairValues(base, size, method string, get func(Scores) float64) pairs {
	return r.pairSubsets(base, size, method, func(s SubsetResult) float64 { return get(s.Merged) })
}

// pairSubsets is pairValues with the value taken from the whole subset
// result.
func (r *Results) pairSubsets(base, size, method string, get func(SubsetResult) float64) pairs {
	out := pairs{}
	for _, c := range r.Cells {
		if c.BaseType != base || c.Size != size || c.Method != method || !slices.Contains(pairedKs, c.K) {
			continue
		}
		for _, s := range c.Subsets {
			if v := get(s); isNum(v) {
				out[pairKey{c.K, s.Subset, joinCats(s.Categories)}] = v
			}
		}
	}
	return out
}

// common returns the pairs every series has, ordered.
func common(series ...pairs) []pairKey {
	if len(series) == 0 {
		return nil
	}
	var out []pairKey
	for _, k := range series[0].sortedKeys() {
		all := true
		for _, s := range series[1:] {
			if _, ok := s[k]; !ok {
				all = false
				break
			}
		}
		if all {
			out = append(out, k)
		}
	}
	return out
}

// diffs returns a − b over the pairs both have.
func diffs(a, b pairs) pairs {
	out := pairs{}
	for _, k := range common(a, b) {
		out[k] = a[k] - b[k]
	}
	return out
}

// meanOver returns, for every pair all the series have, the mean of their
// values (the series in the order given).
func meanOver(series []pairs) pairs {
	out := pairs{}
	for _, k := range common(series...) {
		xs := make([]float64, len(series))
		for i, s := range series {
			xs[i] = s[k]
		}
		out[k] = mean(xs)
	}
	return out
}

// Estimate is a statistic with its 95% confidence interval: a mean of
// paired differences with the paired-t interval, or a slope with a
// bootstrap interval.
type Estimate struct {
	Value float64 // NaN when N == 0
	// Lo and Hi bound the 95% confidence interval; NaN when there is none
	// (fewer than two pairs).
	Lo, Hi float64
	N      int // pairs (or subsets) the estimate is computed over
}

// noEstimate is an estimate without values.
func noEstimate() Estimate { return Estimate{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN()} }

// pairedStat summarizes p's values, in pair order: their mean, sample
// standard deviation and 95% CI half-width t(0.975, n − 1)·s/√n.
func pairedStat(p pairs) Stat {
	keys := p.sortedKeys()
	xs := make([]float64, len(keys))
	for i, k := range keys {
		xs[i] = p[k]
	}
	return newStat(xs)
}

// pairedEstimate is the mean of p's values with the paired-t 95% interval
// mean ± t(0.975, n − 1)·s/√n, s their sample standard deviation.
func pairedEstimate(p pairs) Estimate { return statEstimate(pairedStat(p)) }

// statEstimate turns a mean ± CI into an estimate.
func statEstimate(s Stat) Estimate {
	if !s.Valid() {
		return noEstimate()
	}
	e := Estimate{Value: s.Mean, Lo: math.NaN(), Hi: math.NaN(), N: s.N}
	if isNum(s.CI) {
		e.Lo, e.Hi = s.Mean-s.CI, s.Mean+s.CI
	}
	return e
}

// Valid reports whether the estimate has a value.
func (e Estimate) Valid() bool { return e.N > 0 && isNum(e.Value) }

// HasCI reports whether the estimate has a confidence interval.
func (e Estimate) HasCI() bool { return e.Valid() && isNum(e.Lo) && isNum(e.Hi) }

// HalfWidth is half the width of the interval (NaN without one).
func (e Estimate) HalfWidth() float64 {
	if !e.HasCI() {
		return math.NaN()
	}
	return (e.Hi - e.Lo) / 2
}

// verdict decides a claim from e: Supported when the interval excludes 0
// on the side of dir (+1: the claim says the value is positive, −1:
// negative), Contradicted when it excludes 0 on the other side,
// Inconclusive otherwise (also without an interval); Untestable without a
// value.
func (e Estimate) verdict(dir float64) Verdict {
	switch {
	case !e.Valid():
		return Untestable
	case !e.HasCI():
		return Inconclusive
	case dir*e.Lo > 0 && dir*e.Hi > 0:
		return Supported
	case dir*e.Lo < 0 && dir*e.Hi < 0:
		return Contradicted
	}
	return Inconclusive
}

// String renders "+0.011 [-0.010, +0.032], n = 18", or without an
// interval "+0.011 (n = 1, no CI)".
func (e Estimate) String() string {
	switch {
	case !e.Valid():
		return "n/a"
	case !e.HasCI():
		return fmt.Sprintf("%s (n = %d, no CI)", signed(e.Value), e.N)
	}
	return fmt.Sprintf("%s [%s, %s], n = %d", signed(e.Value), signed(e.Lo), signed(e.Hi), e.N)
}

// combine is the verdict of a claim tested on two measures: Supported when
// one supports it and neither contradicts it, Contradicted when one
// contradicts it and neither supports it, Inconclusive otherwise.
func combine(vs ...Verdict) Verdict {
	sup, con, valid := false, false, false
	for _, v := range vs {
		switch v {
		case Supported:
			sup, valid = true, true
		case Contradicted:
			con, valid = true, true
		case Inconclusive:
			valid = true
		}
	}
	switch {
	case !valid:
		return Untestable
	case sup && !con:
		return Supported
	case con && !sup:
		return Contradicted
	}
	return Inconclusive
}

// slopeOverSizes returns, for every pair that each of the sizes has, the
// least-squares slope of the value against log10(parameters) over the
// sizes. Sizes without a parameter count or without any pair are left out;
// fewer than two sizes give no pairs.
func (r *Results) slopeOverSizes(base, method string, get func(Scores) float64) pairs {
	var xs []float64
	var series []pairs
	for _, sz := range r.Sizes {
		p := r.pairValues(base, sz.Name, method, get)
		if sz.Params <= 0 || len(p) == 0 {
			continue
		}
		xs = append(xs, math.Log10(float64(sz.Params)))
		series = append(series, p)
	}
	out := pairs{}
	if len(series) < 2 {
		return out
	}
	for _, k := range common(series...) {
		ys := make([]float64, len(series))
		for i, s := range series {
			ys[i] = s[k]
		}
		out[k] = slope(xs, ys)
	}
	return out
}

// kGroups returns the values of p by k, ascending in k, each group in
// subset order.
func kGroups(p pairs) (ks []float64, groups [][]float64) {
	for _, key := range p.sortedKeys() {
		if len(ks) == 0 || ks[len(ks)-1] != float64(key.k) {
			ks = append(ks, float64(key.k))
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], p[key])
	}
	return ks, groups
}

// bootstrapSlope is the least-squares slope of the groups' means against
// ks, with a 95% percentile bootstrap interval: each of reps resamples
// draws, within every group, as many values as it has, with replacement,
// from a generator seeded with seed, and refits the slope. N counts the
// values; there is no interval when no group has two values, and no value
// with fewer than two groups.
func bootstrapSlope(ks []float64, groups [][]float64, reps int, seed uint64) Estimate {
	out := noEstimate()
	if len(ks) < 2 || len(ks) != len(groups) {
		return out
	}
	means := make([]float64, len(groups))
	varies := false
	for i, g := range groups {
		if len(g) == 0 {
			return out
		}
		means[i] = mean(g)
		out.N += len(g)
		varies = varies || len(g) > 1
	}
	out.Value = slope(ks, means)
	if !isNum(out.Value) || !varies || reps < 2 {
		return out
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	reps64 := make([]float64, reps)
	m := make([]float64, len(groups))
	for b := range reps64 {
		for i, g := range groups {
			var s float64
			for range g {
				s += g[rng.IntN(len(g))]
			}
			m[i] = s / float64(len(g))
		}
		reps64[b] = slope(ks, m)
	}
	sort.Float64s(reps64)
	out.Lo, out.Hi = quantile(reps64, 0.025), quantile(reps64, 0.975)
	return out
}

// quantile is the p quantile of sorted xs, interpolating linearly between
// the order statistics at (len − 1)·p (R's type 7).
func quantile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	h := float64(len(xs)-1) * p
	lo := int(math.Floor(h))
	if lo+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	return xs[lo] + (h-float64(lo))*(xs[lo+1]-xs[lo])
}

// methodSpread returns, for every pair at which at least two methods have
// a chosen merge of (base, size), the largest minus the smallest value over
// those methods.
func (r *Results) methodSpread(base, size string, get func(Scores) float64) pairs {
	lo, hi, n := map[pairKey]float64{}, map[pairKey]float64{}, map[pairKey]int{}
	for _, m := range r.Methods {
		for k, v := range r.pairValues(base, size, m, get) {
			if n[k] == 0 {
				lo[k], hi[k] = v, v
			}
			lo[k], hi[k] = math.Min(lo[k], v), math.Max(hi[k], v)
			n[k]++
		}
	}
	out := pairs{}
	for k, c := range n {
		if c >= 2 {
			out[k] = hi[k] - lo[k]
		}
	}
	return out
}

// pairedKsLabel is "k ∈ {2, 4, 6}".
func pairedKsLabel() string { return "k ∈ {" + joinInts(pairedKs) + "}" }

// namedEstimates renders "name estimate" items joined by "; ".
func namedEstimates(names []string, es []Estimate) string {
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = names[i] + " " + es[i].String()
	}
	return strings.Join(parts, "; ")
}
