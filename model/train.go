package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"mergescale/gemm"
)

// maxShardRows bounds the rows (input positions) of one gradient shard,
// and so the activation memory of a step: a batch of more rows is split
// into the fewest shards of whole examples that keep each near this size.
// The split depends on the batch alone (never on Workers or GOMAXPROCS), the
// shards run one after another and each adds its gradient into the same
// buffer in shard order, so every result is the same whatever the
// parallelism. It is a variable only so that tests can split tiny batches.
var maxShardRows = 1024

// AdamW constants (GPT-style β₂ for short runs).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.95
	adamEps   = 1e-8
)

// Example is one training example: the loss covers Target only. The model
// reads Prompt followed by Target and predicts each Target token from
// everything before it; with an empty Prompt (pretraining) every Target
// token after the first is predicted.
type Example struct {
	Prompt []int
	Target []int
}

// TrainConfig sets a training run. Zero ClipNorm disables clipping; zero
// Dropout disables dropout; Workers below 1 means 1.
type TrainConfig struct {
	Steps       int     // optimizer steps
	Batch       int     // examples per step
	LR          float64 // peak learning rate
	WeightDecay float64 // AdamW decoupled weight decay (matrices and embeddings only)
	WarmupFrac  float64 // fraction of Steps of linear warm-up, then cosine decay to zero
	ClipNorm    float64 // global gradient-norm clip
	Dropout     float64 // dropout on the embedding sum and both residual branches, in [0, 1)
	Seed        uint64  // batch order and dropout masks
	// Workers is the number of goroutines a step's own loops use (the
	// attention softmax per head, rows of the element-wise work, columns of
	// the reductions, the optimizer); matrix products, attention's small
	// per-head ones included, use the gemm kernel's parallelism. The result
	// does not depend on it.
	Workers int
	// Threads, when not nil, is called before every step and its value (at
	// least 1) is the job's share of the cores for that step: it replaces
	// Workers, and the step's matrix products use at most that many
	// goroutines too (gemm.Limit), so that a scheduler can give a running
	// job more cores when other jobs finish, or fewer when they start, and
	// jobs side by side do not split their products over cores the others
	// hold. The result does not depend on it either.
	Threads func() int
}

// TrainSummary describes a finished (or interrupted) run.
type TrainSummary struct {
	Steps     int     // optimizer steps taken
	FinalLoss float64 // mean loss per target token over the last min(10, Steps) steps
	Tokens    int64   // input positions processed (forward and backward)
	Seconds   float64 // wall time
}

func (tc TrainConfig) validate() error {
	switch {
	case tc.Steps < 1:
		return fmt.Errorf("train: steps %d must be positive", tc.Steps)
	case tc.Batch < 1:
		return fmt.Errorf("train: batch %d must be positive", tc.Batch)
	case !(tc.LR > 0) || math.IsInf(tc.LR, 0):
		return fmt.Errorf("train: learning rate %v must be positive and finite", tc.LR)
	case !(tc.WeightDecay >= 0):
		return fmt.Errorf("train: weight decay %v must not be negative", tc.WeightDecay)
	case !(tc.WarmupFrac >= 0 && tc.WarmupFrac <= 1):
		return fmt.Errorf("train: warmup fraction %v must be in [0, 1]", tc.WarmupFrac)
	case !(tc.ClipNorm >= 0):
		return fmt.Errorf("train: clip norm %v must not be negative", tc.ClipNorm)
	case !(tc.Dropout >= 0 && tc.Dropout < 1):
		return fmt.Errorf("train: dropout %v must be in [0, 1)", tc.Dropout)
	}
	return nil
}

// checkExample validates one example against the model's config.
func checkExample(c Config, i int, ex Example) error {
	n := len(ex.Prompt) + len(ex.Target)
	if n-1 > c.NPositions {
		return fmt.Errorf("train: example %d has %d tokens, more than n_positions+1 = %d", i, n, c.NPositions+1)
	}
	if len(ex.Target) == 0 || (len(ex.Prompt) == 0 && len(ex.Target) < 2) {
		return fmt.Errorf("train: example %d has no target token to predict", i)
	}
	for _, part := range [][]int{ex.Prompt, ex.Target} {
		for _, t := range part {
			if t < 0 || t >= c.VocabSize {
				return fmt.Errorf("train: example %d has token id %d outside the vocabulary [0, %d)", i, t, c.VocabSize)
			}
		}
	}
	return nil
}

// sequence returns the model input and, per input position, the token it
// must predict or -1.
func sequence(ex Example) (in, tgt []int) {
	full := append(append([]int(nil), ex.Prompt...), ex.Target...)
	in = full[:len(full)-1]
	tgt = make([]int, len(in))
	first := max(len(ex.Prompt)-1, 0)
	for p := range in {
		if p >= first {
			tgt[p] = full[p+1]
		} else {
			tgt[p] = -1
		}
	}
	return in, tgt
}

