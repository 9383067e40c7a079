package merge

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// TensorStats are the raw per-tensor diagnostic sums. They are computed on
// the entries chosen by Input.StatsStride (Sampled of N) and combined into
// a model's Stats by an Accumulator. All sums are float64.
type TensorStats struct {
	Name    string `json:"name"`
	N       int64  `json:"n"`       // entries of the tensor
	Sampled int64  `json:"sampled"` // entries the sums below cover
	// TaskVectors is false when the merge had no base (linear without base,
	// passthrough): then only N and Sampled are meaningful.
	TaskVectors bool `json:"task_vectors"`
	// Gram[i][j] = Σ τᵢτⱼ over the sampled entries (untrimmed task vectors).
	Gram [][]float64 `json:"gram,omitempty"`
	// L1[i] = Σ|τᵢ|; L1Removed[i] = Σ|τᵢ| over the entries the trim or drop
	// zeroed (before any rescaling).
	L1        []float64 `json:"l1,omitempty"`
	L1Removed []float64 `json:"l1_removed,omitempty"`
	// Conflicts counts the sampled entries where the non-zero trimmed task
	// vector entries τ̂ᵢ do not all have the same sign.
	Conflicts int64 `json:"conflicts"`
	// MergedSq = Σ (θ − θ₀)² of the merged tensor.
	MergedSq float64 `json:"merged_sq"`
}

// Stats are the diagnostics of a whole merge, aggregated over tensors.
// Values that are undefined (no base, fewer than two experts, zero norms)
// are 0.
type Stats struct {
	// PairwiseCosine[i][j] is the cosine similarity of the whole flattened
	// task vectors τᵢ and τⱼ.
	PairwiseCosine [][]float64 `json:"pairwise_cosine"`
	// MeanCosine is the mean of PairwiseCosine over the pairs i < j.
	MeanCosine float64 `json:"mean_cosine"`
	// SignConflict is the fraction of entries where the non-zero trimmed
	// (or dropped) task-vector entries disagree in sign.
	SignConflict float64 `json:"sign_conflict"`
	// MassRemoved is the fraction of the task vectors' L1 mass that trimming
	// or dropping zeroed (0 for methods that keep everything).
	MassRemoved float64 `json:"mass_removed"`
	// NormRatio is ‖merged τ‖ ÷ mean ‖τᵢ‖ over the whole model.
	NormRatio float64 `json:"norm_ratio"`
	// Tensors, Entries and Experts count what the stats cover.
	Tensors int   `json:"tensors"`
	Entries int64 `json:"entries"`
	Experts int   `json:"experts"`
}

const statsBlock = 256

// statsStride is the distance, in statsBlock blocks, between the sampled
// blocks of the diagnostics (Input.StatsStride, or its default).
func (p *plan) statsStride() int {
	if s := p.in.StatsStride; s > 0 {
		return s
	}
	return min(256, max(1, p.n>>15))
}

// blockStats holds every sampled block's contribution to the diagnostics,
// so that the merge kernels can compute them while a block's inputs are
// still in cache; stats adds them up in block order either way.
type blockStats struct {
	k      int
	stride int
	vals   []float64 // per sampled block: Gram upper triangle, L1, L1Removed, MergedSq
	confl  []int64   // per sampled block
	done   bool      // every sampled block was filled by the kernel
}

// width is the number of float64 values per sampled block.
func (bs *blockStats) width() int { return bs.k*(bs.k+1)/2 + 2*bs.k + 1 }

// newBlockStats prepares the per-block diagnostics of p (nil when the merge
// has no task vectors).
func (p *plan) newBlockStats() *blockStats {
	k := len(p.in.Experts)
	if p.in.Base == nil || k == 0 {
		return nil
	}
	stride := p.statsStride()
	nb := (p.n + statsBlock - 1) / statsBlock
	ns := (nb + stride - 1) / stride
	bs := &blockStats{k: k, stride: stride, confl: make([]int64, ns)}
	bs.vals = make([]float64, ns*bs.width())
	return bs
}

// statsScratch is one goroutine's buffers for blockStats.fill.
type statsScratch struct {
	tau, hat [][]float32
	pos, neg [statsBlock]uint8
}

func (p *plan) newStatsScratch() *statsScratch {
	k := len(p.in.Experts)
	sc := &statsScratch{tau: make([][]float32, k), hat: make([][]float32, k)}
	for i := range sc.tau {
		sc.tau[i] = make([]float32, statsBlock)
		sc.hat[i] = sc.tau[i] // no sparsifier: τ̂ = τ
		if p.sps != nil {
			sc.hat[i] = make([]float32, statsBlock)
		}
	}
	return sc
}

