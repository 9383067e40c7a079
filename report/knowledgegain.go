package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"mergescale/store"

	"gonum.org/v1/plot"
)

// The knowledge analysis of a suite-5 study (issue 24): gain kept on
// knowledge tasks (whose answers need a fact of the base's memory) against
// in-context tasks (the control, on names pretraining never mentions), by
// size; and on the instances whose fact the base knows against those it
// does not (the "Will it merge?" split). A task is a knowledge task when
// the store has scores of it by known flag (table knowledge_scores). Gain
// kept is the report's: Σ_c (merged_c − base_c) ÷ Σ_c (expert_c − base_c)
// over the merge's categories, each term a mean over the category's tasks,
// here only over the tasks of one kind and, for a known flag, over that
// flag's instances. A merge, its experts and its base share one base model,
// so the known split is the same instances for all three.

// Task kinds and known flags of the knowledge analysis.
const (
	kindKnowledge = "knowledge"
	kindInContext = "in_context"
	knownAll      = "all"
)

// KindKnown names one slice of the knowledge analysis: a task kind
// (knowledge or in_context) and a known flag (yes, no, or all).
type KindKnown struct{ Kind, Known string }

// kindSlices are the slices the analysis reports, in table order.
var kindSlices = []KindKnown{
	{kindKnowledge, knownAll}, {kindKnowledge, store.KnownYes}, {kindKnowledge, store.KnownNo}, {kindInContext, knownAll},
}

// GainPair is gain kept in accuracy and in option cross-entropy (NaN
// where undefined).
type GainPair struct{ Acc, CE float64 }

// knownScore is a task's test accuracy and option_ce over one known
// flag's instances.
type knownScore struct{ acc, ce float64 }

// kindView returns the scores of s (one model's test scores by task, of
// metric accuracy or option_ce) restricted to the tasks of one kind and,
// for a known flag, with each value replaced by its value over that flag's
// instances (a task without such instances is left out).
func (d *storeData) kindView(s map[string]store.Score, sl KindKnown, ce bool) map[string]store.Score {
	if s == nil {
		return nil
	}
	out := map[string]store.Score{}
	for t, sc := range s {
		if d.knowledgeTasks[t] != (sl.Kind == kindKnowledge) {
			continue
		}
		if sl.Known != knownAll {
			ks, ok := d.kscores[sc.ModelID][t][sl.Known]
			if !ok {
				continue
			}
			sc.Value = ks.acc
			if ce {
				sc.Value = ks.ce
			}
		}
		out[t] = sc
	}
	return out
}

// kindGains returns a chosen merge's gain kept on every slice of the
// knowledge analysis; nil for a store without knowledge tasks.
func (a *aggregator) kindGains(m store.Merge, target map[string]store.Score, experts, base func(string) map[string]store.Score,
	ceTarget map[string]store.Score, ceExperts, ceBase func(string) map[string]store.Score) map[KindKnown]GainPair {
	if len(a.d.knowledgeTasks) == 0 {
		return nil
	}
	d := a.d
	out := map[KindKnown]GainPair{}
	for _, sl := range kindSlices {
		view := func(f func(string) map[string]store.Score, ce bool) func(string) map[string]store.Score {
			return func(c string) map[string]store.Score { return d.kindView(f(c), sl, ce) }
		}
		t := d.kindView(target, sl, false)
		// The merge's categories that have a held-in task of this kind.
		var cats []string
		for _, c := range m.Categories {
			for _, s := range t {
				if s.Heldness == store.HeldIn && s.Category == c {
					cats = append(cats, c)
					break
				}
			}
		}
		g := GainPair{Acc: math.NaN(), CE: math.NaN()}
		if len(cats) > 0 {
			g.Acc = gainKept(t, cats, view(experts, false), view(base, false))
			if ceTarget != nil && ceExperts != nil {
				g.CE = gainKeptCE(d.kindView(ceTarget, sl, true), cats, view(ceExperts, true), view(ceBase, true))
			}
		}
		out[sl] = g
	}
	return out
}

// KnowledgeGainRow is one row of table_knowledge_gain: a cell's gain kept
// on one slice, averaged over its subsets.
type KnowledgeGainRow struct {
	Size, BaseType, Method string
	K                      int
	Kind, Known            string
	GainKept, GainKeptCE   Stat
}

