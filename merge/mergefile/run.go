package mergefile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"mergescale/internal/atomicfile"
	"mergescale/merge"
)

// Options tune Run.
type Options struct {
	// AllowMissing copies a tensor from the base when some expert lacks it,
	// instead of failing the pre-flight check.
	AllowMissing bool
	// DryRun stops after the pre-flight check; Run then writes the plan to
	// Summary and returns nil stats.
	DryRun bool
	// Force replaces a non-empty output directory (only once the merge has
	// succeeded). Without it Run refuses to touch one.
	Force bool
	// Progress receives the merge's progress (tensors and bytes); nil is
	// quiet.
	Progress Progress
	// Summary receives one line at the end of the merge (or the plan of a
	// dry run); nil is quiet.
	Summary io.Writer
	// Workers bounds the tensors processed at once; 0 means GOMAXPROCS.
	Workers int
	// PlanJSON makes a dry run write the per-tensor plan to Summary as
	// JSON lines (the content of merge_plan.jsonl) instead of the summary
	// and the table.
	PlanJSON bool
	// Getenv reads the environment for the Hugging Face cache lookup
	// (HF_HUB_CACHE, HF_HOME, HOME); nil means os.Getenv.
	Getenv func(string) string
	// Notes receives what a merge did beside merging: the stale
	// temporary folders of killed merges it removed. nil means Summary.
	Notes io.Writer
}

// Output file names written next to the weights.
const (
	// ConfigFileName holds the fully resolved config of the merge.
	ConfigFileName = "mergescale_config.yaml"
	// StatsFileName holds the merge diagnostics as JSON.
	StatsFileName = "merge_stats.json"
	// PlanFileName holds the per-tensor plan as JSON lines.
	PlanFileName = "merge_plan.jsonl"
)

// Run merges the checkpoints of cfg into outDir.
//
// It first checks everything it can without merging (see Check) and reports
// every problem at once. It then streams: each tensor is read from every
// input, widened to float32, merged and written in the output dtype, and
// the inputs' pages are released, so memory stays near (k + 2) × the largest
// tensor. The output (weights, index when sharded, mergescale_config.yaml,
// merge_stats.json, config.json and tokenizer files of the base) is built in
// a temporary directory next to outDir and renamed into place at the end:
// nothing appears under outDir when Run fails. An existing non-empty outDir
// is an error unless opts.Force is set.
//
// Before it merges, Run removes the temporary folders of outDir that
// merges killed before they could (SIGKILL) left behind, never those of a
// merge still running (each holds a lock on its folder for its lifetime),
// and says how much it freed (opts.Notes).
//
// The output is byte-identical for any GOMAXPROCS and Workers.
func Run(ctx context.Context, cfg *Config, outDir string, opts Options) (*merge.Stats, error) {
	start := time.Now()
	if outDir == "" && !opts.DryRun {
		return nil, errors.New("merge: no output directory")
	}
	if outDir != "" {
		if err := checkOutDir(outDir, opts.Force); err != nil {
			return nil, err
		}
	}
	plan, in, err := preflight(cfg, opts)
	if err != nil {
		return nil, err
	}
	defer in.close()
	if opts.DryRun {
		if opts.Summary == nil {
			return nil, nil
		}
		if opts.PlanJSON {
			return nil, plan.WriteJSONL(opts.Summary)
		}
		if err := plan.Describe(opts.Summary); err != nil {
			return nil, err
		}
		return nil, plan.WriteTable(opts.Summary)
	}

	parent := filepath.Dir(filepath.Clean(outDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("merge: output: %w", err)
	}
	if n, freed, err := cleanStale(outDir); err != nil {
		return nil, err
	} else if n > 0 {
		notes := opts.Notes
		if notes == nil {
			notes = opts.Summary
		}
		if notes != nil {
			fmt.Fprintf(notes, "removed %d stale temporary folder(s) of %s left by killed merges: %s freed\n", n, outDir, formatBytes(freed))
		}
	}
	out, err := createTempOutput(outDir)
	if err != nil {
		return nil, err
	}
	defer out.release() // after the rename, the folder is gone: only the lock goes
	tmp := out.dir
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("merge: output: %w", err)
	}

	d := &driver{cfg: cfg, plan: plan, in: in, workers: opts.Workers}
	if d.workers <= 0 {
		d.workers = runtime.GOMAXPROCS(0)
	}
	d.progress = newProgress(opts.Progress, plan)
	if plan.TwoPass {
		if err := d.thresholdPass(ctx); err != nil {
			d.progress.abort()
			return nil, err
		}
	}
	stats, err := d.stream(ctx, tmp)
	d.progress.finish()
	if err != nil {
		return nil, err
	}
	if err := writeSideFiles(cfg, plan, stats, tmp); err != nil {
		return nil, err
	}
	if err := replaceDir(tmp, outDir); err != nil {
		return nil, err
	}
	if opts.Summary != nil {
		secs := time.Since(start).Seconds()
		fmt.Fprintf(opts.Summary, "merged %d tensors (%s read, %s written) with %s of %d expert(s) in %.1fs (%.2f GB/s) into %s\n",
			len(plan.Tensors), formatBytes(plan.InputBytes), formatBytes(plan.OutputBytes), plan.Method,
			len(plan.Experts), secs, float64(plan.InputBytes)/1e9/max(secs, 1e-9), outDir)
	}
	return stats, nil
}

