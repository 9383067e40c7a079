package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"mergescale/eval"
	"mergescale/eval/world"
	"mergescale/experiments/config"
	"mergescale/experiments/plan"
	"mergescale/store"
	"mergescale/tokenizer"
)

// CodeVersion identifies the harness code in the runs table. Artifacts are
// keyed by the per-stage versions of plan.StageVersion, not by this.
const CodeVersion = "mergescale-harness-1"

// Options tune Run.
type Options struct {
	// Shard restricts the merge and evaluation work to one share of the
	// plan; the zero value (or Count 1) runs everything.
	Shard plan.Shard
	// Workers overrides the config's workers when positive.
	Workers int
	// Progress receives a live display (an overall bar and the jobs in
	// flight); nil disables it. Give it a terminal only.
	Progress io.Writer
	// Log receives one line per finished job; nil discards them.
	Log *slog.Logger
	// Now is the clock for the runs table; nil means time.Now.
	Now func() time.Time

	// freeSpace replaces the file system's free-space query (tests).
	freeSpace func(path string) (uint64, error)
	// afterJob, when set, is called after every successful job (tests).
	afterJob func(j *plan.Job)
}

// Summary describes what a Run did.
type Summary struct {
	Store   string                // the database written
	RunID   int64                 // the runs row of this invocation
	Jobs    int                   // jobs in the (sharded) plan
	Skipped int                   // jobs already done before this run
	Ran     map[plan.Kind]int     // jobs executed, per kind
	Seconds map[plan.Kind]float64 // wall time spent per kind, summed over jobs
}

// StorePathFor is the database a shard of c writes: <out>/results.db for an
// unsharded run and <out>/results-shard-<i>-of-<n>.db for shard i/n, which
// `mergescale gather` merges into results.db.
func StorePathFor(c *config.Config, s plan.Shard) string {
	if s.Count <= 1 {
		return c.StorePath()
	}
	return filepath.Join(c.Out, fmt.Sprintf("results-shard-%d-of-%d.db", s.Index, s.Count))
}

// runner holds what the jobs of one Run share.
type runner struct {
	cfg   *config.Config
	plan  *plan.Plan
	db    *store.DB
	suite *world.Suite  // the built-in world's suite (nil with tasks.dir)
	tasks []*world.Task // the held-in and held-out tasks models are evaluated on
	tok   *tokenizer.Tokenizer
	opts  Options
	log   *slog.Logger
	// threads is the number of goroutines one job may use, so that
	// `workers` jobs together fill the machine.
	threads int
	// regen serializes re-creating a pruned merge for a late evaluation.
	regen sync.Mutex
	// ev is the evaluator backend of the config's eval section.
	ev eval.Evaluator
	// workers is the number of jobs run at once.
	workers int
	// freeSpace measures the free bytes of a file system (statfsFree).
	freeSpace func(path string) (uint64, error)
	// diskChecked records the bases whose merges passed the disk pre-flight.
	diskMu      sync.Mutex
	diskChecked map[string]bool
}

// Run executes the plan of c: it trains the zoo, merges, evaluates and
// commits every result to the store, skipping jobs already done. It is safe
// to interrupt at any point (a killed process loses at most the jobs in
// flight) and to run again: a finished config adds only a runs row.
func Run(ctx context.Context, c *config.Config, opts Options) (*Summary, error) {
	if opts.Shard.Count == 0 {
		opts.Shard = plan.Shard{Index: 0, Count: 1}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	full, err := Plan(c)
	if err != nil {
		return nil, err
	}
	p := full.ForShard(opts.Shard)
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return nil, fmt.Errorf("output dir: %w", err)
	}
	dbPath := StorePathFor(c, opts.Shard)
	db, err := store.Open(dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// The built-in world's suite: the zoo's training data and the tasks,
	// unless tasks come from tasks.dir (whose zoo is never trained).
	var suite *world.Suite
	var tasks []*world.Task
	if p.Tasks != nil {
		tasks = p.Tasks.Tasks
	} else {
		if suite, err = world.NewSuite(uint64(c.World.Seed), suiteSizes(c)); err != nil {
			return nil, fmt.Errorf("task suite: %w", err)
		}
		tasks = append(suite.TasksOf(world.HeldIn), suite.TasksOf(world.HeldOut)...)
	}
	workers := c.Workers
	if opts.Workers > 0 {
		workers = opts.Workers
	}
	if workers < 1 {
		workers = 1
	}
	threads := runtime.GOMAXPROCS(0) / workers
	if threads < 1 {
		threads = 1
	}
	ev, err := newEvaluator(c, threads)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: c, plan: p, db: db, suite: suite, tasks: tasks, opts: opts, log: log, threads: threads, ev: ev,
		workers: workers, freeSpace: opts.freeSpace, diskChecked: map[string]bool{}}
	if r.freeSpace == nil {
		r.freeSpace = statfsFree
	}
	if suite != nil {
		r.tok = suite.World.Tokenizer()
	}

	shard := ""
	if opts.Shard.Count > 1 {
		shard = opts.Shard.String()
	}
	runID, err := db.InsertRun(ctx, store.Run{
		Name: c.Name, ConfigText: string(c.Text), ConfigHash: c.Hash(),
		CodeVersion: CodeVersion, Shard: shard, StartedAt: opts.Now().UTC(),
	})
	if err != nil {
		return nil, err
	}
	sum := &Summary{Store: dbPath, RunID: runID, Jobs: len(p.Jobs), Ran: map[plan.Kind]int{}, Seconds: map[plan.Kind]float64{}}
	if err := r.refreshOrigins(ctx); err != nil {
		return sum, err
	}
	if err := r.execute(ctx, workers, sum); err != nil {
		return sum, err
	}
	if err := r.pruneMerged(ctx); err != nil {
		return sum, err
	}
	if err := db.FinishRun(ctx, runID, opts.Now().UTC()); err != nil {
		return sum, err
	}
	return sum, nil
}

