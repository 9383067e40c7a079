package report

import (
	"fmt"
	"math"
	"mergescale/store"
	"slices"
	"strconv"
	"strings"
)

// Thresholds of the self-check, "Can this run answer the questions?": what
// a run needs for its findings to mean something. Each is compared with a
// measure of the default variant; see Selfcheck.
const (
	// checkMethod is the method the self-check measures.
	checkMethod = "task_arithmetic"
	// checkK is the k of the headline cell (IT base, largest size).
	checkK = 8

	minHeldInNorm      = 0.85 // normalized held-in of the headline cell
	minHeldInRaw       = 0.80 // raw held-in of the headline cell
	minGainKept        = 0.70 // gain kept of the headline cell
	minITOverChance    = 0.10 // IT base zero-shot held-out minus chance, largest size
	minMTOverBase      = 0.08 // multitask minus its base, raw held-out, two largest sizes
	minExpertRaw       = 0.90 // experts' raw accuracy on their own category, two largest sizes
	minExpertGain      = 0.45 // experts' raw gain over their base on their category, two largest sizes
	maxCIHeldIn        = 0.08 // largest 95% CI half-width of normalized held-in, k ∈ checkCIKs
	maxCIHeldOut       = 0.05 // largest 95% CI half-width of normalized held-out, k ∈ checkCIKs
	maxPairedCIHeldIn  = 0.03 // largest paired 95% CI half-width of normalized held-in (IT − PT; largest − smallest size)
	maxPairedCIHeldOut = 0.02 // the same for normalized held-out
	minParamSpan       = 100  // parameters of the largest size ÷ the smallest
	mdeAlpha           = 0.05 // two-sided significance level of the minimum detectable difference
	mdePower           = 0.80 // power of the minimum detectable difference
	checkLargestSizes  = 2    // "the two largest sizes"
)

// checkCIKs are the k of the confidence-interval checks and of the MDE.
var checkCIKs = []int{2, 4, 6}

// Check is one measure of the self-check and whether it meets its
// threshold.
type Check struct {
	Measure   string
	Value     float64 // NaN when the measure is n/a
	AtLeast   bool    // the threshold is a minimum (else a maximum)
	Threshold float64
	Times     bool   // show the value as a ratio "123.4×"
	Basis     string // what the value is computed over
	Why       string // why the measure is n/a
	Met       bool
}

// MDE is the minimum detectable difference of a measure, two-sided
// α = mdeAlpha, power mdePower. Unpaired, between two cells of the same
// (size, base, k): MDE = (t(1 − α/2, ν) + t(power, ν)) · s · √(2/n),
// ν = 2(n − 1). Paired, between two series of cells compared over the same
// (k, subset) pairs: MDE = (t(1 − α/2, ν) + t(power, ν)) · s_d ÷ √n,
// ν = n − 1, s_d the standard deviation of the paired differences.
type MDE struct {
	Measure string
	Paired  bool    // the paired MDE
	Value   float64 // NaN when n/a
	// SD is s, the standard deviation over subsets pooled over the cells,
	// or, paired, s_d pooled over the comparisons.
	SD    float64
	N     int    // n: subsets per cell, or pairs per comparison (the fewest pooled)
	Cells int    // cells (paired: comparisons) pooled
	Why   string // why it is n/a
}

// Name is the MDE's row in the self-check table.
func (m MDE) Name() string {
	if m.Paired {
		return "paired minimum detectable difference, " + m.Measure
	}
	return "minimum detectable difference, " + m.Measure
}

// SelfcheckResult is the self-check of one run.
type SelfcheckResult struct {
	Checks []Check
	MDE    []MDE
}

// Met counts the checks met.
func (s SelfcheckResult) Met() int {
	n := 0
	for _, c := range s.Checks {
		if c.Met {
			n++
		}
	}
	return n
}

