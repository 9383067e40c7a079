package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"mergescale/eval"
	"mergescale/eval/world"
	"mergescale/experiments/run"
	"mergescale/model"
	"mergescale/tokenizer"
)

// modelTrainer implements eval.EvidenceTrainer with the built-in model.
type modelTrainer struct {
	tok   tokenizer.Codec
	cfg   model.Config
	batch int
	lr    float64
	dir   string
	n     int
}

func (m *modelTrainer) Fresh(seed uint64) (eval.Scorer, error) {
	return run.NewModelScorer(model.New(m.cfg, seed), m.tok), nil
}

func (m *modelTrainer) Train(ctx context.Context, from eval.Scorer, data []eval.Example, steps int, seed uint64) (eval.Scorer, error) {
	src, ok := run.ScorerModel(from)
	if !ok {
		return nil, fmt.Errorf("not a model of the built-in engine")
	}
	// Copy through a checkpoint so that from stays unchanged.
	m.n++
	dir := fmt.Sprintf("%s/m%d", m.dir, m.n)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := src.Save(dir, nil); err != nil {
		return nil, err
	}
	dst, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	ex := make([]model.Example, len(data))
	for i, e := range data {
		ex[i] = model.Example{Prompt: e.Prompt, Target: e.Target}
	}
	sum, err := model.Train(ctx, dst, ex, model.TrainConfig{Steps: steps, Batch: m.batch, LR: m.lr, WeightDecay: 0.01,
		WarmupFrac: 0.05, ClipNorm: 1, Seed: seed, Workers: 2}, nil)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  trained %d steps on %d examples: loss %.3f in %.1fs\n", sum.Steps, len(data), sum.FinalLoss, sum.Seconds)
	return run.NewModelScorer(dst, m.tok), nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// TestSuiteEvidence trains tiny models on the suite and prints the evidence
// table (issue 5, section 5). It is slow and runs only with
// MERGESCALE_EVIDENCE=1; MERGESCALE_EVIDENCE_PRESET (xs), _STEPS (pretrain
// steps) and _BASE (pt|it) size it.
func TestSuiteEvidence(t *testing.T) {
	if os.Getenv("MERGESCALE_EVIDENCE") != "1" {
		t.Skip("set MERGESCALE_EVIDENCE=1 to train the evidence models")
	}
	preset := os.Getenv("MERGESCALE_EVIDENCE_PRESET")
	if preset == "" {
		preset = "xs"
	}
	p, err := model.PresetByName(preset)
	if err != nil {
		t.Fatal(err)
	}
	s, err := world.NewSuite(1, world.Sizes{Train: envInt("MERGESCALE_EVIDENCE_TRAIN", 2000), Validation: 32, Test: envInt("MERGESCALE_EVIDENCE_TEST", 128)})
	if err != nil {
		t.Fatal(err)
	}
	steps := envInt("MERGESCALE_EVIDENCE_STEPS", 600)
	tr := &modelTrainer{tok: s.World.Tokenizer(), cfg: p.Config(s.World.Tokenizer().Size()), batch: envInt("MERGESCALE_EVIDENCE_BATCH", 32),
		lr: 3e-3, dir: t.TempDir()}
	if v := os.Getenv("MERGESCALE_EVIDENCE_LR"); v != "" {
		tr.lr, _ = strconv.ParseFloat(v, 64)
	}
	cfg := eval.EvidenceConfig{
		PretrainSteps: steps, InstructSteps: steps / 2, ExpertSteps: envInt("MERGESCALE_EVIDENCE_EXPERT_STEPS", steps/3),
		MultitaskSteps: envInt("MERGESCALE_EVIDENCE_MT_STEPS", steps/2),
		CorpusDocs:     steps * tr.batch, InstructCorpusDocs: 4000, ExpertBase: os.Getenv("MERGESCALE_EVIDENCE_BASE"),
		Seed: 1, Log: os.Stderr,
	}
	rows, err := eval.Evidence(context.Background(), s, tr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cats := append(s.Categories(world.HeldIn), s.Categories(world.HeldOut)...)
	if err := eval.FormatEvidence(os.Stdout, rows, cats); err != nil {
		t.Fatal(err)
	}
}
