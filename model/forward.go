package model

import (
	"math"

	"mergescale/gemm"
)

// The inference forward runs any number of independent token sequences
// ("contexts") at once: their rows are stacked into one matrix so that every
// projection is a single GEMM, and attention runs per context and head as
// two small GEMMs (Q·Kᵀ and P·V) with a mask. Within a context the mask can
// describe a tree: option continuations share the keys of their prompt but
// not each other's. Every row's result depends only on its own context: the
// GEMM kernel computes each output element by the same operations whatever
// the other rows and the number of goroutines, so batching never changes a
// value.

// kvCache holds the keys and values of the positions processed so far, per
// layer, each [rows, d].
type kvCache struct {
	k, v [][]float32
	n    int
}

// newCache returns a cache for up to rows positions (at most n_positions),
// so that its memory follows the sequence, not the model's longest one.
func (m *Model) newCache(rows int) *kvCache {
	c := &kvCache{k: make([][]float32, m.Config.NLayer), v: make([][]float32, m.Config.NLayer)}
	size := min(rows, m.Config.NPositions) * m.Config.NEmbd
	for l := range c.k {
		c.k[l] = make([]float32, size)
		c.v[l] = make([]float32, size)
	}
	return c
}

// inferRow is one row of an inference forward: a token at a position. self
// is the row's index among its context's keys; the row attends to the keys
// c ≤ self with c < split or c ≥ lo (split = lo = 0: plain causal).
type inferRow struct {
	tok, pos        int
	self, split, lo int
}

// inferCtx is one context of an inference forward: rows [row0, row0+rows)
// of the stacked matrix. Without a cache, its keys are those rows' keys;
// with one, the cache's n keys come first, the rows' keys and values are
// appended to it, and n grows by rows.
type inferCtx struct {
	row0, rows int
	cache      *kvCache
}

// workspace is the scratch memory of one inference forward, recycled
// through Model.scratch.
type workspace struct {
	rows []inferRow
	ctxs []inferCtx
	// oneRow asks forward to multiply a single row by the weights and
	// the embedding matrix directly (Greedy's decoding steps) instead of
	// through the GEMM, which would pack every matrix first.
	oneRow               bool
	x, ln, qkv, y, br, h []float32
	scores, lgts         []float32
	x2                   []float32
}

func (m *Model) getWorkspace() *workspace {
	if ws, ok := m.scratch.Get().(*workspace); ok {
		ws.rows, ws.ctxs, ws.oneRow = ws.rows[:0], ws.ctxs[:0], false
		return ws
	}
	return &workspace{}
}

func (m *Model) putWorkspace(ws *workspace) { m.scratch.Put(ws) }