// Selfcheck measures whether the run (r: one variant's results, normally
// the default's) can answer the paper's questions: the headline merge is
// good enough to compare, the bases and experts learned what they should,
// the confidence intervals are narrow enough, those of the paired
// comparisons too (IT − PT at the two largest sizes, the largest minus the
// smallest size per base, over (k, subset) pairs of k ∈ pairedKs), the
// sizes span enough; and the smallest differences it can detect, unpaired
// and paired. A measure whose cells are absent is
// n/a, with the reason, and not met.
func Selfcheck(r *Results) SelfcheckResult {
	var out SelfcheckResult
	add := func(c Check) {
		if c.Why == "" && !isNum(c.Value) {
			c.Why = "no value in the store"
		}
		if c.Why != "" {
			c.Value = math.NaN()
		} else if c.AtLeast {
			c.Met = c.Value >= c.Threshold
		} else {
			c.Met = c.Value <= c.Threshold
		}
		out.Checks = append(out.Checks, c)
	}
	var largest string
	if len(r.Sizes) > 0 {
		largest = r.Sizes[len(r.Sizes)-1].Name
	}
	top := r.largestSizes(checkLargestSizes)
	topLabel := strings.Join(top, ", ")

	// The headline cell.
	head, ok := r.Cell("it", largest, checkMethod, checkK)
	headWhy := ""
	switch {
	case largest == "":
		headWhy = "the store has no models"
	case !ok:
		headWhy = fmt.Sprintf("no IT %s cell with k = %d at size %s", methodLabel(checkMethod), checkK, largest)
	}
	headBasis := fmt.Sprintf("IT, k = %d, %s, size %s", checkK, methodLabel(checkMethod), largest)
	add(Check{Measure: "normalized held-in", Value: head.HeldIn.Mean, AtLeast: true, Threshold: minHeldInNorm, Basis: headBasis, Why: headWhy})
	add(Check{Measure: "raw held-in", Value: head.RawHeldIn.Mean, AtLeast: true, Threshold: minHeldInRaw, Basis: headBasis, Why: headWhy})
	add(Check{Measure: "gain kept", Value: head.GainKept.Mean, AtLeast: true, Threshold: minGainKept, Basis: headBasis, Why: headWhy})

	// The IT base's zero-shot held-out above chance.
	itBase, ok := r.baseline("it", largest, store.KindBase)
	why := ""
	if !ok {
		why = fmt.Sprintf("no IT base at size %s", largest)
	}
	add(Check{Measure: "IT base zero-shot held-out minus chance (raw)", Value: itBase.Scores.RawHeldOut - itBase.Scores.ChanceHeldOut,
		AtLeast: true, Threshold: minITOverChance, Basis: "size " + largest, Why: why})

	// The multitask model's held-out gain over its base.
	var gains []float64
	for _, sz := range top {
		for _, b := range []string{"pt", "it"} {
			mt, ok1 := r.baseline(b, sz, store.KindMultitask)
			bs, ok2 := r.baseline(b, sz, store.KindBase)
			if ok1 && ok2 && isNum(mt.Scores.RawHeldOut-bs.Scores.RawHeldOut) {
				gains = append(gains, mt.Scores.RawHeldOut-bs.Scores.RawHeldOut)
			}
		}
	}
	c := Check{Measure: "multitask minus its base, held-out raw (smallest)", AtLeast: true, Threshold: minMTOverBase,
		Basis: fmt.Sprintf("%d of %d (size, base) at sizes %s", len(gains), 2*len(top), topLabel)}
	if len(gains) == 0 {
		c.Why = fmt.Sprintf("no multitask model with its base at sizes %s", orNone(topLabel))
	} else {
		c.Value = slices.Min(gains)
	}
	add(c)

	// The experts.
	var raws, egains []float64
	for _, b := range r.Baselines {
		if b.Kind == store.KindExpert && slices.Contains(top, b.Size) {
			if isNum(b.Scores.RawHeldIn) {
				raws = append(raws, b.Scores.RawHeldIn)
			}
			if isNum(b.Gain) {
				egains = append(egains, b.Gain)
			}
		}
	}
	why = ""
	if len(raws) == 0 {
		why = fmt.Sprintf("no expert scores at sizes %s", orNone(topLabel))
	}
	add(Check{Measure: "experts' raw accuracy on their own category (mean)", Value: mean(raws), AtLeast: true, Threshold: minExpertRaw,
		Basis: fmt.Sprintf("%d experts at sizes %s", len(raws), topLabel), Why: why})
	why = ""
	if len(egains) == 0 {
		why = fmt.Sprintf("no expert with its base's scores at sizes %s", orNone(topLabel))
	}
	add(Check{Measure: "experts' gain over their base on their category, raw (mean)", Value: mean(egains), AtLeast: true,
		Threshold: minExpertGain, Basis: fmt.Sprintf("%d experts at sizes %s", len(egains), topLabel), Why: why})

	// Confidence intervals over subsets.
	cells := r.mdeCells(top)
	ks := joinInts(checkCIKs)
	for _, m := range []struct {
		name string
		max  float64
		get  func(Cell) Stat
	}{
		{"largest 95% CI half-width, normalized held-in", maxCIHeldIn, func(c Cell) Stat { return c.HeldIn }},
		{"largest 95% CI half-width, normalized held-out", maxCIHeldOut, func(c Cell) Stat { return c.HeldOut }},
	} {
		var cis []float64
		for _, c := range cells {
			if s := m.get(c); s.Valid() && isNum(s.CI) {
				cis = append(cis, s.CI)
			}
		}
		c := Check{Measure: m.name, Threshold: m.max,
			Basis: fmt.Sprintf("%d %s cells, k ∈ {%s}, sizes %s", len(cis), methodLabel(checkMethod), ks, topLabel)}
		if len(cis) == 0 {
			c.Why = fmt.Sprintf("no %s cell with at least two subsets at k ∈ {%s} and sizes %s", methodLabel(checkMethod), ks, orNone(topLabel))
		} else {
			c.Value = slices.Max(cis)
		}
		add(c)
	}

	// Confidence intervals of the paired comparisons.
	type measure struct {
		name  string
		max   float64
		comps []comparison
	}
	measures := []measure{
		{"normalized held-in", maxPairedCIHeldIn, r.pairedComparisons(top, heldIn)},
		{"normalized held-out", maxPairedCIHeldOut, r.pairedComparisons(top, heldOut)},
	}
	for _, kind := range []string{comparisonBases, comparisonSizes} {
		for _, m := range measures {
			var hws []float64
			var labels []string
			for _, c := range m.comps {
				if e := pairedEstimate(c.d); c.kind == kind && e.HasCI() {
					hws = append(hws, e.HalfWidth())
					labels = append(labels, fmt.Sprintf("%s (n = %d)", c.label, e.N))
				}
			}
			c := Check{Measure: "paired 95% CI half-width, " + kind + ", " + m.name, Threshold: m.max,
				Basis: fmt.Sprintf("largest of %s; %s, (k, subset) pairs of %s", orNone(strings.Join(labels, ", ")),
					methodLabel(checkMethod), pairedKsLabel())}
			if len(hws) == 0 {
				c.Why = fmt.Sprintf("no %s comparison of %s merges with at least two (k, subset) pairs of %s",
					kind, methodLabel(checkMethod), pairedKsLabel())
			} else {
				c.Value = slices.Max(hws)
			}
			add(c)
		}
	}

	// The span of sizes.
	c = Check{Measure: "parameter span, largest ÷ smallest size", AtLeast: true, Threshold: minParamSpan, Times: true}
	if len(r.Sizes) < 2 || r.Sizes[0].Params <= 0 {
		c.Why = fmt.Sprintf("needs two sizes with parameter counts (the store has %d)", len(r.Sizes))
	} else {
		lo, hi := r.Sizes[0], r.Sizes[len(r.Sizes)-1]
		c.Value = float64(hi.Params) / float64(lo.Params)
		c.Basis = fmt.Sprintf("%s ÷ %s", hi.Name, lo.Name)
	}
	add(c)

	out.MDE = []MDE{
		mde("normalized held-in", cells, func(c Cell) Stat { return c.HeldIn }),
		mde("normalized held-out", cells, func(c Cell) Stat { return c.HeldOut }),
		pairedMDE(measures[0].name, measures[0].comps),
		pairedMDE(measures[1].name, measures[1].comps),
	}
	return out
}

