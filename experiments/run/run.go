package run

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"mergescale/eval"
	"mergescale/experiments/config"
	"mergescale/experiments/plan"
	"mergescale/store"
	"mergescale/tokenizer"
	"mergescale/world"
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
	// Progress receives the run's progress in jobs (package cli draws a
	// bar on a terminal); nil disables it.
	Progress Progress
	// Log receives one line per finished job; nil discards them.
	Log *slog.Logger
	// Now is the clock for the runs table; nil means time.Now.
	Now func() time.Time
	// KeepGoing runs, after a failed job, every job that does not depend
	// on a failed one; Run then returns an error listing the failures.
	KeepGoing bool

	// freeSpace replaces the file system's free-space query (tests).
	freeSpace func(path string) (uint64, error)
	// afterJob, when set, is called after every successful job (tests).
	afterJob func(j *plan.Job)
	// retryBase replaces the first back-off of eval.retries (tests).
	retryBase time.Duration
}

// Summary describes what a Run did.
type Summary struct {
	Store   string                // the database written
	RunID   int64                 // the runs row of this invocation
	Jobs    int                   // jobs in the (sharded) plan
	Skipped int                   // jobs already done before this run
	Ran     map[plan.Kind]int     // jobs executed, per kind
	Seconds map[plan.Kind]float64 // wall time spent per kind, summed over jobs
	// Failed and NotRun count, in a keep-going run, the jobs that failed
	// and those not run because they depend on one.
	Failed, NotRun int
	// TaskDrops lists the lines the task folder of tasks.dir left out
	// (repeats, overlaps between splits, tasks.max_examples); nil for the
	// built-in world.
	TaskDrops []world.Dropped
}

