package report

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// The merging scaling law of Wang et al. (arXiv 2509.24244):
//
//	L(N, k) = L* + B·N^−β + A₀·N^−γ / (k + b)
//
// fitted to the mean loss over expert subsets of each (size N, k) cell:
// weighted nonlinear least squares (weights 1/SE² of the cell mean; a
// cell with one subset takes the median SE of the others), B, A₀ > 0 and
// b > −1 by reparameterization (ln B, ln A₀, ln(1 + b)), β and γ free,
// Levenberg–Marquardt from a grid of starts, each start's L*, B and A₀
// solved linearly for its (β, γ, b). This file is the numerics; law.go
// takes the observations from a store's Results and renders them.

// Law parameter indices, in the order of lawParamNames.
const (
	pLStar = iota
	pB
	pBeta
	pA0
	pGamma
	pb
	nLawParams
)

// lawParamNames are the names of the law's parameters in
// table_scaling_law.csv, in index order.
var lawParamNames = [nLawParams]string{"L_star", "B", "beta", "A0", "gamma", "b"}

// Fit settings.
const (
	// lawMinSizes is the fewest sizes a fit needs (three parameters
	// describe the floor's dependence on N).
	lawMinSizes = 3
	// lawHoldoutSizes is the fewest sizes the held-out-size check needs:
	// the fit on the others must itself have lawMinSizes.
	lawHoldoutSizes = lawMinSizes + 1
	// lawResamples is the number of bootstrap resamples of the CIs.
	lawResamples = 400
	// lawSaturation is the distance in nats from the tail's k → ∞ limit
	// at which merging more experts is said to have saturated.
	lawSaturation = 0.01
	// lawParamsUnit is the unit of N in the fit: millions of parameters.
	lawParamsUnit = 1e6
)

// lawObs is one observation: the loss of one model (a chosen merge of
// one expert subset, or one expert alone at k = 1), averaged over the
// domain's tasks.
type lawObs struct {
	Size   string
	Params int64 // N
	K      int
	// ID names the subset; the same ID at every size is the same
	// categories (a (k, subset) pair, or an expert's category), which
	// the bootstrap resamples together.
	ID   string
	Loss float64
}

// lawCell is the mean loss of one (size, k) over its subsets.
type lawCell struct {
	Size   string
	Params int64
	K      int
	Mean   float64
	SE     float64 // of the mean; the median of the others' for a single subset
	N      int     // subsets
	// ids and losses are the cell's observations, in ID order.
	ids    []string
	losses []float64
	lnN    float64 // ln of the size in the fit's unit
}

// n is the cell's size in the fit's unit.
func (c lawCell) n() float64 { return float64(c.Params) / lawParamsUnit }

// lawParams are the law's parameters in their natural form.
type lawParams [nLawParams]float64

// eval is L(N, k) with N in millions of parameters.
func (p lawParams) eval(n float64, k float64) float64 {
	return p[pLStar] + p[pB]*math.Pow(n, -p[pBeta]) + p[pA0]*math.Pow(n, -p[pGamma])/(k+p[pb])
}

// tail is the merging tail A₀·N^−γ / (k + b) with N in millions.
func (p lawParams) tail(n, k float64) float64 {
	return p[pA0] * math.Pow(n, -p[pGamma]) / (k + p[pb])
}

// kSaturation is the smallest k ≥ 1 at which the tail at size n is within
// lawSaturation nats of its k → ∞ limit (0); ok is false when that k is
// not a finite number.
func (p lawParams) kSaturation(n float64) (float64, bool) {
	k := math.Ceil(p[pA0]*math.Pow(n, -p[pGamma])/lawSaturation - p[pb])
	if !isNum(k) || k > 1e12 {
		return 0, false
	}
	return math.Max(1, k), true
}

// lawFitResult is a fit of the law with what the report shows of it.
type lawFitResult struct {
	Params lawParams
	// CI holds the bootstrap 95% percentile interval of each parameter;
	// HasCI is false when too few resamples could be fitted.
	CI    [nLawParams][2]float64
	HasCI bool
	// R2 is 1 − Σ(mean − fit)² ÷ Σ(mean − grand mean)² over the cells.
	R2 float64
	// Holdout is the mean absolute error (nats) of the largest size's
	// cells predicted by a fit on the other sizes; HoldoutCells counts
	// them; HoldoutWhy says why there is none (HoldoutCells = 0).
	Holdout      float64
	HoldoutCells int
	HoldoutWhy   string
	// KSat is the k at which the fitted tail at the largest size is within
	// lawSaturation of its limit, with its bootstrap CI.
	KSat      float64
	KSatOK    bool
	KSatCI    [2]float64
	KSatHasCI bool
	Cells     []lawCell // ordered by size (parameters), then k
	Sizes     int
	Largest   lawCell // a cell of the largest size (its Size and Params)
	// FlatFloor is set when N^−β changes by less than lawFlatFloor over
	// the sizes' span: the floor is then a straight line in ln N, and L*,
	// B and β are not separately identified (the fit drifts towards
	// β → 0, B → ∞, L* → −∞ along a flat valley).
	FlatFloor bool
}