// checkOutDir refuses a non-empty existing output directory unless force.
func checkOutDir(outDir string, force bool) error {
	fi, err := os.Stat(outDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: output: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("merge: output %s exists and is not a directory", outDir)
	}
	entries, err := os.ReadDir(outDir)
	if err != nil {
		return fmt.Errorf("merge: output: %w", err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("merge: output directory %s is not empty (use --force to replace it)", outDir)
	}
	return nil
}

// replaceDir renames tmp to outDir, moving an existing outDir aside first
// and deleting it only once the rename has succeeded, and syncs the parent.
func replaceDir(tmp, outDir string) error {
	if _, err := os.Lstat(outDir); err == nil {
		old := tmp + ".old"
		if err := os.Rename(outDir, old); err != nil {
			return fmt.Errorf("merge: output: %w", err)
		}
		if err := os.Rename(tmp, outDir); err != nil {
			os.Rename(old, outDir)
			return fmt.Errorf("merge: output: %w", err)
		}
		if err := syncParent(outDir); err != nil {
			return err
		}
		return os.RemoveAll(old)
	}
	if err := os.Rename(tmp, outDir); err != nil {
		return fmt.Errorf("merge: output: %w", err)
	}
	return syncParent(outDir)
}

// syncParent syncs the directory that holds dir, so that dir's rename
// survives a crash.
func syncParent(dir string) error {
	if err := atomicfile.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return fmt.Errorf("merge: output: %w", err)
	}
	return nil
}

// writeSideFiles writes the resolved config, the diagnostics and the base's
// config and tokenizer files into dir.
func writeSideFiles(cfg *Config, plan *Plan, stats *merge.Stats, dir string) error {
	y, err := ResolvedYAML(cfg)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, ConfigFileName), y); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	js, err := json.MarshalIndent(statsFile{
		Method:  plan.Method,
		Base:    plan.Base,
		Experts: plan.Experts,
		Tensors: len(plan.Tensors),
		Stats:   stats,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("merge: %s: %w", StatsFileName, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, StatsFileName), append(js, '\n')); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	var pl bytes.Buffer
	if err := plan.WriteJSONL(&pl); err != nil {
		return fmt.Errorf("merge: %s: %w", PlanFileName, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, PlanFileName), pl.Bytes()); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return writeModelFiles(cfg, plan, dir)
}

// statsFile is the layout of merge_stats.json.
type statsFile struct {
	Method  string       `json:"merge_method"`
	Base    string       `json:"base_model,omitempty"`
	Experts []string     `json:"models"`
	Tensors int          `json:"tensors"`
	Stats   *merge.Stats `json:"stats"`
}
