// Package evidence trains a small zoo on the built-in suite (a pretrained
// base, an instruction-tuned one, an expert per held-in category and a
// multitask model) and tabulates how each scores per category: the
// evidence that the suite's tasks are learnable, that experts gain on their
// own category and that held-out tasks stay unseen (world/EVIDENCE.md).
package evidence

import (
	"context"
	"fmt"
	"io"
	"strings"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/experiments/trainset"
	"mergescale/world"
)

// Trainer trains the models of Run. The harness implements it
// with the model package (this package never imports model).
type Trainer interface {
	// Fresh returns an untrained model initialized from seed.
	Fresh(seed uint64) (builtin.Scorer, error)
	// Train returns a new model: a copy of from, trained on data for steps
	// optimizer steps. from is left unchanged.
	Train(ctx context.Context, from builtin.Scorer, data []trainset.Example, steps int, seed uint64) (builtin.Scorer, error)
}

// Config sizes the evidence run.
type Config struct {
	PretrainSteps, InstructSteps, ExpertSteps, MultitaskSteps int
	// CorpusDocs is the number of pretraining documents; InstructCorpusDocs
	// the corpus documents mixed into instruction tuning (to keep the PT
	// base's knowledge).
	CorpusDocs, InstructCorpusDocs int
	// Categories are the held-in categories that get an expert (all when empty).
	Categories []string
	// ExpertBase is "pt" or "it": the base the experts and the multitask
	// model are fine-tuned from.
	ExpertBase string
	Seed       uint64
	Split      world.Split
	// Log receives one line per finished model (nil: quiet).
	Log io.Writer
}

// Row is one model of the evidence table: mean accuracy over the
// held-in categories and over the held-out categories (mean of task
// accuracies within a category, then across categories), and the accuracy
// per category. For an expert, HeldIn is its own category's accuracy.
type Row struct {
	Model      string
	HeldIn     float64
	HeldOut    float64 // 0 when not evaluated (HasHeldOut false)
	HasHeldOut bool
	Categories map[string]float64
}

// Run trains an untrained model, the PT base (corpus), the IT base (PT
// base + instruction mixture), one expert per held-in category and a
// multitask model, and scores them: the table of the section 5 that
// shows whether the suite is learnable.
func Run(ctx context.Context, s *world.Suite, tr Trainer, cfg Config) ([]Row, error) {
	if cfg.Split == "" {
		cfg.Split = world.Test
	}
	cats := cfg.Categories
	if len(cats) == 0 {
		cats = s.Categories(world.HeldIn)
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	allTasks := append(append([]*world.Task(nil), s.TasksOf(world.HeldIn)...), s.TasksOf(world.HeldOut)...)
	score := func(name string, m builtin.Scorer, tasks []*world.Task) (Row, error) {
		res, err := builtin.EvaluateTasks(ctx, m, tasks, cfg.Split, eval.Options{SkipExactMatch: true})
		if err != nil {
			return Row{}, fmt.Errorf("eval: evidence %s: %w", name, err)
		}
		row := Row{Model: name, Categories: map[string]float64{}}
		var in, out []float64
		for _, c := range eval.CategoryMean(res) {
			row.Categories[c.Category] = c.Accuracy
			if c.Heldness == world.HeldOut {
				out = append(out, c.Accuracy)
			} else {
				in = append(in, c.Accuracy)
			}
		}
		row.HeldIn, row.HeldOut, row.HasHeldOut = mean(in), mean(out), len(out) > 0
		logf("%-28s held-in %.3f held-out %.3f  %s", name, row.HeldIn, row.HeldOut, formatTasks(res))
		return row, nil
	}
	var rows []Row
	untrained, err := tr.Fresh(cfg.Seed)
	if err != nil {
		return nil, err
	}
	row, err := score("untrained", untrained, allTasks)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row)

	corpus, err := trainset.CorpusExamples(s.Corpus(), cfg.CorpusDocs, cfg.Seed)
	if err != nil {
		return nil, err
	}
	pt, err := tr.Train(ctx, untrained, corpus, cfg.PretrainSteps, cfg.Seed+1)
	if err != nil {
		return nil, fmt.Errorf("eval: evidence: pretrain: %w", err)
	}
	if row, err = score("pt base", pt, allTasks); err != nil {
		return nil, err
	}
	rows = append(rows, row)

	mix, err := trainset.MixtureExamples(s)
	if err != nil {
		return nil, err
	}
	extra, err := trainset.CorpusExamples(s.Corpus(), cfg.InstructCorpusDocs, cfg.Seed+2)
	if err != nil {
		return nil, err
	}
	it, err := tr.Train(ctx, pt, append(mix, extra...), cfg.InstructSteps, cfg.Seed+3)
	if err != nil {
		return nil, fmt.Errorf("eval: evidence: instruction tuning: %w", err)
	}
	if row, err = score("it base", it, allTasks); err != nil {
		return nil, err
	}
	rows = append(rows, row)

	base, baseName := pt, "pt"
	if cfg.ExpertBase == "it" {
		base, baseName = it, "it"
	}
	for i, c := range cats {
		data, err := trainset.ExpertExamples(s, c)
		if err != nil {
			return nil, err
		}
		ex, err := tr.Train(ctx, base, data, cfg.ExpertSteps, cfg.Seed+10+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("eval: evidence: expert %s: %w", c, err)
		}
		if row, err = score("expert "+c+" ("+baseName+")", ex, s.CategoryTasks(c)); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if cfg.MultitaskSteps > 0 {
		data, err := trainset.MultitaskExamples(s)
		if err != nil {
			return nil, err
		}
		mt, err := tr.Train(ctx, base, data, cfg.MultitaskSteps, cfg.Seed+5)
		if err != nil {
			return nil, fmt.Errorf("eval: evidence: multitask: %w", err)
		}
		if row, err = score("multitask ("+baseName+")", mt, allTasks); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func formatTasks(res []eval.TaskResult) string {
	var b strings.Builder
	for _, r := range res {
		fmt.Fprintf(&b, "%s=%.2f ", r.Task, r.Accuracy)
	}
	return b.String()
}

// Format writes rows as a Markdown table: held-in and held-out mean
// accuracy per model, then the accuracy per category.
func Format(w io.Writer, rows []Row, categories []string) error {
	var b strings.Builder
	b.WriteString("| model | held-in | held-out |")
	for _, c := range categories {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(categories)) + "\n")
	for _, r := range rows {
		out := "–"
		if r.HasHeldOut {
			out = fmt.Sprintf("%.3f", r.HeldOut)
		}
		fmt.Fprintf(&b, "| %s | %.3f | %s |", r.Model, r.HeldIn, out)
		for _, c := range categories {
			if v, ok := r.Categories[c]; ok {
				fmt.Fprintf(&b, " %.3f |", v)
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
