package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"mergescale/internal/atomicfile"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure styling shared by every figure: one colour per method (the
// Okabe–Ito colour-blind-safe palette), solid lines and circles for IT bases,
// dashed lines and triangles for PT bases, grey for the base reference and
// black for the multitask reference.
var (
	methodColors = map[string]color.RGBA{
		"linear":          {0, 114, 178, 255},   // blue
		"task_arithmetic": {213, 94, 0, 255},    // vermillion
		"ties":            {0, 158, 115, 255},   // bluish green
		"dare_ties":       {204, 121, 167, 255}, // reddish purple
	}
	extraColors = []color.RGBA{{230, 159, 0, 255}, {86, 180, 233, 255}, {120, 80, 30, 255}}
	refBase     = color.RGBA{110, 110, 110, 255}
	refMT       = color.RGBA{0, 0, 0, 255}
)

// Text sizes in points; fixed so that SVG output is byte-stable.
const (
	titleSize  = 13
	panelSize  = 11
	labelSize  = 10
	tickSize   = 8.5
	legendSize = 9.5
	pngDPI     = 150
)

// methodLabel is the name a figure gives a method.
func methodLabel(m string) string {
	switch m {
	case "linear":
		return "averaging (linear)"
	case "task_arithmetic":
		return "task arithmetic"
	case "ties":
		return "TIES"
	case "dare_ties":
		return "DARE-TIES"
	}
	return m
}

// methodColor returns the method's colour; methods outside the paper's four
// get the remaining palette colours in the order of methods.
func methodColor(m string, methods []string) color.RGBA {
	if c, ok := methodColors[m]; ok {
		return c
	}
	var extra []string
	for _, x := range methods {
		if _, ok := methodColors[x]; !ok {
			extra = append(extra, x)
		}
	}
	sort.Strings(extra)
	for i, x := range extra {
		if x == m {
			return extraColors[i%len(extraColors)]
		}
	}
	return extraColors[0]
}

// shade mixes c with white: f = 0 gives c, f = 1 gives white.
func shade(c color.RGBA, f float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(math.Round(float64(v) + f*(255-float64(v)))) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 255}
}

// kShade gives the i-th of n k values a shade of the method colour, light
// for the fewest experts and full colour for the most.
func kShade(c color.RGBA, i, n int) color.RGBA {
	if n <= 1 {
		return c
	}
	return shade(c, 0.6*float64(n-1-i)/float64(n-1))
}

var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{},
	draw.CrossGlyph{}, draw.PlusGlyph{}, draw.PyramidGlyph{}, draw.RingGlyph{}}

// baseStyle returns the dash pattern and glyph for a base type.
func baseStyle(base string) ([]vg.Length, draw.GlyphDrawer) {
	if base == "pt" {
		return []vg.Length{vg.Points(5), vg.Points(3)}, draw.TriangleGlyph{}
	}
	return nil, draw.CircleGlyph{}
}

func baseLabel(b string) string {
	switch b {
	case "pt":
		return "PT base"
	case "it":
		return "IT base"
	}
	return b + " base"
}

// point is one plotted value with its 95% CI half-width (NaN: none).
type point struct{ x, y, ci float64 }

type series struct {
	label  string
	color  color.RGBA
	dashes []vg.Length
	glyph  draw.GlyphDrawer
	width  vg.Length
	noDots bool
	noLine bool // points (and CI bars) only
	pts    []point
}

type xys []point

func (p xys) Len() int                    { return len(p) }
func (p xys) XY(i int) (float64, float64) { return p[i].x, p[i].y }
func (p xys) YError(i int) (float64, float64) {
	return p[i].ci, p[i].ci
}

// newPanel returns a plot with the report's fonts and labels.
func newPanel(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(panelSize)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(labelSize)
		a.Tick.Label.Font.Size = vg.Points(tickSize)
	}
	p.Y.Tick.Marker = precTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// addSeries draws s on p (line, points and CI bars where defined) and