// knowledgeGainRows lists the slices of every cell of r (one variant),
// in cell order, then slice order.
func knowledgeGainRows(r *Results) []KnowledgeGainRow {
	var out []KnowledgeGainRow
	for _, c := range r.Cells {
		if !hasKinds(c.Subsets) {
			continue
		}
		for _, sl := range kindSlices {
			acc, ce := make([]float64, 0, len(c.Subsets)), make([]float64, 0, len(c.Subsets))
			for _, s := range c.Subsets {
				g := s.Kinds[sl]
				if isNum(g.Acc) {
					acc = append(acc, g.Acc)
				}
				if isNum(g.CE) {
					ce = append(ce, g.CE)
				}
			}
			out = append(out, KnowledgeGainRow{Size: c.Size, BaseType: c.BaseType, Method: c.Method, K: c.K, Kind: sl.Kind, Known: sl.Known,
				GainKept: newStat(acc), GainKeptCE: newStat(ce)})
		}
	}
	return out
}

func hasKinds(subs []SubsetResult) bool {
	for _, s := range subs {
		if s.Kinds != nil {
			return true
		}
	}
	return false
}

// knowledgeGainTable is table_knowledge_gain (tidy: one row per size, base,
// method, k, task kind and known flag; gain kept and gain kept (CE) are
// means over the cell's subsets, n the subsets with a gain kept).
func knowledgeGainTable(r *Results) *Table {
	b := newTable("table_knowledge_gain", "Gain kept on knowledge and in-context tasks, and on facts the base knows (yes) or not (no): mean over subsets",
		textCol("size", "size"), textCol("base", "base"), textCol("method", "method"), textCol("k", "k"),
		textCol("tasks", "task_kind"), textCol("known", "known"),
		textCol("gain kept", "gain_kept"), textCol("gain kept (CE)", "gain_kept_ce"), textCol("n", "n"))
	for _, row := range knowledgeGainRows(r) {
		b.add(row.Size, row.BaseType, row.Method, row.K, row.Kind, row.Known,
			dual{show: stat(row.GainKept), csv: []string{csvNum(row.GainKept.Mean)}},
			dual{show: stat(row.GainKeptCE), csv: []string{csvNum(row.GainKeptCE.Mean)}},
			row.GainKept.N)
	}
	return b.t
}

// kindPairs returns the chosen merges of (base, size, method) at
// k ∈ pairedKs by pair, with their gain kept on one slice.
func (r *Results) kindPairs(base, size, method string, sl KindKnown, ce bool) pairs {
	return r.pairSubsets(base, size, method, func(s SubsetResult) float64 {
		g := s.Kinds[sl]
		if ce {
			return g.CE
		}
		return g.Acc
	})
}

// KnowledgeTarget is one of issue 24's targets, estimated from paired
// differences of gain kept (95% paired-t interval) and judged on the
// interval: Supported when it lies above 0.
type KnowledgeTarget struct {
	Target, BaseType, Method, Size, Measure string
	Estimate                                Estimate
	Verdict                                 Verdict
}

// knowledgeTargets estimates the targets for every base and method of r
// (one variant), on gain kept in accuracy and in cross-entropy:
//   - "knowledge gain rises with size": gain kept on knowledge tasks,
//     largest − smallest size;
//   - "… more than in-context": that difference minus the in-context
//     tasks' (a difference of paired differences);
//   - "known > unknown", per size: gain kept on known − on unknown facts.
func knowledgeTargets(r *Results) []KnowledgeTarget {
	var sizes, methods, bases []string
	seen := map[string]bool{}
	for _, c := range r.Cells {
		if !hasKinds(c.Subsets) {
			continue
		}
		for _, x := range []struct {
			list *[]string
			v    string
		}{{&sizes, c.Size}, {&methods, c.Method}, {&bases, c.BaseType}} {
			if k := fmt.Sprintf("%p/%s", x.list, x.v); !seen[k] {
				seen[k] = true
				*x.list = append(*x.list, x.v)
			}
		}
	}
	if len(sizes) == 0 {
		return nil
	}
	// Cells are ordered by base, size (ascending parameters), method, k.
	var order []string
	for _, s := range r.Sizes {
		if slices.Contains(sizes, s.Name) {
			order = append(order, s.Name)
		}
	}
	small, large := order[0], order[len(order)-1]
	know, ctx := KindKnown{kindKnowledge, knownAll}, KindKnown{kindInContext, knownAll}
	var out []KnowledgeTarget
	add := func(target, base, method, size, measure string, e Estimate) {
		out = append(out, KnowledgeTarget{Target: target, BaseType: base, Method: method, Size: size, Measure: measure, Estimate: e, Verdict: e.verdict(1)})
	}
	for _, base := range bases {
		for _, method := range methods {
			for _, ce := range []bool{false, true} {
				measure := "gain_kept"
				if ce {
					measure = "gain_kept_ce"
				}
				if small != large {
					dk := diffs(r.kindPairs(base, large, method, know, ce), r.kindPairs(base, small, method, know, ce))
					dc := diffs(r.kindPairs(base, large, method, ctx, ce), r.kindPairs(base, small, method, ctx, ce))
					span := large + " − " + small
					add("knowledge gain rises with size", base, method, span, measure, pairedEstimate(dk))
					add("… and more than in-context gain", base, method, span, measure, pairedEstimate(diffs(dk, dc)))
				}
				for _, size := range order {
					yes := r.kindPairs(base, size, method, KindKnown{kindKnowledge, store.KnownYes}, ce)
					no := r.kindPairs(base, size, method, KindKnown{kindKnowledge, store.KnownNo}, ce)
					add("known facts keep more gain than unknown", base, method, size, measure, pairedEstimate(diffs(yes, no)))
				}
			}
		}
	}
	return out
}

