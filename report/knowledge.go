package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"mergescale/store"

	"gonum.org/v1/plot"
)

// The knowledge section: what each suite-5 base knows after pretraining
// (world/EVIDENCE.md, issue 24). A fact is known when the base gives its
// value probability > 0.5 after the cloze context (log-probability above
// −ln 2). Facts are binned by exposures (the pretraining documents that
// state them) in powers of two, LO-HI inclusive.

// knownLogProb is the threshold of a known fact: log 0.5.
var knownLogProb = math.Log(0.5)

// exposureBin returns the inclusive bounds of the power-of-two bin of e:
// 0-0, 1-1, 2-3, 4-7, 8-15, ...
func exposureBin(e int) (lo, hi int) {
	if e <= 0 {
		return 0, 0
	}
	lo = 1
	for lo*2 <= e {
		lo *= 2
	}
	return lo, 2*lo - 1
}

// knowledgeRow is one (size, exposure bin) of table_knowledge.
type knowledgeRow struct {
	size          string
	params        int64
	lo, hi, facts int
	known         float64 // fraction of the bin's facts known
	ce            float64 // mean −log p(value) over the bin's facts
}

// knowledgeRows aggregates the probes by size (ascending parameters, then
// name) and exposure bin; a bin "all" row per size comes first (lo = -1).
func knowledgeRows(ps []store.KnowledgeProbe) []knowledgeRow {
	type key struct {
		size string
		lo   int
	}
	acc := map[key]*knowledgeRow{}
	params := map[string]int64{}
	for _, p := range ps {
		params[p.Size] = p.Params
		lo, hi := exposureBin(p.Exposures)
		for _, k := range []key{{p.Size, -1}, {p.Size, lo}} {
			r := acc[k]
			if r == nil {
				r = &knowledgeRow{size: p.Size, params: p.Params, lo: k.lo, hi: hi}
				acc[k] = r
			}
			r.facts++
			r.ce -= p.LogProb
			if p.LogProb > knownLogProb {
				r.known++
			}
		}
	}
	var out []knowledgeRow
	for _, r := range acc {
		r.known /= float64(r.facts)
		r.ce /= float64(r.facts)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b knowledgeRow) int {
		if a.params != b.params {
			return int(a.params - b.params)
		}
		if a.size != b.size {
			if a.size < b.size {
				return -1
			}
			return 1
		}
		return a.lo - b.lo
	})
	return out
}

// knowledgeTable is table_knowledge: per size and exposure bin, the facts,
// the fraction known and the mean cross-entropy of the value (tidy: one row
// per size and bin, bins as LO-HI).
func knowledgeTable(ps []store.KnowledgeProbe) *Table {
	b := newTable("table_knowledge", "Knowledge of the PT bases by exposure (fraction of facts with p(value) > 0.5; value_ce = mean −log p(value), nats)",
		textCol("size", "size"), textCol("exposures", "exposure_bin"), textCol("facts", "facts"),
		textCol("fraction known", "fraction_known"), textCol("value CE", "value_ce"))
	for _, r := range knowledgeRows(ps) {
		if r.lo < 0 {
			continue
		}
		b.add(r.size, fmt.Sprintf("%d-%d", r.lo, r.hi), strconv.Itoa(r.facts), dual{show: num(r.known), csv: []string{csvNum(r.known)}},
			dual{show: num(r.ce), csv: []string{csvNum(r.ce)}})
	}
	return b.t
}

// figKnowledge is fig_knowledge: the fraction of facts known against
// exposures (the bins' lower bounds, log scale), one curve per size.
func figKnowledge(ps []store.KnowledgeProbe) (*figure, string, error) {
	if len(ps) == 0 {
		return nil, "the store has no knowledge probes", nil
	}
	f := newFigure("PT bases: facts known by exposures", 1, 1)
	p := newPanel("p(value | cloze) > 0.5, one curve per size", "exposures per fact (bin's lower bound, log scale)", "fraction of facts known")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	var sizes []string
	bySize := map[string][]knowledgeRow{}
	for _, r := range knowledgeRows(ps) {
		if r.lo < 1 { // "all", and the 0-0 bin a log axis cannot show
			continue
		}
		if _, ok := bySize[r.size]; !ok {
			sizes = append(sizes, r.size)
		}
		bySize[r.size] = append(bySize[r.size], r)
	}
	if len(sizes) == 0 {
		return nil, "no fact was stated in pretraining (every fact has 0 exposures)", nil
	}
	palette := append([]string{"linear", "task_arithmetic", "ties", "dare_ties"}, "")
	for i, sz := range sizes {
		rows := bySize[sz]
		col := methodColor(palette[i%4], palette[:4])
		if i >= 4 {
			col = extraColors[(i-4)%len(extraColors)]
		}
		s := series{label: fmt.Sprintf("size %s (%s params)", sz, humanCount(rows[0].params)), color: col, glyph: glyphs[i%len(glyphs)]}
		for _, r := range rows {
			s.pts = append(s.pts, point{x: float64(r.lo), y: r.known, ci: math.NaN()})
		}
		th, err := addSeries(p, s)
		if err != nil {
			return nil, "", err
		}
		f.addLegend(s.label, th)
	}
	// A log axis needs a positive range: with one bin (a short corpus)
	// the data range is one point, which the axis would pad to include 0.
	if p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min/2, p.X.Max*2
	}
	f.panels[0][0] = p
	return f, "", nil
}
