package merge

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Magnitudes are compared through the bits of |τ| as a float32: for
// non-negative finite floats the unsigned bit pattern orders exactly like the
// value, so selection is integer work. "Rank order" below is |τ| descending,
// then flat index ascending: ties in magnitude keep the lower index first.

const (
	absMask  = 0x7fffffff
	infBits  = 0x7f800000
	badProbe = 0x00800000 // ab+badProbe has bit 31 set iff ab >= infBits (NaN or Inf)
)

// keepCount is k = round(density·n), at least 1 when density > 0 and n > 0.
func keepCount(density float64, n int) int {
	if density >= 1 {
		return n
	}
	if density <= 0 || n == 0 {
		return 0
	}
	k := int(math.Round(density * float64(n)))
	return min(max(k, 1), n)
}

// cut is the set of the first r entries in rank order: entry j (with
// magnitude bits ab) belongs to it iff ab > t, or ab == t and j < c.
// Equivalently int64(ab) > thr(j) with thr(j) = t-1 for j < c and t for
// j >= c, which the kernels evaluate branch-free.
type cut struct {
	t int64
	c int
}

var (
	cutNone = cut{t: 1 << 32, c: 0}
	cutAll  = cut{t: 0, c: math.MaxInt}
)

func (k cut) has(j int, ab uint32) bool {
	return int64(ab) > k.t || (int64(ab) == k.t && j < k.c)
}

// cutFromThreshold converts a global-scope threshold.
func cutFromThreshold(th Threshold) cut {
	if math.IsInf(float64(th.Mag), 1) {
		return cutNone
	}
	c := th.Cut
	if c > math.MaxInt {
		c = math.MaxInt
	}
	return cut{t: int64(math.Float32bits(th.Mag) & absMask), c: int(c)}
}

// tauAbs returns the magnitude bits of τ_j = e_j − b_j (b nil: τ = e).
func tauAbs(e, b []float32, j int) uint32 {
	if b == nil {
		return math.Float32bits(e[j]) & absMask
	}
	return math.Float32bits(e[j]-b[j]) & absMask
}

// smallSelect is the size up to which selectCut collects every entry.
const smallSelect = 1 << 16

// selectCut returns the cut holding the first r entries of τ = e − b in rank
// order. It never sorts the whole tensor: large tensors take a deterministic
// sample to bracket the r-th magnitude, count the entries above the bracket
// and select among the few inside it. If the bracket misses (it cannot be
// wrong, only slow), an exact radix selection over the magnitude bits takes
// over.
func selectCut(e, b []float32, r int) cut {
	n := len(e)
	if r <= 0 {
		return cutNone
	}
	if r >= n {
		return cutAll
	}
	if n <= smallSelect {
		keys := make([]uint64, n)
		for j := range keys {
			keys[j] = rankKey(tauAbs(e, b, j), j)
		}
		return cutFromKey(kthLargest(keys, r-1))
	}
	if k, ok := sampledSelect(e, b, r); ok {
		return k
	}
	return radixSelect(e, b, r)
}

// rankKey orders entries so that a larger key comes first in rank order.
func rankKey(ab uint32, j int) uint64 { return uint64(ab)<<32 | uint64(^uint32(j)) }

func cutFromKey(key uint64) cut {
	return cut{t: int64(key >> 32), c: int(^uint32(key)) + 1}
}

const (
	sampleBlocks   = 1024
	sampleBlockLen = 64
)

// sampledSelect selects the first r entries of τ = e − b through a sampled
// bracket and one scan; false means the bracket missed and radixSelect
// must decide.
func sampledSelect(e, b []float32, r int) (cut, bool) {
	n := len(e)
	br := sampleBracket(e, b, r)
	nc := numChunks(n)
	scan := bracketScan{greater: make([]int, nc), cands: make([][]uint64, nc), overflow: make([]bool, nc)}
	_ = forChunks(n, func(c, clo, chi int) error {
		scan.collect(c, e, b, clo, chi, br)
		return nil
	})
	return scan.cut(n, r)
}

// bracket is a range [lo, hi] of magnitude bits that holds the r-th
// largest |τ| with high probability.
type bracket struct{ lo, hi uint32 }

