package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// tinyConfig is the model of the gradient and consistency tests.
var tinyConfig = Config{VocabSize: 13, NPositions: 10, NEmbd: 8, NLayer: 2, NHead: 2}

// perturbed returns a model whose every parameter is random and O(0.1–1),
// so that every gradient entry is far from zero and from rounding noise.
func perturbed(c Config, seed uint64) *Model {
	m := New(c, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, s := range m.specs {
		t := m.data[s.offset : s.offset+s.size]
		for i := range t {
			switch s.init {
			case initOne:
				t[i] = float32(1 + 0.3*rng.NormFloat64())
			case initZero:
				t[i] = float32(0.1 * rng.NormFloat64())
			default:
				t[i] = float32(0.3 * rng.NormFloat64())
			}
		}
	}
	return m
}

// tinyBatch mixes pretraining and fine-tuning examples of different lengths
// over two shards.
func tinyBatch() []Example {
	return []Example{
		{Target: []int{1, 5, 7, 2, 9}},
		{Prompt: []int{3, 4, 8}, Target: []int{6, 2}},
		{Prompt: []int{11}, Target: []int{12}},
		{Prompt: []int{2, 2, 5, 6, 7, 1}, Target: []int{0}},
		{Target: []int{9, 9, 10, 3, 4, 5, 6, 12, 0, 1}},
		{Prompt: []int{7, 3}, Target: []int{4, 4, 4}},
	}
}

func gradOf(m *Model, batch []Example, workers int) ([]float32, float64) {
	g := newGradRunner(m, workers)
	loss := g.run(batch, 0, 1, 0)
	return append([]float32(nil), g.grad...), loss
}

func TestForwardMatchesFloat64Reference(t *testing.T) {
	m := perturbed(tinyConfig, 1)
	ref := newRef(m)
	batch := tinyBatch()
	_, loss := gradOf(m, batch, 1)
	want := ref.loss(batch)
	if math.Abs(loss-want) > 1e-5*math.Max(1, math.Abs(want)) {
		t.Fatalf("loss %.9g, float64 reference %.9g", loss, want)
	}
	toks := []int{4, 0, 12, 7, 7, 3}
	got, err := m.LastLogits(toks)
	if err != nil {
		t.Fatal(err)
	}
	wantL := ref.logits(toks)[len(toks)-1]
	for i := range got {
		if math.Abs(float64(got[i])-wantL[i]) > 1e-4 {
			t.Fatalf("logit %d: %.9g, reference %.9g", i, got[i], wantL[i])
		}
	}
}

// centralDiff is the central difference of the float64 reference loss on
// batch in entry i of the reference parameter p, with step h.
func centralDiff(ref *refModel, p []float64, i int, h float64, batch []Example) float64 {
	old := p[i]
	p[i] = old + h
	lp := ref.loss(batch)
	p[i] = old - h
	lm := ref.loss(batch)
	p[i] = old
	return (lp - lm) / (2 * h)
}

// TestGradientFiniteDifference compares the hand-written float32 backward
// pass with central differences of the float64 reference loss, on entries of
// every parameter tensor.
func TestGradientFiniteDifference(t *testing.T) {
	m := perturbed(tinyConfig, 2)
	batch := tinyBatch()
	grad, _ := gradOf(m, batch, 1)
	ref := newRef(m)
	rng := rand.New(rand.NewPCG(3, 3))
	const h = 1e-5
	for _, s := range m.specs {
		p := ref.get(s.name)
		// The largest analytic entry plus a few random ones.
		idx := []int{0}
		for i := range s.size {
			if math.Abs(float64(grad[s.offset+i])) > math.Abs(float64(grad[s.offset+idx[0]])) {
				idx[0] = i
			}
		}
		for range 4 {
			idx = append(idx, rng.IntN(s.size))
		}
		for _, i := range idx {
			num := centralDiff(ref, p, i, h, batch)
			ana := float64(grad[s.offset+i])
			if math.Abs(num-ana) > 1e-4+2e-3*math.Abs(num) {
				t.Errorf("%s[%d]: analytic %.7g, finite difference %.7g", s.name, i, ana, num)
			}
		}
	}
}

// TestPresetGradients checks the backward pass at the shape of every preset
// (its depth, heads and width; a 16-word vocabulary and short sequences keep
// the float64 reference cheap) against central differences, on the largest
// analytic entry of every tensor.
func TestPresetGradients(t *testing.T) {
	for _, p := range Presets() {
		t.Run(p.Name, func(t *testing.T) {
			c := p.Config(16)
			m := New(c, 5)
			batch := []Example{{Prompt: []int{3, 4, 8}, Target: []int{6, 2}}, {Target: []int{1, 5, 7, 2, 9, 11}}}
			grad, _ := gradOf(m, batch, 1)
			ref := newRef(m)
			const h = 1e-4
			for _, s := range m.specs {
				pr := ref.get(s.name)
				i := 0
				for j := range s.size {
					if math.Abs(float64(grad[s.offset+j])) > math.Abs(float64(grad[s.offset+i])) {
						i = j
					}
				}
				num := centralDiff(ref, pr, i, h, batch)
				if ana := float64(grad[s.offset+i]); math.Abs(num-ana) > 1e-5+5e-3*math.Abs(num) {
					t.Errorf("%s[%d]: analytic %.7g, finite difference %.7g", s.name, i, ana, num)
				}
			}
		})
	}
}

// TestMaskedPositionsZeroGradient checks that prompt positions and the
// other sequences of a packed shard contribute nothing: positions never
// reached get exactly zero gradient, the gradient of a fine-tuning example
// equals that of the loss on its target only, and packing examples together
// equals weighting their separate gradients.
func TestMaskedPositionsZeroGradient(t *testing.T) {
	m := perturbed(tinyConfig, 4)
	ex := Example{Prompt: []int{3, 4, 8, 1}, Target: []int{6}}
	g, _ := gradOf(m, []Example{ex}, 1)
	d := m.Config.NEmbd
	wpe := m.specs[1]
	for i := 4 * d; i < wpe.size; i++ { // positions 4.. are never inputs
		if g[wpe.offset+i] != 0 {
			t.Fatalf("wpe gradient at unused position %d is %v", i/d, g[wpe.offset+i])
		}
	}
	// Only the last position is scored: the gradient must match the finite
	// difference of log p(6 | 3 4 8 1) alone, and differ from the gradient
	// of the same tokens as a pretraining example.
	ref := newRef(m)
	wte := ref.get("transformer.wte.weight")
	nll := func() float64 {
		lg := ref.logits([]int{3, 4, 8, 1})
		return -refLogSoftmax(lg[3], 6)
	}
	const h = 1e-5
	for _, i := range []int{8*d + 2, 1*d + 5, 6*d + 0} { // prompt, masked-target and target rows
		old := wte[i]
		wte[i] = old + h
		lp := nll()
		wte[i] = old - h
		lm := nll()
		wte[i] = old
		num := (lp - lm) / (2 * h)
		if ana := float64(g[i]); math.Abs(num-ana) > 1e-4+2e-3*math.Abs(num) {
			t.Errorf("wte[%d]: analytic %.7g, finite difference of the target-only loss %.7g", i, ana, num)
		}
	}
	pre, _ := gradOf(m, []Example{{Target: []int{3, 4, 8, 1, 6}}}, 1)
	same := true
	for i := range g {
		same = same && g[i] == pre[i]
	}
	if same {
		t.Error("masking the prompt did not change the gradient")
	}
	// Packing: grad({a,b})·(na+nb) = grad({a})·na + grad({b})·nb.
	a, b := tinyBatch()[0], tinyBatch()[1]
	ga, _ := gradOf(m, []Example{a}, 1)
	gb, _ := gradOf(m, []Example{b}, 1)
	gab, _ := gradOf(m, []Example{a, b}, 1)
	na, nb := float64(numTargets(a)), float64(numTargets(b))
	for i := range gab {
		want := (float64(ga[i])*na + float64(gb[i])*nb) / (na + nb)
		if math.Abs(float64(gab[i])-want) > 1e-5 {
			t.Fatalf("packed gradient entry %d: %v, separate %v", i, gab[i], want)
		}
	}
}

func TestInferenceConsistent(t *testing.T) {
	m := perturbed(tinyConfig, 5)
	prompt := []int{3, 1, 4}
	options := [][]int{{5}, {9, 2, 6}, {5, 3}}
	got, err := m.OptionLogProbs(prompt, options)
	if err != nil {
		t.Fatal(err)
	}
	ref := newRef(m)
	for i, o := range options {
		full := append(append([]int(nil), prompt...), o...)
		lg := ref.logits(full[:len(full)-1])
		var want float64
		for j := range o {
			want += refLogSoftmax(lg[len(prompt)-1+j], o[j])
		}
		if math.Abs(got[i]-want) > 1e-4 {
			t.Errorf("option %d: log prob %.7g, reference %.7g", i, got[i], want)
		}
	}
	// Greedy must follow the reference argmax step by step.
	gen, err := m.Greedy(prompt, 5, -1)
	if err != nil {
		t.Fatal(err)
	}
	seq := append([]int(nil), prompt...)
	for i := range 5 {
		lg := ref.logits(seq)[len(seq)-1]
		best := 0
		for j := range lg {
			if lg[j] > lg[best] {
				best = j
			}
		}
		if gen[i] != best {
			t.Fatalf("greedy token %d = %d, reference argmax %d (generated %v)", i, gen[i], best, gen)
		}
		seq = append(seq, best)
	}
	// A stop token ends generation and is not returned.
	stopped, err := m.Greedy(prompt, 5, gen[2])
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range stopped {
		if v == gen[2] || v != gen[i] {
			t.Fatalf("Greedy with stop %d gave %v (without stop %v)", gen[2], stopped, gen)
		}
	}
	// Generation stops when the context is full: with 10 positions, an
	// 8-token prompt gets 3 more tokens (the last predicted from all 10).
	long, err := m.Greedy([]int{1, 2, 3, 4, 5, 6, 7, 8}, 10, -1)
	if err != nil || len(long) != 3 {
		t.Fatalf("Greedy at the context limit gave %v, %v; want 3 tokens", long, err)
	}
}

func TestInferenceErrors(t *testing.T) {
	m := New(tinyConfig, 1)
	cases := []struct {
		name string
		run  func() error
	}{
		{"empty prompt", func() error { _, err := m.OptionLogProbs(nil, [][]int{{1}}); return err }},
		{"empty option", func() error { _, err := m.OptionLogProbs([]int{1}, [][]int{{}}); return err }},
		{"option token", func() error { _, err := m.OptionLogProbs([]int{1}, [][]int{{13}}); return err }},
		{"too long", func() error { _, err := m.OptionLogProbs(make([]int, 9), [][]int{{1, 2, 3}}); return err }},
		{"greedy token", func() error { _, err := m.Greedy([]int{-1}, 2, 0); return err }},
		{"logits length", func() error { _, err := m.LastLogits(make([]int, 11)); return err }},
	}
	for _, c := range cases {
		if err := c.run(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestOverfitTinyDataset(t *testing.T) {
	c := Config{VocabSize: 16, NPositions: 12, NEmbd: 16, NLayer: 2, NHead: 2}
	m := New(c, 9)
	data := []Example{
		{Prompt: []int{2, 3}, Target: []int{7, 8, 3}},
		{Prompt: []int{2, 4}, Target: []int{9, 3}},
		{Prompt: []int{2, 5}, Target: []int{10, 11, 12, 3}},
		{Target: []int{13, 14, 15, 13, 14, 15}},
	}
	cfg := TrainConfig{Steps: 150, Batch: 4, LR: 1e-2, WarmupFrac: 0.1, ClipNorm: 1, Seed: 1, Workers: 1}
	var first float64
	sum, err := Train(context.Background(), m, data, cfg, func(step int, loss float64) {
		if step == 1 {
			first = loss
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 150 || sum.FinalLoss > 0.05 || first < 2 {
		t.Fatalf("first loss %.4f, summary %+v; want the final loss near zero", first, sum)
	}
	got, err := m.Greedy([]int{2, 5}, 10, 3)
	if err != nil || len(got) != 3 || got[0] != 10 || got[1] != 11 || got[2] != 12 {
		t.Fatalf("after overfitting, Greedy gave %v, %v; want [10 11 12]", got, err)
	}
}

// splitEverything makes the trainer split tiny work as it splits large
// work: every parallel loop over several goroutines, batches of more than
// 12 rows over several shards, the optimizer's buffer over chunks of 64.
func splitEverything(t *testing.T) {
	work, rows, chunk := minParallelWork, maxShardRows, optChunk
	minParallelWork, maxShardRows, optChunk = 1, 12, 64
	t.Cleanup(func() { minParallelWork, maxShardRows, optChunk = work, rows, chunk })
}

// TestTrainDeterministic: the weights after N steps do not depend on the
// number of workers, on GOMAXPROCS or on a Threads function that changes
// the workers between steps (dropout on, several shards per batch, every
// loop split).
func TestTrainDeterministic(t *testing.T) {
	splitEverything(t)
	data := tinyBatch()
	if b := splitShards([]int{4, 4, 1, 6, 9, 4, 4, 4, 1, 6}); len(b) < 4 {
		t.Fatalf("shard bounds %v: want at least three shards", b)
	}
	run := func(workers, procs int, threads func() int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := New(tinyConfig, 11)
		cfg := TrainConfig{Steps: 4, Batch: 10, LR: 3e-3, WeightDecay: 0.1, WarmupFrac: 0.25, ClipNorm: 0.5, Dropout: 0.1, Seed: 5, Workers: workers, Threads: threads}
		if _, err := Train(context.Background(), m, data, cfg, nil); err != nil {
			t.Fatal(err)
		}
		return m.data
	}
	base := run(1, 1, nil)
	calls := 0
	alternate := func() int { calls++; return 1 + calls%3 }
	for _, c := range []struct {
		workers, procs int
		threads        func() int
	}{{2, 1, nil}, {1, 4, nil}, {2, 4, nil}, {3, 4, nil}, {7, 4, nil}, {1, 4, alternate}} {
		got := run(c.workers, c.procs, c.threads)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(base[i]) {
				t.Fatalf("workers %d GOMAXPROCS %d (threads func %v): parameter %d is %v, want %v", c.workers, c.procs, c.threads != nil, i, got[i], base[i])
			}
		}
	}
	if calls != 4 {
		t.Fatalf("Threads was called %d times in 4 steps", calls)
	}
	changed := New(tinyConfig, 11)
	diff := false
	for i := range base {
		diff = diff || base[i] != changed.data[i]
	}
	if !diff {
		t.Fatal("training did not change the weights")
	}
}

// TestGradientSplitInvariant: the batch gradient is bit-identical for any
// number of workers at every preset's shape (several shards, every loop
// split), and the same up to rounding whether the batch is one shard or
// several.
func TestGradientSplitInvariant(t *testing.T) {
	batch := []Example{
		{Prompt: []int{3, 4, 8}, Target: []int{6, 2}}, {Target: []int{1, 5, 7, 2, 9, 11}},
		{Prompt: []int{7}, Target: []int{1, 2, 3, 4}}, {Target: []int{9, 8, 7, 6, 5, 4, 3, 2, 1}},
	}
	for _, p := range Presets() {
		t.Run(p.Name, func(t *testing.T) {
			m := New(p.Config(16), 5)
			whole, wholeLoss := gradOf(m, batch, 1)
			splitEverything(t)
			base, baseLoss := gradOf(m, batch, 1)
			for _, w := range []int{2, 3, 5} {
				g, loss := gradOf(m, batch, w)
				if loss != baseLoss {
					t.Fatalf("workers %d: loss %v, want %v", w, loss, baseLoss)
				}
				for i := range g {
					if math.Float32bits(g[i]) != math.Float32bits(base[i]) {
						t.Fatalf("workers %d: gradient entry %d is %v, want %v", w, i, g[i], base[i])
					}
				}
			}
			if math.Abs(wholeLoss-baseLoss) > 1e-6*wholeLoss {
				t.Fatalf("loss %v as one shard, %v as several", wholeLoss, baseLoss)
			}
			var num, den float64
			for i := range whole {
				e := float64(whole[i] - base[i])
				num += e * e
				den += float64(whole[i]) * float64(whole[i])
			}
			if math.Sqrt(num/den) > 1e-5 {
				t.Fatalf("gradient as one shard and as several differ by %.3g (relative)", math.Sqrt(num/den))
			}
		})
	}
}

func TestTrainErrors(t *testing.T) {
	m := New(tinyConfig, 1)
	ok := TrainConfig{Steps: 1, Batch: 1, LR: 1e-3}
	cases := []struct {
		name string
		data []Example
		cfg  TrainConfig
	}{
		{"no data", nil, ok},
		{"zero steps", tinyBatch(), TrainConfig{Batch: 1, LR: 1e-3}},
		{"bad lr", tinyBatch(), TrainConfig{Steps: 1, Batch: 1, LR: math.NaN()}},
		{"dropout 1", tinyBatch(), TrainConfig{Steps: 1, Batch: 1, LR: 1e-3, Dropout: 1}},
		{"token range", []Example{{Prompt: []int{1}, Target: []int{13}}}, ok},
		{"too long", []Example{{Target: make([]int, 12)}}, ok},
		{"no target", []Example{{Target: []int{1}}}, ok},
	}
	for _, c := range cases {
		if _, err := Train(context.Background(), m, c.data, c.cfg, nil); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sum, err := Train(ctx, m, tinyBatch(), ok, nil); err == nil || sum.Steps != 0 {
		t.Errorf("cancelled context: %+v, %v", sum, err)
	}
}

func TestLRSchedule(t *testing.T) {
	cases := []struct {
		step, steps, warm int
		want              float64
	}{
		{0, 10, 2, 0.5},
		{1, 10, 2, 1},
		{2, 10, 2, 1},
		{6, 10, 2, 0.5},
		{9, 10, 2, 0.5 * (1 + math.Cos(math.Pi*7/8))},
		{0, 4, 0, 1},
	}
	for _, c := range cases {
		if got := lrAt(c.step, c.steps, c.warm, 1); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("lrAt(%d, %d, %d) = %v, want %v", c.step, c.steps, c.warm, got, c.want)
		}
	}
}

func TestPresets(t *testing.T) {
	var sizes []int
	for _, p := range Presets() {
		if p.Name == "micro" {
			continue
		}
		c := p.Config(500)
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if got := New(c, 1).NumParams(); got != NumParamsOf(c) {
			t.Fatalf("%s: NumParams %d, NumParamsOf %d", p.Name, got, NumParamsOf(c))
		}
		sizes = append(sizes, NumParamsOf(c))
	}
	for _, v := range []int{400, 600} {
		xs, _ := PresetByName("xs")
		l, _ := PresetByName("l")
		lo, hi := NumParamsOf(xs.Config(v)), NumParamsOf(l.Config(v))
		if hi < 30*lo || hi > 1_000_000 {
			t.Errorf("vocab %d: xs %d, l %d parameters; want a span ≥ 30× and l ≤ 1M", v, lo, hi)
		}
	}
	for i := 1; i < len(sizes); i++ {
		if sizes[i] <= sizes[i-1] {
			t.Errorf("presets not increasing: %v", sizes)
		}
	}
	for _, v := range []int{400, 600} {
		xs, _ := PresetByName("xs")
		xl, _ := PresetByName("xl")
		if lo, hi := NumParamsOf(xs.Config(v)), NumParamsOf(xl.Config(v)); hi < 100*lo {
			t.Errorf("vocab %d: xs %d, xl %d parameters; want a span ≥ 100×", v, lo, hi)
		}
	}
	if _, err := PresetByName("xxl"); err == nil {
		t.Error("unknown preset: no error")
	}
	// Hand count for micro: V·d + P·d + L·(12d² + 13d) + 2d.
	if got := NumParamsOf(Config{VocabSize: 10, NPositions: 16, NEmbd: 8, NLayer: 2, NHead: 2}); got != 80+128+2*(768+104)+16 {
		t.Errorf("NumParamsOf(micro, 10) = %d", got)
	}
}

func TestInitStatistics(t *testing.T) {
	c := Config{VocabSize: 200, NPositions: 16, NEmbd: 64, NLayer: 8, NHead: 4}
	m := New(c, 3)
	std := func(name string) float64 {
		v, _, err := m.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s / float64(len(v)))
	}
	cases := []struct {
		name string
		want float64
	}{
		{"wte.weight", 0.02},
		{"h.3.attn.c_attn.weight", 0.02},
		{"h.3.attn.c_proj.weight", 0.02 / 4},
		{"h.7.mlp.c_proj.weight", 0.02 / 4},
		{"h.0.ln_1.weight", 1},
		{"h.0.mlp.c_fc.bias", 0},
	}
	for _, cs := range cases {
		if got := std(cs.name); math.Abs(got-cs.want) > 0.05*cs.want+1e-9 {
			t.Errorf("%s: rms %.5f, want %.5f", cs.name, got, cs.want)
		}
	}
	if a, b := New(c, 3), New(c, 4); a.data[0] == b.data[0] || a.data[0] != m.data[0] {
		t.Error("initialisation does not follow the seed")
	}
}

func TestInferenceConcurrent(t *testing.T) {
	m := perturbed(tinyConfig, 31)
	prompts := [][]int{{1, 2}, {3}, {4, 5, 6}, {7, 8, 9, 10}}
	options := [][]int{{1}, {2, 3}, {12, 0, 4}}
	want := make([][]float64, len(prompts))
	for i, p := range prompts {
		var err error
		if want[i], err = m.OptionLogProbs(p, options); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 4*len(prompts))
	for range 4 {
		for i, p := range prompts {
			go func() {
				got, err := m.OptionLogProbs(p, options)
				if err == nil {
					for j := range got {
						if got[j] != want[i][j] {
							err = fmt.Errorf("prompt %d option %d: %v concurrently, %v alone", i, j, got[j], want[i][j])
						}
					}
				}
				errs <- err
			}()
		}
	}
	for range 4 * len(prompts) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
