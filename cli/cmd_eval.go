package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/model"
	"mergescale/world"
)

// evalOptions are the flags of `mergescale eval`.
type evalOptions struct {
	Model   string
	Tasks   []string
	Seed    uint64
	SeedSet bool   // --seed given: overrides the model's recorded world seed
	World   string // world version (world.Versions)
	Split   string
	Sizes   world.Sizes
	JSON    bool
	Workers int
}

func newEvalCmd(e *env) *cobra.Command {
	o := evalOptions{Sizes: world.DefaultSizes()}
	cmd := &cobra.Command{
		Use:   "eval --model DIR [--tasks held-in|held-out|NAME...]",
		Short: "Evaluate a checkpoint on the task suite: accuracy per task and per category",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.SeedSet = cmd.Flags().Changed("seed")
			return runEval(cmd.Context(), o, e.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Model, "model", "", "model directory (config.json + model.safetensors)")
	f.StringSliceVar(&o.Tasks, "tasks", []string{"held-in", "held-out"}, "held-in, held-out, a category or a task name (repeatable, comma-separated)")
	f.Uint64Var(&o.Seed, "seed", 1, "world seed (default: the one recorded in the model directory)")
	f.StringVar(&o.World, "world", world.Version, "world version of the task suite: "+strings.Join(world.Versions(), " or "))
	f.StringVar(&o.Split, "split", "test", "split to evaluate: test or validation")
	f.IntVar(&o.Sizes.Validation, "validation", o.Sizes.Validation, "validation examples per task")
	f.IntVar(&o.Sizes.Test, "test", o.Sizes.Test, "test examples per task")
	f.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	f.IntVar(&o.Workers, "workers", 0, "scoring goroutines (0: all cores)")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

// selectTasks resolves --tasks: held-in, held-out, a category, or a task name.
func selectTasks(s *world.Suite, specs []string) ([]*world.Task, error) {
	var out []*world.Task
	seen := map[string]bool{}
	add := func(ts ...*world.Task) {
		for _, t := range ts {
			if !seen[t.Name] {
				seen[t.Name] = true
				out = append(out, t)
			}
		}
	}
	for _, sp := range specs {
		switch sp = strings.TrimSpace(sp); sp {
		case "held-in", "held_in":
			add(s.TasksOf(world.HeldIn)...)
		case "held-out", "held_out":
			add(s.TasksOf(world.HeldOut)...)
		case "mixture", "instruction_mixture":
			add(s.TasksOf(world.Mixture)...)
		default:
			if t, ok := s.Task(sp); ok {
				add(t)
			} else if ts := s.CategoryTasks(sp); len(ts) > 0 {
				add(ts...)
			} else {
				return nil, fmt.Errorf("eval: --tasks: no task or category %q", sp)
			}
		}
	}
	return out, nil
}

// runEval loads the model, rebuilds its world and prints the scores.
func runEval(ctx context.Context, o evalOptions, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	split := world.Split(o.Split)
	if split != world.Test && split != world.Validation {
		return fmt.Errorf("eval: --split %q: want test or validation", o.Split)
	}
	m, err := model.Load(o.Model)
	if err != nil {
		return err
	}
	seed := o.Seed
	if !o.SeedSet {
		extra, err := model.ReadExtra(o.Model)
		if err != nil {
			return err
		}
		if v, ok := extra["world_seed"]; ok {
			if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
				return fmt.Errorf("eval: %s: world_seed %q: %w", o.Model, v, err)
			}
		}
	}
	sizes := o.Sizes
	sizes.Train = 0 // evaluation never needs the train split
	s, err := world.NewSuiteVersion(o.World, seed, sizes)
	if err != nil {
		return err
	}
	if m.Config.VocabSize != s.World.Tokenizer().Size() {
		return fmt.Errorf("eval: %s: vocab_size %d does not match the %s world's %d tokens (is it a model of another world? --world picks one of %s)",
			o.Model, m.Config.VocabSize, s.Version, s.World.Tokenizer().Size(), strings.Join(world.Versions(), ", "))
	}
	tasks, err := selectTasks(s, o.Tasks)
	if err != nil {
		return err
	}
	res, err := builtin.EvaluateTasks(ctx, builtin.NewModelScorer(m, s.World.Tokenizer()), tasks, split, eval.Options{Workers: o.Workers})
	if err != nil {
		return err
	}
	return printEval(out, o.JSON, seed, res)
}

// printEval writes task and category rows as a table, or as JSON.
func printEval(out io.Writer, asJSON bool, seed uint64, res []eval.TaskResult) error {
	cats := eval.CategoryMean(res)
	if asJSON {
		b, err := json.MarshalIndent(struct {
			Seed       uint64            `json:"seed"`
			Tasks      []eval.TaskResult `json:"tasks"`
			Categories []eval.TaskResult `json:"categories"`
		}{seed, res, cats}, "", "  ")
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "world seed %d\n", seed)
	fmt.Fprintln(tw, "task\tcategory\theldness\tn\taccuracy\tchance\texact_match")
	for _, r := range res {
		em := "-"
		if r.HasExactMatch {
			em = fmt.Sprintf("%.3f", r.ExactMatch)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.3f\t%.3f\t%s\n", r.Task, r.Category, r.Heldness, r.N, r.Accuracy, r.Chance, em)
	}
	fmt.Fprintln(tw, "\ncategory\theldness\tn\taccuracy\tchance\t")
	for _, c := range cats {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.3f\t\n", c.Category, c.Heldness, c.N, c.Accuracy, c.Chance)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}
