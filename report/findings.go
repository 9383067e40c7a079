package report

import (
	"fmt"
	"math"
	"strings"
)

// Verdict says whether our numbers support one of the paper's claims.
type Verdict string

// Verdicts.
const (
	Supported    Verdict = "supported"
	Partly       Verdict = "partly supported"
	NotSupported Verdict = "not supported"
	Untestable   Verdict = "not testable"
)

// Finding is the report's check of one claim.
type Finding struct {
	ClaimID  string // the id in paper_reference.yaml
	Claim    string // short statement
	Verdict  Verdict
	Sentence string // one sentence with our numbers
	Paper    string // the paper's own evidence
}

// Findings checks the paper's five claims against r; single-method claims
// use method. r should hold one zoo variant: Render passes the default
// variant's view (Results.Default), table_findings_variants each variant's.
// Sentences also give gain kept where the cells have it. The tests, applied
// to normalized test scores:
//
//  1. base_quality: over every (size, k) where both bases have a cell,
//     d = IT − PT normalized held-in. Supported when d > 0 in every pair,
//     partly when the mean d > 0, not supported otherwise.
//  2. size: for each (base, k) with ≥ 2 sizes, the least-squares slope of
//     normalized held-in against log10(parameters). Supported when every
//     slope > 0, partly when more than half are, not supported otherwise.
//  3. generalization: at the largest size, for each base, the least-squares
//     slope of normalized held-out against k (needs ≥ 2 k values).
//     Supported when every slope > 0, partly when some are.
//  4. beats_multitask: at the largest size, IT base (else the last base
//     type), largest k: merged held-out m vs the multitask model's t.
//     Supported when m ≥ t, partly ("matches") when m + CI ≥ t (the
//     multitask value lies within the merge's 95% CI or below), not
//     supported otherwise.
//  5. methods_converge: at the largest k, IT base (else the last base), the
//     spread (max − min over methods) of normalized held-in and of held-out
//     at the smallest and the largest size (needs ≥ 2 methods and sizes).
//     Supported when both spreads shrink, partly when one does.
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

func findBaseQuality(r *Results, method string) Finding {
	f := Finding{ClaimID: "base_quality", Claim: "an instruction-tuned base merges better"}
	var diffs []float64
	var parts, gains []string
	wins := 0
	for _, sz := range r.Sizes {
		for _, k := range r.Ks {
			it, ok1 := r.Cell("it", sz.Name, method, k)
			pt, ok2 := r.Cell("pt", sz.Name, method, k)
			if !ok1 || !ok2 || !it.HeldIn.Valid() || !pt.HeldIn.Valid() {
				continue
			}
			d := it.HeldIn.Mean - pt.HeldIn.Mean
			diffs = append(diffs, d)
			if d > 0 {
				wins++
			}
			if k == r.Ks[len(r.Ks)-1] {
				parts = append(parts, fmt.Sprintf("%s %s vs %s", sz.Name, num(it.HeldIn.Mean), num(pt.HeldIn.Mean)))
				if it.GainKept.Valid() && pt.GainKept.Valid() {
					gains = append(gains, fmt.Sprintf("%s %s vs %s", sz.Name, num(it.GainKept.Mean), num(pt.GainKept.Mean)))
				}
			}
		}
	}
	if len(diffs) == 0 {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: no (size, k) has %s merges of both a PT and an IT base with normalized held-in scores.", methodLabel(method))
		return f
	}
	m := mean(diffs)
	switch {
	case wins == len(diffs):
		f.Verdict = Supported
	case m > 0:
		f.Verdict = Partly
	default:
		f.Verdict = NotSupported
	}
	f.Sentence = fmt.Sprintf("%s: with %s, IT-base merges beat PT-base merges on normalized held-in in %d of %d (size, k) cells, by %s on average (IT vs PT at k = %d: %s).",
		capital(string(f.Verdict)), methodLabel(method), wins, len(diffs), signed(m), r.Ks[len(r.Ks)-1], strings.Join(parts, "; "))
	if len(gains) > 0 {
		f.Sentence += fmt.Sprintf(" Gain kept, IT vs PT at k = %d: %s.", r.Ks[len(r.Ks)-1], strings.Join(gains, "; "))
	}
	return f
}

func findSize(r *Results, method string) Finding {
	f := Finding{ClaimID: "size", Claim: "larger models merge better"}
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
	if n == 0 {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: fewer than two sizes have %s merges with normalized held-in scores.", methodLabel(method))
		return f
	}
	switch {
	case pos == n:
		f.Verdict = Supported
	case 2*pos > n:
		f.Verdict = Partly
	default:
		f.Verdict = NotSupported
	}
	f.Sentence = fmt.Sprintf("%s: normalized held-in of %s merges rises with log10(parameters) in %d of %d (base, k) series (slope per decade: %s).",
		capital(string(f.Verdict)), methodLabel(method), pos, n, strings.Join(slopes, ", "))
	return f
}

