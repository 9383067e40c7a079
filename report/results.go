package report

import (
	"context"
	"math"

	"mergescale/store"

	"gonum.org/v1/gonum/stat/distuv"
)

// Stat is a mean over expert subsets with its 95% confidence interval.
type Stat struct {
	Mean float64 // NaN when N == 0
	// CI is the half-width of the 95% confidence interval of the mean,
	// t(0.975, N−1)·s/√N with s the sample standard deviation; NaN when N < 2.
	CI float64
	N  int // number of subsets with a value
	// SD is the sample standard deviation (n − 1 in the denominator); NaN
	// when N < 2.
	SD float64
}

// Valid reports whether the statistic has at least one value.
func (s Stat) Valid() bool { return s.N > 0 && !math.IsNaN(s.Mean) }

// newStat summarizes the finite values of xs.
func newStat(xs []float64) Stat {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	s := Stat{Mean: math.NaN(), CI: math.NaN(), N: len(v), SD: math.NaN()}
	if len(v) == 0 {
		return s
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	n := float64(len(v))
	s.Mean = sum / n
	if len(v) < 2 {
		return s
	}
	var ss float64
	for _, x := range v {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	sd := math.Sqrt(ss / (n - 1))
	s.SD = sd
	s.CI = tQuantile(0.975, n-1) * sd / math.Sqrt(n)
	return s
}

// tQuantile is the p quantile of Student's t distribution with nu degrees
// of freedom.
func tQuantile(p, nu float64) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: nu}.Quantile(p)
}

// Scores are the normalized and raw scores of one model on one expert
// subset: each is a mean over categories of per-category means over tasks.
type Scores struct {
	HeldIn, HeldOut float64 // merged ÷ reference (expert / base)
	// HeldInChance and HeldOutChance are (score − chance) ÷ (reference −
	// chance), averaged over the tasks where the reference differs from
	// chance (per category, then over categories with such a task).
	HeldInChance, HeldOutChance float64
	RawHeldIn, RawHeldOut       float64 // accuracy
	// ChanceHeldIn and ChanceHeldOut are the chance levels averaged like
	// the raw accuracies.
	ChanceHeldIn, ChanceHeldOut float64
	// The tasks the chance-adjusted values are defined on, of all tasks.
	HeldInChanceTasks, HeldInTasks   int
	HeldOutChanceTasks, HeldOutTasks int
	// GainKept is Σ_c (merged_c − base_c) ÷ Σ_c (expert_c − base_c) over
	// the merged categories c, each term a raw accuracy averaged over the
	// category's tasks: how much of what the experts learned over their base
	// the merge keeps. NaN for models other than merges, or when the experts
	// gained nothing in total.
	GainKept float64
	// GainKeptCE is the same ratio of option cross-entropies (option_ce),
	// Σ_c (base_c − merged_c) ÷ Σ_c (base_c − expert_c): NaN where GainKept
	// is, when the store has no option_ce scores, or when the experts did
	// not lower the cross-entropy in total.
	GainKeptCE float64
}

func nanScores() Scores {
	n := math.NaN()
	return Scores{HeldIn: n, HeldOut: n, HeldInChance: n, HeldOutChance: n, RawHeldIn: n, RawHeldOut: n,
		ChanceHeldIn: n, ChanceHeldOut: n, GainKept: n, GainKeptCE: n}
}

// SubsetResult is one chosen merge (one expert subset) of a cell.
type SubsetResult struct {
	Subset     int
	Categories []string
	ModelID    string
	Hparams    string
	Seed       int64
	Merged     Scores
	Multitask  Scores // the multitask model on the same categories
	// Diagnostics from the merges table (NaN when not recorded).
	SignConflict, MeanCosine float64
	// Kinds is the merge's gain kept on knowledge and in-context tasks and
	// on known and unknown facts (a suite-5 store; nil otherwise).
	Kinds map[KindKnown]GainPair
}

// Cell aggregates the chosen test merges of one (variant, base type, size,
// method, k).
type Cell struct {
	Variant        string // the full variant's canonical JSON ("{}" without variant axes)
	BaseType, Size string
	Params         int64
	Method         string
	K              int
	Subsets        []SubsetResult // by subset index

	HeldIn, HeldOut             Stat
	HeldInChance, HeldOutChance Stat
	RawHeldIn, RawHeldOut       Stat
	GainKept                    Stat
	GainKeptCE                  Stat // gain kept in option cross-entropy
	// The multitask baseline over the same subsets' categories.
	MTHeldIn, MTHeldOut             Stat
	MTHeldInChance, MTHeldOutChance Stat
	SignConflict, MeanCosine        Stat
}

