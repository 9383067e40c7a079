package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
)

// variantColors tell apart the lines of fig_variants (Okabe–Ito).
var variantColors = []color.RGBA{{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255},
	{204, 121, 167, 255}, {230, 159, 0, 255}, {86, 180, 233, 255}, {120, 80, 30, 255}}

// pooledStat summarizes a measure over every subset of every cell of
// (variant, base, size, method), whatever k: the merges of one variant.
func (r *Results) pooledStat(variant, base, size, method string, get func(Scores) float64) Stat {
	var xs []float64
	for _, c := range r.Cells {
		if c.Variant == variant && c.BaseType == base && c.Size == size && c.Method == method {
			for _, s := range c.Subsets {
				xs = append(xs, get(s.Merged))
			}
		}
	}
	return newStat(xs)
}

// variantFor returns the full variant with these values, if the study has it.
func (r *Results) variantFor(values map[string]float64) (Variant, bool) {
	json := variantJSON(values)
	for _, v := range r.Variants {
		if v.JSON == json {
			return v, true
		}
	}
	return Variant{}, false
}

// figVariants: task arithmetic merges of each variant, normalized held-in,
// normalized held-out and gain kept (rows) against the first listed zoo key
// (x), one line per combination of the other listed keys' values, one
// column per base type and size. Each point pools the variant's merges over
// k and subsets (mean ± 95% CI).
func figVariants(r *Results, _ string) (*figure, string, error) {
	if len(r.Axes) == 0 {
		return nil, "the study lists no zoo key, so it has a single variant", nil
	}
	const method = "task_arithmetic"
	if !r.hasMethod(method) {
		return nil, noMethod(method), nil
	}
	xAxis := r.Axes[0]
	others := variantProduct(r.Axes[1:])
	type col struct{ base, size string }
	var cols []col
	for _, b := range r.BaseTypes {
		for _, sz := range r.Sizes {
			cols = append(cols, col{b, sz.Name})
		}
	}
	rows := []struct {
		name, y string
		get     func(Scores) float64
		ref     bool
	}{
		{"held-in", yHeldIn, func(s Scores) float64 { return s.HeldIn }, true},
		{"held-out", yHeldOut, func(s Scores) float64 { return s.HeldOut }, true},
		{"gain kept", yGainKept, func(s Scores) float64 { return s.GainKept }, false},
	}
	f := newFigure(fmt.Sprintf("Zoo variants, %s: vs %s (each point pools k and subsets; mean ± 95%% CI)",
		methodLabel(method), shortKey(xAxis.Key)), len(rows), len(cols))
	logX := len(xAxis.Values) > 1
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xAxis.Values {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
		logX = logX && x > 0
	}
	logX = logX && hi/lo >= 10
	for j, c := range cols {
		for i, row := range rows {
			p := newPanel(fmt.Sprintf("%s, size %s, %s", baseLabel(c.base), c.size, row.name), shortKey(xAxis.Key), row.y)
			padValues(p, xAxis.Values, logX)
			for oi, o := range others {
				label := methodLabel(method)
				if len(o.Values) > 0 {
					label = o.Label(r.Axes[1:])
				}
				s := series{label: label, color: variantColors[oi%len(variantColors)], glyph: glyphs[oi%len(glyphs)]}
				for _, x := range xAxis.Values {
					vals := map[string]float64{xAxis.Key: x}
					for k, y := range o.Values {
						vals[k] = y
					}
					v, ok := r.variantFor(vals)
					if !ok {
						continue
					}
					st := r.pooledStat(v.JSON, c.base, c.size, method, row.get)
					s.pts = append(s.pts, statPoint(dodgeX(x, oi, len(others), lo, hi, logX), st))
				}
				th, err := addSeries(p, s)
				if err != nil {
					return nil, "", err
				}
				f.addLegend(s.label, th)
			}
			if row.ref {
				if err := refLine(f, p, "1.0 = expert (held-in) / base (held-out)", p.X.Min, p.X.Max, 1, true); err != nil {
					return nil, "", err
				}
			}
			f.panels[i][j] = p
		}
	}
	return f, "", nil
}

// padValues sets an x axis over the swept values with ticks at each value.
func padValues(p *plot.Plot, xs []float64, logX bool) {
	lo, hi := math.Inf(1), math.Inf(-1)
	var t plot.ConstantTicks
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
		t = append(t, plot.Tick{Value: x, Label: fmtValue(x)})
	}
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = lo/1.6, hi*1.6
	} else {
		pad := (hi - lo) * 0.15
		if pad == 0 {
			pad = math.Max(math.Abs(lo)*0.2, 1)
		}
		p.X.Min, p.X.Max = lo-pad, hi+pad
	}
	p.X.Tick.Marker = t
}

// dodgeX spreads the i-th of n lines around x so that their error bars do
// not overlap: multiplicatively on a log axis, by a share of the range on a
// linear one.
func dodgeX(x float64, i, n int, lo, hi float64, logX bool) float64 {
	if logX {
		return x * (1 + dodge(i, n, 0.05))
	}
	span := hi - lo
	if span == 0 {
		span = math.Max(math.Abs(x), 1)
	}
	return x + dodge(i, n, 0.02*span)
}
