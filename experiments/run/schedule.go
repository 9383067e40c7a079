package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"mergescale/eval"
	"mergescale/experiments/plan"
	"mergescale/store"
)

// The scheduler runs a plan's jobs on a pool of workers, or on two pools:
// with an external evaluator (the command backend) evaluations take one of
// eval.slots evaluation slots and the other jobs one of `workers` workers,
// so that a merge on the CPU never holds a GPU slot. Its pieces:
//
//   - queue hands out the pending jobs, each once its dependencies are
//     done, in plan order, and records how each ended; the first failure
//     stops it, unless keep-going: then the jobs that depend on a failed
//     one are dropped and the rest go on;
//   - attempt runs one job, a failed evaluation again up to eval.retries
//     times with back-off, its evaluator output in the job's log file;
//   - cellGate bounds the merged checkpoints on disk: a merge opens its
//     cell, the cell's last job (plan.Cell.Last) closes it, and without
//     keep_merged a merge
//     of a new cell waits while `workers` cells are open, so at most
//     workers × grid points merged checkpoints exist at once;
//   - observer tells the outside world about each job: the progress
//     display, the log line of a finished job and the tests' hook;
//   - execute ties them together and adds up the Summary.

// JobDoneMessage is the message of the log record of every finished job.
const JobDoneMessage = "job done"

// execute runs every job not yet done with a pool of workers, each job once
// its dependencies are done; with slots > 0 evaluations run in a pool of
// their own of that many slots, the slot's number passed to the evaluator.
// The first failure cancels the rest; with Options.KeepGoing every job that
// does not depend on a failed one runs, and the error then lists the
// failures.
func (r *runner) execute(ctx context.Context, workers, slots int, sum *Summary) error {
	done, err := r.db.DoneJobs(ctx)
	if err != nil {
		return err
	}
	limit := workers
	if r.cfg.Sweep.KeepMerged {
		limit = 0
	}
	q := newQueue(r.plan.Jobs, done, limit)
	q.keepGoing = r.opts.KeepGoing
	sum.Skipped = len(r.plan.Jobs) - len(q.pending)
	obs := &observer{disp: newDisplay(r.opts.Progress, len(r.plan.Jobs), sum.Skipped), log: r.log, afterJob: r.opts.afterJob}
	defer obs.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Wake waiting workers when the context ends.
	defer context.AfterFunc(ctx, q.wake)()

	var (
		wg    sync.WaitGroup
		sumMu sync.Mutex
	)
	// loop runs the jobs pool accepts; cpu marks the pool whose running
	// jobs share the machine's cores (runner.active).
	loop := func(worker int, accept func(*plan.Job) bool, cpu bool) {
		for {
			j, ok := q.next(ctx, accept)
			if !ok {
				return
			}
			obs.started(j)
			start := time.Now()
			if cpu {
				r.active.Add(1)
			}
			err := r.attempt(ctx, j, worker)
			if cpu {
				r.active.Add(-1)
			}
			secs := time.Since(start).Seconds()
			var closed []string
			if err != nil {
				closed = q.fail(j, fmt.Errorf("%s %s: %w", j.Kind, j.Label(), err))
				if !q.keepGoing {
					cancel()
				}
			} else {
				sumMu.Lock()
				sum.Ran[j.Kind]++
				sum.Seconds[j.Kind] += secs
				sumMu.Unlock()
				closed = q.finish(j)
			}
			obs.finished(j, secs, err)
			for _, cell := range closed {
				if perr := r.pruneCell(ctx, cell); perr != nil {
					r.log.Warn("prune merged checkpoints of a cell that cannot finish", "error", perr.Error())
				}
			}
		}
	}
	isEval := func(j *plan.Job) bool { return j.Kind == plan.KindEval }
	for worker := range workers {
		if slots > 0 {
			wg.Go(func() { loop(worker, func(j *plan.Job) bool { return !isEval(j) }, true) })
		} else {
			wg.Go(func() { loop(worker, nil, true) })
		}
	}
	for slot := range slots {
		wg.Go(func() { loop(slot, isEval, false) })
	}
	wg.Wait()
	if err := q.err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sum.Failed, sum.NotRun = len(q.failures), q.dropped
	if len(q.failures) > 0 {
		return r.failuresError(q.failures, q.dropped)
	}
	return nil
}

// failuresError lists the jobs that failed in a keep-going run, each with
// what it is (for an evaluation, the model's folder) and its error.
func (r *runner) failuresError(fs []jobFailure, dropped int) error {
	order := map[string]int{}
	for i, j := range r.plan.Jobs {
		order[j.Key] = i
	}
	sort.SliceStable(fs, func(a, b int) bool { return order[fs[a].job.Key] < order[fs[b].job.Key] })
	var b strings.Builder
	fmt.Fprintf(&b, "%d job(s) failed", len(fs))
	if dropped > 0 {
		fmt.Fprintf(&b, ", %d more not run because they depend on them", dropped)
	}
	b.WriteString("; every other job finished (run again to do only what is left):")
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s", f.err)
		if j := f.job; j.Kind == plan.KindEval && j.Model != "" {
			if m, ok := r.plan.Job(j.Model); ok {
				fmt.Fprintf(&b, " [model %s]", r.modelDir(m))
			}
		}
	}
	return errors.New(b.String())
}

