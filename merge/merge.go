package merge

import (
	"errors"
	"fmt"
	"math"
)

// Input is one tensor of every model taking part in a merge.
type Input struct {
	// Name is the tensor's name. It keys the random draws of DARE and DELLA
	// and appears in every error.
	Name string
	// Base is θ₀, nil when the method needs no base (linear, passthrough).
	// linear accepts a base anyway and then reports task-vector diagnostics.
	Base []float32
	// Experts are θ₁..θₖ, all of Base's length.
	Experts [][]float32
	// Weights are wᵢ, one per expert. When nil, each expert's
	// Params.Weight is used (default 1).
	Weights []float64
	// Params are each expert's parameters, already layered (global ⊕ model
	// override); nil means every default. Parameters that are not per expert
	// (see MethodInfo.PerExpert) must resolve equal for all experts.
	Params []Params
	// StatsStride selects the entries the diagnostics are computed on: one
	// block of 256 entries out of every StatsStride (fixed blocks, so the
	// numbers are deterministic; ratios are then unbiased estimates). 0 is
	// the default, min(256, max(1, n/2¹⁵)): exact below 2¹⁶ entries, at
	// least 2¹⁵ sampled entries up to 2²³, and at most 1/256 of the work
	// of exact diagnostics beyond. 1 means every entry.
	StatsStride int
}

// errBadInput wraps every input validation error.
var errBadInput = errors.New("invalid merge input")

// MergeTensor merges one tensor with the named method, writes the result to
// out (which must have the length of the inputs) and returns the tensor's
// diagnostics. seed keys the random draws of dare_* and della*. The work is
// split across GOMAXPROCS goroutines in fixed chunks, so out and the stats
// are identical for any GOMAXPROCS.
//
// Errors name the tensor and, for non-finite inputs, the model ("base" or
// "expert i", 0-based) and the flat index.
func MergeTensor(method string, in Input, seed uint64, out []float32) (TensorStats, error) {
	p, err := prepare(method, in, out)
	if err != nil {
		return TensorStats{}, fmt.Errorf("tensor %q: %w", in.Name, err)
	}
	p.bstats = p.newBlockStats()
	if err := p.run(seed, out); err != nil {
		return TensorStats{}, fmt.Errorf("tensor %q: %w", in.Name, err)
	}
	st, err := p.stats(p.bstats, out)
	if err != nil {
		return TensorStats{}, fmt.Errorf("tensor %q: %w", in.Name, err)
	}
	return st, nil
}

// plan is a validated merge of one tensor.
type plan struct {
	method  string
	info    MethodInfo
	in      Input
	n       int
	res     []Resolved // per expert
	weights []float64
	common  Resolved // non-per-expert parameters (from expert 0)
	sps     []sparsifier
	// bstats receives the diagnostics' sampled blocks; kernels that fill
	// them while the inputs are in cache set bstats.done. Nil without task
	// vectors.
	bstats *blockStats
}

func prepare(method string, in Input, out []float32) (*plan, error) {
	info, err := LookupMethod(method)
	if err != nil {
		return nil, err
	}
	k := len(in.Experts)
	if k < info.MinModels || (info.MaxModels > 0 && k > info.MaxModels) {
		return nil, fmt.Errorf("%w: %s takes %s experts, got %d", errBadInput, method, modelRange(info), k)
	}
	if info.NeedsBase && in.Base == nil {
		return nil, fmt.Errorf("%w: %s needs a base model", errBadInput, method)
	}
	if k == 0 && in.Base == nil {
		return nil, fmt.Errorf("%w: no input tensors", errBadInput)
	}
	n := len(out)
	if in.Base != nil && len(in.Base) != n {
		return nil, fmt.Errorf("%w: base has %d entries, output %d", errBadInput, len(in.Base), n)
	}
	for i, e := range in.Experts {
		if len(e) != n {
			return nil, fmt.Errorf("%w: expert %d has %d entries, output %d", errBadInput, i, len(e), n)
		}
	}
	if int64(n) >= math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d entries is more than this engine supports (2³²−1)", errBadInput, n)
	}
	if in.Params != nil && len(in.Params) != k {
		return nil, fmt.Errorf("%w: %d parameter sets for %d experts", errBadInput, len(in.Params), k)
	}
	if in.Weights != nil && len(in.Weights) != k {
		return nil, fmt.Errorf("%w: %d weights for %d experts", errBadInput, len(in.Weights), k)
	}
	p := &plan{method: method, info: info, in: in, n: n, res: make([]Resolved, k), weights: make([]float64, k)}
	for i := 0; i < k; i++ {
		var ps Params
		if in.Params != nil {
			ps = in.Params[i]
		}
		r, err := ps.Resolve(method)
		if err != nil {
			return nil, fmt.Errorf("expert %d: %w", i, err)
		}
		p.res[i] = r
		p.weights[i] = r.Weight
		if in.Weights != nil {
			p.weights[i] = in.Weights[i]
		}
		if w := p.weights[i]; math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("%w: expert %d: weight %v is not finite", errBadInput, i, w)
		}
	}
	if k > 0 {
		p.common = p.res[0]
		for i := 1; i < k; i++ {
			if err := sameCommon(p.res[0], p.res[i]); err != nil {
				return nil, fmt.Errorf("%w: expert %d: %v", errBadInput, i, err)
			}
		}
	} else {
		p.common = info.Defaults
	}
	if p.common.TrimScope == ScopeGlobal {
		for i, r := range p.res {
			if r.Threshold == nil {
				return nil, fmt.Errorf("%w: expert %d: trim_scope global needs a Threshold (see MagnitudeHistogram)", errBadInput, i)
			}
		}
	}
	return p, nil
}

