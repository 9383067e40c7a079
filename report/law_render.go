package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"mergescale/store"
)

// lawNum formats a fitted value with 3 significant digits.
func lawNum(x float64) string {
	if !isNum(x) {
		return "–"
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

// lawCI formats "value [low, high]", or the value alone without a CI.
func lawCI(x, lo, hi float64, has bool) string {
	if !has || !isNum(lo) || !isNum(hi) {
		return lawNum(x)
	}
	return fmt.Sprintf("%s [%s, %s]", lawNum(x), lawNum(lo), lawNum(hi))
}

// lawTableTitle describes table_scaling_law.
const lawTableTitle = "Merging scaling law L(N, k) = L* + B·N^−β + A₀·N^−γ / (k + b), fitted per base, method, metric and domain " +
	"(N in millions of parameters; L the test loss averaged over the domain's tasks: option_ce in nats per example, gold_nll in nats per byte; " +
	"k = 1 is the experts alone; value [95% bootstrap CI, subsets resampled within each (size, k), paired across sizes]); " +
	"R² over the (size, k) cell means; held-out size error: mean absolute error (nats) of the largest size's cells predicted by a fit on the other sizes; " +
	"k_saturation: the k at which the fitted tail at the largest size is within 0.01 nats of its k → ∞ limit"

// lawTable is table_scaling_law: one row per fit for people, tidy CSV
// (base, method, metric, domain, param, value, ci_low, ci_high, n).
func lawTable(r *Results) *Table {
	t := &Table{Name: "table_scaling_law", Title: lawTableTitle,
		Header: []string{"base", "method", "metric", "domain", "L*", "B", "β", "A₀", "γ", "b", "R²",
			"held-out size error", "k_saturation", "cells", "note"},
		CSVHeader: []string{"base", "method", "metric", "domain", "param", "value", "ci_low", "ci_high", "n"}}
	for _, f := range r.Law {
		key := []string{f.BaseType, f.Method, f.Metric, f.Domain}
		csvRow := func(param, value, lo, hi string, n int) {
			t.CSVRows = append(t.CSVRows, append(append([]string(nil), key...), param, value, lo, hi, strconv.Itoa(n)))
		}
		if !f.OK() {
			row := append([]string(nil), key...)
			for range 9 {
				row = append(row, "n/a")
			}
			t.Rows = append(t.Rows, append(row, "0", f.Why))
			for _, p := range lawCSVParams {
				csvRow(p, "", "", "", 0)
			}
			continue
		}
		fit := f.fit
		cells := len(fit.Cells)
		row := append([]string(nil), key...)
		for i, p := range lawParamNames {
			lo, hi := fit.CI[i][0], fit.CI[i][1]
			row = append(row, lawCI(fit.Params[i], lo, hi, fit.HasCI))
			if fit.HasCI {
				csvRow(p, csvNum(fit.Params[i]), csvNum(lo), csvNum(hi), cells)
			} else {
				csvRow(p, csvNum(fit.Params[i]), "", "", cells)
			}
		}
		row = append(row, lawNum(fit.R2))
		csvRow("r2", csvNum(fit.R2), "", "", cells)
		var notes []string
		if fit.HoldoutCells > 0 {
			row = append(row, lawNum(fit.Holdout))
			csvRow("holdout_error", csvNum(fit.Holdout), "", "", fit.HoldoutCells)
		} else {
			row = append(row, "n/a")
			csvRow("holdout_error", "", "", "", 0)
			notes = append(notes, "held-out size error: "+fit.HoldoutWhy)
		}
		if fit.KSatOK {
			row = append(row, lawCI(fit.KSat, fit.KSatCI[0], fit.KSatCI[1], fit.KSatHasCI))
			if fit.KSatHasCI {
				csvRow("k_saturation", csvNum(fit.KSat), csvNum(fit.KSatCI[0]), csvNum(fit.KSatCI[1]), cells)
			} else {
				csvRow("k_saturation", csvNum(fit.KSat), "", "", cells)
			}
		} else {
			row = append(row, "n/a")
			csvRow("k_saturation", "", "", "", 0)
			notes = append(notes, "k_saturation: the fitted tail never comes within 0.01 nats of its limit at a finite k")
		}
		if !fit.HasCI {
			notes = append(notes, "no CI: fewer than half of the bootstrap resamples could be fitted")
		}
		if fit.FlatFloor {
			notes = append(notes, fmt.Sprintf("floor not identified: N^−β changes by under %.0f%% over these sizes, so the floor is a straight line in ln N "+
				"and L* trades off against B and β (read the fitted curve, not these three)", 100*lawFlatFloor))
		}
		if out := fit.outsideCI(); len(out) > 0 {
			notes = append(notes, "estimate outside its bootstrap interval (the resampled fits settle elsewhere along a flat valley): "+strings.Join(out, ", "))
		}
		if f.Excluded > 0 {
			notes = append(notes, fmt.Sprintf("%d of %d models left out: they lack some of the %d %s tasks' scores",
				f.Excluded, f.Excluded+f.Models, f.Tasks, domainLabel(f.Domain)))
		}
		row = append(row, strconv.Itoa(cells), strings.Join(notes, "; "))
		t.Rows = append(t.Rows, row)
	}
	return t
}

// lawCSVParams are the param values of table_scaling_law.csv, in order.
var lawCSVParams = append(append([]string(nil), lawParamNames[:]...), "r2", "holdout_error", "k_saturation")

// lawFor returns the fit of (base, method, metric, domain) in r.Law.
func (r *Results) lawFor(base, method, metric, domain string) (LawFit, bool) {
	for _, f := range r.Law {
		if f.BaseType == base && f.Method == method && f.Metric == metric && f.Domain == domain {
			return f, true
		}
	}
	return LawFit{}, false
}

// lawGammaSentence is finding 2's context from the scaling law: γ with its
// CI per base (the in-domain option_ce fit of method). It informs the
// verdict, which the paired slope decides. Empty when r carries no fits
// (a view of a variant other than the default).
func lawGammaSentence(r *Results, method string) string {
	if len(r.Law) == 0 {
		return ""
	}
	var parts []string
	for _, b := range r.BaseTypes {
		f, ok := r.lawFor(b, method, store.OptionCE, store.HeldIn)
		switch {
		case !ok:
			continue
		case !f.OK():
			parts = append(parts, fmt.Sprintf("%s n/a (%s)", b, f.Why))
		default:
			v, lo, hi, has, _ := f.Param("gamma")
			parts = append(parts, fmt.Sprintf("%s %s", b, lawCI(v, lo, hi, has)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf(" Scaling law (table_scaling_law; it informs, the paired slope decides): γ of %s merges, option_ce held-in, "+
		"is %s (γ > 0: the merging tail A₀·N^−γ shrinks as the base grows).", methodLabel(method), strings.Join(parts, "; "))
}

// Size colours of fig_scaling_law, smallest first (Okabe–Ito).
var lawSizeColors = []color.RGBA{{86, 180, 233, 255}, {0, 158, 115, 255}, {230, 159, 0, 255}, {213, 94, 0, 255},
	{204, 121, 167, 255}, {0, 114, 178, 255}, {120, 80, 30, 255}}

// figScalingLaw: the law of method's merges, option_ce (gold_nll when no
// option_ce fit exists), one column per (base, domain) with a fit: the
// cell means against k for every size with the fitted curves (top), and
// against N at the smallest and largest k with the fitted curves
// (bottom).
func figScalingLaw(r *Results, method string) (*figure, string, error) {
	var fits []LawFit
	metric := ""
	for _, m := range lawMetrics {
		for _, f := range r.Law {
			if f.Method == method && f.Metric == m && f.OK() {
				fits = append(fits, f)
			}
		}
		if len(fits) > 0 {
			metric = m
			break
		}
	}
	if len(fits) == 0 {
		why := "no scaling-law fit in the store"
		for _, f := range r.Law {
			if f.Method == method {
				why = fmt.Sprintf("no fit of the scaling law for %s merges (%s)", methodLabel(method), f.Why)
				break
			}
		}
		if len(r.Law) == 0 || !r.hasMethod(method) {
			why = noMethod(method)
		}
		return nil, why, nil
	}
	unit := "nats per example"
	if metric == store.GoldNLL {
		unit = "nats per byte"
	}
	f := newFigure(fmt.Sprintf("Merging scaling law L(N, k), %s, %s", methodLabel(method), metric), 2, len(fits))
	f.shareY = false
	for i, lf := range fits {
		fit := lf.fit
		yLabel := fmt.Sprintf("%s, %s (%s)", metric, domainLabel(lf.Domain), unit)
		title := fmt.Sprintf("%s, %s", baseLabel(lf.BaseType), domainLabel(lf.Domain))
		var sizes []SizeInfo
		var ks []int
		seenK := map[int]bool{}
		for _, c := range fit.Cells {
			if len(sizes) == 0 || sizes[len(sizes)-1].Name != c.Size {
				sizes = append(sizes, SizeInfo{Name: c.Size, Params: c.Params})
			}
			if !seenK[c.K] {
				seenK[c.K] = true
				ks = append(ks, c.K)
			}
		}
		slices.Sort(ks)
		kMax := ks[len(ks)-1]

		left := newPanel(title+": L against k", xK, yLabel)
		padLinX(left, ks)
		for si, sz := range sizes {
			col := lawSizeColors[si%len(lawSizeColors)]
			label := fmt.Sprintf("size %s (%s)", sz.Name, humanCount(sz.Params))
			pts := series{label: label, color: col, glyph: glyphs[0], noLine: true}
			curve := series{label: label, color: col, noDots: true}
			n := float64(sz.Params) / lawParamsUnit
			for _, c := range fit.Cells {
				if c.Size == sz.Name {
					pts.pts = append(pts.pts, lawPoint(float64(c.K), c))
				}
			}
			for x := float64(ks[0]); x <= float64(kMax)+1e-9; x += 0.1 {
				curve.pts = append(curve.pts, point{x, fit.Params.eval(n, x), math.NaN()})
			}
			if err := addToPanel(f, left, pts, curve); err != nil {
				return nil, "", err
			}
		}

		right := newPanel(title+": L against N", xParams, yLabel)
		padLogX(right, sizes)
		for ki, k := range []int{ks[0], kMax} {
			if ki == 1 && k == ks[0] {
				break
			}
			col := kShade(refMT, ki, 2)
			label := fmt.Sprintf("k = %d", k)
			pts := series{label: label, color: col, glyph: glyphs[1+ki], noLine: true}
			curve := series{label: label, color: col, noDots: true, dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
			for _, c := range fit.Cells {
				if c.K == k {
					pts.pts = append(pts.pts, lawPoint(float64(c.Params), c))
				}
			}
			lo, hi := math.Log(float64(sizes[0].Params)), math.Log(float64(sizes[len(sizes)-1].Params))
			for s := 0; s <= 40; s++ {
				x := math.Exp(lo + (hi-lo)*float64(s)/40)
				curve.pts = append(curve.pts, point{x, fit.Params.eval(x/lawParamsUnit, float64(k)), math.NaN()})
			}
			if err := addToPanel(f, right, pts, curve); err != nil {
				return nil, "", err
			}
		}
		f.panels[0][i], f.panels[1][i] = left, right
	}
	f.addLegend("points: cell means ± 95% CI over subsets", nil)
	f.addLegend("lines: the fitted law (table_scaling_law)", nil)
	return f, "", nil
}

// lawPoint is a cell's mean at x with its 95% CI over subsets (none for
// a single subset).
func lawPoint(x float64, c lawCell) point {
	ci := math.NaN()
	if c.N >= 2 {
		ci = tQuantile(0.975, float64(c.N-1)) * c.SE
	}
	return point{x, c.Mean, ci}
}

// addToPanel draws a series of points and its fitted curve on p, with one
// legend entry for both.
func addToPanel(f *figure, p *plot.Plot, pts, curve series) error {
	th1, err := addSeries(p, pts)
	if err != nil {
		return err
	}
	th2, err := addSeries(p, curve)
	if err != nil {
		return err
	}
	f.addLegend(pts.label, append(th2[:1], th1...))
	return nil
}
