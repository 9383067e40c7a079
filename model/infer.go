package model

import (
	"errors"
	"fmt"
	"math"

	"mergescale/gemm"
)

// kvCache holds the keys and values of the positions processed so far, per
// layer, each [NPositions, d].
type kvCache struct {
	k, v [][]float32
	n    int
}

func (m *Model) newCache() *kvCache {
	c := &kvCache{k: make([][]float32, m.Config.NLayer), v: make([][]float32, m.Config.NLayer)}
	size := m.Config.NPositions * m.Config.NEmbd
	for l := range c.k {
		c.k[l] = make([]float32, size)
		c.v[l] = make([]float32, size)
	}
	return c
}

// fork returns a copy of c holding its first c.n positions.
func (m *Model) fork(c *kvCache) *kvCache {
	f := m.newCache()
	used := c.n * m.Config.NEmbd
	for l := range c.k {
		copy(f.k[l][:used], c.k[l][:used])
		copy(f.v[l][:used], c.v[l][:used])
	}
	f.n = c.n
	return f
}

// fewRows is the row count up to which inference multiplies with plain
// loops: packing a weight matrix for the blocked GEMM costs more than
// streaming through it once or twice.
const fewRows = 4

// linearInfer is linear for inference: plain loops for a few rows.
func linearInfer(k gemm.Kernel, out, in, w, b []float32, rows, nin, nout int) {
	if rows > fewRows {
		linear(k, out, in, w, b, rows, nin, nout)
		return
	}
	for r := 0; r < rows; r++ {
		o := out[r*nout : (r+1)*nout]
		copy(o, b)
		for i, x := range in[r*nin : (r+1)*nin] {
			wr := w[i*nout : (i+1)*nout]
			for j, v := range wr {
				o[j] += x * v
			}
		}
	}
}

// extend runs toks at the positions after those in c, appends their keys
// and values to c, and returns the ln_f outputs of the new positions
// [len(toks), d].
func (m *Model) extend(k gemm.Kernel, c *kvCache, toks []int) []float32 {
	cfg := m.Config
	d, H, T := cfg.NEmbd, cfg.NHead, len(toks)
	hd := d / H
	scale := float32(1 / math.Sqrt(float64(hd)))
	w := &m.w
	x := make([]float32, T*d)
	for r, t := range toks {
		p := c.n + r
		xr := x[r*d : (r+1)*d]
		te, pe := w.wte[t*d:(t+1)*d], w.wpe[p*d:(p+1)*d]
		for i := range xr {
			xr[i] = te[i] + pe[i]
		}
	}
	ln := make([]float32, T*d)
	mean, rstd := make([]float32, T), make([]float32, T)
	qkv := make([]float32, T*3*d)
	y := make([]float32, T*d)
	br := make([]float32, T*d)
	h := make([]float32, T*4*d)
	n := c.n + T
	scores := make([]float32, n)
	for l := range w.layers {
		lw := &w.layers[l]
		layerNorm(ln, mean, rstd, x, lw.ln1w, lw.ln1b, T, d)
		linearInfer(k, qkv, ln, lw.attnW, lw.attnB, T, d, 3*d)
		kc, vc := c.k[l], c.v[l]
		for r := 0; r < T; r++ {
			copy(kc[(c.n+r)*d:(c.n+r+1)*d], qkv[r*3*d+d:r*3*d+2*d])
			copy(vc[(c.n+r)*d:(c.n+r+1)*d], qkv[r*3*d+2*d:r*3*d+3*d])
		}
		for r := 0; r < T; r++ {
			last := c.n + r // attends to positions 0..last
			for hh := 0; hh < H; hh++ {
				q := qkv[r*3*d+hh*hd : r*3*d+(hh+1)*hd]
				sc := scores[:last+1]
				mx := float32(math.Inf(-1))
				for j := range sc {
					kr := kc[j*d+hh*hd : j*d+(hh+1)*hd]
					var dot float32
					for i, qv := range q {
						dot += qv * kr[i]
					}
					sc[j] = dot * scale
					mx = max(mx, sc[j])
				}
				var s float32
				for j := range sc {
					sc[j] = float32(math.Exp(float64(sc[j] - mx)))
					s += sc[j]
				}
				out := y[r*d+hh*hd : r*d+(hh+1)*hd]
				clear(out)
				inv := 1 / s
				for j, p := range sc {
					p *= inv
					vr := vc[j*d+hh*hd : j*d+(hh+1)*hd]
					for i := range out {
						out[i] += p * vr[i]
					}
				}
			}
		}
		linearInfer(k, br, y, lw.attnPW, lw.attnPB, T, d, d)
		for i := range x {
			x[i] += br[i]
		}
		layerNorm(ln, mean, rstd, x, lw.ln2w, lw.ln2b, T, d)
		linearInfer(k, h, ln, lw.fcW, lw.fcB, T, d, 4*d)
		for i, v := range h {
			h[i] = gelu(v)
		}
		linearInfer(k, br, h, lw.mlpPW, lw.mlpPB, T, 4*d, d)
		for i := range x {
			x[i] += br[i]
		}
	}
	c.n = n
	layerNorm(ln, mean, rstd, x, w.lnfw, w.lnfb, T, d)
	return ln
}