// lawFlatFloor is the least β·ln(largest ÷ smallest size) at which the
// floor's curvature counts as resolved.
const lawFlatFloor = 0.1

// outsideCI lists the parameters whose estimate lies outside their own
// bootstrap interval, which happens when the resampled fits settle
// elsewhere along a flat valley.
func (r *lawFitResult) outsideCI() []string {
	if !r.HasCI {
		return nil
	}
	var out []string
	for i, x := range r.Params {
		if x < r.CI[i][0] || x > r.CI[i][1] {
			out = append(out, lawParamNames[i])
		}
	}
	return out
}

// errLaw marks a data set the law cannot be fitted to; its message says
// why, for the report.
var errLaw = errors.New("cannot fit the scaling law")

// lawCells groups observations into (size, k) cells with their means and
// standard errors, ordered by parameters, size and k.
func lawCells(obs []lawObs) []lawCell {
	type key struct {
		size string
		k    int
	}
	by := map[key]*lawCell{}
	for _, o := range obs {
		if !isNum(o.Loss) {
			continue
		}
		c := by[key{o.Size, o.K}]
		if c == nil {
			c = &lawCell{Size: o.Size, Params: o.Params, K: o.K, lnN: math.Log(float64(o.Params) / lawParamsUnit)}
			by[key{o.Size, o.K}] = c
		}
		c.ids = append(c.ids, o.ID)
		c.losses = append(c.losses, o.Loss)
	}
	cells := make([]lawCell, 0, len(by))
	for _, c := range by {
		sortObs(c.ids, c.losses)
		s := newStat(c.losses)
		c.Mean, c.N, c.SE = s.Mean, s.N, math.NaN()
		if s.N > 1 {
			c.SE = s.SD / math.Sqrt(float64(s.N))
		}
		cells = append(cells, *c)
	}
	sort.Slice(cells, func(i, j int) bool {
		a, b := cells[i], cells[j]
		switch {
		case a.Params != b.Params:
			return a.Params < b.Params
		case a.Size != b.Size:
			return a.Size < b.Size
		}
		return a.K < b.K
	})
	fillSE(cells)
	return cells
}

// sortObs sorts ids and their losses by id.
func sortObs(ids []string, losses []float64) {
	idx := make([]int, len(ids))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ids[idx[a]] < ids[idx[b]] })
	ids2, l2 := make([]string, len(ids)), make([]float64, len(ids))
	for i, j := range idx {
		ids2[i], l2[i] = ids[j], losses[j]
	}
	copy(ids, ids2)
	copy(losses, l2)
}

// fillSE gives the cells without a positive standard error (one subset, or
// subsets that agree exactly) the median of the others'; when no cell has
// one, every cell weighs the same (SE 1).
func fillSE(cells []lawCell) {
	var ses []float64
	for _, c := range cells {
		if isNum(c.SE) && c.SE > 0 {
			ses = append(ses, c.SE)
		}
	}
	med := 1.0
	if len(ses) > 0 {
		sort.Float64s(ses)
		med = quantile(ses, 0.5)
	}
	for i := range cells {
		if len(ses) == 0 || !isNum(cells[i].SE) || cells[i].SE <= 0 {
			cells[i].SE = med
		}
	}
}