// forward runs ws.rows in the contexts ws.ctxs and returns the logits
// [len(head), V] of the rows listed in head (indices into ws.rows), which
// stay valid until ws is reused. Only those rows go through the last
// block's projection and MLP, ln_f and the LM head (Config.Validate
// guarantees at least one block).
func (m *Model) forward(k gemm.Kernel, ws *workspace, head []int) []float32 {
	lin := func(k gemm.Kernel, out, in, w, b []float32, rows, nin, nout int) {
		linear(k, out, in, w, b, rows, nin, nout, nil)
	}
	if len(ws.rows) == 1 && ws.oneRow {
		lin = func(_ gemm.Kernel, out, in, w, b []float32, _, nin, nout int) {
			rowTimes(out, in, w, b, nin, nout)
		}
	}
	cfg := m.Config
	d, V := cfg.NEmbd, cfg.VocabSize
	R := len(ws.rows)
	w := &m.w
	ws.x = grow(ws.x, R*d)
	ws.ln = grow(ws.ln, R*d)
	ws.qkv = grow(ws.qkv, R*3*d)
	ws.y = grow(ws.y, R*d)
	ws.br = grow(ws.br, R*d)
	ws.h = grow(ws.h, R*4*d)
	x := ws.x
	for r, row := range ws.rows {
		xr := x[r*d : (r+1)*d]
		te, pe := w.wte[row.tok*d:(row.tok+1)*d], w.wpe[row.pos*d:(row.pos+1)*d]
		for i := range xr {
			xr[i] = te[i] + pe[i]
		}
	}
	rows := R
	for l := range w.layers {
		lw := &w.layers[l]
		layerNormInfer(ws.ln, x, lw.ln1w, lw.ln1b, rows, d)
		lin(k, ws.qkv, ws.ln, lw.attnW, lw.attnB, rows, d, 3*d)
		for _, c := range ws.ctxs {
			m.attend(k, ws, l, c)
		}
		y := ws.y
		if l == len(w.layers)-1 {
			// Everything after attention is row-wise: keep only the
			// rows whose logits are wanted.
			ws.x2 = grow(ws.x2, 2*len(head)*d)
			x2, y2 := ws.x2[:len(head)*d], ws.x2[len(head)*d:]
			for i, r := range head {
				copy(x2[i*d:(i+1)*d], x[r*d:(r+1)*d])
				copy(y2[i*d:(i+1)*d], y[r*d:(r+1)*d])
			}
			x, y, rows = x2, y2, len(head)
		}
		lin(k, ws.br, y, lw.attnPW, lw.attnPB, rows, d, d)
		for i := range x[:rows*d] {
			x[i] += ws.br[i]
		}
		layerNormInfer(ws.ln, x, lw.ln2w, lw.ln2b, rows, d)
		h := ws.h[:rows*4*d]
		lin(k, h, ws.ln, lw.fcW, lw.fcB, rows, d, 4*d)
		geluSlice(h)
		lin(k, ws.br, h, lw.mlpPW, lw.mlpPB, rows, 4*d, d)
		for i := range x[:rows*d] {
			x[i] += ws.br[i]
		}
	}
	nh := len(head)
	layerNormInfer(ws.ln, x, w.lnfw, w.lnfb, nh, d)
	ws.lgts = grow(ws.lgts, nh*V)
	if ws.oneRow && nh == 1 {
		dotRows(ws.lgts, ws.ln, w.wte, d, V)
	} else {
		k.Sgemm(false, true, nh, V, d, 1, ws.ln, d, w.wte, d, 0, ws.lgts, V)
	}
	return ws.lgts
}

// attend computes the attention output of context c at layer l into ws.y,
// from the queries, keys and values in ws.qkv (and c's cache).
func (m *Model) attend(k gemm.Kernel, ws *workspace, l int, c inferCtx) {
	d, H := m.Config.NEmbd, m.Config.NHead
	hd := d / H
	scale := float32(1 / math.Sqrt(float64(hd)))
	qkv := ws.qkv[c.row0*3*d : (c.row0+c.rows)*3*d]
	keys, vals, ld, nk := qkv[d:], qkv[2*d:], 3*d, c.rows
	if c.cache != nil {
		kc, vc, n := c.cache.k[l], c.cache.v[l], c.cache.n
		for r := 0; r < c.rows; r++ {
			copy(kc[(n+r)*d:(n+r+1)*d], qkv[r*3*d+d:r*3*d+2*d])
			copy(vc[(n+r)*d:(n+r+1)*d], qkv[r*3*d+2*d:r*3*d+3*d])
		}
		keys, vals, ld, nk = kc, vc, d, n+c.rows
		if l == len(m.w.layers)-1 {
			c.cache.n = nk
		}
	}
	ws.scores = grow(ws.scores, c.rows*nk)
	sc := ws.scores
	rows := ws.rows[c.row0 : c.row0+c.rows]
	y := ws.y[c.row0*d:]
	for hh := 0; hh < H; hh++ {
		o := hh * hd
		k.Sgemm(false, true, c.rows, nk, hd, scale, qkv[o:], 3*d, keys[o:], ld, 0, sc, nk)
		for r, row := range rows {
			maskedSoftmax(sc[r*nk:(r+1)*nk], row.self, row.split, row.lo)
		}
		k.Sgemm(false, false, c.rows, hd, nk, 1, sc, nk, vals[o:], ld, 0, y[o:], d)
	}
}

// maskedSoftmax replaces row by the softmax of its entries c ≤ self with
// c < split or c ≥ lo, and zeroes the others.
func maskedSoftmax(row []float32, self, split, lo int) {
	clear(row[self+1:])
	s := row[:self+1]
	a, b := s, s[:0] // the attended ranges
	if split < lo {
		a, b = s[:split], s[lo:]
		clear(s[split:lo])
	}
	mx := float32(math.Inf(-1))
	for _, v := range a {
		mx = max(mx, v)
	}
	for _, v := range b {
		mx = max(mx, v)
	}
	expSub(a, mx)
	expSub(b, mx)
	inv := 1 / (sum32(a) + sum32(b))
	for j := range s {
		s[j] *= inv
	}
}
