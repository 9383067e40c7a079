package merge

import (
	"math"
	"slices"
)

// A sparsifier turns one expert's task vector τ = e − b into the trimmed or
// dropped τ̂, block by block, without ever materialising the whole τ̂.
type sparsifier struct {
	kind  spKind
	keep  cut     // spCut: the kept set ...
	minus cut     // ... minus this set (breadcrumbs' dropped top)
	key   uint64  // spRandom, spDella: generator key
	pthr  uint64  // spRandom: keep iff draw < pthr
	scale float64 // spRandom: factor applied to kept entries (1: none)
	della *dellaProbs
}

type spKind int

const (
	spAll    spKind = iota // τ̂ = τ
	spCut                  // magnitude trim (TIES, breadcrumbs)
	spRandom               // DARE
	spDella                // DELLA MagPrune
)

// dellaProbs holds the per-entry keep probabilities of one DELLA expert,
// derived from magnitude ranks.
type dellaProbs struct {
	rank          []uint32 // rank in ascending |τ| order, ties: lower index lower rank
	lo, span      float64  // p = lo + span·rank/(n−1)
	rescale       bool
	singleDensity float64 // p when n == 1
}

func (d *dellaProbs) p(j int) float64 {
	n := len(d.rank)
	if n == 1 {
		return d.singleDensity
	}
	return d.lo + d.span*float64(d.rank[j])/float64(n-1)
}

// apply writes τ̂ for entries [lo, lo+len(dst)) into dst, given the matching
// sub-slices e and b (b nil: τ = e). It returns an OR of ab+badProbe over
// the block: bit 31 is set iff some τ is NaN or Inf.
func (s *sparsifier) apply(dst, e, b []float32, lo int) uint32 {
	switch s.kind {
	case spAll:
		return cutRange(dst, e, b, -1) // keeps every entry, like diffRange
	case spCut:
		if s.minus == cutNone {
			split := min(max(s.keep.c-lo, 0), len(dst))
			bad := cutRange(dst[:split], e[:split], b[:split], s.keep.t-1)
			return bad | cutRange(dst[split:], e[split:], b[split:], s.keep.t)
		}
		var bad uint32
		for j := range dst {
			t := e[j] - b[j]
			ab := math.Float32bits(t) & absMask
			bad |= ab + badProbe
			if s.keep.has(lo+j, ab) && !s.minus.has(lo+j, ab) {
				dst[j] = t
			} else {
				dst[j] = 0
			}
		}
		return bad
	case spRandom:
		return randomRange(dst, e, b, lo, s.key, s.pthr, s.scale)
	default: // spDella
		var bad uint32
		for j := range dst {
			t := e[j] - b[j]
			bad |= math.Float32bits(t)&absMask + badProbe
			p := s.della.p(lo + j)
			if draw(s.key, lo+j) < probBits(p) {
				if s.della.rescale {
					t = float32(float64(t) / p)
				}
				dst[j] = t
			} else {
				dst[j] = 0
			}
		}
		return bad
	}
}

func diffRange(dst, e, b []float32) uint32 {
	var bad uint32
	e, b = e[:len(dst)], b[:len(dst)]
	for j := range dst {
		t := e[j] - b[j]
		bad |= math.Float32bits(t)&absMask + badProbe
		dst[j] = t
	}
	return bad
}

// cutRangeGo keeps τ_j = e_j − b_j iff its magnitude bits exceed thr, else
// writes +0, branch-free, and returns an OR of ab+badProbe (bit 31: some τ
// is NaN or Inf).
func cutRangeGo(dst, e, b []float32, thr int64) uint32 {
	var bad uint32
	e, b = e[:len(dst)], b[:len(dst)]
	for j := range dst {
		tb := math.Float32bits(e[j] - b[j])
		ab := tb & absMask
		bad |= ab + badProbe
		m := uint32((thr - int64(ab)) >> 63)
		dst[j] = math.Float32frombits(tb & m)
	}
	return bad
}

// randomRangeGo keeps τⱼ = eⱼ − bⱼ (times scale, rounded to float32, when
// scale ≠ 1) iff draw(key, lo+j) < pthr, else writes +0, and returns an OR
// of ab+badProbe (bit 31: some τ is NaN or Inf).
func randomRangeGo(dst, e, b []float32, lo int, key, pthr uint64, scale float64) uint32 {
	var bad uint32
	e, b = e[:len(dst)], b[:len(dst)]
	for j := range dst {
		t := e[j] - b[j]
		tb := math.Float32bits(t)
		bad |= tb&absMask + badProbe
		m := uint32(int64(draw(key, lo+j)-pthr) >> 63)
		if scale != 1 {
			tb = math.Float32bits(float32(float64(t) * scale))
		}
		dst[j] = math.Float32frombits(tb & m)
	}
	return bad
}

// newDellaProbs ranks |τ| ascending (ties: lower index first).
func newDellaProbs(e, b []float32, density, epsilon float64, rescale bool) *dellaProbs {
	n := len(e)
	keys := make([]uint64, n)
	for j := range keys {
		keys[j] = uint64(tauAbs(e, b, j))<<32 | uint64(j)
	}
	slices.Sort(keys)
	rank := make([]uint32, n)
	for r, key := range keys {
		rank[uint32(key)] = uint32(r)
	}
	return &dellaProbs{rank: rank, lo: density - epsilon, span: 2 * epsilon, rescale: rescale, singleDensity: density}
}

// l1Rescale returns Σ|τ| / Σ|τ̂| for DARE with rescale_mode l1 (1 when
// either is below 1e-7, as mergekit does), summed in float64 per chunk and
// combined in chunk order.
func l1Rescale(e, b []float32, key, pthr uint64) float64 {
	n := len(e)
	nc := numChunks(n)
	before := make([]float64, nc)
	after := make([]float64, nc)
	_ = forChunks(n, func(c, lo, hi int) error {
		var s, k float64
		for j := lo; j < hi; j++ {
			a := math.Abs(float64(e[j] - b[j]))
			s += a
			if draw(key, j) < pthr {
				k += a
			}
		}
		before[c], after[c] = s, k
		return nil
	})
	var s, k float64
	for c := range before {
		s += before[c]
		k += after[c]
	}
	if s < 1e-7 || k < 1e-7 {
		return 1
	}
	return s / k
}
