package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"

	"mergescale/checkpoint"
	"mergescale/experiments/plan"
	"mergescale/experiments/trainset"
	"mergescale/internal/atomicfile"

	"mergescale/model"
	"mergescale/store"
	"mergescale/world"
)

// trainSummaryFile records a zoo model's training summary in its artifact
// dir, so a model trained by another shard (or before a crash) can be
// recorded without training it again.
const trainSummaryFile = "train_summary.json"

// instructCorpusShare is the fraction of instruction-tuning examples drawn
// from the pretraining corpus, as instruction-tuning mixtures keep some
// language-model data so the base does not forget its facts.
const instructCorpusShare = 0.25

// train runs a pretrain, instruct, expert or multitask job: it trains the
// model (unless its artifact already exists), saves it as a Hugging Face
// GPT-2 directory under zoo/<key>, and records it in the store.
func (r *runner) train(ctx context.Context, j *plan.Job) error {
	rel, dir := r.relModelDir(j), r.modelDir(j)
	sum, err := readTrainSummary(dir)
	if errors.Is(err, os.ErrNotExist) {
		sum, err = r.trainModel(ctx, j, dir)
	}
	if err != nil {
		return err
	}
	m := store.Model{
		ID: j.Key, Kind: storeKind(j.Kind), Size: j.Size, Params: sum.Params,
		BaseType: j.Base, Category: j.Category, Path: rel,
		Steps: sum.Steps, FinalLoss: sum.FinalLoss, WallSeconds: sum.Seconds,
		Variant: j.Variant,
	}
	if j.Kind == plan.KindExpert {
		parent, ok := r.plan.Job(j.Parent)
		if !ok {
			return fmt.Errorf("parent job %s is not in the plan", plan.ShortKey(j.Parent))
		}
		ratio, err := tauNormRatio(r.modelDir(parent), dir)
		if err != nil {
			return err
		}
		m.TauNormRatio = &ratio
	}
	probes, err := r.probeBase(j, dir)
	if err != nil {
		return err
	}
	return r.db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.UpsertModel(ctx, m); err != nil {
			return err
		}
		if err := tx.InsertKnowledge(ctx, probes); err != nil {
			return err
		}
		return tx.MarkJobDone(ctx, j.Key, string(j.Kind), j.Key, sum.Seconds)
	})
}

// tauNormRatio is ‖τ‖ ÷ ‖θ₀‖ for the expert checkpoint in dir and its base
// in baseDir, τ = θ − θ₀, over every floating-point tensor of the expert
// (each of which the base must have, with the same shape).
func tauNormRatio(baseDir, dir string) (float64, error) {
	base, err := checkpoint.Open(baseDir)
	if err != nil {
		return 0, fmt.Errorf("task-vector norm: %w", err)
	}
	defer base.Close()
	exp, err := checkpoint.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("task-vector norm: %w", err)
	}
	defer exp.Close()
	var tau2, base2 float64
	var x, y []float32
	for _, ti := range exp.Tensors() {
		if !ti.DType.IsFloat() {
			continue
		}
		bi, ok := base.Info(ti.Name)
		if !ok || !slices.Equal(bi.Shape, ti.Shape) {
			return 0, fmt.Errorf("task-vector norm: tensor %s of %s has no counterpart of shape %v in %s", ti.Name, dir, ti.Shape, baseDir)
		}
		if x, err = exp.Float32(ti.Name, x); err != nil {
			return 0, fmt.Errorf("task-vector norm: %w", err)
		}
		if y, err = base.Float32(ti.Name, y); err != nil {
			return 0, fmt.Errorf("task-vector norm: %w", err)
		}
		for i := range x {
			d := float64(x[i]) - float64(y[i])
			tau2 += d * d
			base2 += float64(y[i]) * float64(y[i])
		}
	}
	if base2 == 0 {
		return 0, fmt.Errorf("task-vector norm: the base %s has norm 0", baseDir)
	}
	return math.Sqrt(tau2 / base2), nil
}

// storeKind maps a training job kind to the store's model kind.
func storeKind(k plan.Kind) string {
	switch k {
	case plan.KindPretrain, plan.KindInstruct:
		return store.KindBase
	case plan.KindExpert:
		return store.KindExpert
	case plan.KindMultitask:
		return store.KindMultitask
	}
	return store.KindMerged
}

// savedSummary is the content of train_summary.json.
type savedSummary struct {
	Job       string  `json:"job"`
	Kind      string  `json:"kind"`
	Params    int64   `json:"params"`
	Steps     int     `json:"steps"`
	FinalLoss float64 `json:"final_loss"`
	Tokens    int64   `json:"tokens"`
	Seconds   float64 `json:"seconds"`
}

func readTrainSummary(dir string) (savedSummary, error) {
	var s savedSummary
	b, err := os.ReadFile(filepath.Join(dir, trainSummaryFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, trainSummaryFile), err)
	}
	return s, nil
}