// The kinds of paired comparison of the self-check.
const (
	comparisonBases = "IT − PT"
	comparisonSizes = "largest − smallest size"
)

// comparison is one paired comparison of the self-check: its differences
// by (k, subset).
type comparison struct {
	kind, label string
	d           pairs
}

// pairedComparisons are the self-check's paired comparisons of task
// arithmetic merges over (k, subset) pairs of k ∈ pairedKs: IT − PT at each
// of the sizes given (the two largest), and the largest minus the smallest
// size for each base type. Comparisons without pairs are left out.
func (r *Results) pairedComparisons(sizes []string, get func(Scores) float64) []comparison {
	var out []comparison
	for _, sz := range sizes {
		d := diffs(r.pairValues("it", sz, checkMethod, get), r.pairValues("pt", sz, checkMethod, get))
		if len(d) > 0 {
			out = append(out, comparison{comparisonBases, "IT − PT at " + sz, d})
		}
	}
	if len(r.Sizes) >= 2 {
		small, large := r.Sizes[0].Name, r.Sizes[len(r.Sizes)-1].Name
		for _, b := range r.BaseTypes {
			d := diffs(r.pairValues(b, large, checkMethod, get), r.pairValues(b, small, checkMethod, get))
			if len(d) > 0 {
				out = append(out, comparison{comparisonSizes, fmt.Sprintf("%s %s − %s", strings.ToUpper(b), large, small), d})
			}
		}
	}
	return out
}