// knowledgeTargetsTable is table_knowledge_targets: every target's paired
// estimate, its 95% interval and verdict.
func knowledgeTargetsTable(r *Results) *Table {
	b := newTable("table_knowledge_targets", "Knowledge targets (issue 24): paired differences of gain kept over (k, subset), k ∈ {2, 4, 6}; supported when the 95% CI is above 0",
		textCol("target", "target"), textCol("base", "base"), textCol("method", "method"), textCol("size", "size"), textCol("measure", "measure"),
		textCol("estimate", "estimate", "ci_low", "ci_high", "n"), textCol("verdict", "verdict"))
	for _, t := range knowledgeTargets(r) {
		e := t.Estimate
		b.add(t.Target, t.BaseType, t.Method, t.Size, t.Measure,
			dual{show: e.String(), csv: []string{csvNum(e.Value), csvNum(e.Lo), csvNum(e.Hi), strconv.Itoa(e.N)}}, string(t.Verdict))
	}
	return b.t
}

// KnowledgeGuard is one (base, size) of the guards the knowledge targets
// count under: the experts' raw accuracy on their own category (over all
// its tasks, and over its knowledge and its in-context tasks apart), their
// gain over the base, and how far the base is from chance on the held-out
// tasks that need no fact (the largest |accuracy − chance|, and on which
// task).
type KnowledgeGuard struct {
	BaseType, Size                         string
	ExpertAcc, ExpertGain                  Stat
	ExpertAccKnowledge, ExpertAccInContext Stat
	HeldOutDev                             float64
	HeldOutTask                            string
}

// knowledgeGuards computes the guards of the default variant's experts
// and bases; nil for a store without knowledge tasks.
func (a *aggregator) knowledgeGuards() []KnowledgeGuard {
	d, r := a.d, a.r
	if len(d.knowledgeTasks) == 0 || len(r.Variants) == 0 {
		return nil
	}
	type acc struct{ all, gain, know, ctx []float64 }
	by := map[sizeKey]*acc{}
	bases := map[sizeKey]string{}
	var keys []sizeKey
	for _, b := range r.Baselines {
		if b.Variant != r.Variants[0].JSON {
			continue
		}
		k := sizeKey{b.BaseType, b.Size}
		if by[k] == nil {
			by[k] = &acc{}
			keys = append(keys, k)
		}
		switch b.Kind {
		case store.KindBase:
			bases[k] = b.ModelID
		case store.KindExpert:
			x := by[k]
			s := d.scores[b.ModelID]
			x.all = append(x.all, rawCategory(s, store.HeldIn, b.Category, nil))
			x.gain = append(x.gain, b.Gain)
			if v := rawCategory(d.kindView(s, KindKnown{kindKnowledge, knownAll}, false), store.HeldIn, b.Category, nil); isNum(v) {
				x.know = append(x.know, v)
			}
			if v := rawCategory(d.kindView(s, KindKnown{kindInContext, knownAll}, false), store.HeldIn, b.Category, nil); isNum(v) {
				x.ctx = append(x.ctx, v)
			}
		}
	}
	var out []KnowledgeGuard
	for _, k := range keys {
		x := by[k]
		g := KnowledgeGuard{BaseType: k.base, Size: k.size, ExpertAcc: newStat(x.all), ExpertGain: newStat(x.gain),
			ExpertAccKnowledge: newStat(x.know), ExpertAccInContext: newStat(x.ctx), HeldOutDev: math.NaN()}
		for _, t := range sortedTasks(d.scores[bases[k]]) {
			s := d.scores[bases[k]][t]
			if s.Heldness != store.HeldOut || d.knowledgeTasks[t] {
				continue
			}
			if dev := math.Abs(s.Value - s.Chance); !isNum(g.HeldOutDev) || dev > g.HeldOutDev {
				g.HeldOutDev, g.HeldOutTask = dev, t
			}
		}
		out = append(out, g)
	}
	return out
}