// sampleBracket brackets the r-th largest magnitude of τ = e − b from a
// deterministic sample of sampleBlocks runs spread over the tensor.
func sampleBracket(e, b []float32, r int) bracket {
	sample := make([]uint64, 0, sampleBlocks*sampleBlockLen)
	forSampleRuns(len(e), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			sample = append(sample, uint64(tauAbs(e, b, j)))
		}
	})
	return bracketFromSample(sample, r, len(e))
}

// forSampleRuns calls fn for each of the sampleBlocks runs [lo, hi) of
// sampleBlockLen entries spread evenly over n > smallSelect entries.
func forSampleRuns(n int, fn func(lo, hi int)) {
	for s := 0; s < sampleBlocks; s++ {
		lo := sampleRunStart(n, s)
		fn(lo, lo+sampleBlockLen)
	}
}

// sampleRunStart is the first entry of sample run s of n entries.
func sampleRunStart(n, s int) int {
	return int(int64(s) * int64(n-sampleBlockLen) / (sampleBlocks - 1))
}

// bracketFromSample brackets the r-th largest of n magnitudes from the
// magnitude bits of a sample of them (reordering sample).
func bracketFromSample(sample []uint64, r, n int) bracket {
	m := len(sample)
	// Rank of the target in the sample (0-based, descending), with a margin
	// of about six standard deviations of the sampled rank.
	p := float64(r) / float64(n)
	rs := p * float64(m)
	margin := 6*math.Sqrt(rs*(1-p)+1) + 16
	hiRank := int(rs - margin) // larger magnitude end
	loRank := int(rs + margin)
	br := bracket{lo: 0, hi: math.MaxUint32}
	switch {
	case hiRank >= 0 && loRank < m:
		hi, lo := kthLargestPair(sample, hiRank, loRank)
		br = bracket{lo: uint32(lo), hi: uint32(hi)}
	case hiRank >= 0:
		br.hi = uint32(kthLargest(sample, hiRank))
	case loRank < m:
		br.lo = uint32(kthLargest(sample, loRank))
	}
	return br
}

// bracketScan collects, chunk by chunk, the entries above and within one
// expert's bracket.
type bracketScan struct {
	greater  []int      // per chunk: entries above the bracket
	cands    [][]uint64 // per chunk: rank keys of the entries within it
	overflow []bool     // per chunk: too many entries within it
}

// candidateLimit is the most bracketed entries a selection over n entries
// accepts before it falls back to radixSelect.
func candidateLimit(n int) int { return max(n/8, 1<<16) }

// collect scans chunk c = [clo, chi) of τ = e − b.
func (s *bracketScan) collect(c int, e, b []float32, clo, chi int, br bracket) {
	perChunk := candidateLimit(len(e))/len(s.greater) + 1
	s.greater[c], s.cands[c], s.overflow[c] = collectBracket(e, b, clo, chi, br.lo, br.hi, perChunk*4)
}

// cut finishes the selection of the r-th entry of n from a complete scan;
// false means the bracket missed (or held too much) and an exact fallback
// must decide.
func (s *bracketScan) cut(n, r int) (cut, bool) {
	total, ncand := 0, 0
	for c := range s.greater {
		if s.overflow[c] {
			return cut{}, false
		}
		total += s.greater[c]
		ncand += len(s.cands[c])
	}
	need := r - total
	if need < 1 || need > ncand || ncand > candidateLimit(n) {
		return cut{}, false
	}
	all := make([]uint64, 0, ncand)
	for _, l := range s.cands {
		all = append(all, l...)
	}
	return cutFromKey(kthLargest(all, need-1)), true
}