func findGeneralization(r *Results, method string) Finding {
	f := Finding{ClaimID: "generalization", Claim: "more experts improve held-out generalization"}
	if len(r.Sizes) == 0 {
		f.Verdict, f.Sentence = Untestable, "Not testable: the store has no merges."
		return f
	}
	sz := r.Sizes[len(r.Sizes)-1]
	var parts []string
	pos, n := 0, 0
	for _, b := range r.BaseTypes {
		var xs, ys []float64
		var vals []string
		for _, c := range r.cellsOf(b, sz.Name, method) {
			if c.HeldOut.Valid() {
				xs = append(xs, float64(c.K))
				ys = append(ys, c.HeldOut.Mean)
				vals = append(vals, fmt.Sprintf("k=%d %s", c.K, num(c.HeldOut.Mean)))
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
		parts = append(parts, fmt.Sprintf("%s: %s, slope %s per expert", b, strings.Join(vals, ", "), signed(s)))
	}
	if n == 0 {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: the largest size (%s) has %s merges at fewer than two values of k.", sz.Name, methodLabel(method))
		return f
	}
	switch {
	case pos == n:
		f.Verdict = Supported
	case pos > 0:
		f.Verdict = Partly
	default:
		f.Verdict = NotSupported
	}
	f.Sentence = fmt.Sprintf("%s: at the largest size (%s), normalized held-out of %s merges grows with k for %d of %d base types (%s).",
		capital(string(f.Verdict)), sz.Name, methodLabel(method), pos, n, strings.Join(parts, "; "))
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
	f := Finding{ClaimID: "beats_multitask", Claim: "merged large IT models match or beat multitask on held-out"}
	b := scaleBase(r)
	if len(r.Sizes) == 0 || len(r.Ks) == 0 || b == "" {
		f.Verdict, f.Sentence = Untestable, "Not testable: the store has no merges."
		return f
	}
	sz, k := r.Sizes[len(r.Sizes)-1], r.Ks[len(r.Ks)-1]
	c, ok := r.Cell(b, sz.Name, method, k)
	if !ok || !c.HeldOut.Valid() || !c.MTHeldOut.Valid() {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: no %s base %s merge at size %s, k = %d with both its and the multitask model's held-out scores.",
			b, methodLabel(method), sz.Name, k)
		return f
	}
	m, t := c.HeldOut.Mean, c.MTHeldOut.Mean
	ci := c.HeldOut.CI
	switch {
	case m >= t:
		f.Verdict = Supported
	case !math.IsNaN(ci) && m+ci >= t:
		f.Verdict = Partly
	default:
		f.Verdict = NotSupported
	}
	f.Sentence = fmt.Sprintf("%s: at size %s with the %s base, merging k = %d experts with %s gives normalized held-out %s against the multitask model's %s",
		capital(string(f.Verdict)), sz.Name, strings.ToUpper(b), k, methodLabel(method), stat(c.HeldOut), num(t))
	if c.GainKept.Valid() {
		f.Sentence += fmt.Sprintf(", and keeps %s of the experts' held-in gain over the base", stat(c.GainKept))
	}
	f.Sentence += "."
	return f
}

func findConverge(r *Results) Finding {
	f := Finding{ClaimID: "methods_converge", Claim: "methods converge at scale"}
	b := scaleBase(r)
	if len(r.Sizes) < 2 || len(r.Methods) < 2 || len(r.Ks) == 0 {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: needs at least two sizes and two methods (the store has %d and %d).", len(r.Sizes), len(r.Methods))
		return f
	}
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
	small, large := r.Sizes[0].Name, r.Sizes[len(r.Sizes)-1].Name
	inS, n1 := spread(small, func(c Cell) Stat { return c.HeldIn })
	inL, n2 := spread(large, func(c Cell) Stat { return c.HeldIn })
	outS, n3 := spread(small, func(c Cell) Stat { return c.HeldOut })
	outL, n4 := spread(large, func(c Cell) Stat { return c.HeldOut })
	if n1 < 2 || n2 < 2 || n3 < 2 || n4 < 2 {
		f.Verdict = Untestable
		f.Sentence = fmt.Sprintf("Not testable: fewer than two methods have %s base merges at k = %d at both the smallest (%s) and largest (%s) size.",
			b, k, small, large)
		return f
	}
	shrink := 0
	if inL < inS {
		shrink++
	}
	if outL < outS {
		shrink++
	}
	f.Verdict = []Verdict{NotSupported, Partly, Supported}[shrink]
	f.Sentence = fmt.Sprintf("%s: with the %s base at k = %d, the spread across methods (max − min) of normalized held-in goes from %s at %s to %s at %s, and of held-out from %s to %s.",
		capital(string(f.Verdict)), strings.ToUpper(b), k, num(inS), small, num(inL), large, num(outS), num(outL))
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