// StorePathFor is the database a shard of c writes: the config's store (db,
// else <out>/results.db) for an unsharded run and
// results-shard-<i>-of-<n>.db in the same folder for shard i/n, which
// `mergescale gather` merges into the store.
func StorePathFor(c *config.Config, s plan.Shard) string {
	if s.Count <= 1 {
		return c.StorePath()
	}
	return filepath.Join(filepath.Dir(c.StorePath()), fmt.Sprintf("results-shard-%d-of-%d.db", s.Index, s.Count))
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
	// active counts the jobs running now: a training job reads it before
	// every step, so that one job left running (the largest pretraining, at
	// the end of a study) uses the cores the idle workers leave.
	active atomic.Int32
	// freeSpace measures the free bytes of a file system (statfsFree).
	freeSpace func(path string) (uint64, error)
	// diskChecked records the bases whose merges passed the disk pre-flight.
	diskMu      sync.Mutex
	diskChecked map[string]bool
	// retryBase is the first back-off of eval.retries.
	retryBase time.Duration
	// known caches, per base model key, which facts of the suite-5
	// knowledge base the base knows (knownFacts).
	knownMu sync.Mutex
	known   map[string]map[string]bool
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
	// Everything up to the disk pre-flight only reads.
	full, cache, err := prepare(c, log)
	if err != nil {
		return nil, err
	}
	p := full.ForShard(opts.Shard)
	if p.Tasks != nil {
		logTaskSet(log, p.Tasks)
	}
	dbPath := StorePathFor(c, opts.Shard)
	// The built-in world's suite: the zoo's training data and the tasks,
	// unless tasks come from tasks.dir (whose zoo is never trained).
	var suite *world.Suite
	var tasks []*world.Task
	if p.Tasks != nil {
		tasks = p.Tasks.Tasks
	} else {
		if suite, err = world.NewSuiteVersion(worldVersion(c, p), uint64(c.World.Seed), suiteSizes(c)); err != nil {
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
	ev, err := newEvaluator(c, threads, log)
	if err != nil {
		return nil, err
	}
	if cl, ok := ev.(io.Closer); ok { // a persistent evaluator's processes
		defer cl.Close()
	}
	// With an external evaluator, evaluations run in their own pool of
	// eval.slots slots (GPUs); without one they are CPU jobs like the rest.
	slots := 0
	if c.Eval.Backend == eval.BackendCommand {
		slots = c.Eval.SlotsFor(workers)
	}
	r := &runner{cfg: c, plan: p, suite: suite, tasks: tasks, opts: opts, log: log, threads: threads, ev: ev,
		workers: workers, freeSpace: opts.freeSpace, diskChecked: map[string]bool{}, retryBase: opts.retryBase,
		known: map[string]map[string]bool{}}
	if r.freeSpace == nil {
		r.freeSpace = statfsFree
	}
	if r.retryBase <= 0 {
		r.retryBase = defaultRetryBase
	}
	pf := &runPreflight{r: r, cache: cache, dbPath: dbPath, done: doneBefore(ctx, dbPath), perBase: map[string]int64{}}
	if suite != nil {
		r.tok = suite.World.Tokenizer()
		pf.vocab = r.tok.Size()
	}
	if err := pf.check(); err != nil {
		return nil, err
	}

	// The writes.
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return nil, fmt.Errorf("output dir: %w", err)
	}
	if err := cache.save(); err != nil {
		return nil, fmt.Errorf("checkpoint identity cache: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, fmt.Errorf("store dir: %w", err)
	}
	db, err := store.Open(dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	r.db = db

	shard := ""
	if opts.Shard.Count > 1 {
		shard = opts.Shard.String()
	}
	runID, err := db.InsertRun(ctx, store.Run{
		Name: c.Name, ConfigText: string(c.Text), ConfigHash: c.Hash(),
		CodeVersion: CodeVersion, Shard: shard, StartedAt: opts.Now().UTC(), WorldVersion: worldVersion(c, p),
	})
	if err != nil {
		return nil, err
	}
	sum := &Summary{Store: dbPath, RunID: runID, Jobs: len(p.Jobs), Ran: map[plan.Kind]int{}, Seconds: map[plan.Kind]float64{}}
	if p.Tasks != nil {
		sum.TaskDrops = p.Tasks.Dropped
	}
	if err := r.refreshOrigins(ctx); err != nil {
		return sum, err
	}
	if err := r.execute(ctx, workers, slots, sum); err != nil {
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

// doneBefore lists the jobs the store at path marks done, read without
// writing (an empty list when there is no store yet or it cannot be read:
// the pre-flight then counts every job).
func doneBefore(ctx context.Context, path string) map[string]bool {
	if _, err := os.Stat(path); err != nil {
		return map[string]bool{}
	}
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return map[string]bool{}
	}
	defer db.Close()
	done, err := db.DoneJobs(ctx)
	if err != nil {
		return map[string]bool{}
	}
	return done
}

// logTaskSet writes what reading the task folder left out, one line per
// task, split and reason, and the tasks whose test split is their source's
// validation split.
func logTaskSet(log *slog.Logger, ts *world.TaskSet) {
	for _, d := range ts.Dropped {
		log.Info("task folder: dropped", "task", d.Task, "split", string(d.Split), "reason", d.Reason, "count", d.Count, "first", d.First)
	}
	for _, name := range ts.TestFromValidation() {
		log.Info("task folder: test split from validation (test labels hidden)", "task", name)
	}
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

// runJob dispatches a job to its kind's function; worker is the slot of
// the goroutine running it (0 … workers−1, or 0 … eval.slots−1 in the
// evaluation pool), passed to the evaluator.
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
	case j.IsChosenEval():
		return r.evaluateChosen(ctx, j, worker)
	case j.Kind == plan.KindEval:
		return r.evaluate(ctx, j, worker)
	}
	return fmt.Errorf("unknown job kind %q", j.Kind)
}

// worldVersion is the world a run generates its data from: "" when its
// tasks come from tasks.dir (no world), else world.version.
func worldVersion(c *config.Config, p *plan.Plan) string {
	if p.Tasks != nil {
		return ""
	}
	if c.World.Version == "" {
		return world.Version
	}
	return c.World.Version
}