// returns the thumbnails for a legend entry. Points with NaN y are skipped.
func addSeries(p *plot.Plot, s series) ([]plot.Thumbnailer, error) {
	var pts, bars xys
	for _, q := range s.pts {
		if math.IsNaN(q.y) || math.IsInf(q.y, 0) {
			continue
		}
		pts = append(pts, q)
		if !math.IsNaN(q.ci) && !math.IsInf(q.ci, 0) {
			bars = append(bars, q)
		}
	}
	width := s.width
	if width == 0 {
		width = vg.Points(1.5)
	}
	line := &plotter.Line{LineStyle: draw.LineStyle{Color: s.color, Width: width, Dashes: s.dashes}}
	var thumbs []plot.Thumbnailer
	if len(pts) > 0 && !s.noLine {
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.label, err)
		}
		l.LineStyle = line.LineStyle
		p.Add(l)
	}
	if !s.noLine {
		thumbs = append(thumbs, line)
	}
	if !s.noDots {
		sc := &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: s.color, Radius: vg.Points(3), Shape: s.glyph}}
		if len(pts) > 0 {
			sp, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, fmt.Errorf("series %q: %w", s.label, err)
			}
			sp.GlyphStyle = sc.GlyphStyle
			p.Add(sp)
		}
		thumbs = append(thumbs, sc)
	}
	if len(bars) > 0 {
		eb, err := plotter.NewYErrorBars(bars)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.label, err)
		}
		eb.LineStyle = draw.LineStyle{Color: s.color, Width: vg.Points(1)}
		eb.CapWidth = vg.Points(5)
		p.Add(eb)
	}
	return thumbs, nil
}

// figure is a grid of panels with a title and a legend to the right of
// the panels, so that the legend never covers data.
type figure struct {
	title  string
	panels [][]*plot.Plot // [row][col]
	legend plot.Legend
	labels []string // legend labels, in order
	// shareY gives every panel of a row the same y range.
	shareY bool
	// Panel size in inches.
	panelW, panelH float64
}

func newFigure(title string, rows, cols int) *figure {
	f := &figure{title: title, panelW: 3.3, panelH: 2.7, legend: plot.NewLegend(), shareY: true}
	f.panels = make([][]*plot.Plot, rows)
	for i := range f.panels {
		f.panels[i] = make([]*plot.Plot, cols)
	}
	f.legend.TextStyle.Font.Size = vg.Points(legendSize)
	f.legend.Top, f.legend.Left = true, true
	f.legend.ThumbnailWidth = vg.Points(28)
	f.legend.Padding = vg.Points(5)
	return f
}

// addLegend adds a legend entry unless one with the same label exists.
func (f *figure) addLegend(label string, thumbs []plot.Thumbnailer) {
	for _, l := range f.labels {
		if l == label {
			return
		}
	}
	f.labels = append(f.labels, label)
	f.legend.Add(label, thumbs...)
}

func (f *figure) size() (vg.Length, vg.Length, vg.Length) {
	rows, cols := len(f.panels), len(f.panels[0])
	legendW := vg.Inch * 1.9
	for _, e := range f.labels {
		sty := f.legend.TextStyle
		if w := sty.Width(e) + f.legend.ThumbnailWidth + vg.Points(20); w > legendW {
			legendW = w
		}
	}
	w := vg.Length(float64(cols)*f.panelW)*vg.Inch + legendW
	h := vg.Length(float64(rows)*f.panelH)*vg.Inch + vg.Inch*0.45
	return w, h, legendW
}

func (f *figure) draw(c draw.Canvas) {
	_, _, legendW := f.size()
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
	// Title.
	tp := plot.New()
	sty := tp.Title.TextStyle
	sty.Font = font.From(plot.DefaultFont, vg.Points(titleSize))
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X - legendW) / 2, Y: c.Max.Y - vg.Points(6)}, f.title)
	// Panels.
	area := c
	area.Max.Y -= vg.Inch * 0.45
	area.Max.X -= legendW
	rows, cols := len(f.panels), len(f.panels[0])
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(14), PadY: vg.Points(14),
		PadLeft: vg.Points(4), PadBottom: vg.Points(4), PadRight: vg.Points(8)}
	if f.shareY {
		for _, row := range f.panels {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, p := range row {
				lo, hi = math.Min(lo, p.Y.Min), math.Max(hi, p.Y.Max)
			}
			for _, p := range row {
				p.Y.Min, p.Y.Max = lo, hi
			}
		}
	}
	canvases := plot.Align(f.panels, tiles, area)
	for i := range f.panels {
		for j, p := range f.panels[i] {
			p.Draw(canvases[i][j])
		}
	}
	// Legend in the strip to the right.
	strip := c
	strip.Min.X = c.Max.X - legendW
	strip.Max.Y -= vg.Inch * 0.5
	f.legend.Draw(strip)
}