// numTargets is the number of loss tokens of ex.
func numTargets(ex Example) int {
	if len(ex.Prompt) == 0 {
		return len(ex.Target) - 1
	}
	return len(ex.Target)
}

// lrAt is the learning rate of step (0-based): linear warm-up over the first
// warm steps, then cosine decay from peak towards zero.
func lrAt(step, steps, warm int, peak float64) float64 {
	if step < warm {
		return peak * float64(step+1) / float64(warm)
	}
	if steps <= warm {
		return peak
	}
	prog := float64(step-warm) / float64(steps-warm)
	return peak * 0.5 * (1 + math.Cos(math.Pi*prog))
}

// gradRunner computes batch gradients: the batch is split into shards of
// whole examples (splitShards), which run one after another on one
// workspace, each adding its gradient into grad.
type gradRunner struct {
	m       *Model
	kern    gemm.Kernel
	workers int
	grad    []float32 // the batch gradient, flat, in the model's layout
	view    params
	work    *shard
	ins     [][]int // scratch: inputs and targets of the batch's sequences
	tgts    [][]int
}

func newGradRunner(m *Model, workers int) *gradRunner {
	g := &gradRunner{m: m, kern: gemm.Default()}
	g.grad = make([]float32, len(m.data))
	g.view = bind(m.Config, m.specs, g.grad)
	g.work = &shard{cfg: m.Config, kern: g.kern}
	g.setWorkers(workers)
	return g
}

// setWorkers sets the goroutines of the next steps (at least 1).
func (g *gradRunner) setWorkers(n int) {
	g.workers = max(n, 1)
	g.work.workers = g.workers
}

// splitShards returns the example boundaries of the shards of a batch whose
// sequences have the given input lengths: the fewest shards such that an
// even split by example count keeps each near maxShardRows rows.
func splitShards(lengths []int) []int {
	rows := 0
	for _, n := range lengths {
		rows += n
	}
	n := max(1, min(len(lengths), (rows+maxShardRows-1)/maxShardRows))
	bounds := make([]int, n+1)
	for s := range bounds {
		bounds[s] = len(lengths) * s / n
	}
	return bounds
}

// run computes the gradient of the batch's mean target-token loss into
// g.grad and returns that loss. Dropout masks of shard s come from a
// generator seeded by (seed, step, s).
func (g *gradRunner) run(batch []Example, dropout float64, seed uint64, step int) float64 {
	total := 0
	g.ins, g.tgts = g.ins[:0], g.tgts[:0]
	lengths := make([]int, len(batch))
	for i, ex := range batch {
		total += numTargets(ex)
		in, tgt := sequence(ex)
		g.ins, g.tgts = append(g.ins, in), append(g.tgts, tgt)
		lengths[i] = len(in)
	}
	scale := float32(1 / float64(total))
	bounds := splitShards(lengths)
	clearParallel(g.workers, g.grad)
	var loss float64
	for s := 0; s+1 < len(bounds); s++ {
		lo, hi := bounds[s], bounds[s+1]
		ws := g.work
		ws.load(g.ins[lo:hi], g.tgts[lo:hi], dropout > 0)
		var rng *rand.Rand
		if dropout > 0 {
			rng = rand.New(rand.NewPCG(seed^0x64726f706f7574, uint64(step)<<16|uint64(s)))
		}
		loss += ws.forward(&g.m.w, dropout, rng, scale)
		ws.backward(&g.m.w, &g.view)
	}
	return loss / float64(total)
}

// optChunk is the chunk of the flat parameter buffer that the optimizer
// and the gradient norm handle as one unit; the norm's partial sums are per
// chunk and added in chunk order, so it does not depend on the workers. It
// is a variable only so that tests can use several chunks on a tiny model.
var optChunk = 1 << 14

// clearParallel zeroes x over at most workers goroutines.
func clearParallel(workers int, x []float32) {
	parallelFor(workers, (len(x)+optChunk-1)/optChunk, len(x)/4, func(lo, hi int) {
		clear(x[lo*optChunk : min(hi*optChunk, len(x))])
	})
}

// gradNorm returns the Euclidean norm of grad, summed in float64 per chunk
// of optChunk entries and over the chunks in order.
func gradNorm(workers int, grad []float32) float64 {
	n := (len(grad) + optChunk - 1) / optChunk
	parts := make([]float64, n)
	parallelFor(workers, n, len(grad), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s0, s1, s2, s3 float64
			x := grad[c*optChunk : min((c+1)*optChunk, len(grad))]
			i := 0
			for ; i+4 <= len(x); i += 4 {
				a, b, cc, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
				s0 += a * a
				s1 += b * b
				s2 += cc * cc
				s3 += d * d
			}
			for ; i < len(x); i++ {
				s0 += float64(x[i]) * float64(x[i])
			}
			parts[c] = (s0 + s1) + (s2 + s3)
		}
	})
	var ss float64
	for _, p := range parts {
		ss += p
	}
	return math.Sqrt(ss)
}

