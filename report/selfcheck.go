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

	minHeldInNorm     = 0.85 // normalized held-in of the headline cell
	minHeldInRaw      = 0.80 // raw held-in of the headline cell
	minGainKept       = 0.70 // gain kept of the headline cell
	minITOverChance   = 0.10 // IT base zero-shot held-out minus chance, largest size
	minMTOverBase     = 0.08 // multitask minus its base, raw held-out, two largest sizes
	minExpertRaw      = 0.90 // experts' raw accuracy on their own category, two largest sizes
	minExpertGain     = 0.45 // experts' raw gain over their base on their category, two largest sizes
	maxCIHeldIn       = 0.08 // largest 95% CI half-width of normalized held-in, k ∈ checkCIKs
	maxCIHeldOut      = 0.05 // largest 95% CI half-width of normalized held-out, k ∈ checkCIKs
	minParamSpan      = 100  // parameters of the largest size ÷ the smallest
	mdeAlpha          = 0.05 // two-sided significance level of the minimum detectable difference
	mdePower          = 0.80 // power of the minimum detectable difference
	checkLargestSizes = 2    // "the two largest sizes"
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

// MDE is the minimum detectable difference of a measure between two cells
// of the same (size, base, k): two-sided α = mdeAlpha, power mdePower,
// MDE = (t(1 − α/2, ν) + t(power, ν)) · s · √(2/n), ν = 2(n − 1).
type MDE struct {
	Measure string
	Value   float64 // NaN when n/a
	SD      float64 // s: the standard deviation over subsets, pooled over the cells
	N       int     // n: subsets per cell (the fewest among the pooled cells)
	Cells   int     // cells pooled
	Why     string  // why it is n/a
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
// the confidence intervals are narrow enough, the sizes span enough; and the
// smallest differences it can detect. A measure whose cells are absent is
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
	}
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
		if m.Why == "" {
			val = num(m.Value)
			basis = fmt.Sprintf("s = %s pooled over %d cells, n = %d subsets", num(m.SD), m.Cells, m.N)
		}
		b.add("minimum detectable difference, "+m.Measure, dual{val, []string{csvNum(m.Value)}},
			dual{"–", []string{"", ""}}, dual{"–", []string{""}}, dual{basis, []string{basis, m.Why}})
	}
	return b.t
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
	for _, m := range s.MDE {
		if m.Why != "" {
			fmt.Fprintf(&b, " %s: n/a (%s).", capital(m.Measure), m.Why)
			continue
		}
		fmt.Fprintf(&b, " %s: %s (s = %s, n = %d).", capital(m.Measure), num(m.Value), num(m.SD), m.N)
	}
	b.WriteString(" Smaller differences between methods, bases or variants are not resolved by this run.\n\n")
	return b.String(), nil
}