// fillRange computes the contributions of the sampled blocks that start in
// entries [lo, hi), whose output must be final; sc is allocated on first
// use.
func (p *plan) fillRange(bs *blockStats, sc **statsScratch, out []float32, lo, hi int) {
	if bs == nil {
		return
	}
	step := bs.stride * statsBlock
	for start := (lo + step - 1) / step * step; start < hi; start += step {
		if *sc == nil {
			*sc = p.newStatsScratch()
		}
		p.fillBlock(bs, *sc, out, start/statsBlock)
	}
}

// fillBlock computes sampled block bi's contribution to the diagnostics.
func (p *plan) fillBlock(bs *blockStats, sc *statsScratch, out []float32, bi int) {
	in := p.in
	k := bs.k
	s := bi / bs.stride
	v := bs.vals[s*bs.width() : (s+1)*bs.width()]
	lo, hi := bi*statsBlock, min((bi+1)*statsBlock, p.n)
	m := hi - lo
	b := in.Base[lo:hi]
	tau, hat := sc.tau, sc.hat
	for i, e := range in.Experts {
		diffRange(tau[i][:m], e[lo:hi], b)
		if p.sps != nil {
			p.sps[i].apply(hat[i][:m], e[lo:hi], b, lo)
		}
	}
	// One tight loop per pair and per expert over the block.
	x := 0
	for i := 0; i < k; i++ {
		ti := tau[i][:m]
		for l := i; l < k; l++ {
			v[x] = dot64(ti, tau[l][:m])
			x++
		}
	}
	pv, nv := sc.pos[:m], sc.neg[:m]
	clear(pv)
	clear(nv)
	for i := 0; i < k; i++ {
		ti, hi := tau[i][:m], hat[i][:m]
		// Two independent sums each, for instruction-level parallelism.
		var l1, removed [2]float64
		for j, t := range ti {
			a := math.Abs(float64(t))
			l1[j&1] += a
			h := math.Float32bits(hi[j])
			nz := uint8((h&absMask + absMask) >> 31) // 1 iff h ≠ ±0
			removed[j&1] += a * float64(1-nz)
			s := uint8(h >> 31)
			pv[j] |= nz &^ s
			nv[j] |= nz & s
		}
		v[x+i] = l1[0] + l1[1]
		v[x+k+i] = removed[0] + removed[1]
	}
	var confl int64
	for j := range pv {
		confl += int64(pv[j] & nv[j])
	}
	bs.confl[s] = confl
	o := out[lo:hi]
	var sq float64
	for j, ov := range o[:m] {
		d := float64(ov) - float64(b[j])
		sq += d * d
	}
	v[x+2*k] = sq
}

// stats computes the tensor's diagnostics from the inputs, the sparsifiers
// (re-run on the sampled blocks only) and the merged output, unless the
// merge kernel already computed every sampled block's part (bs.done).
func (p *plan) stats(bs *blockStats, out []float32) (TensorStats, error) {
	in := p.in
	k := len(in.Experts)
	st := TensorStats{Name: in.Name, N: int64(p.n)}
	stride := p.statsStride()
	nb := (p.n + statsBlock - 1) / statsBlock
	for bi := 0; bi < nb; bi += stride {
		st.Sampled += int64(min((bi+1)*statsBlock, p.n) - bi*statsBlock)
	}
	if bs == nil {
		return st, nil
	}
	st.TaskVectors = true
	ns := len(bs.confl)
	// Groups of sampled blocks: each group's sums are taken block by block,
	// then the groups are combined in order.
	const group = 64
	ng := (ns + group - 1) / group
	if !bs.done {
		_ = forEach(ng, func(g int) error {
			sc := p.newStatsScratch()
			for s := g * group; s < min((g+1)*group, ns); s++ {
				p.fillBlock(bs, sc, out, s*stride)
			}
			return nil
		})
	}
	st.Gram, st.L1, st.L1Removed = square(k), make([]float64, k), make([]float64, k)
	w := bs.width()
	for g := 0; g < ng; g++ {
		ps := TensorStats{Gram: square(k), L1: make([]float64, k), L1Removed: make([]float64, k)}
		for s := g * group; s < min((g+1)*group, ns); s++ {
			v := bs.vals[s*w : (s+1)*w]
			x := 0
			for i := 0; i < k; i++ {
				for l := i; l < k; l++ {
					ps.Gram[i][l] += v[x]
					x++
				}
			}
			for i := 0; i < k; i++ {
				ps.L1[i] += v[x+i]
				ps.L1Removed[i] += v[x+k+i]
			}
			ps.Conflicts += bs.confl[s]
			ps.MergedSq += v[x+2*k]
		}
		for i := 0; i < k; i++ {
			for l := i; l < k; l++ {
				st.Gram[i][l] += ps.Gram[i][l]
			}
			st.L1[i] += ps.L1[i]
			st.L1Removed[i] += ps.L1Removed[i]
		}
		st.Conflicts += ps.Conflicts
		st.MergedSq += ps.MergedSq
	}
	for i := 0; i < k; i++ {
		for l := 0; l < i; l++ {
			st.Gram[i][l] = st.Gram[l][i]
		}
	}
	return st, nil
}