// sortedTasks returns the tasks of s in name order.
func sortedTasks(s map[string]store.Score) []string {
	out := make([]string, 0, len(s))
	for t := range s {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// knowledgeGuardsTable is table_knowledge_guards.
func knowledgeGuardsTable(r *Results) *Table {
	b := newTable("table_knowledge_guards", "Guards of the knowledge targets: experts' raw accuracy on their own category (all tasks; knowledge tasks; in-context tasks), their gain over the base, and the base's largest |accuracy − chance| on a held-out task that needs no fact",
		textCol("base", "base"), textCol("size", "size"), statCol("expert accuracy", "expert_acc"), statCol("expert gain", "expert_gain"),
		statCol("on knowledge tasks", "expert_acc_knowledge"), statCol("on in-context tasks", "expert_acc_in_context"),
		textCol("base, largest distance from chance (held-out)", "heldout_dev"), textCol("on task", "heldout_task"))
	for _, g := range r.KnowledgeGuards {
		b.add(g.BaseType, g.Size, g.ExpertAcc, g.ExpertGain, g.ExpertAccKnowledge, g.ExpertAccInContext, g.HeldOutDev, g.HeldOutTask)
	}
	return b.t
}

// figKnowledgeGain is fig_knowledge_gain: gain kept by size, one panel per
// base type (accuracy on top, cross-entropy below), one curve per slice of
// the knowledge analysis, each point the mean ± 95% CI over the (k, subset)
// pairs of pairedKs of the report's method. Render draws it for stores
// with knowledge-task scores by known flag only.
func figKnowledgeGain(r *Results, method string) (*figure, string, error) {
	if !r.hasMethod(method) {
		return nil, noMethod(method), nil
	}
	f := newFigure(fmt.Sprintf("Gain kept by task kind and known flag, %s", methodLabel(method)), 2, len(r.BaseTypes))
	// The Okabe–Ito colours of the four methods, as four distinct colours.
	palette := []string{"task_arithmetic", "linear", "ties", "dare_ties"}
	styles := []struct {
		sl    KindKnown
		label string
	}{
		{KindKnown{kindKnowledge, knownAll}, "knowledge tasks"},
		{KindKnown{kindInContext, knownAll}, "in-context tasks"},
		{KindKnown{kindKnowledge, store.KnownYes}, "knowledge tasks, facts the base knows"},
		{KindKnown{kindKnowledge, store.KnownNo}, "knowledge tasks, facts it does not"},
	}
	for j, b := range r.BaseTypes {
		for i, ce := range []bool{false, true} {
			y := "gain kept (accuracy), mean ± 95% CI"
			if ce {
				y = "gain kept (option CE), mean ± 95% CI"
			}
			p := newPanel(baseLabel(b), "parameters (log scale)", y)
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
			for si, st := range styles {
				s := series{label: st.label, color: methodColor(palette[si%len(palette)], palette), glyph: glyphs[si%len(glyphs)]}
				for _, sz := range r.Sizes {
					ps := pairedStat(r.kindPairs(b, sz.Name, method, st.sl, ce))
					if ps.Valid() && sz.Params > 0 {
						s.pts = append(s.pts, point{x: float64(sz.Params) * (1 + 0.04*float64(si-1)), y: ps.Mean, ci: ps.CI})
					}
				}
				th, err := addSeries(p, s)
				if err != nil {
					return nil, "", err
				}
				f.addLegend(s.label, th)
			}
			if p.X.Min == p.X.Max {
				p.X.Min, p.X.Max = p.X.Min/2, p.X.Max*2
			}
			f.panels[i][j] = p
		}
	}
	return f, "", nil
}

// knowledgeMarkdown introduces the knowledge tables in report.md.
const knowledgeMarkdown = "\n## Knowledge and merging\n\n" +
	"A suite-5 study has knowledge tasks, whose answers need a fact the base may have memorized in pretraining, and " +
	"in-context tasks on names pretraining never mentions (the control). Every base is probed over all facts of the knowledge " +
	"base (table knowledge); a fact is *known* when the base gives its value probability > 0.5 after the fact's cloze. " +
	"Knowledge tasks are scored apart on the instances whose fact the model's base knows (yes) and does not (no); a merge, " +
	"its experts and its base share that base, so the split is the same instances for all three. Gain kept is computed as " +
	"above, over the tasks of one kind (and one known flag) in the merged categories that have such tasks " +
	"(table_knowledge_gain). The targets (table_knowledge_targets) are paired differences of gain kept over the same " +
	"(k, subset) pairs as the findings, with paired-t 95% intervals: *supported* when the interval lies above 0. They count " +
	"only under the guards of table_knowledge_guards: experts at 0.90 raw accuracy on their own category and a gain of 0.45 " +
	"over the base at every size from s up, and the base within 0.03 of chance on every held-out task that needs no fact. " +
	"Where the experts gain little over their base on the knowledge tasks, the ratio's denominator is near 0 and gain kept " +
	"swings far outside [0, 1]: such values say the measure is undefined there, not that the merge kept more or less.\n"