// selectCuts returns selectCut(experts[i], b, r[i]) for every expert. The
// large selections share one scan: chunk by chunk, every expert's bracket
// is collected while the base's chunk stays in cache, so the base is read
// from memory once instead of once per expert. Results do not depend on
// the sharing (each selection is exact).
func selectCuts(experts [][]float32, b []float32, r []int) []cut {
	cuts := make([]cut, len(experts))
	var big []int // experts whose selection scans through a bracket
	for i, e := range experts {
		if n := len(e); r[i] > 0 && r[i] < n && n > smallSelect {
			big = append(big, i)
		}
	}
	_ = forEach(len(experts), func(i int) error {
		if !slices.Contains(big, i) {
			cuts[i] = selectCut(experts[i], b, r[i])
		}
		return nil
	})
	if len(big) == 0 {
		return cuts
	}
	n := len(experts[big[0]])
	// Sample every expert at the same runs, each run of the base read once,
	// in groups of runs on every core (the reads are cache misses).
	samples := make([][]uint64, len(big))
	for x := range samples {
		samples[x] = make([]uint64, sampleBlocks*sampleBlockLen)
	}
	const runsPerGroup = 64
	_ = forEach(sampleBlocks/runsPerGroup, func(g int) error {
		for s := g * runsPerGroup; s < (g+1)*runsPerGroup; s++ {
			lo := sampleRunStart(n, s)
			for x, i := range big {
				dst := samples[x][s*sampleBlockLen : (s+1)*sampleBlockLen]
				for j := range dst {
					dst[j] = uint64(tauAbs(experts[i], b, lo+j))
				}
			}
		}
		return nil
	})
	brackets := make([]bracket, len(big))
	scans := make([]bracketScan, len(big))
	_ = forEach(len(big), func(x int) error {
		brackets[x] = bracketFromSample(samples[x], r[big[x]], n)
		nc := numChunks(n)
		scans[x] = bracketScan{greater: make([]int, nc), cands: make([][]uint64, nc), overflow: make([]bool, nc)}
		return nil
	})
	_ = forChunks(n, func(c, clo, chi int) error {
		for x, i := range big {
			scans[x].collect(c, experts[i], b, clo, chi, brackets[x])
		}
		return nil
	})
	_ = forEach(len(big), func(x int) error {
		i := big[x]
		k, ok := scans[x].cut(n, r[i])
		if !ok {
			k = radixSelect(experts[i], b, r[i])
		}
		cuts[i] = k
		return nil
	})
	return cuts
}

// collectBracketGo counts the entries of [clo, chi) with magnitude bits
// above hi (branch-free) and lists those within [lo, hi] as rank keys, in
// index order, up to max; the third result reports that more than max
// entries are within the bracket.
func collectBracketGo(e, b []float32, clo, chi int, lo, hi uint32, max int) (int, []uint64, bool) {
	var g int64
	var list []uint64
	e = e[clo:chi]
	sub := float32(1)
	if b == nil {
		b, sub = e, 0 // τ = e
	} else {
		b = b[clo:chi]
	}
	b = b[:len(e)]
	h := int64(hi)
	span := hi - lo
	for j, v := range e {
		ab := math.Float32bits(v-sub*b[j]) & absMask
		g += (h - int64(ab)) >> 63 // −1 iff ab > hi
		if ab-lo <= span {         // lo ≤ ab ≤ hi, unsigned wrap-around
			if len(list) >= max {
				return 0, nil, true
			}
			list = append(list, rankKey(ab, clo+j))
		}
	}
	return int(-g), list, false
}

// radixSelect is the exact fallback: a histogram of the high 16 bits finds
// the bucket, a histogram of the low 16 bits inside it finds the value, and
// a last scan finds the index cut among equal magnitudes.
func radixSelect(e, b []float32, r int) cut {
	n := len(e)
	var hist [1 << 16]int
	for j := 0; j < n; j++ {
		hist[tauAbs(e, b, j)>>16]++
	}
	bucket, above := topBucket(hist[:], r)
	var fine [1 << 16]int
	for j := 0; j < n; j++ {
		ab := tauAbs(e, b, j)
		if ab>>16 == uint32(bucket) {
			fine[ab&0xffff]++
		}
	}
	low, above2 := topBucket(fine[:], r-above)
	t := uint32(bucket)<<16 | uint32(low)
	quota := r - above - above2
	for j := 0; j < n; j++ {
		if tauAbs(e, b, j) == t {
			quota--
			if quota == 0 {
				return cut{t: int64(t), c: j + 1}
			}
		}
	}
	panic(fmt.Sprintf("merge: radixSelect inconsistent (r=%d)", r)) // unreachable: counts are exact
}

