package report

import (
	"fmt"
	"math"
	"sort"
)

// The optimizer of the scaling-law fit (lawfit.go): weighted nonlinear
// least squares on the law's parameters, reparameterized for positivity,
// by Levenberg–Marquardt from a grid of starts.

// The fit works on u = (L*, ln B, β, ln A₀, γ, ln(1 + b)).
type lawU [nLawParams]float64

func (u lawU) params() lawParams {
	return lawParams{u[0], math.Exp(u[1]), u[2], math.Exp(u[3]), u[4], math.Expm1(u[5])}
}

func (p lawParams) u() lawU {
	return lawU{p[0], math.Log(p[1]), p[2], math.Log(p[3]), p[4], math.Log1p(p[5])}
}

// Start grid of the nonlinear parameters.
var (
	lawStartBeta  = []float64{0.1, 0.3, 0.6, 1.0, 1.5}
	lawStartGamma = []float64{-0.5, 0, 0.3, 0.6, 1.0, 1.5}
	lawStartB     = []float64{0, 0.5, 2, 5}
)

// lawLSQ fits the law to cells by weighted least squares: from the best
// few starts of the grid (and from hint, when given) by
// Levenberg–Marquardt, keeping the lowest weighted residual sum of
// squares.
func lawLSQ(cells []lawCell, hint *lawParams) (lawParams, float64, error) {
	type start struct {
		u   lawU
		chi float64
	}
	var starts []start
	for _, beta := range lawStartBeta {
		for _, gamma := range lawStartGamma {
			for _, b := range lawStartB {
				if u, chi, ok := linearStart(cells, beta, gamma, b); ok {
					starts = append(starts, start{u, chi})
				}
			}
		}
	}
	sort.SliceStable(starts, func(i, j int) bool { return starts[i].chi < starts[j].chi })
	keep := 4
	if hint != nil {
		keep = 1
	}
	if len(starts) > keep {
		starts = starts[:keep]
	}
	if hint != nil && hint[pB] > 0 && hint[pA0] > 0 && hint[pb] > -1 {
		starts = append([]start{{u: hint.u()}}, starts...)
	}
	best, bestChi := lawU{}, math.Inf(1)
	for _, s := range starts {
		u, chi := levenbergMarquardt(cells, s.u)
		if chi < bestChi {
			best, bestChi = u, chi
		}
	}
	p := best.params()
	if !isNum(bestChi) {
		return p, 0, fmt.Errorf("%w: the fit did not converge", errLaw)
	}
	for _, x := range p {
		if !isNum(x) {
			return p, 0, fmt.Errorf("%w: the fit did not converge to finite parameters", errLaw)
		}
	}
	return p, bestChi, nil
}

// linearStart solves L*, B and A₀ by weighted linear least squares for
// fixed (β, γ, b), the model being linear in them; a B or A₀ that comes out
// non-positive is set to a small positive value.
func linearStart(cells []lawCell, beta, gamma, b float64) (lawU, float64, bool) {
	var ata [3][3]float64
	var atb [3]float64
	lnN, fb, fg := math.NaN(), 0.0, 0.0
	for _, c := range cells {
		w := 1 / (c.SE * c.SE)
		if c.lnN != lnN {
			lnN, fb, fg = c.lnN, math.Exp(-beta*c.lnN), math.Exp(-gamma*c.lnN)
		}
		row := [3]float64{1, fb, fg / (float64(c.K) + b)}
		for i := range 3 {
			for j := range 3 {
				ata[i][j] += w * row[i] * row[j]
			}
			atb[i] += w * row[i] * c.Mean
		}
	}
	x, ok := solve3(ata, atb)
	if !ok {
		return lawU{}, 0, false
	}
	scale := 0.0
	for _, c := range cells {
		scale = math.Max(scale, math.Abs(c.Mean))
	}
	floor := 1e-3 * math.Max(scale, 1e-6)
	p := lawParams{x[0], math.Max(x[1], floor), beta, math.Max(x[2], floor), gamma, b}
	u := p.u()
	chi := lawChi2(cells, u)
	if !isNum(chi) {
		return lawU{}, 0, false
	}
	return u, chi, true
}

// solve3 solves a·x = y by Gaussian elimination with partial pivoting; ok
// is false when a is (numerically) singular.
func solve3(a [3][3]float64, y [3]float64) (x [3]float64, ok bool) {
	var norm float64
	for i := range 3 {
		for j := range 3 {
			norm = math.Max(norm, math.Abs(a[i][j]))
		}
	}
	for col := range 3 {
		piv := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		if math.Abs(a[piv][col]) <= 1e-13*norm {
			return x, false
		}
		a[col], a[piv] = a[piv], a[col]
		y[col], y[piv] = y[piv], y[col]
		for r := col + 1; r < 3; r++ {
			f := a[r][col] / a[col][col]
			for c := col; c < 3; c++ {
				a[r][c] -= f * a[col][c]
			}
			y[r] -= f * y[col]
		}
	}
	for r := 2; r >= 0; r-- {
		s := y[r]
		for c := r + 1; c < 3; c++ {
			s -= a[r][c] * x[c]
		}
		x[r] = s / a[r][r]
	}
	return x, isNum(x[0]) && isNum(x[1]) && isNum(x[2])
}

