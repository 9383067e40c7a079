package model

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"mergescale/gemm"
)

// benchVocab is about the task suite's vocabulary size.
const benchVocab = 500

// sgemmGFLOPS measures k's Sgemm on an m×n×k product (C = A·B) for about
// 200 ms and returns GFLOP/s.
func sgemmGFLOPS(kern gemm.Kernel, m, n, k int) float64 {
	rng := rand.New(rand.NewPCG(1, 1))
	a, bm, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bm {
		bm[i] = rng.Float32()
	}
	reps := 0
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond {
		kern.Sgemm(false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
		reps++
	}
	return 2 * float64(m) * float64(n) * float64(k) * float64(reps) / time.Since(start).Seconds() / 1e9
}

// BenchmarkTrainStep times whole training steps (forward, backward,
// reduction, clipping, AdamW) of every preset on a batch of 16 sequences of
// 48 input tokens, with one worker, and reports tokens/s and GFLOP/s
// (6 × parameters × tokens plus 12·n_layer·T²·d per sequence for attention)
// beside gonum's and the default kernel's Sgemm GFLOP/s on the model's MLP
// shape (batch·seq × d × 4d), measured in the same run. The matrix products
// use the kernel's own parallelism (GOMAXPROCS) with any number of workers.
func BenchmarkTrainStep(b *testing.B) { benchTrainStep(b, 1) }

// BenchmarkTrainStepWorkers is BenchmarkTrainStep with as many workers as
// GOMAXPROCS: a job that has the machine to itself.
func BenchmarkTrainStepWorkers(b *testing.B) { benchTrainStep(b, runtime.GOMAXPROCS(0)) }

func benchTrainStep(b *testing.B, workers int) {
	const batch, seq = 16, 48
	for _, p := range Presets() {
		if p.Name == "micro" {
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			cfg := p.Config(benchVocab)
			m := New(cfg, 1)
			rng := rand.New(rand.NewPCG(2, 2))
			data := make([]Example, batch)
			for i := range data {
				data[i].Target = make([]int, seq+1)
				for j := range data[i].Target {
					data[i].Target[j] = rng.IntN(benchVocab)
				}
			}
			g := newGradRunner(m, workers)
			mom, vel := make([]float32, len(m.data)), make([]float32, len(m.data))
			step := func(i int) {
				g.run(data, 0, 1, i)
				clip := float32(1)
				if norm := gradNorm(g.workers, g.grad); norm > 1 {
					clip = float32(1 / norm)
				}
				adamW(g.workers, m, g.grad, mom, vel, clip, i+1, 1e-4, 0.01)
			}
			step(0) // warm the workspaces
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				step(i + 1)
			}
			sec := time.Since(start).Seconds()
			b.StopTimer()
			tokens := float64(batch * seq * b.N)
			flops := 6*float64(m.NumParams())*tokens + 12*float64(cfg.NLayer*seq*seq*cfg.NEmbd*batch*b.N)
			b.ReportMetric(float64(m.NumParams()), "params")
			b.ReportMetric(tokens/sec, "tokens/s")
			b.ReportMetric(flops/sec/1e9, "GFLOP/s")
			d := cfg.NEmbd
			b.ReportMetric(sgemmGFLOPS(gemm.Gonum(), batch*seq, 4*d, d), "gonum-sgemm-GFLOP/s")
			if k := gemm.Default(); k.Name() != "gonum" {
				b.ReportMetric(sgemmGFLOPS(k, batch*seq, 4*d, d), fmt.Sprintf("%s-sgemm-GFLOP/s", k.Name()))
			}
		})
	}
}

// benchExample is the example of the inference benchmarks: a 40-token
// prompt (shifted by shift) and 4 options of 1–3 tokens.
func benchExample(shift int) ([]int, [][]int) {
	prompt := make([]int, 40)
	for i := range prompt {
		prompt[i] = (i*37 + shift) % benchVocab
	}
	return prompt, [][]int{{7}, {8, 9}, {10, 11, 12}, {13}}
}

