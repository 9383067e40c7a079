package report

import (
	"fmt"
	"math"
	"mergescale/store"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// FigureNames lists the report's figures in the order report.md shows them.
var FigureNames = []string{"fig_base_quality", "fig_heldin_vs_size", "fig_heldout_vs_k",
	"fig_heldout_vs_size", "fig_methods_at_scale", "fig_interference", "fig_scaling_law", "fig_variants"}

// Axis labels, with units.
const (
	xK         = "experts merged, k (count)"
	xParams    = "parameters (count, log scale)"
	yHeldIn    = "normalized held-in (÷ expert)"
	yHeldOut   = "normalized held-out (÷ base zero-shot)"
	yConflict  = "sign conflicts (fraction of entries)"
	yCosine    = "mean task-vector cosine"
	yTau       = "‖τ‖ ÷ ‖θ₀‖ of the experts"
	yGainKept  = "gain kept (fraction of the experts' gain)"
	defaultFig = "task_arithmetic"
)

// figureResult is a built figure or the reason it could not be drawn.
type figureResult struct {
	name    string
	fig     *figure
	missing string
}

// buildFigures builds every figure; single-method figures show method.
// fig_variants compares the variants; the others show the default variant.
func buildFigures(r *Results, method string) ([]figureResult, error) {
	def := r.Default()
	builders := map[string]func(*Results, string) (*figure, string, error){
		"fig_base_quality":     figBaseQuality,
		"fig_heldin_vs_size":   figHeldInVsSize,
		"fig_heldout_vs_k":     figHeldOutVsK,
		"fig_heldout_vs_size":  figHeldOutVsSize,
		"fig_methods_at_scale": figMethodsAtScale,
		"fig_interference":     figInterference,
		"fig_scaling_law":      figScalingLaw,
		"fig_variants":         figVariants,
	}
	var out []figureResult
	for _, name := range FigureNames {
		src := def
		if name == "fig_variants" {
			src = r
		}
		f, missing, err := builders[name](src, method)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, figureResult{name: name, fig: f, missing: missing})
	}
	return out, nil
}