// attempt runs job j; a failed evaluation runs again up to eval.retries
// times, after a back-off that doubles from defaultRetryBase (at most
// retryMax).
// An evaluation's evaluator output goes to its log file, every attempt
// one after the other, and the store records the file's path.
func (r *runner) attempt(ctx context.Context, j *plan.Job, worker int) error {
	if j.Kind != plan.KindEval {
		return r.runJob(ctx, j, worker)
	}
	retries := r.cfg.Eval.Retries
	logf, rel, err := r.openEvalLog(j)
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx = eval.WithLog(ctx, logf)
	delay := r.retryBase
	for try := 0; ; try++ {
		fmt.Fprintf(logf, "== %s: attempt %d of %d: eval %s\n", time.Now().UTC().Format(time.RFC3339), try+1, retries+1, r.plan.Describe(j))
		err := r.runJob(ctx, j, worker)
		if err == nil {
			fmt.Fprintf(logf, "== done\n")
			return r.db.Write(ctx, func(tx *store.Tx) error { return tx.SetJobLog(ctx, j.Key, rel) })
		}
		fmt.Fprintf(logf, "== failed: %v\n", err)
		if try >= retries || ctx.Err() != nil {
			if retries > 0 {
				return fmt.Errorf("%w (after %d attempts; log %s)", err, try+1, logf.Name())
			}
			return fmt.Errorf("%w (log %s)", err, logf.Name())
		}
		r.log.Warn(fmt.Sprintf("eval %s failed (attempt %d of %d), retrying in %s", j.Label(), try+1, retries+1, delay),
			"error", err.Error(), "log", logf.Name())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, retryMax)
	}
}

// Back-off of eval.retries: 10 s, 20 s, 40 s … at most 5 min.
const (
	defaultRetryBase = 10 * time.Second
	retryMax         = 5 * time.Minute
)

// openEvalLog creates (truncating) the log file of evaluation job j,
// <out>/logs/eval/<key>.log, and returns it with its path relative to out.
func (r *runner) openEvalLog(j *plan.Job) (*os.File, string, error) {
	rel := filepath.Join("logs", "eval", j.Key+".log")
	path := filepath.Join(r.cfg.Out, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, "", fmt.Errorf("evaluation log: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, "", fmt.Errorf("evaluation log: %w", err)
	}
	return f, filepath.ToSlash(rel), nil
}

// pruneCell deletes the merged checkpoints of a cell whose selection will
// not run in this run (a keep-going run where one of its jobs failed), once
// none of its jobs is pending or running; a later run merges them again.
func (r *runner) pruneCell(ctx context.Context, cellKey string) error {
	if r.cfg.Sweep.KeepMerged {
		return nil
	}
	for _, j := range r.plan.Jobs {
		if j.Kind == plan.KindMerge && j.Cell != nil && j.Cell.Key == cellKey {
			if err := r.pruneOne(ctx, j.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// queue holds the jobs of a run that are not done yet and hands them out
// to workers.
type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending []*plan.Job     // not started, in plan order
	running map[string]bool // started, not ended
	done    map[string]bool // done, in this run or before it
	gate    cellGate
	failure error // the first failure (without keepGoing); it stops the queue

	// keepGoing: a failure drops the pending jobs that depend on the
	// failed one and the queue goes on.
	keepGoing bool
	failures  []jobFailure
	dropped   int            // jobs dropped because they depend on a failure
	cellLeft  map[string]int // cell key → its jobs pending or running
	broken    map[string]bool
}

// jobFailure is a job that failed, with its error.
type jobFailure struct {
	job *plan.Job
	err error
}

// newQueue queues the jobs not in done; limit bounds the open cells (0:
// no bound).
func newQueue(jobs []*plan.Job, done map[string]bool, limit int) *queue {
	q := &queue{running: map[string]bool{}, done: done, gate: cellGate{limit: limit, open: map[string]bool{}},
		cellLeft: map[string]int{}, broken: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	for _, j := range jobs {
		if !done[j.Key] {
			q.pending = append(q.pending, j)
			if j.Cell != nil {
				q.cellLeft[j.Cell.Key]++
			}
		}
	}
	return q
}

// next returns the first pending job that accept takes (nil: any), whose
// dependencies are done and which the cell gate admits, waiting while there
// is none; ok is false when there is nothing left to do (all started, a
// failure, ctx ended).
func (q *queue) next(ctx context.Context, accept func(*plan.Job) bool) (j *plan.Job, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.failure != nil || ctx.Err() != nil || len(q.pending) == 0 {
			return nil, false
		}
		startable := false // a job another pool may start
		for i, p := range q.pending {
			if !q.ready(p) || !q.gate.admits(p) {
				continue
			}
			if accept != nil && !accept(p) {
				startable = true
				continue
			}
			q.pending = append(q.pending[:i:i], q.pending[i+1:]...)
			q.running[p.Key] = true
			q.gate.started(p)
			return p, true
		}
		if !startable && len(q.running) == 0 {
			q.failure = errors.New("plan has jobs whose dependencies can never finish")
			return nil, false
		}
		q.cond.Wait()
	}
}

// ready reports whether every dependency of j is done.
func (q *queue) ready(j *plan.Job) bool {
	for _, d := range j.Deps {
		if !q.done[d] {
			return false
		}
	}
	return true
}

// finish records that j is done. It returns the cells that closed without
// their selection (keep-going), whose merged checkpoints may go.
func (q *queue) finish(j *plan.Job) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, j.Key)
	q.done[j.Key] = true
	q.gate.finished(j)
	q.left(j)
	q.cond.Broadcast()
	return q.closeBroken()
}

// fail records that j failed with err. Without keepGoing the first failure
// stops the queue; with it, the pending jobs that depend on j (directly or
// through other dropped jobs) are dropped, a cell whose selection is
// dropped is broken, and fail returns the broken cells none of whose jobs
// is left, which it closes.
func (q *queue) fail(j *plan.Job, err error) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, j.Key)
	defer q.cond.Broadcast()
	if !q.keepGoing {
		if q.failure == nil {
			q.failure = err
		}
		return nil
	}
	q.failures = append(q.failures, jobFailure{job: j, err: err})
	q.left(j)
	failed := map[string]bool{j.Key: true}
	if j.IsSelection() {
		q.broken[j.Cell.Key] = true
	}
	// Pending jobs come in plan order, dependencies first: one pass
	// drops every job that depends on a failure transitively.
	kept := q.pending[:0]
	for _, p := range q.pending {
		if slices.ContainsFunc(p.Deps, func(d string) bool { return failed[d] }) {
			failed[p.Key] = true
			q.dropped++
			q.left(p)
			if p.IsSelection() {
				q.broken[p.Cell.Key] = true
			}
			continue
		}
		kept = append(kept, p)
	}
	q.pending = kept
	return q.closeBroken()
}

