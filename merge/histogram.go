package merge

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Threshold tells MergeTensor which entries of one expert's task vector a
// global-scope TIES trim keeps in one tensor: those with |τ| > Mag, and
// those with |τ| == Mag whose flat index is below Cut. Mag = +Inf keeps
// nothing; Mag = 0 with Cut = math.MaxInt64 keeps everything.
type Threshold struct {
	Mag float32
	Cut int64
}

// MagnitudeHistogram finds, exactly and without holding a model in memory,
// which entries a global-scope TIES trim keeps for one expert: the
// k = round(density·n) largest |τ| over the expert's whole flattened task
// vector, n being the total number of entries of all tensors. Ties in
// magnitude are kept in the order of the tensors in the last pass (the
// driver must feed tensors in name order), then by flat index.
//
// It needs up to three passes over the expert's tensors. Usage:
//
//	h, err := NewMagnitudeHistogram(density)
//	for !h.Done() {
//		for _, name := range names { // name order, every pass
//			err = h.Add(name, expert[name], base[name])
//		}
//		err = h.EndPass()
//	}
//	th, err := h.Threshold(name) // per tensor, into Params.Threshold
//
// Pass 1 counts the high 16 bits of the float32 bit pattern of |τ| (the
// bit pattern orders like the value), pass 2 counts the low 16 bits inside
// the bucket that holds the k-th largest, which gives its exact value. A
// third pass runs only when that value is non-zero and only some of the
// entries equal to it can be kept: it finds, per tensor, the index cut.
// Memory is two arrays of 65536 counters plus one int64 per tensor.
// A MagnitudeHistogram is not safe for concurrent use, but Add parallelises
// internally.
type MagnitudeHistogram struct {
	density float64
	pass    int // 1, 2, 3; 4 = done
	n       int64
	k       int64
	coarse  [1 << 16]int64
	fine    [1 << 16]int64
	bucket  uint32
	above   int64 // entries in buckets above `bucket` (pass 1) / above mag (pass 2)
	mag     uint32
	quota   int64 // entries equal to mag still to keep (pass 3)
	seen    map[string]bool
	cuts    map[string]int64
	names   []string
}

// NewMagnitudeHistogram starts a histogram for one expert.
func NewMagnitudeHistogram(density float64) (*MagnitudeHistogram, error) {
	if !(density >= 0 && density <= 1) {
		return nil, fmt.Errorf("magnitude histogram: density must be in [0, 1], got %v", density)
	}
	return &MagnitudeHistogram{density: density, pass: 1, seen: map[string]bool{}, cuts: map[string]int64{}}, nil
}

// Done reports whether the threshold is known.
func (h *MagnitudeHistogram) Done() bool { return h.pass > 3 }

// Pass returns the current pass number (1 to 3).
func (h *MagnitudeHistogram) Pass() int { return h.pass }

