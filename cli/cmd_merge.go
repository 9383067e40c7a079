package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"mergescale/merge"
	"mergescale/merge/mergefile"
)

// mergeFlags are the options of "mergescale merge".
type mergeFlags struct {
	out          string
	dryRun       bool
	allowMissing bool
	force        bool
	stats        bool
	json         bool
	workers      int
}

func newMergeCmd(e *env) *cobra.Command {
	var f mergeFlags
	cmd := &cobra.Command{
		Use:   "merge CONFIG.yaml --out DIR [--dry-run [--json]]",
		Short: "Merge checkpoints as a mergekit-style YAML config says (linear, task_arithmetic, ties, dare_ties, ...)",
		Long: `Merge safetensors checkpoints (single files, model directories or sharded
directories) as CONFIG.yaml describes, in mergekit's format:

  merge_method: ties
  base_model: ./base
  models:
    - model: ./expert_a
      parameters: {weight: 1.0, density: 0.2}
  parameters: {lambda: 1.0}
  dtype: bfloat16

mergekit's slices: with layer_range, per-layer gradients (weight: [0, 0.5, 1])
and filtered parameters ([{filter: self_attn, value: 0.3}, {value: 0.7}])
work as in mergekit. Relative paths are relative to the config file; a
model that is not a path is looked up in the local Hugging Face cache
(nothing is downloaded). Every input header is checked before anything is
merged; the output appears under DIR only once the merge has succeeded,
with merge_plan.jsonl saying how each tensor was made. --dry-run prints
that plan as a table (--json: as JSON lines). See configs/merge/ for
commented examples.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMerge(cmd.Context(), e, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", "output model directory (required)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "check every input and print the plan without merging")
	fl.BoolVar(&f.allowMissing, "allow-missing", false, "copy a tensor from the base when an expert lacks it")
	fl.BoolVar(&f.force, "force", false, "replace a non-empty output directory")
	fl.BoolVar(&f.stats, "stats", false, "print the merge diagnostics (task-vector cosines, sign conflicts, ...)")
	fl.BoolVar(&f.json, "json", false, "with --dry-run: print the per-tensor plan as JSON lines")
	fl.IntVar(&f.workers, "workers", 0, "tensors processed at once (0: GOMAXPROCS)")
	return cmd
}

// runMerge loads the config, merges and prints the summary (and stats).
func runMerge(ctx context.Context, e *env, configPath string, f mergeFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.out == "" && !f.dryRun {
		return fmt.Errorf("merge: --out DIR is required")
	}
	if f.json && !f.dryRun {
		return fmt.Errorf("merge: --json needs --dry-run (a merge writes the plan to DIR/%s)", mergefile.PlanFileName)
	}
	cfg, err := mergefile.Load(configPath)
	if err != nil {
		return err
	}
	opts := mergefile.Options{
		AllowMissing: f.allowMissing,
		DryRun:       f.dryRun,
		PlanJSON:     f.json,
		Force:        f.force,
		Workers:      f.workers,
		Summary:      e.stdout,
	}
	if showProgress(e.stderr) {
		opts.Progress = newBytesBar(e.stderr)
	}
	stats, err := mergefile.Run(ctx, cfg, f.out, opts)
	if err != nil {
		return err
	}
	if f.stats && stats != nil {
		return printMergeStats(e.stdout, stats)
	}
	return nil
}

// printMergeStats prints the diagnostics of a merge.
func printMergeStats(w io.Writer, s *merge.Stats) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mean pairwise cosine of task vectors: %.4f\n", s.MeanCosine)
	fmt.Fprintf(&b, "sign conflicts (non-zero trimmed entries): %.4f\n", s.SignConflict)
	fmt.Fprintf(&b, "task-vector mass removed by trim/drop: %.4f\n", s.MassRemoved)
	fmt.Fprintf(&b, "||merged tau|| / mean ||tau_i||: %.4f\n", s.NormRatio)
	if n := len(s.PairwiseCosine); n > 1 {
		b.WriteString("pairwise cosine:\n")
		for i := range n {
			for j := range n {
				fmt.Fprintf(&b, " %7.4f", s.PairwiseCosine[i][j])
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
