package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"mergescale/tokenizer"
)

// initStd is GPT-2's initializer range.
const initStd = 0.02

// initKind says how a tensor starts.
type initKind int

const (
	initNormal   initKind = iota // N(0, 0.02)
	initResidual                 // N(0, 0.02/sqrt(2·n_layer)): projections into the residual stream
	initZero
	initOne
)

// tensorSpec describes one parameter tensor in the flat parameter buffer.
type tensorSpec struct {
	name   string // Hugging Face name, with the "transformer." prefix
	shape  []int
	offset int
	size   int
	init   initKind
	decay  bool // AdamW weight decay applies (matrices and embeddings)
}

// layerParams views one block's tensors inside a flat buffer.
type layerParams struct {
	ln1w, ln1b     []float32 // [d]
	attnW, attnB   []float32 // [d, 3d], [3d]
	attnPW, attnPB []float32 // [d, d], [d]
	ln2w, ln2b     []float32 // [d]
	fcW, fcB       []float32 // [d, 4d], [4d]
	mlpPW, mlpPB   []float32 // [4d, d], [d]
}

// params views every tensor inside a flat buffer (weights or gradients).
type params struct {
	wte, wpe   []float32 // [V, d], [P, d]
	layers     []layerParams
	lnfw, lnfb []float32
}

// specsFor lists the tensors of a model with config c in a fixed order
// (the order of the flat buffer and of initialisation).
func specsFor(c Config) []tensorSpec {
	d := c.NEmbd
	var specs []tensorSpec
	off := 0
	add := func(name string, init initKind, decay bool, shape ...int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		specs = append(specs, tensorSpec{name: name, shape: shape, offset: off, size: n, init: init, decay: decay})
		off += n
	}
	add("transformer.wte.weight", initNormal, true, c.VocabSize, d)
	add("transformer.wpe.weight", initNormal, true, c.NPositions, d)
	for i := 0; i < c.NLayer; i++ {
		p := fmt.Sprintf("transformer.h.%d.", i)
		add(p+"ln_1.weight", initOne, false, d)
		add(p+"ln_1.bias", initZero, false, d)
		add(p+"attn.c_attn.weight", initNormal, true, d, 3*d)
		add(p+"attn.c_attn.bias", initZero, false, 3*d)
		add(p+"attn.c_proj.weight", initResidual, true, d, d)
		add(p+"attn.c_proj.bias", initZero, false, d)
		add(p+"ln_2.weight", initOne, false, d)
		add(p+"ln_2.bias", initZero, false, d)
		add(p+"mlp.c_fc.weight", initNormal, true, d, 4*d)
		add(p+"mlp.c_fc.bias", initZero, false, 4*d)
		add(p+"mlp.c_proj.weight", initResidual, true, 4*d, d)
		add(p+"mlp.c_proj.bias", initZero, false, d)
	}
	add("transformer.ln_f.weight", initOne, false, d)
	add("transformer.ln_f.bias", initZero, false, d)
	return specs
}

// bind returns views of buf laid out by specs (as built by specsFor(c)).
func bind(c Config, specs []tensorSpec, buf []float32) params {
	i := 0
	next := func() []float32 {
		s := specs[i]
		i++
		return buf[s.offset : s.offset+s.size : s.offset+s.size]
	}
	var p params
	p.wte = next()
	p.wpe = next()
	p.layers = make([]layerParams, c.NLayer)
	for l := range p.layers {
		lp := &p.layers[l]
		lp.ln1w, lp.ln1b = next(), next()
		lp.attnW, lp.attnB = next(), next()
		lp.attnPW, lp.attnPB = next(), next()
		lp.ln2w, lp.ln2b = next(), next()
		lp.fcW, lp.fcB = next(), next()
		lp.mlpPW, lp.mlpPB = next(), next()
	}
	p.lnfw, p.lnfb = next(), next()
	return p
}

// Model is a GPT-2 language model. Its weights are read-only during
// inference, so the inference methods may be called concurrently; Train
// must not run concurrently with anything else on the same Model.
type Model struct {
	Config Config
	// Special holds the end- and beginning-of-sequence ids that Save writes
	// to config.json (eos_token_id, bos_token_id; omitted when
	// tokenizer.NoToken). New sets the suite's word-level ids; Load reads
	// config.json's.
	Special tokenizer.Special

	specs []tensorSpec
	data  []float32 // every parameter, flat, in specs order
	w     params    // views into data

	scratch sync.Pool // of *workspace: inference scratch memory
}

// newZero allocates a model with every parameter zero.
func newZero(cfg Config) *Model {
	specs := specsFor(cfg)
	last := specs[len(specs)-1]
	data := make([]float32, last.offset+last.size)
	return &Model{Config: cfg, Special: tokenizer.SuiteSpecial(), specs: specs, data: data, w: bind(cfg, specs, data)}
}

// New builds a model with GPT-2's initialisation, seeded: weights and
// embeddings N(0, 0.02), the two residual projections of every block
// N(0, 0.02/sqrt(2·n_layer)), biases zero, LayerNorm gains one. New panics
// if cfg is invalid; check untrusted configs with Config.Validate first.
func New(cfg Config, seed uint64) *Model {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	m := newZero(cfg)
	rng := rand.New(rand.NewPCG(seed, 0x6770742d32696e69)) // "gpt-2ini"
	resid := initStd / math.Sqrt(2*float64(cfg.NLayer))
	for _, s := range m.specs {
		t := m.data[s.offset : s.offset+s.size]
		switch s.init {
		case initNormal:
			for i := range t {
				t[i] = float32(rng.NormFloat64() * initStd)
			}
		case initResidual:
			for i := range t {
				t[i] = float32(rng.NormFloat64() * resid)
			}
		case initOne:
			for i := range t {
				t[i] = 1
			}
		case initZero:
			clear(t)
		}
	}
	return m
}

// NumParams is the number of parameters, counting the tied LM head once.
func (m *Model) NumParams() int { return len(m.data) }

// TensorNames lists the Hugging Face names of the model's tensors in storage
// order (with the "transformer." prefix; the tied lm_head is not listed).
func (m *Model) TensorNames() []string {
	names := make([]string, len(m.specs))
	for i, s := range m.specs {
		names[i] = s.name
	}
	return names
}

// Tensor returns a copy of the named tensor (with or without the
// "transformer." prefix) and its shape.
func (m *Model) Tensor(name string) ([]float32, []int, error) {
	for _, s := range m.specs {
		if s.name == name || s.name == "transformer."+name {
			return append([]float32(nil), m.data[s.offset:s.offset+s.size]...), append([]int(nil), s.shape...), nil
		}
	}
	return nil, nil, fmt.Errorf("model: no tensor %q", name)
}
