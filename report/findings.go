package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Verdict says whether our numbers support one of the paper's claims.
type Verdict string

// Verdicts. A claim is decided by a 95% confidence interval: Supported
// when it excludes 0 in the paper's direction, Contradicted when it
// excludes 0 in the other, Inconclusive when it holds 0 (or there is no
// interval); Untestable when the store lacks the cells.
const (
	Supported    Verdict = "supported"
	Contradicted Verdict = "contradicted"
	Inconclusive Verdict = "inconclusive"
	Untestable   Verdict = "not testable"
)

// Finding is the report's check of one claim.
type Finding struct {
	ClaimID  string // the id in paper_reference.yaml
	Claim    string // short statement
	Verdict  Verdict
	Sentence string // one sentence with our numbers
	Paper    string // the paper's own evidence
	// Estimate is what the verdict is decided on (for a claim tested on
	// two measures, the first), and Measure says what it is.
	Estimate Estimate
	Measure  string
}

// Findings checks the paper's five claims against r; single-method claims
// use method. r should hold one zoo variant: Render passes the default
// variant's view (Results.Default), table_findings_variants each variant's.
// Claims 1, 2, 3 and 5 are decided by comparisons paired over the same
// expert subsets: the chosen merges' (k, subset) pairs of k ∈ pairedKs,
// which have the same categories at every size and base. The tests,
// applied to normalized test scores:
//
//  1. base_quality: per (size, k, subset), d = IT − PT normalized held-in;
//     decided on the mean over sizes of d per (k, subset) (the pairs every
//     size has), with the paired-t 95% CI; each size's is shown.
//  2. size: per (base, k, subset), the least-squares slope of normalized
//     held-in against log10(parameters) over the sizes; decided on the
//     mean over bases of the slope per (k, subset), with the paired-t 95%
//     CI over (k, subset); each base's is shown.
//  3. generalization: per (size, base), the least-squares slope of the
//     mean normalized held-out over subsets against k ∈ pairedKs, with a
//     95% percentile bootstrap CI (bootstrapReps resamples of the subsets
//     within each k, seed bootstrapSeed); decided at the largest size on
//     the IT base (else the last base type).
//  4. beats_multitask: at the largest size, IT base (else the last base
//     type): merged held-out m against the multitask model's t, with the
//     95% CI of the merge's side over subsets, at the largest k whose cell
//     has one (the largest k is shown beside it when it has a single
//     subset). Supported when m − CI > t, contradicted when m + CI < t.
//  5. methods_converge: IT base (else the last base), per (k, subset), the
//     spread (max − min over methods) of normalized held-in and of
//     held-out; the largest size's minus the smallest size's, paired.
//     The claim says it is negative; the two measures' verdicts combine
//     (supported when one supports and neither contradicts, and the other
//     way round; inconclusive otherwise).
//
// Where the largest k has a single subset, its cells are given beside the
// paired numbers without a CI; the count of cells that go the paper's way
// stays as context.
func Findings(r *Results, method string, paper *PaperReference) []Finding {
	fs := []Finding{
		findBaseQuality(r, method),
		findSize(r, method),
		findGeneralization(r, method),
		findBeatsMultitask(r, method),
		findConverge(r),
	}
	if paper != nil {
		for i := range fs {
			for _, c := range paper.Claims {
				if c.ID == fs[i].ClaimID {
					fs[i].Paper = c.Evidence
				}
			}
		}
	}
	return fs
}

func slope(xs, ys []float64) float64 {
	var mx, my float64
	n := 0
	for i := range xs {
		if math.IsNaN(ys[i]) {
			continue
		}
		mx += xs[i]
		my += ys[i]
		n++
	}
	if n < 2 {
		return math.NaN()
	}
	mx /= float64(n)
	my /= float64(n)
	var sxy, sxx float64
	for i := range xs {
		if math.IsNaN(ys[i]) {
			continue
		}
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return math.NaN()
	}
	return sxy / sxx
}

func heldIn(s Scores) float64  { return s.HeldIn }
func heldOut(s Scores) float64 { return s.HeldOut }

// lastK is the largest k of r, and whether it is outside pairedKs (so its
// cells are shown as context beside the paired comparisons).
func lastK(r *Results) (int, bool) {
	if len(r.Ks) == 0 {
		return 0, false
	}
	k := r.Ks[len(r.Ks)-1]
	return k, !slices.Contains(pairedKs, k)
}