// pairedMDE computes the paired minimum detectable difference from the
// standard deviations of the comparisons' differences, pooled:
// s_d² = Σ (nᵢ − 1) sᵢ² ÷ Σ (nᵢ − 1) over comparisons with nᵢ ≥ 2; n is the
// fewest pairs of them.
func pairedMDE(measure string, comps []comparison) MDE {
	out := MDE{Measure: measure, Paired: true, Value: math.NaN(), SD: math.NaN()}
	var ss, df float64
	for _, c := range comps {
		st := pairedStat(c.d)
		if st.N < 2 || !isNum(st.SD) {
			continue
		}
		ss += float64(st.N-1) * st.SD * st.SD
		df += float64(st.N - 1)
		if out.Cells == 0 || st.N < out.N {
			out.N = st.N
		}
		out.Cells++
	}
	if out.Cells == 0 {
		out.Why = "no paired comparison (IT − PT at the two largest sizes, largest − smallest size) with at least two (k, subset) pairs of " + pairedKsLabel()
		return out
	}
	out.SD = math.Sqrt(ss / df)
	n := float64(out.N)
	out.Value = (tQuantile(1-mdeAlpha/2, n-1) + tQuantile(mdePower, n-1)) * out.SD / math.Sqrt(n)
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// largestSizes returns the names of the n largest sizes, ascending.
func (r *Results) largestSizes(n int) []string {
	var out []string
	for i := max(0, len(r.Sizes)-n); i < len(r.Sizes); i++ {
		out = append(out, r.Sizes[i].Name)
	}
	return out
}

// baseline returns the non-merged model of a kind for (base, size).
func (r *Results) baseline(base, size, kind string) (Baseline, bool) {
	for _, b := range r.Baselines {
		if b.BaseType == base && b.Size == size && b.Kind == kind {
			return b, true
		}
	}
	return Baseline{Scores: nanScores(), Gain: math.NaN()}, false
}

// mdeCells are the cells of the confidence-interval checks and the MDE:
// task arithmetic, k ∈ checkCIKs, the given sizes, every base.
func (r *Results) mdeCells(sizes []string) []Cell {
	var out []Cell
	for _, c := range r.Cells {
		if c.Method == checkMethod && slices.Contains(checkCIKs, c.K) && slices.Contains(sizes, c.Size) {
			out = append(out, c)
		}
	}
	return out
}

// mde computes the minimum detectable difference of a measure from the
// cells' standard deviations over subsets, pooled: s² = Σ (nᵢ − 1) sᵢ² ÷
// Σ (nᵢ − 1), over cells with nᵢ ≥ 2; n is the fewest subsets of them.
func mde(measure string, cells []Cell, get func(Cell) Stat) MDE {
	out := MDE{Measure: measure, Value: math.NaN(), SD: math.NaN()}
	var ss, df float64
	for _, c := range cells {
		s := get(c)
		if s.N < 2 || !isNum(s.SD) {
			continue
		}
		ss += float64(s.N-1) * s.SD * s.SD
		df += float64(s.N - 1)
		if out.Cells == 0 || s.N < out.N {
			out.N = s.N
		}
		out.Cells++
	}
	if out.Cells == 0 {
		out.Why = "no " + methodLabel(checkMethod) + " cell with at least two subsets at k ∈ {" + joinInts(checkCIKs) + "} and the two largest sizes"
		return out
	}
	out.SD = math.Sqrt(ss / df)
	n := float64(out.N)
	nu := 2 * (n - 1)
	out.Value = (tQuantile(1-mdeAlpha/2, nu) + tQuantile(mdePower, nu)) * out.SD * math.Sqrt(2/n)
	return out
}

// formatCheck renders a check's value: "n/a (why)" when absent.
func formatCheck(c Check) string {
	if c.Why != "" {
		return "n/a (" + c.Why + ")"
	}
	if c.Times {
		return strconv.FormatFloat(c.Value, 'f', 1, 64) + "×"
	}
	return num(c.Value)
}

func formatThreshold(c Check) string {
	op := "≤"
	if c.AtLeast {
		op = "≥"
	}
	if c.Times {
		return op + " " + strconv.FormatFloat(c.Threshold, 'f', 0, 64) + "×"
	}
	return op + " " + num(c.Threshold)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// selfcheckTable is the self-check's checks and minimum detectable
// differences.
func selfcheckTable(s SelfcheckResult) *Table {
	b := newTable("table_selfcheck", "Can this run answer the questions? (default variant; thresholds in report/selfcheck.go)",
		textCol("measure", "measure"), textCol("value", "value"), textCol("threshold", "comparison", "threshold"),
		textCol("met", "met"), textCol("over", "basis", "why"))
	for _, c := range s.Checks {
		cmp := "<="
		if c.AtLeast {
			cmp = ">="
		}
		b.add(c.Measure, dual{formatCheck(c), []string{csvNum(c.Value)}},
			dual{formatThreshold(c), []string{cmp, csvNum(c.Threshold)}},
			dual{yesNo(c.Met), []string{strconv.FormatBool(c.Met)}},
			dual{c.Basis, []string{c.Basis, c.Why}})
	}
	for _, m := range s.MDE {
		val, basis := "n/a ("+m.Why+")", ""
		switch {
		case m.Why != "":
		case m.Paired:
			val = num(m.Value)
			basis = fmt.Sprintf("s_d = %s pooled over %d paired comparisons, n = %d pairs", num(m.SD), m.Cells, m.N)
		default:
			val = num(m.Value)
			basis = fmt.Sprintf("s = %s pooled over %d cells, n = %d subsets", num(m.SD), m.Cells, m.N)
		}
		b.add(m.Name(), dual{val, []string{csvNum(m.Value)}},
			dual{"–", []string{"", ""}}, dual{"–", []string{""}}, dual{basis, []string{basis, m.Why}})
	}
	return b.t
}

// mdeSentences writes the values of the paired (or unpaired) MDEs.
func mdeSentences(b *strings.Builder, ms []MDE, paired bool) {
	for _, m := range ms {
		switch {
		case m.Paired != paired:
		case m.Why != "":
			fmt.Fprintf(b, " %s: n/a (%s).", capital(m.Measure), m.Why)
		case paired:
			fmt.Fprintf(b, " %s: %s (s_d = %s, n = %d).", capital(m.Measure), num(m.Value), num(m.SD), m.N)
		default:
			fmt.Fprintf(b, " %s: %s (s = %s, n = %d).", capital(m.Measure), num(m.Value), num(m.SD), m.N)
		}
	}
}

// selfcheckMarkdown is the report's section on the self-check.
func selfcheckMarkdown(s SelfcheckResult, t *Table) (string, error) {
	var b strings.Builder
	b.WriteString("## Can this run answer the questions?\n\n")
	fmt.Fprintf(&b, "%d of %d checks are met. Each is computed from the store for the default variant and compared with a "+
		"threshold (the named constants of `report/selfcheck.go`); a check whose cells are absent from the run is n/a, "+
		"with the reason, and not met.\n\n", s.Met(), len(s.Checks))
	md, err := t.Markdown()
	if err != nil {
		return "", err
	}
	b.WriteString(md)
	b.WriteString("\nThe minimum detectable difference (MDE) is the smallest difference between two cells of the same " +
		"(size, base, k) that this run detects with two-sided α = 0.05 and power 0.8: MDE = (t₀.₉₇₅,ν + t₀.₈₀,ν) · s · √(2/n), " +
		"ν = 2(n − 1), s the standard deviation over subsets pooled over the task-arithmetic cells at k ∈ {2, 4, 6} and the " +
		"two largest sizes, n the subsets per cell.")
	mdeSentences(&b, s.MDE, false)
	b.WriteString(" Smaller differences between unpaired cells are not resolved by this run.\n\n")
	b.WriteString("The paired checks compare series of cells over the same expert subsets, the (k, subset) pairs of " + pairedKsLabel() + ", " +
		"which hold the same categories at every size and base: IT − PT at the two largest sizes, and the largest minus the smallest size " +
		"for each base (task arithmetic). A paired 95% CI half-width is t₀.₉₇₅,ₙ₋₁ · s_d/√n, s_d the standard deviation of the n paired " +
		"differences; the check gives the largest of its comparisons. The paired MDE is (t₀.₉₇₅,ν + t₀.₈₀,ν) · s_d/√n, ν = n − 1, s_d pooled " +
		"over those comparisons, n the pairs per comparison.")
	mdeSentences(&b, s.MDE, true)
	b.WriteString(" The findings below are decided on such paired comparisons.\n\n")
	return b.String(), nil
}