// suiteSizes are the split sizes of the config's task suite.
func suiteSizes(c *config.Config) world.Sizes {
	s := world.DefaultSizes()
	if c.World.Train > 0 {
		s.Train = c.World.Train
	}
	if c.World.Validation > 0 {
		s.Validation = c.World.Validation
	}
	if c.World.Test > 0 {
		s.Test = c.World.Test
	}
	return s
}

// execute runs every job not yet done with a pool of workers, each job once
// its dependencies are done. The first failure cancels the rest.
func (r *runner) execute(ctx context.Context, workers int, sum *Summary) error {
	done, err := r.db.DoneJobs(ctx)
	if err != nil {
		return err
	}
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		running = map[string]bool{}
		pending []*plan.Job
		failure error
		// open holds the cells whose merged checkpoints exist: a merge
		// opens its cell, the cell's selection closes it. Without
		// keep_merged at most `workers` cells are open, so at most
		// workers × grid points merged checkpoints exist at once.
		open = map[string]bool{}
	)
	for _, j := range r.plan.Jobs {
		if done[j.Key] {
			sum.Skipped++
			continue
		}
		pending = append(pending, j)
	}
	disp := newDisplay(r.opts.Progress, len(r.plan.Jobs), sum.Skipped)
	defer disp.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Wake waiting workers when the context ends.
	go func() {
		<-ctx.Done()
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
	}()

	// next picks the first pending job whose dependencies are done; nil
	// with ok=false means there is nothing left to do.
	next := func() (j *plan.Job, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		for {
			if failure != nil || ctx.Err() != nil || len(pending) == 0 {
				return nil, false
			}
			for i, p := range pending {
				ready := true
				for _, d := range p.Deps {
					if !done[d] {
						ready = false
						break
					}
				}
				gated := p.Kind == plan.KindMerge && !r.cfg.Sweep.KeepMerged && !open[p.Cell.Key] && len(open) >= workers
				if ready && !gated {
					pending = append(pending[:i:i], pending[i+1:]...)
					running[p.Key] = true
					if p.Kind == plan.KindMerge {
						open[p.Cell.Key] = true
					}
					return p, true
				}
			}
			if len(running) == 0 {
				failure = errors.New("plan has jobs whose dependencies can never finish")
				return nil, false
			}
			cond.Wait()
		}
	}

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for {
				j, ok := next()
				if !ok {
					return
				}
				disp.start(j)
				start := time.Now()
				err := r.runJob(ctx, j, worker)
				secs := time.Since(start).Seconds()
				mu.Lock()
				delete(running, j.Key)
				if err != nil {
					if failure == nil {
						failure = fmt.Errorf("%s %s: %w", j.Kind, describe(j), err)
					}
					cancel()
				} else {
					done[j.Key] = true
					if j.IsSelection() {
						delete(open, j.Cell.Key)
					}
					sum.Ran[j.Kind]++
					sum.Seconds[j.Kind] += secs
				}
				cond.Broadcast()
				mu.Unlock()
				disp.finish(j, err)
				if err == nil && r.opts.afterJob != nil {
					r.opts.afterJob(j)
				}
				if err == nil {
					r.log.Info("job done", "kind", string(j.Kind), "job", describe(j), "key", short(j.Key), "seconds", round2(secs))
				}
			}
		}(w)
	}
	wg.Wait()
	if failure != nil {
		return failure
	}
	return ctx.Err()
}

// runJob dispatches a job to its kind's function; worker is the slot
// (0 … workers−1) of the goroutine running it, passed to the evaluator.
func (r *runner) runJob(ctx context.Context, j *plan.Job, worker int) error {
	switch {
	case j.Kind.IsTraining():
		return r.train(ctx, j)
	case j.Kind == plan.KindCheckpoint:
		return r.register(ctx, j)
	case j.Kind == plan.KindMerge:
		return r.merge(ctx, j)
	case j.Kind == plan.KindEval && j.IsSelection():
		return r.selectAndEval(ctx, j, worker)
	case j.Kind == plan.KindEval:
		return r.evaluate(ctx, j, worker)
	}
	return fmt.Errorf("unknown job kind %q", j.Kind)
}

