package model

import (
	"math"
	"math/rand/v2"

	"mergescale/gemm"
)

// layerActs holds what one block's backward pass needs from its forward.
type layerActs struct {
	ln1, mean1, rstd1 []float32 // ln_1 output [R,d] and its statistics [R]
	qkv               []float32 // [R,3d]
	att               []float32 // softmax probabilities, per sequence per head T×T
	y                 []float32 // attention output before c_proj [R,d]
	xMid              []float32 // residual after the attention branch [R,d]
	ln2, mean2, rstd2 []float32
	h, g, s           []float32 // c_fc output, its GELU and GELU's logistic term (geluFwd) [R,4d]
	dropA, dropM      []float32 // dropout scales of the two branches [R,d] (nil: no dropout)
}

// shard is the workspace of one packed group of sequences: sequences are
// concatenated row after row (no padding), attention stays within each
// sequence, and the loss covers the rows whose target is not -1.
type shard struct {
	cfg     Config
	kern    gemm.Kernel
	workers int // goroutines of the row-, column- and head-parallel loops (GEMMs use the kernel's own)

	rows     int
	toks     []int // input token of each row
	pos      []int // position of each row within its sequence
	tgt      []int // token each row predicts, or -1
	seqStart []int // first row of each sequence, plus rows at the end
	attOff   []int // offset of each sequence's attention block in att

	res     [][]float32 // residual stream entering each block, and after the last [L+1][R,d]
	dropE   []float32   // embedding dropout scales [R,d] (nil: no dropout)
	layers  []layerActs
	lnf     []float32
	lnfMean []float32
	lnfRstd []float32
	tRows   []int     // rows with a target
	lnfT    []float32 // ln_f output of the target rows [Rt,d]
	logits  []float32 // [Rt,V]

	// backward scratch
	dres, dBr, dLn, dY []float32
	dQKV, dH           []float32
	dLnf               []float32
	dAtt               []float32      // gradient of the attention probabilities, laid out like layerActs.att
	prods              []gemm.Product // attention's batched products
	rowLoss            []float64      // loss of each target row
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// load packs the sequences (input tokens and, per row, the predicted token or
// -1) into the shard and sizes its buffers.
func (s *shard) load(inputs, targets [][]int, dropout bool) {
	c := s.cfg
	d, L := c.NEmbd, c.NLayer
	s.toks, s.pos, s.tgt = s.toks[:0], s.pos[:0], s.tgt[:0]
	s.seqStart, s.attOff = s.seqStart[:0], s.attOff[:0]
	s.tRows = s.tRows[:0]
	att := 0
	for i, in := range inputs {
		s.seqStart = append(s.seqStart, len(s.toks))
		s.attOff = append(s.attOff, att)
		att += c.NHead * len(in) * len(in)
		for p, t := range in {
			if targets[i][p] >= 0 {
				s.tRows = append(s.tRows, len(s.toks))
			}
			s.toks = append(s.toks, t)
			s.pos = append(s.pos, p)
			s.tgt = append(s.tgt, targets[i][p])
		}
	}
	R := len(s.toks)
	s.rows = R
	s.seqStart = append(s.seqStart, R)
	if len(s.res) != L+1 {
		s.res = make([][]float32, L+1)
		s.layers = make([]layerActs, L)
	}
	for i := range s.res {
		s.res[i] = grow(s.res[i], R*d)
	}
	s.dropE = nil
	if dropout {
		s.dropE = grow(s.dropE, R*d)
	}
	for l := range s.layers {
		a := &s.layers[l]
		a.ln1, a.mean1, a.rstd1 = grow(a.ln1, R*d), grow(a.mean1, R), grow(a.rstd1, R)
		a.qkv = grow(a.qkv, R*3*d)
		a.att = grow(a.att, att)
		a.y, a.xMid = grow(a.y, R*d), grow(a.xMid, R*d)
		a.ln2, a.mean2, a.rstd2 = grow(a.ln2, R*d), grow(a.mean2, R), grow(a.rstd2, R)
		a.h, a.g, a.s = grow(a.h, R*4*d), grow(a.g, R*4*d), grow(a.s, R*4*d)
		a.dropA, a.dropM = nil, nil
		if dropout {
			a.dropA, a.dropM = make([]float32, R*d), make([]float32, R*d)
		}
	}
	s.lnf, s.lnfMean, s.lnfRstd = grow(s.lnf, R*d), grow(s.lnfMean, R), grow(s.lnfRstd, R)
	Rt := len(s.tRows)
	s.lnfT = grow(s.lnfT, Rt*d)
	s.logits = grow(s.logits, Rt*c.VocabSize)
	s.dres, s.dBr, s.dLn, s.dY = grow(s.dres, R*d), grow(s.dBr, R*d), grow(s.dLn, R*d), grow(s.dY, R*d)
	s.dQKV, s.dH = grow(s.dQKV, R*3*d), grow(s.dH, R*4*d)
	s.dLnf = grow(s.dLnf, R*d)
	s.dAtt = grow(s.dAtt, att)
	if cap(s.rowLoss) < Rt {
		s.rowLoss = make([]float64, Rt)
	}
	s.rowLoss = s.rowLoss[:Rt]
}

// fillDropout draws inverted-dropout scales (0 or 1/(1-p)) into m.
func fillDropout(m []float32, p float64, rng *rand.Rand) {
	keep := float32(1 / (1 - p))
	for i := range m {
		if rng.Float64() < p {
			m[i] = 0
		} else {
			m[i] = keep
		}
	}
}

// scaleTwiceGo sets x[i] = (x[i]·a)·b, two roundings: scaleTwice's
// definition.
func scaleTwiceGo(x []float32, a, b float32) {
	for i, v := range x {
		x[i] = v * a * b
	}
}

func mulInto(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

// forward runs the model over the shard and returns the summed negative
// log-likelihood of the target rows, leaving in s.logits the gradient of
// scale × that sum with respect to the logits, for backward. With p > 0,
// dropout masks are drawn from rng.
func (s *shard) forward(w *params, p float64, rng *rand.Rand, scale float32) float64 {
	c := s.cfg
	d, R, k, W := c.NEmbd, s.rows, s.kern, s.workers
	x := s.res[0]
	parallelFor(W, R, R*d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*d : (r+1)*d]
			te := w.wte[s.toks[r]*d : (s.toks[r]+1)*d]
			pe := w.wpe[s.pos[r]*d : (s.pos[r]+1)*d]
			for i := range xr {
				xr[i] = te[i] + pe[i]
			}
		}
	})
	if s.dropE != nil {
		fillDropout(s.dropE, p, rng)
		mulInto(x, x, s.dropE)
	}
	// Each residual add and the LayerNorm after it run on the goroutines of
	// the product that feeds them, row block by row block (residualNorm);
	// only the first block's ln_1 is a loop of its own.
	a0 := &s.layers[0]
	layerNorm(W, a0.ln1, a0.mean1, a0.rstd1, x, w.layers[0].ln1w, w.layers[0].ln1b, R, d)
	for l := range s.layers {
		a, lw := &s.layers[l], &w.layers[l]
		xIn, xOut := s.res[l], s.res[l+1]
		linear(k, a.qkv, a.ln1, lw.attnW, lw.attnB, R, d, 3*d, nil)
		s.attention(a)
		br := s.dBr // scratch: branch output
		if a.dropA != nil {
			fillDropout(a.dropA, p, rng)
		}
		linear(k, br, a.y, lw.attnPW, lw.attnPB, R, d, d,
			residualNorm(d, a.xMid, xIn, br, a.dropA, a.ln2, a.mean2, a.rstd2, lw.ln2w, lw.ln2b))
		linear(k, a.h, a.ln2, lw.fcW, lw.fcB, R, d, 4*d, func(lo, hi int) {
			geluFwd(a.h[lo*4*d:hi*4*d], a.g[lo*4*d:hi*4*d], a.s[lo*4*d:hi*4*d])
		})
		if a.dropM != nil {
			fillDropout(a.dropM, p, rng)
		}
		// The next block's ln_1, or ln_f after the last block.
		out, mean, rstd, g, b := s.lnf, s.lnfMean, s.lnfRstd, w.lnfw, w.lnfb
		if l+1 < len(s.layers) {
			next, nw := &s.layers[l+1], &w.layers[l+1]
			out, mean, rstd, g, b = next.ln1, next.mean1, next.rstd1, nw.ln1w, nw.ln1b
		}
		linear(k, br, a.g, lw.mlpPW, lw.mlpPB, R, 4*d, d,
			residualNorm(d, xOut, a.xMid, br, a.dropM, out, mean, rstd, g, b))
	}
	for i, r := range s.tRows {
		copy(s.lnfT[i*d:(i+1)*d], s.lnf[r*d:(r+1)*d])
	}
	Rt, V := len(s.tRows), c.VocabSize
	// Softmax in place, row by row as the kernel finishes them, and turned
	// into the gradient that backward needs.
	gemm.SgemmFused(k, false, true, Rt, V, d, 1, s.lnfT, d, w.wte, d, 0, s.logits, V, gemm.Fuse{Rows: func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := s.logits[i*V : (i+1)*V]
			mx := maxOf(row)
			lt := row[s.tgt[s.tRows[i]]]
			expSub(row, mx)
			sum := sum64(row)
			s.rowLoss[i] = math.Log(sum) - float64(lt-mx)
			// The gradient of scale × loss with respect to the logits:
			// scale × (probabilities − one-hot target), each entry
			// rounded as the probability first.
			scaleTwice(row, float32(1/sum), scale)
			row[s.tgt[s.tRows[i]]] -= scale
		}
	}})
	var loss float64
	for _, v := range s.rowLoss {
		loss += v
	}
	return loss
}