// dot64Go returns Σ xⱼyⱼ in float64 with four independent partial sums
// (entry j goes to sum j mod 4; entries after the last multiple of 4 go
// to sum 0), combined as (s₀ + s₁) + (s₂ + s₃). Products are rounded
// before they are added (never fused), as the AVX2 kernel does.
func dot64Go(x, y []float32) float64 {
	y = y[:len(x)]
	var s [4]float64
	j := 0
	for ; j+4 <= len(x); j += 4 {
		s[0] += float64(float64(x[j]) * float64(y[j]))
		s[1] += float64(float64(x[j+1]) * float64(y[j+1]))
		s[2] += float64(float64(x[j+2]) * float64(y[j+2]))
		s[3] += float64(float64(x[j+3]) * float64(y[j+3]))
	}
	return dotTail(x, y, j, &s)
}

// dotTail adds entries [j, len(x)) to s[0] and combines the partial sums.
func dotTail(x, y []float32, j int, s *[4]float64) float64 {
	for ; j < len(x); j++ {
		s[0] += float64(float64(x[j]) * float64(y[j]))
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

func square(k int) [][]float64 {
	m := make([][]float64, k)
	for i := range m {
		m[i] = make([]float64, k)
	}
	return m
}

// Accumulator collects the TensorStats of one merge and turns them into
// Stats. Sums are taken in tensor-name order, so the result does not
// depend on the order of Add calls. It is not safe for concurrent use.
type Accumulator struct {
	experts int
	byName  map[string]TensorStats
}

// NewAccumulator returns an empty accumulator for a merge of k experts.
func NewAccumulator(k int) *Accumulator {
	return &Accumulator{experts: k, byName: map[string]TensorStats{}}
}

// Add records one tensor's stats. A repeated name or a stats of another
// number of experts is an error.
func (a *Accumulator) Add(ts TensorStats) error {
	if _, dup := a.byName[ts.Name]; dup {
		return fmt.Errorf("merge stats: tensor %q added twice", ts.Name)
	}
	if ts.TaskVectors && len(ts.Gram) != a.experts {
		return fmt.Errorf("merge stats: tensor %q has %d experts, want %d", ts.Name, len(ts.Gram), a.experts)
	}
	a.byName[ts.Name] = ts
	return nil
}

// Stats aggregates everything added so far. Sampled sums are scaled by
// N/Sampled so that tensors sampled at different rates weigh by size.
func (a *Accumulator) Stats() Stats {
	k := a.experts
	names := make([]string, 0, len(a.byName))
	for name := range a.byName {
		names = append(names, name)
	}
	slices.SortFunc(names, strings.Compare)
	s := Stats{Experts: k, Tensors: len(names), PairwiseCosine: square(k)}
	gram := square(k)
	var l1, removed, conflicts, merged, tvEntries float64
	for _, name := range names {
		ts := a.byName[name]
		s.Entries += ts.N
		if !ts.TaskVectors || ts.Sampled == 0 {
			continue
		}
		f := float64(ts.N) / float64(ts.Sampled)
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				gram[i][j] += f * ts.Gram[i][j]
			}
			l1 += f * ts.L1[i]
			removed += f * ts.L1Removed[i]
		}
		conflicts += f * float64(ts.Conflicts)
		merged += f * ts.MergedSq
		tvEntries += float64(ts.N)
	}
	pairs := 0
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			if d := math.Sqrt(gram[i][i]) * math.Sqrt(gram[j][j]); d > 0 {
				s.PairwiseCosine[i][j] = gram[i][j] / d
			}
			if j > i {
				s.MeanCosine += s.PairwiseCosine[i][j]
				pairs++
			}
		}
	}
	if pairs > 0 {
		s.MeanCosine /= float64(pairs)
	}
	if tvEntries > 0 {
		s.SignConflict = conflicts / tvEntries
	}
	if l1 > 0 {
		s.MassRemoved = removed / l1
	}
	var meanNorm float64
	for i := 0; i < k; i++ {
		meanNorm += math.Sqrt(gram[i][i])
	}
	if k > 0 && meanNorm > 0 {
		s.NormRatio = math.Sqrt(merged) / (meanNorm / float64(k))
	}
	return s
}
