package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"mergescale/experiments/config"
	"mergescale/experiments/plan"
	"mergescale/experiments/run"
	"mergescale/report"
	"mergescale/world"
)

// runOptions are the run command's flags.
type runOptions struct {
	plan      bool
	json      bool
	verbose   bool
	shard     string
	workers   int
	noReport  bool
	keepGoing bool
}

func newRunCmd(e *env) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run CONFIG",
		Short: "Run a study: train the zoo, merge, evaluate, store every score and render the report",
		Long: `run expands CONFIG (configs/*.yaml) into a plan of jobs and runs the ones not
yet done: pretraining, instruction tuning, experts and the multitask model;
merges at every hyperparameter point; evaluations. Every result goes into
<out>/results.db; artifacts are content-addressed under <out>/, so a rerun
skips finished work and an interrupted run resumes where it stopped. When the
plan finishes, the report is written to <out>/report/. A config that lists
several values for zoo keys (zoo.expert.lr: [2.0e-3, 3.0e-4]) runs every
combination of them, each a variant; --plan prints how many.

With --shard i/n it runs a deterministic 1/n of the merge and evaluation jobs
(the zoo is shared through <out>/) into results-shard-i-of-n.db beside the
store (<out>/, or the folder of the config's db); merge the shards with
'mergescale gather' and render with 'mergescale report'. Run --plan once
before submitting shards: it hashes the checkpoints of zoo.checkpoints into
<out>/checkpoint-identity.json, which every shard then reads instead of
hashing (the log says "identities: hashed N files, M from cache").
--plan --json prints the plan for tools (adapters/plan_cost.py turns it
into the grid's cost).

Before writing anything, a run checks that the file systems of out,
merged_dir and db have room for what it will write. A failed job stops the
run, unless --keep-going: then every job that does not depend on a failed
one runs, and the run exits 1 naming the failures; the next run does only
what is left. eval.retries reruns a failed evaluation first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStudy(cmd.Context(), e, args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.plan, "plan", false, "print the plan (variants, job counts per kind) and exit")
	f.BoolVar(&o.json, "json", false, "with --plan, print the plan as JSON: {\"jobs\": [{key, kind, size, base, k, method, deps}], \"counts\": {kind: n}}")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "with --plan, list every job")
	f.StringVar(&o.shard, "shard", "", "run shard i/n of the merge and evaluation jobs")
	f.IntVar(&o.workers, "workers", 0, "jobs to run at once (default: the config's workers)")
	f.BoolVar(&o.noReport, "no-report", false, "do not render the report when the run finishes")
	f.BoolVar(&o.keepGoing, "keep-going", false, "after a failed job, run every job that does not depend on it, then exit 1 naming the failures")
	return cmd
}

// runStudy is the run command: plan, execute, report.
func runStudy(ctx context.Context, e *env, path string, o runOptions) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	shard := plan.Shard{Index: 0, Count: 1}
	if o.shard != "" {
		if shard, err = plan.ParseShard(o.shard); err != nil {
			return err
		}
	}
	if o.json && !o.plan {
		return fmt.Errorf("run: --json needs --plan")
	}
	if o.plan {
		p, err := run.PlanLogged(cfg, runLogger(e.stderr, false))
		if err != nil {
			return err
		}
		if o.json {
			return plan.WriteJSON(e.stdout, p.ForShard(shard))
		}
		return plan.Print(e.stdout, p.ForShard(shard), o.verbose)
	}
	opts := run.Options{Shard: shard, Workers: o.workers, KeepGoing: o.keepGoing}
	if showProgress(e.stderr) {
		opts.Progress = newJobsBar(e.stderr)
		opts.Log = runLogger(e.stderr, true)
	} else {
		opts.Log = runLogger(e.stderr, false)
	}
	start := time.Now()
	sum, err := run.Run(ctx, cfg, opts)
	if err != nil {
		return err
	}
	printRunSummary(e.stdout, cfg, sum, time.Since(start))
	if o.noReport || shard.Count > 1 {
		return nil
	}
	out := filepath.Join(cfg.Out, "report")
	if err := report.Render(ctx, sum.Store, out, report.Options{}); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(e.stdout, "report: %s\n", filepath.Join(out, "report.md"))
	return nil
}

// runLogger logs a run to w as text lines with the time of day. Beside a
// progress bar (quiet), it leaves out the line of every finished job and
// keeps the rest (identities, retries, failures, freed temporary folders).
func runLogger(w io.Writer, quiet bool) *slog.Logger {
	var h slog.Handler = slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, a.Value.Time().Format(time.TimeOnly))
			}
			return a
		},
	})
	if quiet {
		h = dropJobDone{h}
	}
	return slog.New(h)
}

// dropJobDone is a slog.Handler that leaves out the runner's "job done"
// records (the progress bar shows them).
type dropJobDone struct{ slog.Handler }

// Handle implements slog.Handler.
func (d dropJobDone) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == run.JobDoneMessage {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (d dropJobDone) WithAttrs(as []slog.Attr) slog.Handler {
	return dropJobDone{d.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (d dropJobDone) WithGroup(name string) slog.Handler {
	return dropJobDone{d.Handler.WithGroup(name)}
}

// printRunSummary writes one line per job kind that ran and a total.
func printRunSummary(w io.Writer, cfg *config.Config, s *run.Summary, wall time.Duration) {
	fmt.Fprintf(w, "run %s: %d jobs, %d already done, %d run in %s\n", cfg.Name, s.Jobs, s.Skipped, s.Jobs-s.Skipped, wall.Round(time.Second))
	for _, k := range slices.Sorted(maps.Keys(s.Ran)) {
		fmt.Fprintf(w, "  %-10s %4d jobs  %8.1f s\n", k, s.Ran[k], s.Seconds[k])
	}
	if d := world.DroppedSummary(s.TaskDrops); d != "" {
		fmt.Fprintf(w, "task folder: lines dropped: %s\n", d)
	}
	fmt.Fprintf(w, "store: %s\n", s.Store)
}
