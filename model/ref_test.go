package model

import (
	"fmt"
	"math"
)

// refModel is an independent float64 implementation of GPT-2's forward
// pass, written with plain loops, used to check the float32 code.
type refModel struct {
	c Config
	t map[string][]float64
}

func newRef(m *Model) *refModel {
	r := &refModel{c: m.Config, t: make(map[string][]float64)}
	for _, s := range m.specs {
		v := make([]float64, s.size)
		for i, x := range m.data[s.offset : s.offset+s.size] {
			v[i] = float64(x)
		}
		r.t[s.name] = v
	}
	return r
}

func (r *refModel) get(name string) []float64 {
	v, ok := r.t[name]
	if !ok {
		panic("no tensor " + name)
	}
	return v
}

func refLN(x, g, b []float64) []float64 {
	n := float64(len(x))
	var mu, v float64
	for _, a := range x {
		mu += a
	}
	mu /= n
	for _, a := range x {
		v += (a - mu) * (a - mu)
	}
	v /= n
	out := make([]float64, len(x))
	for i, a := range x {
		out[i] = (a-mu)/math.Sqrt(v+Epsilon)*g[i] + b[i]
	}
	return out
}

// refLinear computes x·W + b with W in [in, out] layout.
func refLinear(x, w, b []float64, in, out int) []float64 {
	y := append([]float64(nil), b...)
	for i := 0; i < in; i++ {
		for j := 0; j < out; j++ {
			y[j] += x[i] * w[i*out+j]
		}
	}
	return y
}

// logits returns the logits at every position of toks.
func (r *refModel) logits(toks []int) [][]float64 {
	c := r.c
	d, H := c.NEmbd, c.NHead
	hd := d / H
	T := len(toks)
	x := make([][]float64, T)
	wte, wpe := r.get("transformer.wte.weight"), r.get("transformer.wpe.weight")
	for p, t := range toks {
		x[p] = make([]float64, d)
		for i := range x[p] {
			x[p][i] = wte[t*d+i] + wpe[p*d+i]
		}
	}
	for l := 0; l < c.NLayer; l++ {
		pre := fmt.Sprintf("transformer.h.%d.", l)
		qkv := make([][]float64, T)
		for p := range x {
			ln := refLN(x[p], r.get(pre+"ln_1.weight"), r.get(pre+"ln_1.bias"))
			qkv[p] = refLinear(ln, r.get(pre+"attn.c_attn.weight"), r.get(pre+"attn.c_attn.bias"), d, 3*d)
		}
		for p := range x {
			y := make([]float64, d)
			for h := 0; h < H; h++ {
				sc := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := 0; j <= p; j++ {
					for i := 0; i < hd; i++ {
						sc[j] += qkv[p][h*hd+i] * qkv[j][d+h*hd+i]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var s float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					s += sc[j]
				}
				for j := range sc {
					for i := 0; i < hd; i++ {
						y[h*hd+i] += sc[j] / s * qkv[j][2*d+h*hd+i]
					}
				}
			}
			a := refLinear(y, r.get(pre+"attn.c_proj.weight"), r.get(pre+"attn.c_proj.bias"), d, d)
			qkv[p] = append(qkv[p], a...) // stash branch output after q,k,v
		}
		for p := range x {
			for i := 0; i < d; i++ {
				x[p][i] += qkv[p][3*d+i]
			}
			ln := refLN(x[p], r.get(pre+"ln_2.weight"), r.get(pre+"ln_2.bias"))
			h := refLinear(ln, r.get(pre+"mlp.c_fc.weight"), r.get(pre+"mlp.c_fc.bias"), d, 4*d)
			for i, v := range h {
				h[i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}
			o := refLinear(h, r.get(pre+"mlp.c_proj.weight"), r.get(pre+"mlp.c_proj.bias"), 4*d, d)
			for i := range o {
				x[p][i] += o[i]
			}
		}
	}
	out := make([][]float64, T)
	for p := range x {
		ln := refLN(x[p], r.get("transformer.ln_f.weight"), r.get("transformer.ln_f.bias"))
		out[p] = make([]float64, c.VocabSize)
		for v := range out[p] {
			for i := 0; i < d; i++ {
				out[p][v] += ln[i] * wte[v*d+i]
			}
		}
	}
	return out
}

func refLogSoftmax(row []float64, t int) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(v - mx)
	}
	return row[t] - mx - math.Log(s)
}

// loss is the mean negative log-likelihood per target token of batch.
func (r *refModel) loss(batch []Example) float64 {
	var sum float64
	n := 0
	for _, ex := range batch {
		in, tgt := sequence(ex)
		lg := r.logits(in)
		for p, t := range tgt {
			if t >= 0 {
				sum -= refLogSoftmax(lg[p], t)
				n++
			}
		}
	}
	return sum / float64(n)
}