// svg renders the figure as SVG without embedded fonts.
func (f *figure) svg() ([]byte, error) {
	w, h, _ := f.size()
	c := vgsvg.NewWith(vgsvg.UseWH(w, h))
	f.draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// png renders the figure at pngDPI.
func (f *figure) png() ([]byte, error) {
	w, h, _ := f.size()
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))
	f.draw(draw.New(c))
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// write saves name.svg and name.png in dir.
func (f *figure) write(dir, name string) error {
	svg, err := f.svg()
	if err != nil {
		return fmt.Errorf("figure %s: svg: %w", name, err)
	}
	png, err := f.png()
	if err != nil {
		return fmt.Errorf("figure %s: png: %w", name, err)
	}
	for ext, b := range map[string][]byte{".svg": svg, ".png": png} {
		path := filepath.Join(dir, name+ext)
		if err := atomicfile.Write(path, b); err != nil {
			return fmt.Errorf("figure %s: %w", path, err)
		}
	}
	return nil
}

// paramTicks labels a parameter-count axis at the study's sizes.
func paramTicks(sizes []SizeInfo) plot.ConstantTicks {
	var t plot.ConstantTicks
	for _, s := range sizes {
		t = append(t, plot.Tick{Value: float64(s.Params), Label: s.Name + "\n" + humanCount(s.Params)})
	}
	return t
}

func kTicks(ks []int) plot.ConstantTicks {
	var t plot.ConstantTicks
	for _, k := range ks {
		t = append(t, plot.Tick{Value: float64(k), Label: fmt.Sprint(k)})
	}
	return t
}

// humanCount renders 1920000 as "1.92M".
func humanCount(n int64) string {
	f := float64(n)
	switch {
	case f >= 1e9:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3g", f/1e9), "0"), ".") + "B"
	case f >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.3g", f/1e6), ".") + "M"
	case f >= 1e3:
		return strings.TrimSuffix(fmt.Sprintf("%.3g", f/1e3), ".") + "k"
	}
	return fmt.Sprint(n)
}

// padLogX widens a log-scale x range by a factor on each side so that end
// points and their error bars are not cut.
func padLogX(p *plot.Plot, sizes []SizeInfo) {
	if len(sizes) == 0 || sizes[0].Params <= 0 {
		return
	}
	lo, hi := float64(sizes[0].Params), float64(sizes[len(sizes)-1].Params)
	p.X.Scale = plot.LogScale{}
	p.X.Min, p.X.Max = lo/1.6, hi*1.6
	p.X.Tick.Marker = paramTicks(sizes)
}

// padLinX widens a linear k axis by half a step.
func padLinX(p *plot.Plot, ks []int) {
	if len(ks) == 0 {
		return
	}
	p.X.Min, p.X.Max = float64(ks[0])-0.6, float64(ks[len(ks)-1])+0.6
	p.X.Tick.Marker = kTicks(ks)
}

// precTicks are plot.DefaultTicks labelled with the same number of decimals
// on every major tick, enough to print each exactly.
type precTicks struct{}

// Ticks implements plot.Ticker.
func (precTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	var major []float64
	for _, t := range ticks {
		if t.Label != "" {
			major = append(major, t.Value)
		}
	}
	// The fewest decimals (at least one) that print every major tick exactly.
	prec := 1
	for ; prec < 6; prec++ {
		exact := true
		for _, v := range major {
			back, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', prec, 64), 64)
			if math.Abs(back-v) > 1e-9*math.Max(1, math.Abs(v)) {
				exact = false
			}
		}
		if exact {
			break
		}
	}
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', prec, 64)
		}
	}
	return ticks
}