// Train trains m in place on data. Each step takes the next cfg.Batch
// examples of a seeded shuffle of data (reshuffled every epoch), computes
// the gradient of the mean loss per target token, clips its global norm,
// and takes an AdamW step. progress, when not nil, is called after every
// step with the 1-based step number and that step's loss. When ctx is
// cancelled, Train returns the summary so far and an error wrapping
// ctx.Err(); m then holds the weights after the last completed step.
func Train(ctx context.Context, m *Model, data []Example, cfg TrainConfig, progress func(step int, loss float64)) (TrainSummary, error) {
	var sum TrainSummary
	if err := cfg.validate(); err != nil {
		return sum, err
	}
	if len(data) == 0 {
		return sum, errors.New("train: no training examples")
	}
	for i, ex := range data {
		if err := checkExample(m.Config, i, ex); err != nil {
			return sum, err
		}
	}
	start := time.Now()
	g := newGradRunner(m, cfg.Workers)
	mom, vel := make([]float32, len(m.data)), make([]float32, len(m.data))
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6261746368657321)) // "batches!"
	order := rng.Perm(len(data))
	cursor := 0
	warm := int(math.Round(cfg.WarmupFrac * float64(cfg.Steps)))
	batch := make([]Example, cfg.Batch)
	var recent []float64
	for step := 0; step < cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			sum.Seconds = time.Since(start).Seconds()
			return sum, fmt.Errorf("train: stopped after %d of %d steps: %w", step, cfg.Steps, err)
		}
		for i := range batch {
			if cursor == len(order) {
				order = rng.Perm(len(data))
				cursor = 0
			}
			batch[i] = data[order[cursor]]
			cursor++
			sum.Tokens += int64(len(batch[i].Prompt) + len(batch[i].Target) - 1)
		}
		if cfg.Threads != nil {
			n := cfg.Threads()
			g.setWorkers(n)
			g.work.kern = gemm.Limit(g.kern, n)
		}
		loss := g.run(batch, cfg.Dropout, cfg.Seed, step)
		clip := float32(1)
		if cfg.ClipNorm > 0 {
			if norm := gradNorm(g.workers, g.grad); norm > cfg.ClipNorm {
				clip = float32(cfg.ClipNorm / norm)
			}
		}
		adamW(g.workers, m, g.grad, mom, vel, clip, step+1, lrAt(step, cfg.Steps, warm, cfg.LR), cfg.WeightDecay)
		if len(recent) == 10 {
			recent = recent[1:]
		}
		recent = append(recent, loss)
		sum.Steps = step + 1
		if progress != nil {
			progress(step+1, loss)
		}
	}
	var tot float64
	for _, l := range recent {
		tot += l
	}
	sum.FinalLoss = tot / float64(len(recent))
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// adamConsts are the scalars of one AdamW update, laid out for adamWAVX.
type adamConsts struct {
	clip, b1, omb1, b2, omb2, sqrtBc2, eps, decay, stepSize float32
}

// adamW takes one AdamW step t (1-based) on the gradient clip·grad, with
// decoupled weight decay on the tensors marked for decay. Every parameter's
// update depends on its own entries alone; the buffer is split into chunks
// of optChunk over at most workers goroutines.
func adamW(workers int, m *Model, grad, mom, vel []float32, clip float32, t int, lr, wd float64) {
	bc1 := 1 - math.Pow(adamBeta1, float64(t))
	bc2 := 1 - math.Pow(adamBeta2, float64(t))
	b1, b2 := float32(adamBeta1), float32(adamBeta2)
	k := adamConsts{clip: clip, b1: b1, omb1: 1 - b1, b2: b2, omb2: 1 - b2,
		sqrtBc2: float32(math.Sqrt(bc2)), eps: adamEps, decay: 1, stepSize: float32(lr / bc1)}
	kd := k
	kd.decay = float32(1 - lr*wd)
	n := (len(m.data) + optChunk - 1) / optChunk
	parallelFor(workers, n, 4*len(m.data), func(lo, hi int) {
		lo, hi = lo*optChunk, min(hi*optChunk, len(m.data))
		for _, s := range m.specs {
			a, b := max(lo, s.offset), min(hi, s.offset+s.size)
			if a >= b {
				continue
			}
			c := &k
			if s.decay {
				c = &kd
			}
			adamWSlice(m.data[a:b], grad[a:b], mom[a:b], vel[a:b], c)
		}
	})
}

// adamWGo is AdamW's update of p, m and v from g, entry by entry.
func adamWGo(p, g, m, v []float32, k *adamConsts) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i := range p {
		gv := k.clip * g[i]
		mv := k.b1*m[i] + k.omb1*gv
		vv := k.b2*v[i] + k.omb2*gv*gv
		m[i], v[i] = mv, vv
		den := float32(math.Sqrt(float64(vv)))/k.sqrtBc2 + k.eps
		p[i] = p[i]*k.decay - k.stepSize*mv/den
	}
}
