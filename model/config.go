// Package model is the built-in language model of mergescale: a decoder-only
// transformer with exactly GPT-2's architecture and Hugging Face tensor
// layout, trained on the CPU with a hand-written forward and backward pass in
// float32.
//
// Architecture (as in Hugging Face's GPT2LMHeadModel): token and learned
// position embeddings; n_layer pre-LayerNorm blocks, each with causal
// multi-head self-attention (fused c_attn [d, 3d], c_proj [d, d]) and an MLP
// (c_fc [d, 4d], GELU with the tanh approximation, c_proj [4d, d]); a final
// ln_f; and an LM head tied to the token embedding. Linear weights use the
// Conv1D [in, out] layout, so y = x·W + b. LayerNorm epsilon is 1e-5.
//
// Training (Train) uses AdamW with decoupled weight decay on the matrices
// and embeddings only (never on biases or LayerNorm parameters), global
// gradient-norm clipping, linear warm-up then cosine decay to zero, and
// optional dropout on the embedding sum and on both residual branches. A
// batch is packed into as few shards of whole examples as keep each near
// 1,024 rows (a split that depends on the batch alone); the shards run one
// after another and add their gradients into one buffer in shard order.
// Within a shard, matrix products use the gemm kernel's parallelism and the
// step's other loops (attention heads, rows of the element-wise work, columns
// of the reductions, the optimizer) use TrainConfig.Workers goroutines (or
// TrainConfig.Threads, read before every step); every output is computed in
// the same order however the work is split, so results do not depend on
// Workers, Threads or GOMAXPROCS. GELU and the softmaxes use the float32
// exp of inference (exp32), LayerNorm, AdamW and the column reductions have
// AVX2 loops.
//
// Examples are (Prompt, Target) pairs with the loss on Target only. Shards
// are packed without padding: sequences of different lengths are
// concatenated row after row and attention never crosses a sequence
// boundary, which is exactly what padding plus an attention and loss mask
// computes, without the wasted rows.
//
// Inference methods (OptionLogProbs, OptionLogProbsBatch, Greedy,
// LastLogits, Loglikelihood, GenerateUntil) are safe for concurrent use.
// Loglikelihood and GenerateUntil answer lm-evaluation-harness's two request
// types, in tokens or in text with any tokenizer.Codec, and left-truncate
// long contexts the way the harness does. Option scoring runs a prompt and
// all its options as one forward pass (the options share the prompt's keys
// and values through the attention mask, never each other's), with every
// projection a single GEMM, and computes the LM head only at the scored
// positions; OptionLogProbsBatch stacks several examples into one pass with
// bit-identical results. Greedy keeps a key/value cache and multiplies each
// new token's row by the weights directly. Inference computes GELU and the
// attention softmax with a float32 exp (AVX2 on amd64), so its values
// differ from training's forward by float32 rounding only.
//
// Save writes a Hugging Face GPT-2 directory (model.safetensors with the
// "transformer." names and config.json); Load reads GPT-2 directories from
// other tools too. The LM head is always tied: a checkpoint's lm_head.weight
// is accepted only when it equals transformer.wte.weight bit for bit, and
// Load reports an error otherwise rather than silently dropping an untied
// head.
package model

import (
	"fmt"
	"math"
)

// Epsilon is the LayerNorm epsilon of every LayerNorm (GPT-2's 1e-5).
const Epsilon = 1e-5

// Config fixes the shape of a model.
type Config struct {
	VocabSize  int // number of token ids
	NPositions int // longest sequence the model accepts
	NEmbd      int // width d
	NLayer     int // number of transformer blocks
	NHead      int // attention heads; must divide NEmbd
}

// Validate reports whether c describes a model this package can build.
func (c Config) Validate() error {
	switch {
	case c.VocabSize < 1:
		return fmt.Errorf("model config: vocab_size %d must be positive", c.VocabSize)
	case c.NPositions < 1:
		return fmt.Errorf("model config: n_positions %d must be positive", c.NPositions)
	case c.NEmbd < 1:
		return fmt.Errorf("model config: n_embd %d must be positive", c.NEmbd)
	case c.NLayer < 1:
		return fmt.Errorf("model config: n_layer %d must be positive", c.NLayer)
	case c.NHead < 1 || c.NEmbd%c.NHead != 0:
		return fmt.Errorf("model config: n_head %d must be positive and divide n_embd %d", c.NHead, c.NEmbd)
	}
	if n := NumParamsOf(c); n > math.MaxInt32 {
		return fmt.Errorf("model config: %d parameters is more than this CPU trainer supports", n)
	}
	return nil
}

// NumParamsOf is the number of parameters of a model with config c, counting
// the tied LM head once.
func NumParamsOf(c Config) int {
	d, l := c.NEmbd, c.NLayer
	perLayer := 2*d + (d*3*d + 3*d) + (d*d + d) + 2*d + (d*4*d + 4*d) + (4*d*d + d)
	return c.VocabSize*d + c.NPositions*d + l*perLayer + 2*d
}

// Preset is a named model size. Presets are the one place that fixes the
// sizes of the study; configs refer to them by name.
type Preset struct {
	Name       string
	NLayer     int
	NHead      int
	NEmbd      int
	NPositions int
}

// Config returns the model config of preset p for a vocabulary of vocabSize
// token ids.
func (p Preset) Config(vocabSize int) Config {
	return Config{VocabSize: vocabSize, NPositions: p.NPositions, NEmbd: p.NEmbd, NLayer: p.NLayer, NHead: p.NHead}
}

// presets lists the sizes. Embeddings dominate at this scale, so widths are
// chosen such that the span from xs to l stays above 30x in parameters for
// vocabularies of 400 to 600 words (at 500 words: about 21K, 84K, 279K and
// 865K parameters), with l under 1M. xl is l at 1.75x the width (2.5M
// parameters), which takes the span past 100x, as the paper's 1B-64B span is
// 64x; it keeps l's depth, so xl against l is a width comparison. micro
// exists for tests only.
func presetList() []Preset {
	return []Preset{
		{Name: "micro", NLayer: 2, NHead: 2, NEmbd: 8, NPositions: 64},
		{Name: "xs", NLayer: 2, NHead: 2, NEmbd: 20, NPositions: 64},
		{Name: "s", NLayer: 2, NHead: 2, NEmbd: 48, NPositions: 64},
		{Name: "m", NLayer: 3, NHead: 4, NEmbd: 80, NPositions: 64},
		{Name: "l", NLayer: 4, NHead: 4, NEmbd: 128, NPositions: 64},
		{Name: "xl", NLayer: 4, NHead: 4, NEmbd: 224, NPositions: 64},
	}
}

// Presets returns every preset, smallest first: micro (tests only), xs, s, m,
// l and xl.
func Presets() []Preset { return presetList() }

// PresetByName returns the preset called name.
func PresetByName(name string) (Preset, error) {
	for _, p := range presetList() {
		if p.Name == name {
			return p, nil
		}
	}
	names := ""
	for i, p := range presetList() {
		if i > 0 {
			names += ", "
		}
		names += p.Name
	}
	return Preset{}, fmt.Errorf("model: unknown size preset %q (known: %s)", name, names)
}