// left counts one job of j's cell as ended (done, failed or dropped).
func (q *queue) left(j *plan.Job) {
	if j.Cell != nil {
		q.cellLeft[j.Cell.Key]--
	}
}

// closeBroken closes the broken cells none of whose jobs is pending or
// running any more, and returns them.
func (q *queue) closeBroken() []string {
	var closed []string
	for cell := range q.broken {
		if q.cellLeft[cell] <= 0 {
			delete(q.broken, cell)
			delete(q.gate.open, cell)
			closed = append(closed, cell)
		}
	}
	sort.Strings(closed)
	return closed
}

// wake wakes the workers waiting in next, to see that the context ended.
func (q *queue) wake() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cond.Broadcast()
}

// err is the failure that stopped the queue, if any.
func (q *queue) err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failure
}

// cellGate tracks the cells whose merged checkpoints exist (open cells)
// and bounds them: a merge opens its cell, the cell's last job closes it.
// Its methods run under the queue's lock.
type cellGate struct {
	limit int // most open cells; 0: no bound (keep_merged)
	open  map[string]bool
}

// admits reports whether j may start: any job but a merge that would open
// a cell beyond the limit.
func (g *cellGate) admits(j *plan.Job) bool {
	return j.Kind != plan.KindMerge || g.limit == 0 || g.open[j.Cell.Key] || len(g.open) < g.limit
}

// started opens the cell of a merge.
func (g *cellGate) started(j *plan.Job) {
	if j.Kind == plan.KindMerge {
		g.open[j.Cell.Key] = true
	}
}

// finished closes the cell of its done last job.
func (g *cellGate) finished(j *plan.Job) {
	if j.ClosesCell() {
		delete(g.open, j.Cell.Key)
	}
}

// observer is told when a job starts and ends: it updates the progress
// display, logs the finished job and calls the tests' hook.
type observer struct {
	disp     *display
	log      *slog.Logger
	afterJob func(j *plan.Job) // tests: after every successful job
}

func (o *observer) started(j *plan.Job) { o.disp.start(j) }

// finished reports the end of j after secs seconds; err is its failure.
func (o *observer) finished(j *plan.Job, secs float64, err error) {
	o.disp.finish(j, err)
	if err != nil {
		o.log.Error("job failed", "kind", string(j.Kind), "job", j.Label(), "key", plan.ShortKey(j.Key), "error", err.Error())
		return
	}
	if o.afterJob != nil {
		o.afterJob(j)
	}
	o.log.Info(JobDoneMessage, "kind", string(j.Kind), "job", j.Label(), "key", plan.ShortKey(j.Key), "seconds", round2(secs))
}

func (o *observer) close() { o.disp.close() }

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