func findBaseQuality(r *Results, method string) Finding {
	f := Finding{ClaimID: "base_quality", Claim: "an instruction-tuned base merges better",
		Measure: "IT − PT normalized held-in, mean over sizes, paired over (k, subset)"}
	var names []string
	var per []Estimate
	var series []pairs
	for _, sz := range r.Sizes {
		d := diffs(r.pairValues("it", sz.Name, method, heldIn), r.pairValues("pt", sz.Name, method, heldIn))
		if len(d) == 0 {
			continue
		}
		names = append(names, sz.Name)
		per = append(per, pairedEstimate(d))
		series = append(series, d)
	}
	f.Estimate = pairedEstimate(meanOver(series))
	f.Verdict = f.Estimate.verdict(1)
	if f.Verdict == Untestable {
		f.Sentence = fmt.Sprintf("Not testable: no size has %s merges of both a PT and an IT base on the same (k, subset) at %s with normalized held-in scores.",
			methodLabel(method), pairedKsLabel())
		return f
	}
	f.Sentence = fmt.Sprintf("%s: with %s, IT − PT normalized held-in, paired over the same (k, subset) at %s and averaged over sizes (%s), is %s; per size: %s.",
		capital(string(f.Verdict)), methodLabel(method), pairedKsLabel(), strings.Join(names, ", "), f.Estimate, namedEstimates(names, per))

	// Context: the cells' means.
	var ds []float64
	var parts, gains []string
	wins := 0
	kTop, _ := lastK(r)
	for _, sz := range r.Sizes {
		for _, k := range r.Ks {
			it, ok1 := r.Cell("it", sz.Name, method, k)
			pt, ok2 := r.Cell("pt", sz.Name, method, k)
			if !ok1 || !ok2 || !it.HeldIn.Valid() || !pt.HeldIn.Valid() {
				continue
			}
			d := it.HeldIn.Mean - pt.HeldIn.Mean
			ds = append(ds, d)
			if d > 0 {
				wins++
			}
			if k == kTop {
				parts = append(parts, fmt.Sprintf("%s %s vs %s", sz.Name, num(it.HeldIn.Mean), num(pt.HeldIn.Mean)))
				if it.GainKept.Valid() && pt.GainKept.Valid() {
					gains = append(gains, fmt.Sprintf("%s %s vs %s", sz.Name, num(it.GainKept.Mean), num(pt.GainKept.Mean)))
				}
			}
		}
	}
	if len(ds) > 0 {
		f.Sentence += fmt.Sprintf(" Cell means: IT beats PT in %d of %d (size, k) cells, by %s on average; IT vs PT at k = %d: %s.",
			wins, len(ds), signed(mean(ds)), kTop, strings.Join(parts, "; "))
	}
	if len(gains) > 0 {
		f.Sentence += fmt.Sprintf(" Gain kept, IT vs PT at k = %d: %s.", kTop, strings.Join(gains, "; "))
	}
	return f
}

func findSize(r *Results, method string) Finding {
	f := Finding{ClaimID: "size", Claim: "larger models merge better",
		Measure: "slope of normalized held-in per decade of parameters, mean over bases, paired over (k, subset)"}
	var names []string
	var per []Estimate
	var series []pairs
	for _, b := range r.BaseTypes {
		p := r.slopeOverSizes(b, method, heldIn)
		if len(p) == 0 {
			continue
		}
		names = append(names, b)
		per = append(per, pairedEstimate(p))
		series = append(series, p)
	}
	f.Estimate = pairedEstimate(meanOver(series))
	f.Verdict = f.Estimate.verdict(1)
	if f.Verdict == Untestable {
		f.Sentence = fmt.Sprintf("Not testable: fewer than two sizes have %s merges on the same (k, subset) at %s with normalized held-in scores.",
			methodLabel(method), pairedKsLabel()) + lawGammaSentence(r, method)
		return f
	}
	var sizes []string
	for _, sz := range r.Sizes {
		sizes = append(sizes, sz.Name)
	}
	f.Sentence = fmt.Sprintf("%s: the least-squares slope of %s merges' normalized held-in against log10(parameters), per (k, subset) at %s over the sizes (%s) and averaged over bases, is per decade %s; per base: %s.",
		capital(string(f.Verdict)), methodLabel(method), pairedKsLabel(), strings.Join(sizes, ", "), f.Estimate, namedEstimates(names, per))
	f.Sentence += lawGammaSentence(r, method)

	// Context: the slopes of the cells' means.
	var slopes []string
	pos, n := 0, 0
	for _, b := range r.BaseTypes {
		for _, k := range r.Ks {
			var xs, ys []float64
			for _, sz := range r.Sizes {
				if c, ok := r.Cell(b, sz.Name, method, k); ok && c.HeldIn.Valid() && sz.Params > 0 {
					xs = append(xs, math.Log10(float64(sz.Params)))
					ys = append(ys, c.HeldIn.Mean)
				}
			}
			s := slope(xs, ys)
			if math.IsNaN(s) {
				continue
			}
			n++
			if s > 0 {
				pos++
			}
			slopes = append(slopes, fmt.Sprintf("%s k=%d %s", b, k, signed(s)))
		}
	}
	if n > 0 {
		f.Sentence += fmt.Sprintf(" Cell means: normalized held-in rises with size in %d of %d (base, k) series (slope per decade: %s).",
			pos, n, strings.Join(slopes, ", "))
	}
	return f
}

