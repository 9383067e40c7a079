package merge

import (
	"fmt"
	"math"
)

// blockLen is the number of entries processed together inside a chunk:
// small enough that the per-block buffers of every expert stay in L1/L2.
const blockLen = 512

const signBit = 0x80000000

// linear: θ = Σ wᵢθᵢ / Σ wᵢ, summed in float64.
func (p *plan) linear(out []float32) error {
	var sw float64
	for _, w := range p.weights {
		sw += w
	}
	if sw == 0 {
		return fmt.Errorf("%w: linear: the weights sum to 0", errBadInput)
	}
	if b := p.in.Base; b != nil {
		// The base only feeds the diagnostics; it must still be finite.
		if err := forChunks(p.n, func(_, lo, hi int) error {
			for _, v := range b[lo:hi] {
				if math.Float32bits(v)&absMask >= infBits {
					return p.nonFinite(lo, hi)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return p.weightedSum(nil, 0, 1/sw, out)
}

// task_arithmetic: θ = θ₀ + λ·Σ wᵢτᵢ (divided by Σ wᵢ with normalize).
func (p *plan) taskArithmetic(out []float32) error {
	lambda := p.common.Lambda
	if p.common.Normalize {
		var sw float64
		for _, w := range p.weights {
			sw += w
		}
		if sw == 0 {
			return fmt.Errorf("%w: task_arithmetic: normalize with weights summing to 0", errBadInput)
		}
		lambda /= sw
	}
	return p.weightedSum(p.in.Base, 1, lambda, out)
}

// weightedSum writes out = b + scale·Σ wᵢ(eᵢ − sub·b) with b = base (nil:
// 0), accumulating in float64, experts two at a time (accPair, with AVX2 on
// amd64; see wsum.go). A non-finite input
// always makes the float64 accumulator non-finite (0·Inf and Inf − Inf are
// NaN), so finiteness is checked once per output entry, not per input.
func (p *plan) weightedSum(base []float32, sub float32, scale float64, out []float32) error {
	ex := p.in.Experts
	zero := make([]float32, blockLen)
	err := forChunks(p.n, func(_, lo, hi int) error {
		var acc [blockLen]float64
		var sc *statsScratch
		for blo := lo; blo < hi; blo += blockLen {
			bhi := min(blo+blockLen, hi)
			a := acc[:bhi-blo]
			b := zero[:len(a)]
			if base != nil {
				b = base[blo:bhi]
				b = b[:len(a)]
			}
			clear(a)
			i := 0
			for ; i+1 < len(ex); i += 2 {
				accPair(a, ex[i][blo:bhi], ex[i+1][blo:bhi], b, p.weights[i], p.weights[i+1], sub)
			}
			if i < len(ex) {
				accOne(a, ex[i][blo:bhi], b, p.weights[i], sub)
			}
			bad := finish(out[blo:bhi], a, b, scale)
			if bad {
				return p.nonFinite(blo, bhi)
			}
			p.fillRange(p.bstats, &sc, out, blo, bhi)
		}
		return nil
	})
	if err == nil && p.bstats != nil {
		p.bstats.done = true
	}
	return err
}

// sparseMerge runs every expert's sparsifier block by block and combines
// the τ̂ either by TIES consensus (sign election + disjoint mean) or by a
// plain weighted sum, then adds λ·τ to the base.
func (p *plan) sparseMerge(consensus bool, out []float32) error {
	k := len(p.in.Experts)
	lambda := p.common.Lambda
	normalize := p.common.Normalize
	var sw float64
	for _, w := range p.weights {
		sw += w
	}
	if !consensus && normalize {
		if sw == 0 {
			return fmt.Errorf("%w: %s: normalize with weights summing to 0", errBadInput, p.method)
		}
	}
	base := p.in.Base
	switch {
	case consensus && haveConsRows:
		return p.consensusRows(out)
	case consensus:
		return p.consensusSums(out)
	}
	return forChunks(p.n, func(_, lo, hi int) error {
		buf := make([]float32, k*blockLen)
		tb := make([][]float32, k)
		for blo := lo; blo < hi; blo += blockLen {
			bhi := min(blo+blockLen, hi)
			m := bhi - blo
			b := base[blo:bhi]
			o := out[blo:bhi]
			var bad uint32
			for i := range tb {
				tb[i] = buf[i*blockLen : i*blockLen+m]
				bad |= p.sps[i].apply(tb[i], p.in.Experts[i][blo:bhi], b, blo)
			}
			if bad&signBit != 0 {
				return p.nonFinite(blo, bhi)
			}
			o = o[:len(b)]
			for j := range o {
				var s float64
				for i, t := range tb {
					s += float64(p.weights[i] * float64(t[j])) // rounded: never fused
				}
				if normalize {
					s /= sw
				}
				o[j] = float32(float64(b[j]) + float64(lambda*s))
			}
		}
		return nil
	})
}

// consensusSums merges by TIES sign election and disjoint mean block by
// block, expert by expert into float64 sums in memory (consensusBlock): the
// path of CPUs without AVX-512.
func (p *plan) consensusSums(out []float32) error {
	return forChunks(p.n, func(_, lo, hi int) error {
		t := make([]float32, blockLen)
		var acc [4][blockLen]float64
		for blo := lo; blo < hi; blo += blockLen {
			bhi := min(blo+blockLen, hi)
			m := bhi - blo
			if err := p.consensusBlock(acc[0][:m], acc[1][:m], acc[2][:m], acc[3][:m], t[:m], blo, bhi, out); err != nil {
				return err
			}
		}
		return nil
	})
}

// consensusRows merges by TIES sign election and disjoint mean block by
// block: every expert's sparsifier writes its τ̂ for the block into a row
// of scratch, then consRows elects and averages all rows in one pass with
// the sums in registers. The result is bit-identical to consensusSums'.
func (p *plan) consensusRows(out []float32) error {
	k := len(p.in.Experts)
	lambda, normalize := p.common.Lambda, p.common.Normalize
	err := forChunks(p.n, func(_, lo, hi int) error {
		buf := make([]float32, k*blockLen)
		rows := make([][]float32, k)
		ptrs := make([]*float32, k)
		var sc *statsScratch
		for blo := lo; blo < hi; blo += blockLen {
			bhi := min(blo+blockLen, hi)
			m := bhi - blo
			b := p.in.Base[blo:bhi]
			var bad uint32
			for i := range rows {
				rows[i] = buf[i*blockLen : i*blockLen+m]
				bad |= p.sps[i].apply(rows[i], p.in.Experts[i][blo:bhi], b, blo)
			}
			if bad&signBit != 0 {
				return p.nonFinite(blo, bhi)
			}
			consRows(out[blo:bhi], b, rows, ptrs, p.weights, lambda, normalize)
			p.fillRange(p.bstats, &sc, out, blo, bhi)
		}
		return nil
	})
	if err == nil && p.bstats != nil {
		p.bstats.done = true
	}
	return err
}

// consensusBlock merges entries [blo, bhi) by TIES sign election and
// disjoint mean (ties.go) into out, with pn, nn, pw, nw and t as scratch of
// bhi − blo entries. A magnitude trim (TIES) is fused into the
// accumulation, so the trimmed τ̂ is never stored; other sparsifiers write
// τ̂ into t first.
func (p *plan) consensusBlock(pn, nn, pw, nw []float64, t []float32, blo, bhi int, out []float32) error {
	b := p.in.Base[blo:bhi]
	clear(pn)
	clear(nn)
	clear(pw)
	clear(nw)
	bad := false
	for i := range p.in.Experts {
		e := p.in.Experts[i][blo:bhi]
		w := p.weights[i]
		switch sp := &p.sps[i]; {
		case sp.kind == spAll:
			bad = consCut(pn, nn, pw, nw, e, b, w, -1) || bad
		case sp.kind == spCut && sp.minus == cutNone:
			// Entries before the index cut keep magnitudes ≥ t, the others > t.
			s := min(max(sp.keep.c-blo, 0), len(pn))
			bad = consCut(pn[:s], nn[:s], pw[:s], nw[:s], e[:s], b[:s], w, sp.keep.t-1) || bad
			bad = consCut(pn[s:], nn[s:], pw[s:], nw[s:], e[s:], b[s:], w, sp.keep.t) || bad
		default:
			if sp.apply(t, e, b, blo)&signBit != 0 {
				return p.nonFinite(blo, bhi)
			}
			consAcc(pn, nn, pw, nw, t, w)
		}
	}
	if bad {
		return p.nonFinite(blo, bhi)
	}
	consFinish(out[blo:bhi], pn, nn, pw, nw, b, p.common.Lambda, p.common.Normalize)
	return nil
}

// passthrough copies the single input (the expert, or the base when there
// is none), multiplied in float32 by the expert's scale when it is not 1.
func (p *plan) passthrough(out []float32) error {
	src := p.in.Base
	scale := float32(1)
	if len(p.in.Experts) == 1 {
		src = p.in.Experts[0]
		scale = float32(p.res[0].Scale)
	}
	return forChunks(p.n, func(_, lo, hi int) error {
		for j := lo; j < hi; j++ {
			if v := src[j]; math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return p.nonFinite(lo, hi)
			}
		}
		if scale == 1 {
			copy(out[lo:hi], src[lo:hi])
			return nil
		}
		for j := lo; j < hi; j++ {
			out[j] = src[j] * scale
		}
		return nil
	})
}

// dots returns Σ xⱼyⱼ, Σ xⱼ², Σ yⱼ² in float64 (y − z and x − z when z is
// non-nil), in chunk order, and reports a non-finite input.
func (p *plan) dots(x, y, z []float32) (xy, xx, yy float64, err error) {
	nc := numChunks(p.n)
	part := make([][3]float64, nc)
	err = forChunks(p.n, func(c, lo, hi int) error {
		var s [3]float64
		for j := lo; j < hi; j++ {
			a, b := float64(x[j]), float64(y[j])
			if z != nil {
				a -= float64(z[j])
				b -= float64(z[j])
			}
			s[0] += a * b
			s[1] += a * a
			s[2] += b * b
		}
		if math.IsNaN(s[0]+s[1]+s[2]) || math.IsInf(s[0]+s[1]+s[2], 0) {
			return p.nonFinite(lo, hi)
		}
		part[c] = s
		return nil
	})
	for _, s := range part {
		xy += s[0]
		xx += s[1]
		yy += s[2]
	}
	return xy, xx, yy, err
}

// slerp interpolates from the base (t = 0) to the expert (t = 1) along the
// great circle through their directions, as mergekit does: the two tensors
// are normalised (when their norm exceeds 1e-8) only to measure the angle;
// when |cos| > 0.9995 it falls back to linear interpolation.
func (p *plan) slerp(out []float32) error {
	v0, v1 := p.in.Base, p.in.Experts[0]
	t := p.common.T
	dot, n0, n1, err := p.dots(v0, v1, nil)
	if err != nil {
		return err
	}
	const eps = 1e-8
	if n := math.Sqrt(n0); n > eps {
		dot /= n
	}
	if n := math.Sqrt(n1); n > eps {
		dot /= n
	}
	s0, s1 := 1-t, t
	if math.Abs(dot) <= 0.9995 {
		theta := math.Acos(dot)
		sin := math.Sin(theta)
		s0 = math.Sin((1-t)*theta) / sin
		s1 = math.Sin(t*theta) / sin
	}
	return forChunks(p.n, func(_, lo, hi int) error {
		for j := lo; j < hi; j++ {
			out[j] = float32(s0*float64(v0[j]) + s1*float64(v1[j]))
		}
		return nil
	})
}

// model_stock: θ = t·mean(θᵢ) + (1 − t)·θ₀ with t = k·c / (1 + (k − 1)·c)
// and c the mean pairwise cosine of the task vectors of this tensor.
func (p *plan) modelStock(out []float32) error {
	ex, base := p.in.Experts, p.in.Base
	k := len(ex)
	var sum float64
	pairs := 0
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			xy, xx, yy, err := p.dots(ex[i], ex[j], base)
			if err != nil {
				return err
			}
			c := xy / math.Max(math.Sqrt(xx)*math.Sqrt(yy), 1e-6)
			sum += math.Max(-1, math.Min(1, c))
			pairs++
		}
	}
	c := sum / float64(pairs)
	den := 1 + float64(k-1)*c
	t := 0.0
	if math.Abs(den) > 1e-12 {
		t = float64(k) * c / den
	}
	inv := 1 / float64(k)
	return forChunks(p.n, func(_, lo, hi int) error {
		for j := lo; j < hi; j++ {
			var s float64
			for _, e := range ex {
				s += float64(e[j])
			}
			out[j] = float32(t*s*inv + (1-t)*float64(base[j]))
		}
		return nil
	})
}