// checkLawCells says why cells cannot support a fit (nil if they can).
func checkLawCells(cells []lawCell) error {
	sizes := map[string]bool{}
	ks := map[int]bool{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, c := range cells {
		sizes[c.Size], ks[c.K] = true, true
		lo, hi = math.Min(lo, c.Mean), math.Max(hi, c.Mean)
		if c.Params <= 0 {
			return fmt.Errorf("%w: size %s has no parameter count", errLaw, c.Size)
		}
	}
	switch {
	case len(cells) == 0:
		return fmt.Errorf("%w: no (size, k) cell has a loss", errLaw)
	case len(sizes) < lawMinSizes:
		return fmt.Errorf("%w: %d size(s) with losses; the law needs at least %d", errLaw, len(sizes), lawMinSizes)
	case len(ks) < 3:
		return fmt.Errorf("%w: %d value(s) of k with losses; the law needs at least 3", errLaw, len(ks))
	case len(cells) <= nLawParams:
		return fmt.Errorf("%w: %d (size, k) cells for %d parameters", errLaw, len(cells), nLawParams)
	case hi-lo <= 1e-12*math.Max(1, math.Abs(hi)):
		return fmt.Errorf("%w: the losses are constant (%.4g in every cell)", errLaw, hi)
	}
	return nil
}

// fitLaw fits the law to the observations, with bootstrap CIs (seeded by
// seed), R², the held-out-size error and k_saturation.
func fitLaw(obs []lawObs, seed uint64) (*lawFitResult, error) {
	cells := lawCells(obs)
	if err := checkLawCells(cells); err != nil {
		return nil, err
	}
	p, _, err := lawLSQ(cells, nil)
	if err != nil {
		return nil, err
	}
	res := &lawFitResult{Params: p, Cells: cells, Largest: cells[len(cells)-1]}
	sizes := map[string]bool{}
	for _, c := range cells {
		sizes[c.Size] = true
	}
	res.Sizes = len(sizes)

	// R² over the cell means.
	var grand float64
	for _, c := range cells {
		grand += c.Mean
	}
	grand /= float64(len(cells))
	var ssRes, ssTot float64
	for _, c := range cells {
		d := c.Mean - p.eval(c.n(), float64(c.K))
		ssRes += d * d
		ssTot += (c.Mean - grand) * (c.Mean - grand)
	}
	res.R2 = 1 - ssRes/ssTot

	// The largest size predicted from the others.
	if res.Sizes < lawHoldoutSizes {
		res.HoldoutWhy = fmt.Sprintf("%d sizes; predicting the largest from the others needs at least %d", res.Sizes, lawHoldoutSizes)
	} else {
		var rest, last []lawCell
		for _, c := range cells {
			if c.Size == res.Largest.Size {
				last = append(last, c)
			} else {
				rest = append(rest, c)
			}
		}
		if err := checkLawCells(rest); err != nil {
			res.HoldoutWhy = "without the largest size: " + lawReason(err)
		} else if q, _, err := lawLSQ(rest, nil); err != nil {
			res.HoldoutWhy = lawReason(err)
		} else {
			var sum float64
			for _, c := range last {
				sum += math.Abs(c.Mean - q.eval(c.n(), float64(c.K)))
			}
			if h := sum / float64(len(last)); isNum(h) {
				res.Holdout, res.HoldoutCells = h, len(last)
			} else {
				res.HoldoutWhy = "the fit without the largest size predicts no finite loss for it"
			}
		}
	}
	res.KSat, res.KSatOK = p.kSaturation(res.Largest.n())
	span := math.Log(float64(res.Largest.Params) / float64(cells[0].Params))
	res.FlatFloor = p[pBeta]*span < lawFlatFloor

	lawBootstrap(res, seed)
	return res, nil
}

// lawReason is the reason an error gives, without the errLaw prefix.
func lawReason(err error) string {
	s := err.Error()
	if p := errLaw.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// lawBootstrap fills the CIs of res: lawResamples resamples of the subsets
// within each k, the same draw of subset IDs at every size (so sizes stay
// paired), each refitted with the cells' original weights.
func lawBootstrap(res *lawFitResult, seed uint64) {
	cells := res.Cells
	idsAt := map[int][]string{} // k → the IDs seen at k, sorted
	for _, c := range cells {
		seen := map[string]bool{}
		for _, id := range idsAt[c.K] {
			seen[id] = true
		}
		for _, id := range c.ids {
			if !seen[id] {
				idsAt[c.K] = append(idsAt[c.K], id)
				seen[id] = true
			}
		}
	}
	ks := make([]int, 0, len(idsAt))
	for k := range idsAt {
		sort.Strings(idsAt[k])
		ks = append(ks, k)
	}
	sort.Ints(ks)
	rng := rand.New(rand.NewPCG(seed, 0x6c61772d626f6f74)) // "law-boot"
	var draws [nLawParams][]float64
	var ksats []float64
	fitted := 0
	count := map[string]int{}
	for range lawResamples {
		weight := map[int]map[string]int{}
		for _, k := range ks {
			ids := idsAt[k]
			clear(count)
			for range ids {
				count[ids[rng.IntN(len(ids))]]++
			}
			w := make(map[string]int, len(count))
			for id, n := range count {
				w[id] = n
			}
			weight[k] = w
		}
		var rc []lawCell
		for _, c := range cells {
			var sum float64
			var n int
			for i, id := range c.ids {
				m := weight[c.K][id]
				sum += float64(m) * c.losses[i]
				n += m
			}
			if n == 0 {
				continue
			}
			d := c
			d.Mean = sum / float64(n)
			rc = append(rc, d)
		}
		if checkLawCells(rc) != nil {
			continue
		}
		q, _, err := lawLSQ(rc, &res.Params)
		if err != nil {
			continue
		}
		fitted++
		for i := range q {
			draws[i] = append(draws[i], q[i])
		}
		if kq, ok := q.kSaturation(res.Largest.n()); ok {
			ksats = append(ksats, kq)
		}
	}
	// Too few successful resamples make a percentile interval meaningless.
	if fitted < lawResamples/2 {
		return
	}
	res.HasCI = true
	for i := range draws {
		sort.Float64s(draws[i])
		res.CI[i] = [2]float64{quantile(draws[i], 0.025), quantile(draws[i], 0.975)}
	}
	if res.KSatOK && len(ksats) >= lawResamples/2 {
		sort.Float64s(ksats)
		// k is a count: the interval's ends are rounded outwards.
		res.KSatCI, res.KSatHasCI = [2]float64{math.Floor(quantile(ksats, 0.025)), math.Ceil(quantile(ksats, 0.975))}, true
	}
}
