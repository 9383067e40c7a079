package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"mergescale/gemm"
)

// shardExamples is the number of examples per gradient shard. It is fixed
// (never derived from Workers or GOMAXPROCS) so that the order in which
// per-shard gradients are summed, and therefore every result, is the same
// whatever the parallelism.
const shardExamples = 4

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
	Workers     int     // goroutines over the shards of a batch
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

// gradRunner computes batch gradients: the batch is split into fixed shards
// of shardExamples examples, each shard's gradient goes to its own buffer,
// and the buffers are summed in shard order into grads[0].
type gradRunner struct {
	m       *Model
	kern    gemm.Kernel
	workers int
	grads   [][]float32 // one flat gradient per shard
	views   []params
	work    []*shard // one per worker
	losses  []float64
}

func newGradRunner(m *Model, batch, workers int) *gradRunner {
	n := (batch + shardExamples - 1) / shardExamples
	g := &gradRunner{m: m, kern: gemm.Default(), workers: min(max(workers, 1), n)}
	g.grads = make([][]float32, n)
	g.views = make([]params, n)
	for i := range g.grads {
		g.grads[i] = make([]float32, len(m.data))
		g.views[i] = bind(m.Config, m.specs, g.grads[i])
	}
	g.work = make([]*shard, g.workers)
	for i := range g.work {
		g.work[i] = &shard{cfg: m.Config, kern: g.kern}
	}
	g.losses = make([]float64, n)
	return g
}

// run computes the gradient of the batch's mean target-token loss into
// g.grads[0] and returns that loss. Dropout masks of shard s come from a
// generator seeded by (seed, step, s).
func (g *gradRunner) run(batch []Example, dropout float64, seed uint64, step int) float64 {
	total := 0
	for _, ex := range batch {
		total += numTargets(ex)
	}
	scale := float32(1 / float64(total))
	n := (len(batch) + shardExamples - 1) / shardExamples
	do := func(ws *shard, s int) {
		part := batch[s*shardExamples : min((s+1)*shardExamples, len(batch))]
		ins, tgts := make([][]int, len(part)), make([][]int, len(part))
		for i, ex := range part {
			ins[i], tgts[i] = sequence(ex)
		}
		ws.load(ins, tgts, dropout > 0)
		var rng *rand.Rand
		if dropout > 0 {
			rng = rand.New(rand.NewPCG(seed^0x64726f706f7574, uint64(step)<<16|uint64(s)))
		}
		clear(g.grads[s])
		g.losses[s] = ws.forward(&g.m.w, dropout, rng)
		ws.backward(&g.m.w, &g.views[s], scale)
	}
	if g.workers == 1 || n == 1 {
		for s := 0; s < n; s++ {
			do(g.work[0], s)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < min(g.workers, n); w++ {
			wg.Add(1)
			go func(ws *shard) {
				defer wg.Done()
				for {
					s := int(next.Add(1) - 1)
					if s >= n {
						return
					}
					do(ws, s)
				}
			}(g.work[w])
		}
		wg.Wait()
	}
	var loss float64
	for s := 0; s < n; s++ {
		loss += g.losses[s]
		if s > 0 {
			dst, src := g.grads[0], g.grads[s]
			for i, v := range src {
				dst[i] += v
			}
		}
	}
	return loss / float64(total)
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
	g := newGradRunner(m, cfg.Batch, cfg.Workers)
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
		loss := g.run(batch, cfg.Dropout, cfg.Seed, step)
		grad := g.grads[0]
		if cfg.ClipNorm > 0 {
			var ss float64
			for _, v := range grad {
				ss += float64(v) * float64(v)
			}
			if norm := math.Sqrt(ss); norm > cfg.ClipNorm {
				f := float32(cfg.ClipNorm / norm)
				for i := range grad {
					grad[i] *= f
				}
			}
		}
		adamW(m, grad, mom, vel, step+1, lrAt(step, cfg.Steps, warm, cfg.LR), cfg.WeightDecay)
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

// adamW takes one AdamW step t (1-based) with decoupled weight decay on the
// tensors marked for decay.
func adamW(m *Model, grad, mom, vel []float32, t int, lr, wd float64) {
	bc1 := 1 - math.Pow(adamBeta1, float64(t))
	bc2 := 1 - math.Pow(adamBeta2, float64(t))
	stepSize := float32(lr / bc1)
	sqrtBc2 := float32(math.Sqrt(bc2))
	b1, b2 := float32(adamBeta1), float32(adamBeta2)
	for _, s := range m.specs {
		decay := float32(1)
		if s.decay {
			decay = float32(1 - lr*wd)
		}
		p := m.data[s.offset : s.offset+s.size]
		gs, ms, vs := grad[s.offset:s.offset+s.size], mom[s.offset:s.offset+s.size], vel[s.offset:s.offset+s.size]
		for i, gv := range gs {
			mv := b1*ms[i] + (1-b1)*gv
			vv := b2*vs[i] + (1-b2)*gv*gv
			ms[i], vs[i] = mv, vv
			den := float32(math.Sqrt(float64(vv)))/sqrtBc2 + adamEps
			p[i] = p[i]*decay - stepSize*mv/den
		}
	}
}