// trainModel trains the model of job j and moves it into dir atomically.
func (r *runner) trainModel(ctx context.Context, j *plan.Job, dir string) (savedSummary, error) {
	var m *model.Model
	if j.Kind == plan.KindPretrain {
		p, err := model.PresetByName(j.Size)
		if err != nil {
			return savedSummary{}, err
		}
		m = model.New(p.Config(r.tok.Size()), j.Seed)
		m.Special = r.tok.Special() // config.json names the vocabulary's own <eos> and <bos>
	} else {
		parent, ok := r.plan.Job(j.Deps[0])
		if !ok {
			return savedSummary{}, fmt.Errorf("parent job %s is not in the plan", plan.ShortKey(j.Deps[0]))
		}
		var err error
		m, err = model.Load(r.modelDir(parent))
		if err != nil {
			return savedSummary{}, fmt.Errorf("load parent model: %w", err)
		}
	}
	data, err := r.trainingData(j)
	if err != nil {
		return savedSummary{}, fmt.Errorf("training data: %w", err)
	}
	if len(data) == 0 {
		return savedSummary{}, errors.New("no training data")
	}
	st := j.Stage
	tc := model.TrainConfig{
		Steps: st.Steps, Batch: st.Batch, LR: st.LR, WeightDecay: st.WeightDecay,
		WarmupFrac: st.WarmupFrac, ClipNorm: st.ClipNorm, Dropout: st.Dropout,
		Seed: j.Seed, Workers: r.threads,
		// Fewer jobs than workers running: this job takes their share of
		// the cores (results do not depend on it).
		Threads: func() int { return max(r.threads, runtime.GOMAXPROCS(0)/max(1, int(r.active.Load()))) },
	}
	ts, err := model.Train(ctx, m, data, tc, nil)
	if err != nil {
		return savedSummary{}, err
	}
	sum := savedSummary{
		Job: j.Key, Kind: string(j.Kind), Params: int64(m.NumParams()),
		Steps: ts.Steps, FinalLoss: ts.FinalLoss, Tokens: ts.Tokens, Seconds: ts.Seconds,
	}
	extra := map[string]string{
		"world_seed": strconv.FormatInt(r.cfg.World.Seed, 10),
		"job":        j.Key,
		"kind":       string(j.Kind),
		"size":       j.Size,
		"base_type":  j.Base,
	}
	if j.Category != "" {
		extra["category"] = j.Category
	}
	err = writeArtifact(dir, func(tmp string) error {
		if err := m.Save(tmp, extra); err != nil {
			return err
		}
		if err := r.tok.Save(tmp); err != nil {
			return err
		}
		b, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			return err
		}
		return atomicfile.Write(filepath.Join(tmp, trainSummaryFile), append(b, '\n'))
	})
	if err != nil {
		return savedSummary{}, err
	}
	// Another shard may have finished the same model first; its summary
	// is as good as ours (training is deterministic).
	return readTrainSummary(dir)
}

// writeArtifact builds an artifact directory with fill in a temporary
// directory beside dir and renames it into place. When dir already exists
// (another process finished first) the temporary copy is discarded.
func writeArtifact(dir string, fill func(tmp string) error) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("artifact dir: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-"+filepath.Base(dir)+"-")
	if err != nil {
		return fmt.Errorf("artifact dir: %w", err)
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil
		}
		return fmt.Errorf("artifact dir: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("artifact dir: %w", err)
	}
	return nil
}

// trainingData builds the examples of a training job from the task suite.
// Task examples put the loss on the answer and <eos> only; corpus documents
// on every token.
func (r *runner) trainingData(j *plan.Job) ([]model.Example, error) {
	var (
		data []trainset.Example
		err  error
	)
	switch j.Kind {
	case plan.KindPretrain:
		data, err = trainset.CorpusExamples(r.suite.Corpus(), j.Stage.Steps*j.Stage.Batch, j.Seed)
	case plan.KindInstruct:
		data, err = trainset.MixtureExamples(r.suite)
		if err == nil {
			n := int(float64(len(data)) * instructCorpusShare / (1 - instructCorpusShare))
			var corpus []trainset.Example
			corpus, err = trainset.CorpusExamples(r.suite.Corpus(), n, j.Seed)
			data = append(data, corpus...)
		}
	case plan.KindExpert:
		data, err = trainset.ExpertExamples(r.suite, j.Category)
	case plan.KindMultitask:
		var tasks []*world.Task
		for _, c := range j.Categories {
			tasks = append(tasks, r.suite.CategoryTasks(c)...)
		}
		data, err = trainset.TaskExamples(r.tok, tasks)
	}
	if err != nil {
		return nil, err
	}
	out := make([]model.Example, len(data))
	for i, e := range data {
		out[i] = model.Example(e)
	}
	return out, nil
}