// headLogits returns the logits [rows, V] of the ln_f outputs hid [rows, d].
func (m *Model) headLogits(k gemm.Kernel, hid []float32, rows int) []float32 {
	V, d := m.Config.VocabSize, m.Config.NEmbd
	out := make([]float32, rows*V)
	if rows > fewRows {
		k.Sgemm(false, true, rows, V, d, 1, hid, d, m.w.wte, d, 0, out, V)
		return out
	}
	for r := 0; r < rows; r++ {
		h := hid[r*d : (r+1)*d]
		for v := 0; v < V; v++ {
			e := m.w.wte[v*d : (v+1)*d]
			var dot float32
			for i, x := range h {
				dot += x * e[i]
			}
			out[r*V+v] = dot
		}
	}
	return out
}

func (m *Model) checkTokens(what string, toks []int) error {
	for _, t := range toks {
		if t < 0 || t >= m.Config.VocabSize {
			return fmt.Errorf("model: %s has token id %d outside the vocabulary [0, %d)", what, t, m.Config.VocabSize)
		}
	}
	return nil
}

// LastLogits returns the logits of the token after tokens (the outputs at
// the last position). It is safe for concurrent use.
func (m *Model) LastLogits(tokens []int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("model: no input tokens")
	}
	if len(tokens) > m.Config.NPositions {
		return nil, fmt.Errorf("model: %d input tokens, more than n_positions = %d", len(tokens), m.Config.NPositions)
	}
	if err := m.checkTokens("input", tokens); err != nil {
		return nil, err
	}
	k := gemm.Default()
	hid := m.extend(k, m.newCache(), tokens)
	d := m.Config.NEmbd
	return m.headLogits(k, hid[(len(tokens)-1)*d:], 1), nil
}

// OptionLogProbs returns, for each option, Σ log p(option tokens | prompt):
// the sum over the option's tokens of the log-probability of each given the
// prompt and the option tokens before it. The prompt runs once; every option
// continues from its cached keys and values. The prompt and every option
// must be non-empty, and prompt+option must fit in n_positions. It is safe
// for concurrent use.
func (m *Model) OptionLogProbs(prompt []int, options [][]int) ([]float64, error) {
	if len(prompt) == 0 {
		return nil, errors.New("model: option scoring needs a non-empty prompt")
	}
	if err := m.checkTokens("prompt", prompt); err != nil {
		return nil, err
	}
	for i, o := range options {
		if len(o) == 0 {
			return nil, fmt.Errorf("model: option %d is empty", i)
		}
		if len(prompt)+len(o)-1 > m.Config.NPositions {
			return nil, fmt.Errorf("model: prompt (%d tokens) with option %d (%d tokens) exceeds n_positions = %d", len(prompt), i, len(o), m.Config.NPositions)
		}
		if err := m.checkTokens(fmt.Sprintf("option %d", i), o); err != nil {
			return nil, err
		}
	}
	k := gemm.Default()
	V, d := m.Config.VocabSize, m.Config.NEmbd
	cache := m.newCache()
	hid := m.extend(k, cache, prompt)
	first := m.headLogits(k, hid[(len(prompt)-1)*d:], 1)
	out := make([]float64, len(options))
	for i, o := range options {
		lp := logSoftmaxAt(first, o[0])
		if len(o) > 1 {
			c := m.fork(cache)
			h := m.extend(k, c, o[:len(o)-1])
			logits := m.headLogits(k, h, len(o)-1)
			for j := 1; j < len(o); j++ {
				lp += logSoftmaxAt(logits[(j-1)*V:j*V], o[j])
			}
		}
		out[i] = lp
	}
	return out, nil
}

// Greedy appends up to maxNew tokens to prompt, each the most likely next
// token (the lowest id on ties), and returns the new tokens. It stops after
// generating stop (which is not included in the result; a negative stop
// never matches) or when prompt and output reach n_positions+1 tokens (the
// last one predicted from a full context). It is safe for concurrent use.
func (m *Model) Greedy(prompt []int, maxNew int, stop int) ([]int, error) {
	if len(prompt) == 0 {
		return nil, errors.New("model: greedy decoding needs a non-empty prompt")
	}
	if len(prompt) > m.Config.NPositions {
		return nil, fmt.Errorf("model: prompt of %d tokens is longer than n_positions = %d", len(prompt), m.Config.NPositions)
	}
	if err := m.checkTokens("prompt", prompt); err != nil {
		return nil, err
	}
	k := gemm.Default()
	d := m.Config.NEmbd
	cache := m.newCache()
	hid := m.extend(k, cache, prompt)
	last := hid[(len(prompt)-1)*d:]
	var out []int
	for len(out) < maxNew {
		logits := m.headLogits(k, last, 1)
		best := 0
		for j, v := range logits {
			if v > logits[best] {
				best = j
			}
		}
		if best == stop {
			break
		}
		out = append(out, best)
		if cache.n >= m.Config.NPositions || len(out) == maxNew {
			break
		}
		last = m.extend(k, cache, []int{best})
	}
	return out, nil
}