// describe is a short human description of a job for logs and errors,
// with its variant when the config lists zoo keys.
func describe(j *plan.Job) string {
	s := describePlain(j)
	if j.Variant != "" && j.Variant != "{}" {
		s += " " + j.Variant
	}
	return s
}

func describePlain(j *plan.Job) string {
	switch j.Kind {
	case plan.KindPretrain, plan.KindInstruct, plan.KindMultitask:
		return fmt.Sprintf("%s/%s", j.Size, j.Base)
	case plan.KindExpert:
		return fmt.Sprintf("%s/%s/%s", j.Size, j.Base, j.Category)
	case plan.KindCheckpoint:
		return fmt.Sprintf("%s %s", j.Role, j.Path)
	case plan.KindMerge:
		return fmt.Sprintf("%s/%s k=%d #%d %s %s", j.Size, j.Base, j.K, j.Subset, j.Method, j.HParamsJSON)
	case plan.KindEval:
		if j.IsSelection() {
			c := j.Cell
			return fmt.Sprintf("select %s/%s k=%d #%d %s on %s", c.Size, c.Base, c.K, c.Subset, c.Method, j.Split)
		}
		return fmt.Sprintf("%s on %s", short(j.Model), j.Split)
	}
	return short(j.Key)
}

func short(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

// refreshOrigins brings the origin columns of models already in the store
// in line with this plan before any job runs: a model (content-addressed,
// so the same model under any config) takes the variant this config gives
// it, which changes when the config lists a zoo key it did not list before
// or the reverse; an expert recorded without ‖τ‖ ÷ ‖θ₀‖ gets it when its
// checkpoints are on disk; a merge recorded without its base and experts
// (before schema version 3) gets them. Rows of models outside the plan are
// left alone.
func (r *runner) refreshOrigins(ctx context.Context) error {
	models, err := r.db.Models(ctx)
	if err != nil {
		return err
	}
	merges, err := r.db.Merges(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]store.Model, len(models))
	for _, m := range models {
		have[m.ID] = m
	}
	lineage := make(map[string]store.Merge, len(merges))
	for _, m := range merges {
		lineage[m.ModelID] = m
	}
	type update struct {
		j   *plan.Job
		tau *float64
	}
	var ups []update
	for _, j := range r.plan.Jobs {
		m, ok := have[j.Key]
		if !ok || !(j.Kind.IsTraining() || j.Kind == plan.KindMerge) {
			continue
		}
		u := update{j: j}
		if j.Kind == plan.KindExpert && m.TauNormRatio == nil {
			parent, ok := r.plan.Job(j.Parent)
			baseDir, dir := r.modelDir(parent), r.modelDir(j)
			if ok && exists(baseDir) && exists(dir) {
				ratio, err := tauNormRatio(baseDir, dir)
				if err != nil {
					return err
				}
				u.tau = &ratio
			}
		}
		mg, isMerge := lineage[j.Key]
		if store.VariantOrEmpty(m.Variant) == store.VariantOrEmpty(j.Variant) && u.tau == nil && (!isMerge || mg.BaseID != "") {
			continue
		}
		ups = append(ups, u)
	}
	if len(ups) == 0 {
		return nil
	}
	return r.db.Write(ctx, func(tx *store.Tx) error {
		for _, u := range ups {
			j := u.j
			var base string
			var cats, experts []string
			if j.Kind == plan.KindMerge {
				base, cats, experts = j.Parent, j.Categories, j.Experts
			}
			if err := tx.SetOrigin(ctx, j.Key, j.Variant, u.tau, base, cats, experts); err != nil {
				return err
			}
		}
		return nil
	})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// pruneMerged deletes the checkpoints of merges whose cell selection is done
// when the config does not keep them. Scores and diagnostics stay.
func (r *runner) pruneMerged(ctx context.Context) error {
	if r.cfg.Sweep.KeepMerged {
		return nil
	}
	done, err := r.db.DoneJobs(ctx)
	if err != nil {
		return err
	}
	var keys []string
	for _, j := range r.plan.Jobs {
		if j.Kind == plan.KindEval && j.IsSelection() && done[j.Key] {
			keys = append(keys, j.Candidates...)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := r.pruneOne(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) pruneOne(ctx context.Context, key string) error {
	j, ok := r.plan.Job(key)
	if !ok {
		return nil
	}
	dir := filepath.Join(r.cfg.Out, j.ArtifactDir())
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("prune merged model: %w", err)
	}
	return r.db.SetModelPath(ctx, key, "")
}