// BenchmarkOptionLogProbs scores 4 options of 1–3 tokens after a 40-token
// prompt, per preset.
func BenchmarkOptionLogProbs(b *testing.B) {
	for _, p := range Presets() {
		if p.Name == "micro" {
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			m := New(p.Config(benchVocab), 1)
			prompt, options := benchExample(0)
			for i := 0; i < b.N; i++ {
				if _, err := m.OptionLogProbs(prompt, options); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOptionLogProbsBatch scores 8 examples like those of
// BenchmarkOptionLogProbs per OptionLogProbsBatch call and reports the time
// per example.
func BenchmarkOptionLogProbsBatch(b *testing.B) {
	const batch = 8
	for _, p := range Presets() {
		if p.Name == "micro" {
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			m := New(p.Config(benchVocab), 1)
			prompts, options := make([][]int, batch), make([][][]int, batch)
			for i := range prompts {
				prompts[i], options[i] = benchExample(i)
			}
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := m.OptionLogProbsBatch(prompts, options); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1e3/float64(b.N*batch), "ms/example")
		})
	}
}

// BenchmarkGreedy decodes 6 tokens after a 40-token prompt, per preset.
func BenchmarkGreedy(b *testing.B) {
	for _, p := range Presets() {
		if p.Name == "micro" {
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			m := New(p.Config(benchVocab), 1)
			prompt, _ := benchExample(0)
			for i := 0; i < b.N; i++ {
				if _, err := m.Greedy(prompt, 6, -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loglikBenchRequests returns groups × 4 requests over vocabulary V: each
// group a context of ctxLen tokens and 4 continuations of 1–3 tokens plus an
// end-of-sequence token, as rank classification sends them.
func loglikBenchRequests(V, groups, ctxLen, eos int) []TokenRequest {
	rng := rand.New(rand.NewPCG(11, 11))
	var reqs []TokenRequest
	for range groups {
		ctx := make([]int, ctxLen)
		for i := range ctx {
			ctx[i] = rng.IntN(V)
		}
		for o := range 4 {
			cont := make([]int, 1+o%3)
			for i := range cont {
				cont[i] = rng.IntN(V)
			}
			reqs = append(reqs, TokenRequest{Context: ctx, Continuation: append(cont, eos)})
		}
	}
	return reqs
}

// BenchmarkLoglik scores a batch of 4-option requests with 200-token
// contexts through Loglikelihood (in process) and reports requests/s: on a
// 124M-parameter GPT-2-shaped model (12 layers, 12 heads, width 768, 1024
// positions, vocabulary 50257; random weights) and on the l preset at the
// suite's vocabulary, whose 64 positions truncate the same contexts
// (l/ctx40 has contexts that fit, like the suite's prompts). Run with
// -benchtime=1x; the 124M model takes a few seconds per batch.
func BenchmarkLoglik(b *testing.B) {
	l, err := PresetByName("l")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		cfg    Config
		groups int
		ctx    int
	}{
		{"gpt2-124M", Config{VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12}, 16, 200},
		{"l/ctx200", l.Config(benchVocab), 64, 200},
		{"l/ctx40", l.Config(benchVocab), 64, 40},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := New(c.cfg, 1)
			reqs := loglikBenchRequests(c.cfg.VocabSize, c.groups, c.ctx, c.cfg.VocabSize-1)
			if _, _, err := m.Loglikelihood(reqs[:4], LoglikOptions{}); err != nil { // warm the workspaces
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			var st LoglikStats
			for i := 0; i < b.N; i++ {
				var err error
				if _, st, err = m.Loglikelihood(reqs, LoglikOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			sec := time.Since(start).Seconds()
			b.StopTimer()
			b.ReportMetric(float64(m.NumParams()), "params")
			b.ReportMetric(float64(len(reqs)*b.N)/sec, "requests/s")
			b.ReportMetric(float64(st.Truncated)/float64(len(reqs)), "truncated-frac")
			// The matrix products' work (24·L·d² per row through the
			// blocks, 2·d·V per LM-head row; attention left out) per
			// second, beside the default kernel's Sgemm on the MLP shape
			// of one pass, measured in the same run.
			d, L := float64(c.cfg.NEmbd), float64(c.cfg.NLayer)
			flops := (24*L*d*d*float64(st.Rows) + 2*d*float64(c.cfg.VocabSize)*float64(st.HeadRows)) * float64(b.N)
			b.ReportMetric(flops/sec/1e9, "GFLOP/s")
			b.ReportMetric(sgemmGFLOPS(gemm.Default(), min(st.Rows, loglikBatchRows), 4*c.cfg.NEmbd, c.cfg.NEmbd), "sgemm-GFLOP/s")
		})
	}
}