func findGeneralization(r *Results, method string) Finding {
	f := Finding{ClaimID: "generalization", Claim: "more experts improve held-out generalization",
		Measure: "slope of normalized held-out per expert at the largest size, bootstrap over subsets"}
	b := scaleBase(r)
	if len(r.Sizes) == 0 || b == "" {
		f.Verdict, f.Estimate, f.Sentence = Untestable, noEstimate(), "Not testable: the store has no merges."
		return f
	}
	largest := r.Sizes[len(r.Sizes)-1].Name
	f.Estimate = noEstimate()
	var parts []string
	for _, bt := range r.BaseTypes {
		for _, sz := range r.Sizes {
			ks, groups := kGroups(r.pairValues(bt, sz.Name, method, heldOut))
			e := bootstrapSlope(ks, groups, bootstrapReps, bootstrapSeed)
			if !e.Valid() {
				continue
			}
			if bt == b && sz.Name == largest {
				f.Estimate = e
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", bt, sz.Name, e))
		}
	}
	f.Verdict = f.Estimate.verdict(1)
	if f.Verdict == Untestable {
		f.Sentence = fmt.Sprintf("Not testable: the largest size (%s) has %s merges of the %s base at fewer than two values of k ∈ {%s}.",
			largest, methodLabel(method), strings.ToUpper(b), joinInts(pairedKs))
		return f
	}
	f.Sentence = fmt.Sprintf("%s: at the largest size (%s) with the %s base, normalized held-out of %s merges changes per expert by %s "+
		"(least-squares slope of the mean over subsets against %s; 95%% percentile bootstrap CI, %d resamples of the subsets within each k). "+
		"Per (base, size): %s.",
		capital(string(f.Verdict)), largest, strings.ToUpper(b), methodLabel(method), f.Estimate, pairedKsLabel(), bootstrapReps,
		strings.Join(parts, "; "))
	if k, outside := lastK(r); outside {
		var vals []string
		for _, bt := range r.BaseTypes {
			if c, ok := r.Cell(bt, largest, method, k); ok && c.HeldOut.Valid() {
				vals = append(vals, fmt.Sprintf("%s %s", bt, stat(c.HeldOut)))
			}
		}
		if len(vals) > 0 {
			f.Sentence += fmt.Sprintf(" At k = %d, size %s (cell means, outside the paired k): %s.", k, largest, strings.Join(vals, ", "))
		}
	}
	return f
}

// scaleBase is the base the at-scale claims are tested on: IT when present.
func scaleBase(r *Results) string {
	for _, b := range r.BaseTypes {
		if b == "it" {
			return b
		}
	}
	if len(r.BaseTypes) == 0 {
		return ""
	}
	return r.BaseTypes[len(r.BaseTypes)-1]
}

func findBeatsMultitask(r *Results, method string) Finding {
	f := Finding{ClaimID: "beats_multitask", Claim: "merged large IT models match or beat multitask on held-out",
		Measure: "merged − multitask normalized held-out, the merge's 95% CI over subsets", Estimate: noEstimate()}
	b := scaleBase(r)
	if len(r.Sizes) == 0 || len(r.Ks) == 0 || b == "" {
		f.Verdict, f.Sentence = Untestable, "Not testable: the store has no merges."
		return f
	}
	sz := r.Sizes[len(r.Sizes)-1]
	var top, decided *Cell
	for _, c := range r.cellsOf(b, sz.Name, method) {
		if !c.HeldOut.Valid() || !c.MTHeldOut.Valid() {
			continue
		}
		c := c
		if top == nil || c.K > top.K {
			top = &c
		}
		if isNum(c.HeldOut.CI) && (decided == nil || c.K > decided.K) {
			decided = &c
		}
	}
	if top == nil {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: no %s base %s merge at size %s with both its and the multitask model's held-out scores.",
			b, methodLabel(method), sz.Name)
		return f
	}
	if decided == nil {
		decided = top
	}
	m, t := decided.HeldOut.Mean, decided.MTHeldOut.Mean
	f.Estimate = Estimate{Value: m - t, Lo: math.NaN(), Hi: math.NaN(), N: decided.HeldOut.N}
	if isNum(decided.HeldOut.CI) {
		f.Estimate.Lo, f.Estimate.Hi = m-decided.HeldOut.CI-t, m+decided.HeldOut.CI-t
	}
	f.Verdict = f.Estimate.verdict(1)
	f.Sentence = fmt.Sprintf("%s: at size %s with the %s base, merging k = %d experts with %s gives normalized held-out %s (n = %d subsets) against the multitask model's %s: merged − multitask %s",
		capital(string(f.Verdict)), sz.Name, strings.ToUpper(b), decided.K, methodLabel(method), stat(decided.HeldOut), decided.HeldOut.N,
		num(t), f.Estimate)
	if decided.GainKept.Valid() {
		f.Sentence += fmt.Sprintf("; the merge keeps %s of the experts' held-in gain over the base", stat(decided.GainKept))
		if decided.GainKeptCE.Valid() {
			f.Sentence += fmt.Sprintf(" (%s in cross-entropy)", stat(decided.GainKeptCE))
		}
	}
	if top.K != decided.K {
		f.Sentence += fmt.Sprintf(". At k = %d (%d subset, no CI): %s against %s", top.K, top.HeldOut.N, num(top.HeldOut.Mean), num(top.MTHeldOut.Mean))
		if top.GainKept.Valid() {
			f.Sentence += fmt.Sprintf(", gain kept %s", num(top.GainKept.Mean))
		}
	}
	f.Sentence += "."
	return f
}