// Add feeds one tensor of the expert: τ = expert − base (base nil: τ =
// expert). Every pass must see the same tensors with the same lengths.
func (h *MagnitudeHistogram) Add(name string, expert, base []float32) error {
	if h.Done() {
		return fmt.Errorf("magnitude histogram: tensor %q added after the last pass", name)
	}
	if base != nil && len(base) != len(expert) {
		return fmt.Errorf("magnitude histogram: tensor %q: base has %d entries, expert %d", name, len(base), len(expert))
	}
	if h.seen[name] {
		return fmt.Errorf("magnitude histogram: tensor %q added twice in pass %d", name, h.pass)
	}
	h.seen[name] = true
	n := len(expert)
	// Integer counts, one local histogram per part: the split into parts
	// cannot change the result.
	parts := min(runtime.GOMAXPROCS(0), max(1, n/chunkLen))
	var mu sync.Mutex
	switch h.pass {
	case 1:
		h.names = append(h.names, name)
		h.n += int64(n)
		return forEach(parts, func(w int) error {
			lo, hi := w*n/parts, (w+1)*n/parts
			local := new([1 << 16]int64)
			var bad uint32
			e, b := expert[lo:hi], sub(base, lo, hi)
			for j, v := range e {
				if b != nil {
					v -= b[j]
				}
				ab := math.Float32bits(v) & absMask
				bad |= ab + badProbe
				local[ab>>16]++
			}
			if bad&signBit != 0 {
				for j := lo; j < hi; j++ {
					if tauAbs(expert, base, j) >= infBits {
						return fmt.Errorf("magnitude histogram: tensor %q: non-finite task vector entry at flat index %d", name, j)
					}
				}
			}
			mu.Lock()
			for i, c := range local {
				h.coarse[i] += c
			}
			mu.Unlock()
			return nil
		})
	case 2:
		return forEach(parts, func(w int) error {
			lo, hi := w*n/parts, (w+1)*n/parts
			local := new([1 << 16]int64)
			bucket := h.bucket
			e, b := expert[lo:hi], sub(base, lo, hi)
			for j, v := range e {
				if b != nil {
					v -= b[j]
				}
				ab := math.Float32bits(v) & absMask
				if ab>>16 == bucket {
					local[ab&0xffff]++
				}
			}
			mu.Lock()
			for v, c := range local {
				h.fine[v] += c
			}
			mu.Unlock()
			return nil
		})
	default:
		cut := int64(0)
		if h.quota > 0 {
			cut = int64(n)
			for j := 0; j < n; j++ {
				if tauAbs(expert, base, j) == h.mag {
					h.quota--
					if h.quota == 0 {
						cut = int64(j) + 1
						break
					}
				}
			}
		}
		h.cuts[name] = cut
		return nil
	}
}

// sub returns b[lo:hi], or nil for a nil b.
func sub(b []float32, lo, hi int) []float32 {
	if b == nil {
		return nil
	}
	return b[lo:hi:hi]
}

// EndPass closes the current pass and decides whether another is needed.
func (h *MagnitudeHistogram) EndPass() error {
	if h.Done() {
		return fmt.Errorf("magnitude histogram: EndPass after the last pass")
	}
	if h.pass > 1 && len(h.seen) != len(h.names) {
		return fmt.Errorf("magnitude histogram: pass %d saw %d tensors, pass 1 saw %d", h.pass, len(h.seen), len(h.names))
	}
	h.seen = map[string]bool{}
	switch h.pass {
	case 1:
		h.k = int64(keepCount(h.density, int(h.n)))
		if h.k == 0 || h.k == h.n {
			h.pass = 4
			return nil
		}
		b, above := topBucket64(h.coarse[:], h.k)
		h.bucket, h.above = uint32(b), above
		h.pass = 2
	case 2:
		low, above2 := topBucket64(h.fine[:], h.k-h.above)
		h.mag = h.bucket<<16 | uint32(low)
		h.above += above2
		h.quota = h.k - h.above
		if h.mag == 0 || h.quota == h.fine[low] {
			h.pass = 4 // every entry equal to mag is kept (or is zero)
			return nil
		}
		h.pass = 3
	case 3:
		h.pass = 4
	}
	return nil
}

func topBucket64(hist []int64, r int64) (int, int64) {
	var above int64
	for i := len(hist) - 1; i >= 0; i-- {
		if above+hist[i] >= r {
			return i, above
		}
		above += hist[i]
	}
	return 0, above
}

// Threshold returns the trim of one tensor, to be set as the expert's
// Params.Threshold when merging that tensor.
func (h *MagnitudeHistogram) Threshold(name string) (Threshold, error) {
	if !h.Done() {
		return Threshold{}, fmt.Errorf("magnitude histogram: threshold of %q asked before the last pass", name)
	}
	switch {
	case h.k == 0:
		return Threshold{Mag: float32(math.Inf(1)), Cut: 0}, nil
	case h.k == h.n:
		return Threshold{Mag: 0, Cut: math.MaxInt64}, nil
	}
	mag := math.Float32frombits(h.mag)
	if len(h.cuts) == 0 {
		return Threshold{Mag: mag, Cut: math.MaxInt64}, nil
	}
	c, ok := h.cuts[name]
	if !ok {
		return Threshold{}, fmt.Errorf("magnitude histogram: tensor %q was not seen", name)
	}
	return Threshold{Mag: mag, Cut: c}, nil
}

// Keep returns k, the number of entries the trim keeps over the whole
// task vector (valid after pass 1).
func (h *MagnitudeHistogram) Keep() int64 { return h.k }