// maxOf returns the largest entry of x (not empty), from four running
// maxima.
func maxOf(x []float32) float32 {
	m0 := x[0]
	m1, m2, m3 := m0, m0, m0
	i := 0
	for ; i+4 <= len(x); i += 4 {
		m0, m1, m2, m3 = max(m0, x[i]), max(m1, x[i+1]), max(m2, x[i+2]), max(m3, x[i+3])
	}
	for ; i < len(x); i++ {
		m0 = max(m0, x[i])
	}
	return max(max(m0, m1), max(m2, m3))
}

// sum64Go returns the sum of x in float64, from four interleaved partial
// sums (a fixed order): sum64's definition.
func sum64Go(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// residualNorm returns the row work that follows a branch's product: for
// rows [lo, hi), br ×= drop (when drop is not nil), x = xIn + br, and the
// LayerNorm of x with gain g and bias b into out, mean and rstd, each row
// by the same operations as a loop over all rows would use.
func residualNorm(d int, x, xIn, br, drop, out, mean, rstd, g, b []float32) func(lo, hi int) {
	g, b = g[:d], b[:d]
	return func(lo, hi int) {
		bs := br[lo*d : hi*d]
		if drop != nil {
			mulInto(bs, bs, drop[lo*d:hi*d])
		}
		xs, is := x[lo*d:hi*d], xIn[lo*d:hi*d]
		for i := range xs {
			xs[i] = is[i] + bs[i]
		}
		layerNormRows(out, mean, rstd, x, g, b, lo, hi, d)
	}
}

// headBlock returns, for the (sequence, head) pair job, the pair's first
// row r0, length T, the column offset o of its head within d, and its T×T
// block of attention probabilities in att.
func (s *shard) headBlock(att []float32, job int) (r0, T, o int, A []float32) {
	H := s.cfg.NHead
	hd := s.cfg.NEmbd / H
	i, h := job/H, job%H
	r0, T = s.seqStart[i], s.seqStart[i+1]-s.seqStart[i]
	off := s.attOff[i] + h*T*T
	return r0, T, h * hd, att[off : off+T*T]
}

// attention computes a.y from a.qkv, sequence by sequence and head by head,
// keeping the probabilities in a.att: the scores Q·Kᵀ of every (sequence,
// head) pair as one batch of products, each followed by its causal softmax
// on the goroutine that computed it, then P·V as a second batch, each pair
// writing its own part of a.y.
func (s *shard) attention(a *layerActs) {
	d, hd := s.cfg.NEmbd, s.cfg.NEmbd/s.cfg.NHead
	scale := float32(1 / math.Sqrt(float64(hd)))
	pairs := (len(s.seqStart) - 1) * s.cfg.NHead
	s.prods = s.prods[:0]
	for job := range pairs {
		r0, T, o, A := s.headBlock(a.att, job)
		q, kk := a.qkv[r0*3*d+o:], a.qkv[r0*3*d+d+o:]
		s.prods = append(s.prods, gemm.Product{TransB: true, M: T, N: T, K: hd, Alpha: scale,
			A: q, LDA: 3 * d, B: kk, LDB: 3 * d, C: A, LDC: T,
			After: func() { causalSoftmax(A, T) }})
	}
	gemm.SgemmBatch(s.kern, s.prods)
	s.prods = s.prods[:0]
	for job := range pairs {
		r0, T, o, A := s.headBlock(a.att, job)
		s.prods = append(s.prods, gemm.Product{M: T, N: hd, K: T, Alpha: 1,
			A: A, LDA: T, B: a.qkv[r0*3*d+2*d+o:], LDB: 3 * d, C: a.y[r0*d+o:], LDC: d})
	}
	gemm.SgemmBatch(s.kern, s.prods)
}

// softmaxBackward turns dA, the gradient of the T×T causal probabilities
// A, into the gradient of the scores, row by row.
func softmaxBackward(A, dA []float32, T int) {
	for r := 0; r < T; r++ {
		ar, dr := A[r*T:r*T+r+1], dA[r*T:(r+1)*T]
		var dot float32
		for j, p := range ar {
			dot += p * dr[j]
		}
		for j, p := range ar {
			dr[j] = p * (dr[j] - dot)
		}
		clear(dr[r+1:])
	}
}

// attentionBackward overwrites s.dQKV with the gradient of the attention
// inputs given dy = ∂L/∂a.y, in the phases of attention: the products with
// dy (∂P = dy·Vᵀ, each followed by the softmax's backward on its goroutine,
// and ∂V = Pᵀ·dy) as one batch, then ∂Q = ∂S·K and ∂K = ∂Sᵀ·Q as a second.
func (s *shard) attentionBackward(a *layerActs, dy []float32) {
	d, hd := s.cfg.NEmbd, s.cfg.NEmbd/s.cfg.NHead
	scale := float32(1 / math.Sqrt(float64(hd)))
	pairs := (len(s.seqStart) - 1) * s.cfg.NHead
	s.prods = s.prods[:0]
	for job := range pairs {
		r0, T, o, A := s.headBlock(a.att, job)
		_, _, _, dA := s.headBlock(s.dAtt, job)
		dyh := dy[r0*d+o:]
		s.prods = append(s.prods,
			gemm.Product{TransB: true, M: T, N: T, K: hd, Alpha: 1,
				A: dyh, LDA: d, B: a.qkv[r0*3*d+2*d+o:], LDB: 3 * d, C: dA, LDC: T,
				After: func() { softmaxBackward(A, dA, T) }},
			gemm.Product{TransA: true, M: T, N: hd, K: T, Alpha: 1,
				A: A, LDA: T, B: dyh, LDB: d, C: s.dQKV[r0*3*d+2*d+o:], LDC: 3 * d})
	}
	gemm.SgemmBatch(s.kern, s.prods)
	s.prods = s.prods[:0]
	for job := range pairs {
		r0, T, o, _ := s.headBlock(a.att, job)
		_, _, _, dA := s.headBlock(s.dAtt, job)
		s.prods = append(s.prods,
			gemm.Product{M: T, N: hd, K: T, Alpha: scale,
				A: dA, LDA: T, B: a.qkv[r0*3*d+d+o:], LDB: 3 * d, C: s.dQKV[r0*3*d+o:], LDC: 3 * d},
			gemm.Product{TransA: true, M: T, N: hd, K: T, Alpha: scale,
				A: dA, LDA: T, B: a.qkv[r0*3*d+o:], LDB: 3 * d, C: s.dQKV[r0*3*d+d+o:], LDC: 3 * d})
	}
	gemm.SgemmBatch(s.kern, s.prods)
}

// backward accumulates into g the gradient of scale × (the forward's summed
// loss), scale as given to forward, which must have run just before on the
// same shard.
func (s *shard) backward(w, g *params) {
	c := s.cfg
	d, R, V, k, W := c.NEmbd, s.rows, c.VocabSize, s.kern, s.workers
	Rt := len(s.tRows)
	// s.logits holds ∂(scale × loss)/∂logits, from forward.
	// Tied head: logits = lnfT · wteᵀ.
	k.Sgemm(true, false, V, d, Rt, 1, s.logits, V, s.lnfT, d, 1, g.wte, d)
	dT := s.dY[:Rt*d] // scratch
	k.Sgemm(false, false, Rt, d, V, 1, s.logits, V, w.wte, d, 0, dT, d)
	clear(s.dLnf)
	for i, r := range s.tRows {
		copy(s.dLnf[r*d:(r+1)*d], dT[i*d:(i+1)*d])
	}
	dres := s.dres
	clear(dres)
	layerNormBackward(W, dres, g.lnfw, g.lnfb, s.dLnf, s.res[c.NLayer], s.lnfMean, s.lnfRstd, w.lnfw, R, d)
	for l := c.NLayer - 1; l >= 0; l-- {
		a, lw, lg := &s.layers[l], &w.layers[l], &g.layers[l]
		// MLP branch.
		br := dres
		if a.dropM != nil {
			br = s.dBr
			mulInto(br, dres, a.dropM)
		}
		linearBackward(k, s.dH, lg.mlpPW, lg.mlpPB, br, a.g, lw.mlpPW, R, 4*d, d, func(lo, hi int) {
			geluGrad(s.dH[lo*4*d:hi*4*d], a.h[lo*4*d:hi*4*d], a.s[lo*4*d:hi*4*d])
		})
		// ln_2's backward: its rows ride with the product that makes
		// their input gradient, its gain and bias sums follow.
		linearBackward(k, s.dLn, lg.fcW, lg.fcB, s.dH, a.ln2, lw.fcW, R, d, 4*d, func(lo, hi int) {
			layerNormBackwardRows(dres, s.dLn, a.xMid, a.mean2, a.rstd2, lw.ln2w[:d], lo, hi, d)
		})
		layerNormGradCols(W, lg.ln2w, lg.ln2b, s.dLn, a.xMid, a.mean2, a.rstd2, R, d)
		// Attention branch.
		br = dres
		if a.dropA != nil {
			br = s.dBr
			mulInto(br, dres, a.dropA)
		}
		linearBackward(k, s.dY, lg.attnPW, lg.attnPB, br, a.y, lw.attnPW, R, d, d, nil)
		s.attentionBackward(a, s.dY)
		linearBackward(k, s.dLn, lg.attnW, lg.attnB, s.dQKV, a.ln1, lw.attnW, R, d, 3*d, func(lo, hi int) {
			layerNormBackwardRows(dres, s.dLn, s.res[l], a.mean1, a.rstd1, lw.ln1w[:d], lo, hi, d)
		})
		layerNormGradCols(W, lg.ln1w, lg.ln1b, s.dLn, s.res[l], a.mean1, a.rstd1, R, d)
	}
	if s.dropE != nil {
		mulInto(dres, dres, s.dropE)
	}
	for r := 0; r < R; r++ {
		dr := dres[r*d : (r+1)*d]
		te := g.wte[s.toks[r]*d : (s.toks[r]+1)*d]
		pe := g.wpe[s.pos[r]*d : (s.pos[r]+1)*d]
		for i, v := range dr {
			te[i] += v
			pe[i] += v
		}
	}
}