// cells returns the cells of (base, size, method) ordered by k.
func (r *Results) cellsOf(base, size, method string) []Cell {
	var out []Cell
	for _, c := range r.Cells {
		if c.BaseType == base && c.Size == size && c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (r *Results) hasMethod(m string) bool {
	for _, c := range r.Cells {
		if c.Method == m {
			return true
		}
	}
	return false
}

func statPoint(x float64, s Stat) point {
	if !s.Valid() {
		return point{x, math.NaN(), math.NaN()}
	}
	return point{x, s.Mean, s.CI}
}

// dodge spreads n series sharing x values by a small offset so that their
// error bars do not overlap.
func dodge(i, n int, step float64) float64 {
	return (float64(i) - float64(n-1)/2) * step
}

// refLine adds a horizontal reference line at y spanning [x0, x1].
func refLine(f *figure, p *plot.Plot, label string, x0, x1, y float64, base bool) error {
	s := series{label: label, color: refMT, noDots: true, width: vg.Points(1.2),
		dashes: []vg.Length{vg.Points(1.5), vg.Points(2.5)},
		pts:    []point{{x0, y, math.NaN()}, {x1, y, math.NaN()}}}
	if base {
		s.color, s.dashes = refBase, []vg.Length{vg.Points(6), vg.Points(3)}
	}
	th, err := addSeries(p, s)
	if err != nil {
		return err
	}
	f.addLegend(label, th)
	return nil
}

func noMethod(method string) string {
	return fmt.Sprintf("no chosen test merges of method %s in the store", method)
}

// figBaseQuality: PT vs IT, normalized held-in (top) and held-out (bottom)
// vs k, one column per size (the paper's Fig. 3).
func figBaseQuality(r *Results, method string) (*figure, string, error) {
	if !r.hasMethod(method) {
		return nil, noMethod(method), nil
	}
	f := newFigure(fmt.Sprintf("Base model quality: PT vs IT, %s (mean ± 95%% CI over subsets)", methodLabel(method)),
		2, len(r.Sizes))
	col := methodColor(method, r.Methods)
	for j, sz := range r.Sizes {
		for i, metric := range []string{"held-in", "held-out"} {
			y := yHeldIn
			if i == 1 {
				y = yHeldOut
			}
			p := newPanel(fmt.Sprintf("%s, size %s (%s params)", metric, sz.Name, humanCount(sz.Params)), xK, y)
			padLinX(p, r.Ks)
			for bi, b := range r.BaseTypes {
				dashes, glyph := baseStyle(b)
				s := series{label: methodLabel(method) + ", " + baseLabel(b), color: col, dashes: dashes, glyph: glyph}
				for _, c := range r.cellsOf(b, sz.Name, method) {
					x := float64(c.K) + dodge(bi, len(r.BaseTypes), 0.12)
					if i == 0 {
						s.pts = append(s.pts, statPoint(x, c.HeldIn))
					} else {
						s.pts = append(s.pts, statPoint(x, c.HeldOut))
					}
				}
				th, err := addSeries(p, s)
				if err != nil {
					return nil, "", err
				}
				f.addLegend(s.label, th)
			}
			label := "1.0 = expert (held-in) / base (held-out)"
			if len(r.Ks) > 0 {
				if err := refLine(f, p, label, p.X.Min, p.X.Max, 1, true); err != nil {
					return nil, "", err
				}
			}
			f.panels[i][j] = p
		}
	}
	return f, "", nil
}

// kSeries returns one series per k over sizes for a single method and base,
// with y from get. The panel names the base, so lines are solid.
func kSeries(r *Results, base, method string, get func(Cell) Stat) []series {
	col := methodColor(method, r.Methods)
	var out []series
	for ki, k := range r.Ks {
		s := series{label: fmt.Sprintf("%s, k = %d", methodLabel(method), k), color: kShade(col, ki, len(r.Ks)),
			glyph: glyphs[ki%len(glyphs)]}
		for _, sz := range r.Sizes {
			if c, ok := r.Cell(base, sz.Name, method, k); ok {
				s.pts = append(s.pts, statPoint(float64(sz.Params), get(c)))
			}
		}
		out = append(out, s)
	}
	return out
}

// figHeldInVsSize: normalized held-in vs parameter count, one line per k,
// one panel per base type (Fig. 4).
func figHeldInVsSize(r *Results, method string) (*figure, string, error) {
	if !r.hasMethod(method) {
		return nil, noMethod(method), nil
	}
	f := newFigure(fmt.Sprintf("Held-in performance vs model size, %s", methodLabel(method)), 1, len(r.BaseTypes))
	for j, b := range r.BaseTypes {
		p := newPanel(baseLabel(b), xParams, yHeldIn)
		padLogX(p, r.Sizes)
		for _, s := range kSeries(r, b, method, func(c Cell) Stat { return c.HeldIn }) {
			th, err := addSeries(p, s)
			if err != nil {
				return nil, "", err
			}
			f.addLegend(s.label, th)
		}
		if len(r.Sizes) > 0 {
			if err := refLine(f, p, "1.0 = expert", p.X.Min, p.X.Max, 1, true); err != nil {
				return nil, "", err
			}
		}
		f.panels[0][j] = p
	}
	return f, "", nil
}

// mtHeldOut is the multitask model's normalized held-out score for a base
// and size (it does not depend on k or method).
func (r *Results) mtHeldOut(base, size string) (float64, bool) {
	for _, b := range r.Baselines {
		if b.Kind == store.KindMultitask && b.BaseType == base && b.Size == size && !math.IsNaN(b.Scores.HeldOut) {
			return b.Scores.HeldOut, true
		}
	}
	return 0, false
}

// methodSeries plots y vs k, one series per method, for a base and size.
func methodSeries(f *figure, p *plot.Plot, r *Results, base, size string, get func(Cell) Stat) error {
	for mi, m := range r.Methods {
		s := series{label: methodLabel(m), color: methodColor(m, r.Methods), glyph: glyphs[0]}
		for _, c := range r.cellsOf(base, size, m) {
			s.pts = append(s.pts, statPoint(float64(c.K)+dodge(mi, len(r.Methods), 0.1), get(c)))
		}
		th, err := addSeries(p, s)
		if err != nil {
			return err
		}
		f.addLegend(s.label, th)
	}
	return nil
}

// figHeldOutVsK: normalized held-out vs k per method, one panel per base
// type and size, with the base (1.0) and multitask references (Fig. 5).
func figHeldOutVsK(r *Results, _ string) (*figure, string, error) {
	if len(r.Cells) == 0 {
		return nil, "no chosen test merges in the store", nil
	}
	f := newFigure("Held-out generalization vs number of merged experts, all methods", len(r.BaseTypes), len(r.Sizes))
	for i, b := range r.BaseTypes {
		for j, sz := range r.Sizes {
			p := newPanel(fmt.Sprintf("%s, size %s", baseLabel(b), sz.Name), xK, yHeldOut)
			padLinX(p, r.Ks)
			if err := methodSeries(f, p, r, b, sz.Name, func(c Cell) Stat { return c.HeldOut }); err != nil {
				return nil, "", err
			}
			if err := refLine(f, p, "base zero-shot (1.0)", p.X.Min, p.X.Max, 1, true); err != nil {
				return nil, "", err
			}
			if v, ok := r.mtHeldOut(b, sz.Name); ok {
				if err := refLine(f, p, "multitask model", p.X.Min, p.X.Max, v, false); err != nil {
					return nil, "", err
				}
			}
			f.panels[i][j] = p
		}
	}
	return f, "", nil
}

// figHeldOutVsSize: normalized held-out vs parameter count, one line per
// k, one panel per base type, with the multitask model per size (Fig. 6).
func figHeldOutVsSize(r *Results, method string) (*figure, string, error) {
	if !r.hasMethod(method) {
		return nil, noMethod(method), nil
	}
	f := newFigure(fmt.Sprintf("Held-out generalization vs model size, %s", methodLabel(method)), 1, len(r.BaseTypes))
	for j, b := range r.BaseTypes {
		p := newPanel(baseLabel(b), xParams, yHeldOut)
		padLogX(p, r.Sizes)
		for _, s := range kSeries(r, b, method, func(c Cell) Stat { return c.HeldOut }) {
			th, err := addSeries(p, s)
			if err != nil {
				return nil, "", err
			}
			f.addLegend(s.label, th)
		}
		mt := series{label: "multitask model", color: refMT, glyph: glyphs[2],
			dashes: []vg.Length{vg.Points(1.5), vg.Points(2.5)}}
		for _, sz := range r.Sizes {
			if v, ok := r.mtHeldOut(b, sz.Name); ok {
				mt.pts = append(mt.pts, point{float64(sz.Params), v, math.NaN()})
			}
		}
		th, err := addSeries(p, mt)
		if err != nil {
			return nil, "", err
		}
		f.addLegend(mt.label, th)
		if len(r.Sizes) > 0 {
			if err := refLine(f, p, "base zero-shot (1.0)", p.X.Min, p.X.Max, 1, true); err != nil {
				return nil, "", err
			}
		}
		f.panels[0][j] = p
	}
	return f, "", nil
}

// figMethodsAtScale: the methods at the largest size, held-in and held-out
// vs k, one row per base type (Fig. 7).
func figMethodsAtScale(r *Results, _ string) (*figure, string, error) {
	if len(r.Cells) == 0 || len(r.Sizes) == 0 {
		return nil, "no chosen test merges in the store", nil
	}
	sz := r.Sizes[len(r.Sizes)-1]
	f := newFigure(fmt.Sprintf("Merging methods at the largest size, %s (%s params)", sz.Name, humanCount(sz.Params)),
		len(r.BaseTypes), 2)
	f.shareY = false // held-in and held-out side by side
	for i, b := range r.BaseTypes {
		for j, metric := range []string{"held-in", "held-out"} {
			y, get := yHeldIn, func(c Cell) Stat { return c.HeldIn }
			if j == 1 {
				y, get = yHeldOut, func(c Cell) Stat { return c.HeldOut }
			}
			p := newPanel(fmt.Sprintf("%s, %s", baseLabel(b), metric), xK, y)
			padLinX(p, r.Ks)
			if err := methodSeries(f, p, r, b, sz.Name, get); err != nil {
				return nil, "", err
			}
			// The multitask model on the same categories as each k's merges.
			mt := series{label: "multitask model", color: refMT, glyph: glyphs[2],
				dashes: []vg.Length{vg.Points(1.5), vg.Points(2.5)}}
			for _, k := range r.Ks {
				for _, m := range r.Methods {
					if c, ok := r.Cell(b, sz.Name, m, k); ok {
						s := c.MTHeldIn
						if j == 1 {
							s = c.MTHeldOut
						}
						mt.pts = append(mt.pts, point{float64(k), s.Mean, math.NaN()})
						break
					}
				}
			}
			th, err := addSeries(p, mt)
			if err != nil {
				return nil, "", err
			}
			f.addLegend(mt.label, th)
			if err := refLine(f, p, "1.0 = expert (held-in) / base (held-out)", p.X.Min, p.X.Max, 1, true); err != nil {
				return nil, "", err
			}
			f.panels[i][j] = p
		}
	}
	return f, "", nil
}

// figInterference: sign-conflict rate and mean task-vector cosine of the
// chosen merges vs parameter count, one line per k, one column per base;
// when the store records it, a third row with the experts' ‖τ‖ ÷ ‖θ₀‖
// (mean ± 95% CI over categories) vs parameter count.
func figInterference(r *Results, method string) (*figure, string, error) {
	if !r.hasMethod(method) {
		return nil, noMethod(method), nil
	}
	found := false
	for _, c := range r.Cells {
		if c.Method == method && (c.SignConflict.Valid() || c.MeanCosine.Valid()) {
			found = true
		}
	}
	if !found {
		return nil, fmt.Sprintf("no merge diagnostics (sign_conflict, mean_cosine) recorded for method %s", method), nil
	}
	rows := 2
	if len(r.TauRatios) > 0 {
		rows = 3
	}
	f := newFigure(fmt.Sprintf("Task-vector interference vs size and k, %s merges", methodLabel(method)),
		rows, len(r.BaseTypes))
	for j, b := range r.BaseTypes {
		for i := 0; i < 2; i++ {
			y, get := yConflict, func(c Cell) Stat { return c.SignConflict }
			name := "sign conflicts"
			if i == 1 {
				y, get, name = yCosine, func(c Cell) Stat { return c.MeanCosine }, "task-vector cosine"
			}
			p := newPanel(fmt.Sprintf("%s, %s", baseLabel(b), name), xParams, y)
			padLogX(p, r.Sizes)
			for _, s := range kSeries(r, b, method, get) {
				th, err := addSeries(p, s)
				if err != nil {
					return nil, "", err
				}
				f.addLegend(s.label, th)
			}
			f.panels[i][j] = p
		}
		if rows == 3 {
			p := newPanel(fmt.Sprintf("%s, task-vector size", baseLabel(b)), xParams, yTau)
			padLogX(p, r.Sizes)
			dashes, glyph := baseStyle(b)
			s := series{label: "experts' ‖τ‖ ÷ ‖θ₀‖, " + baseLabel(b), color: refBase, dashes: dashes, glyph: glyph}
			for _, t := range r.TauRatios {
				if t.BaseType == b {
					s.pts = append(s.pts, statPoint(float64(t.Params), t.Ratio))
				}
			}
			th, err := addSeries(p, s)
			if err != nil {
				return nil, "", err
			}
			f.addLegend(s.label, th)
			f.panels[2][j] = p
		}
	}
	return f, "", nil
}