// topBucket finds, scanning from the top, the bucket holding the r-th
// largest entry (r ≥ 1) and the number of entries in higher buckets.
func topBucket(hist []int, r int) (int, int) {
	above := 0
	for i := len(hist) - 1; i >= 0; i-- {
		if above+hist[i] >= r {
			return i, above
		}
		above += hist[i]
	}
	return 0, above
}

// nthLargest returns the element that would sit at position i (0-based) if
// a were sorted in descending order. It reorders a. The pivot rule is
// deterministic.
func nthLargest(a []uint64, i int) uint64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		// Median of three as pivot.
		mid := lo + (hi-lo)/2
		x, y, z := a[lo], a[mid], a[hi]
		p := max(min(x, y), min(max(x, y), z))
		l, r := lo, hi
		for l <= r {
			for a[l] > p {
				l++
			}
			for a[r] < p {
				r--
			}
			if l <= r {
				a[l], a[r] = a[r], a[l]
				l++
				r--
			}
		}
		switch {
		case i <= r:
			hi = r
		case i >= l:
			lo = l
		default:
			return a[i]
		}
	}
	return a[i]
}

// radixBits is the digit of kthLargest: 2¹¹ buckets (8 KiB of counters).
const radixBits = 11

// radixSmall is the length below which kthLargest hands over to nthLargest.
const radixSmall = 512

// kthLargest returns the same element as nthLargest (position i, 0-based,
// of a sorted in descending order) and also reorders a, but by radix
// rounds instead of comparisons: each round counts the entries by the top
// bits of their offset from the smallest, keeps only the bucket holding
// position i (compacting it to the front of a) and narrows the range by
// at least 2¹⁰, until few entries remain for nthLargest. Each round is
// three branch-light passes, so a large selection costs a few passes
// instead of quickselect's mispredicted comparisons.
func kthLargest(a []uint64, i int) uint64 {
	var cnt [1 << radixBits]int32
	for len(a) > radixSmall {
		lo, hi := a[0], a[0]
		for _, v := range a {
			lo = min(lo, v)
			hi = max(hi, v)
		}
		if lo == hi {
			return lo
		}
		shift := max(bits.Len64(hi-lo)-radixBits, 0)
		clear(cnt[:])
		for _, v := range a {
			cnt[(v-lo)>>shift]++
		}
		above, bkt := 0, len(cnt)-1
		for ; bkt > 0; bkt-- {
			if c := int(cnt[bkt]); above+c > i {
				break
			} else {
				above += c
			}
		}
		i -= above
		w := 0
		for _, v := range a {
			if (v-lo)>>shift == uint64(bkt) {
				a[w] = v
				w++
			}
		}
		a = a[:w]
	}
	return nthLargest(a, i)
}

// kthLargestPair returns kthLargest(a, i) and kthLargest(a, j) with one
// first radix round for both (reordering a).
func kthLargestPair(a []uint64, i, j int) (uint64, uint64) {
	if len(a) <= radixSmall {
		b := slices.Clone(a)
		return nthLargest(a, i), nthLargest(b, j)
	}
	lo, hi := a[0], a[0]
	for _, v := range a {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	if lo == hi {
		return lo, lo
	}
	shift := max(bits.Len64(hi-lo)-radixBits, 0)
	var cnt [1 << radixBits]int32
	for _, v := range a {
		cnt[(v-lo)>>shift]++
	}
	// find returns the bucket holding position i and the entries above it.
	find := func(i int) (int, int) {
		above, bkt := 0, len(cnt)-1
		for ; bkt > 0; bkt-- {
			if c := int(cnt[bkt]); above+c > i {
				break
			} else {
				above += c
			}
		}
		return bkt, above
	}
	bi, ai := find(i)
	bj, aj := find(j)
	ei := make([]uint64, 0, cnt[bi])
	ej := make([]uint64, 0, cnt[bj])
	for _, v := range a {
		d := (v - lo) >> shift
		if d == uint64(bi) {
			ei = append(ei, v)
		}
		if d == uint64(bj) {
			ej = append(ej, v)
		}
	}
	return kthLargest(ei, i-ai), kthLargest(ej, j-aj)
}