func findConverge(r *Results) Finding {
	f := Finding{ClaimID: "methods_converge", Claim: "methods converge at scale",
		Measure: "largest − smallest size of the spread across methods, normalized held-in, paired over (k, subset)", Estimate: noEstimate()}
	b := scaleBase(r)
	if len(r.Sizes) < 2 || len(r.Methods) < 2 {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: needs at least two sizes and two methods (the store has %d and %d).", len(r.Sizes), len(r.Methods))
		return f
	}
	small, large := r.Sizes[0].Name, r.Sizes[len(r.Sizes)-1].Name
	in := pairedEstimate(diffs(r.methodSpread(b, large, heldIn), r.methodSpread(b, small, heldIn)))
	out := pairedEstimate(diffs(r.methodSpread(b, large, heldOut), r.methodSpread(b, small, heldOut)))
	vin, vout := in.verdict(-1), out.verdict(-1)
	f.Estimate = in
	f.Verdict = combine(vin, vout)
	if f.Verdict == Untestable {
		f.Sentence = fmt.Sprintf("Not testable: fewer than two methods have %s base merges on the same (k, subset) at %s at both the smallest (%s) and the largest (%s) size.",
			strings.ToUpper(b), pairedKsLabel(), small, large)
		return f
	}
	f.Sentence = fmt.Sprintf("%s: with the %s base, the spread across methods (max − min) per (k, subset) at %s, at the largest size (%s) minus the smallest (%s), paired: normalized held-in %s (%s), held-out %s (%s).",
		capital(string(f.Verdict)), strings.ToUpper(b), pairedKsLabel(), large, small, in, vin, out, vout)

	// Context: the spread of the cells' means at the largest k.
	k := r.Ks[len(r.Ks)-1]
	spread := func(size string, get func(Cell) Stat) (float64, int) {
		lo, hi, n := math.Inf(1), math.Inf(-1), 0
		for _, m := range r.Methods {
			if c, ok := r.Cell(b, size, m, k); ok && get(c).Valid() {
				lo, hi, n = math.Min(lo, get(c).Mean), math.Max(hi, get(c).Mean), n+1
			}
		}
		return hi - lo, n
	}
	inS, n1 := spread(small, func(c Cell) Stat { return c.HeldIn })
	inL, n2 := spread(large, func(c Cell) Stat { return c.HeldIn })
	outS, n3 := spread(small, func(c Cell) Stat { return c.HeldOut })
	outL, n4 := spread(large, func(c Cell) Stat { return c.HeldOut })
	if n1 >= 2 && n2 >= 2 && n3 >= 2 && n4 >= 2 {
		f.Sentence += fmt.Sprintf(" Cell means at k = %d: the spread of normalized held-in goes from %s at %s to %s at %s, of held-out from %s to %s.",
			k, num(inS), small, num(inL), large, num(outS), num(outL))
	}
	return f
}

func signed(x float64) string {
	if x >= 0 {
		return "+" + num(x)
	}
	return num(x)
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