// Baseline is a non-merged model's scores: the base, an expert or the
// multitask model. Normalized held-in is over all held-in categories for
// the base and multitask models and over its own category for an expert.
type Baseline struct {
	Variant        string
	BaseType, Size string
	Params         int64
	Kind           string // base | expert | multitask
	Category       string // expert's category
	ModelID        string
	Scores         Scores
	// Gain is an expert's raw accuracy on its own category minus its
	// base's on the same tasks (NaN for other kinds).
	Gain float64
	// TauNormRatio is an expert's ‖τ‖ ÷ ‖θ₀‖ (NaN when not recorded).
	TauNormRatio float64
}

// TauRatio summarizes ‖τ‖ ÷ ‖θ₀‖ over the experts of one variant, base type
// and size (mean ± 95% CI over categories).
type TauRatio struct {
	Variant        string
	BaseType, Size string
	Params         int64
	Ratio          Stat
}

// TaskScore is one model's raw test accuracy on one task, averaged over
// subsets for merged models.
type TaskScore struct {
	Variant        string
	BaseType, Size string
	Params         int64
	Model          string // "base", "expert", "multitask" or the merge method
	K              int    // 0 for non-merged models
	Category       string // expert's category; '' otherwise
	Task           string
	TaskCategory   string
	Heldness       string
	Accuracy       Stat
}

// SizeInfo is a model size of the store with its parameter count.
type SizeInfo struct {
	Name   string
	Params int64
}

// Results is everything the report shows, aggregated from a store.
type Results struct {
	// Axes are the zoo keys the study listed several values for; Variants
	// every combination of their values, the default (the first value of
	// every list) first. A study without lists has no axes and one variant.
	Axes     []VariantAxis
	Variants []Variant

	Cells     []Cell // ordered by variant, base type, size, method, k
	Baselines []Baseline
	Tasks     []TaskScore
	TauRatios []TauRatio // ordered by variant, base type, size
	Sizes     []SizeInfo // ascending by parameter count
	BaseTypes []string   // pt before it
	Methods   []string   // in canonical order
	Ks        []int
	// Law is the merging scaling law fitted to the default variant, per
	// (base type, method, metric, domain), in that order (bases, methods
	// as above; option_ce before gold_nll; held-in before held-out).
	Law []LawFit
	// RunName and ConfigText are from the latest run in the store.
	RunName, ConfigText string
	// Knowledge holds the knowledge probes of the store (suite-5 bases:
	// one row per base and fact), ordered by model and fact; empty for
	// suite-4 stores, whose reports then show no knowledge section.
	Knowledge []store.KnowledgeProbe
	// KnowledgeGuards are the guards of a suite-5 study's knowledge
	// targets, per base type and size (nil for other stores).
	KnowledgeGuards []KnowledgeGuard
	// TaskMetrics lists the tasks scored by another metric than accuracy
	// (a task folder's acc_norm, exact_match, rouge_l or f1), sorted by
	// task; empty for the built-in suite.
	TaskMetrics []TaskMetric
	// Missing lists, in words, what the store lacks for a full report.
	Missing []string
}

// TaskMetric names the metric a task's scores are.
type TaskMetric struct{ Task, Metric string }

// Cell returns the cell for the key, if present (the first variant's when
// r holds several; use a view for another).
func (r *Results) Cell(baseType, size, method string, k int) (Cell, bool) {
	for _, c := range r.Cells {
		if c.BaseType == baseType && c.Size == size && c.Method == method && c.K == k {
			return c, true
		}
	}
	return Cell{}, false
}

// methodOrder is the paper's order; unknown methods follow alphabetically.
var methodOrder = map[string]int{"linear": 0, "task_arithmetic": 1, "ties": 2, "dare_ties": 3}

func methodLess(a, b string) bool {
	ra, oka := methodOrder[a]
	rb, okb := methodOrder[b]
	switch {
	case oka && okb:
		return ra < rb
	case oka != okb:
		return oka
	}
	return a < b
}

func baseLess(a, b string) bool {
	rank := func(s string) int {
		switch s {
		case "pt":
			return 0
		case "it":
			return 1
		}
		return 2
	}
	if rank(a) != rank(b) {
		return rank(a) < rank(b)
	}
	return a < b
}

// Load reads the store at dbPath read-only and aggregates it. A store
// without data gives Results whose Missing says what is absent; only an
// unreadable store is an error.
func Load(ctx context.Context, dbPath string) (*Results, error) {
	d, err := loadStore(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	return aggregate(d), nil
}