// lawChi2 is the weighted residual sum of squares at u.
func lawChi2(cells []lawCell, u lawU) float64 {
	p := u.params()
	var s float64
	// Cells come grouped by size: the powers of N change only with it.
	lnN, fl, tn := math.NaN(), 0.0, 0.0
	for _, c := range cells {
		if c.lnN != lnN {
			lnN = c.lnN
			fl, tn = p[pB]*math.Exp(-p[pBeta]*lnN), p[pA0]*math.Exp(-p[pGamma]*lnN)
		}
		r := (c.Mean - (p[pLStar] + fl + tn/(float64(c.K)+p[pb]))) / c.SE
		s += r * r
	}
	return s
}

// levenbergMarquardt minimizes lawChi2 from u; it returns the best point
// found and its weighted residual sum of squares (Inf when none is
// finite).
func levenbergMarquardt(cells []lawCell, u lawU) (lawU, float64) {
	chi := lawChi2(cells, u)
	if !isNum(chi) {
		return u, math.Inf(1)
	}
	const n = nLawParams
	lambda := 1e-3
	var a, damped [n][n]float64
	var g [n]float64
	for iter := 0; iter < 200; iter++ {
		p := u.params()
		a, g = [n][n]float64{}, [n]float64{}
		ln, fl, tn := math.NaN(), 0.0, 0.0
		for _, c := range cells {
			k := float64(c.K)
			w := 1 / c.SE
			if c.lnN != ln {
				ln = c.lnN
				fl, tn = p[pB]*math.Exp(-p[pBeta]*ln), p[pA0]*math.Exp(-p[pGamma]*ln)
			}
			tl := tn / (k + p[pb])
			res := w * (c.Mean - (p[pLStar] + fl + tl))
			jac := [n]float64{w, w * fl, -w * fl * ln, w * tl, -w * tl * ln, -w * tl / (k + p[pb]) * (1 + p[pb])}
			for r := range n {
				g[r] += jac[r] * res
				for s := r; s < n; s++ {
					a[r][s] += jac[r] * jac[s]
				}
			}
		}
		var diagMax float64
		for r := range n {
			diagMax = math.Max(diagMax, a[r][r])
		}
		if diagMax == 0 || !isNum(diagMax) {
			return u, chi
		}
		improved := false
		for lambda < 1e12 {
			for r := range n {
				for s := r; s < n; s++ {
					damped[r][s] = a[r][s]
				}
				damped[r][r] = a[r][r] + lambda*(a[r][r]+1e-12*diagMax)
			}
			delta, ok := cholSolve(damped, g)
			if !ok {
				lambda *= 4
				continue
			}
			var next lawU
			for r := range n {
				next[r] = u[r] + delta[r]
			}
			nc := lawChi2(cells, next)
			if isNum(nc) && nc < chi {
				rel := (chi - nc) / math.Max(chi, 1e-300)
				u, chi = next, nc
				lambda = math.Max(lambda/3, 1e-12)
				improved = true
				if rel < 1e-9 {
					return u, chi
				}
				break
			}
			lambda *= 4
		}
		if !improved {
			return u, chi
		}
	}
	return u, chi
}

// cholSolve solves a·x = y for a symmetric positive definite a given by
// its upper triangle; ok is false when a is not positive definite.
func cholSolve(a [nLawParams][nLawParams]float64, y [nLawParams]float64) (x [nLawParams]float64, ok bool) {
	const n = nLawParams
	var l [n][n]float64 // lower triangle: a = l·lᵀ
	for i := range n {
		for j := 0; j <= i; j++ {
			s := a[j][i] // upper triangle holds a[j][i] for j ≤ i
			for k := range j {
				s -= l[i][k] * l[j][k]
			}
			if i == j {
				if !(s > 0) {
					return x, false
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	var z [n]float64
	for i := range n {
		s := y[i]
		for k := range i {
			s -= l[i][k] * z[k]
		}
		z[i] = s / l[i][i]
	}
	for i := n - 1; i >= 0; i-- {
		s := z[i]
		for k := i + 1; k < n; k++ {
			s -= l[k][i] * x[k]
		}
		x[i] = s / l[i][i]
	}
	for _, v := range x {
		if !isNum(v) {
			return x, false
		}
	}
	return x, true
}