func modelRange(info MethodInfo) string {
	switch {
	case info.MaxModels == 0:
		return fmt.Sprintf("at least %d", info.MinModels)
	case info.MinModels == info.MaxModels:
		return fmt.Sprintf("exactly %d", info.MinModels)
	default:
		return fmt.Sprintf("%d to %d", info.MinModels, info.MaxModels)
	}
}

// sameCommon checks that the parameters that are not per expert agree.
func sameCommon(a, b Resolved) error {
	switch {
	case a.Lambda != b.Lambda:
		return fmt.Errorf("lambda %v differs from expert 0's %v; it must be the same for all models", b.Lambda, a.Lambda)
	case a.Normalize != b.Normalize:
		return fmt.Errorf("normalize %v differs from expert 0's %v; it must be the same for all models", b.Normalize, a.Normalize)
	case a.Rescale != b.Rescale:
		return fmt.Errorf("rescale %v differs from expert 0's %v; it must be the same for all models", b.Rescale, a.Rescale)
	case a.RescaleMode != b.RescaleMode:
		return fmt.Errorf("rescale_mode %q differs from expert 0's %q; it must be the same for all models", b.RescaleMode, a.RescaleMode)
	case a.TrimScope != b.TrimScope:
		return fmt.Errorf("trim_scope %q differs from expert 0's %q; it must be the same for all models", b.TrimScope, a.TrimScope)
	case a.T != b.T && !(math.IsNaN(a.T) && math.IsNaN(b.T)):
		return fmt.Errorf("t %v differs from expert 0's %v; it must be the same for all models", b.T, a.T)
	}
	return nil
}

// run dispatches to the method's kernel.
func (p *plan) run(seed uint64, out []float32) error {
	switch p.method {
	case Linear:
		return p.linear(out)
	case TaskArithmetic:
		return p.taskArithmetic(out)
	case Slerp:
		return p.slerp(out)
	case ModelStock:
		return p.modelStock(out)
	case Passthrough:
		return p.passthrough(out)
	}
	if err := p.buildSparsifiers(seed); err != nil {
		return err
	}
	consensus := p.method == TIES || p.method == DareTIES || p.method == BreadcrumbsTIES || p.method == Della
	return p.sparseMerge(consensus, out)
}

// buildSparsifiers prepares each expert's trim or drop (selection, ranks,
// L1 factors); experts are independent, so they run in parallel.
func (p *plan) buildSparsifiers(seed uint64) error {
	in := p.in
	p.sps = make([]sparsifier, len(in.Experts))
	var tiesCuts []cut // TIES trims per tensor: every expert's selection in one scan
	if p.method == TIES && p.common.TrimScope != ScopeGlobal {
		r := make([]int, len(in.Experts))
		for i := range r {
			r[i] = keepCount(p.res[i].Density, p.n)
		}
		tiesCuts = selectCuts(in.Experts, in.Base, r)
	}
	return forEach(len(in.Experts), func(i int) error {
		r := p.res[i]
		e := in.Experts[i]
		sp := &p.sps[i]
		switch p.method {
		case TIES:
			sp.kind, sp.minus = spCut, cutNone
			if r.TrimScope == ScopeGlobal {
				sp.keep = cutFromThreshold(*r.Threshold)
			} else {
				sp.keep = tiesCuts[i]
			}
			if sp.keep == cutAll {
				sp.kind = spAll
			}
		case Breadcrumbs, BreadcrumbsTIES:
			k := keepCount(r.Density, p.n)
			top := int(math.Round(r.Gamma * float64(p.n)))
			if top+k > p.n {
				top = p.n - k
			}
			sp.kind = spCut
			if top == 0 {
				sp.keep, sp.minus = selectCut(e, in.Base, k), cutNone
			} else {
				sp.keep, sp.minus = selectCut(e, in.Base, top+k), selectCut(e, in.Base, top)
			}
			if sp.keep == cutAll && sp.minus == cutNone {
				sp.kind = spAll
			}
		case DareTIES, DareLinear:
			if r.Density >= 1 {
				sp.kind = spAll
				break
			}
			sp.kind = spRandom
			sp.key = streamKey(seed, in.Name, i)
			sp.pthr = probBits(r.Density)
			sp.scale = 1
			if r.Rescale && r.Density > 0 {
				if r.RescaleMode == RescaleL1 {
					sp.scale = l1Rescale(e, in.Base, sp.key, sp.pthr)
				} else {
					sp.scale = 1 / r.Density
				}
			}
		case Della, DellaLinear:
			if r.Density >= 1 {
				sp.kind = spAll
				break
			}
			sp.kind = spDella
			sp.key = streamKey(seed, in.Name, i)
			sp.della = newDellaProbs(e, in.Base, r.Density, r.Epsilon, r.Rescale)
		default:
			return fmt.Errorf("method %s has no sparsifier", p.method)
		}
		return nil
	})
}

// nonFinite locates the first NaN or Inf among the inputs of entries
// [lo, hi), base first, then experts in order.
func (p *plan) nonFinite(lo, hi int) error {
	check := func(who string, x []float32) error {
		if x == nil {
			return nil
		}
		for j := lo; j < hi; j++ {
			if v := x[j]; math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w: %s has non-finite value %v at flat index %d", errBadInput, who, v, j)
			}
		}
		return nil
	}
	if err := check("base", p.in.Base); err != nil {
		return err
	}
	for i, e := range p.in.Experts {
		if err := check(fmt.Sprintf("expert %d", i), e); err != nil {
			return err
		}
	}
	// The difference of two finite values overflowed.
	return fmt.Errorf("%w: task vector overflows float32 in entries [%d, %d)", errBadInput, lo, hi)
}
