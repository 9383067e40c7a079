package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"mergescale/experiments/plan"
)

// The scheduler runs a plan's jobs on a pool of workers. Its pieces:
//
//   - queue hands out the pending jobs, each once its dependencies are
//     done, in plan order, and records how each ended; the first failure
//     stops it;
//   - cellGate bounds the merged checkpoints on disk: a merge opens its
//     cell, the cell's last job (plan.Cell.Last) closes it, and without
//     keep_merged a merge
//     of a new cell waits while `workers` cells are open, so at most
//     workers × grid points merged checkpoints exist at once;
//   - observer tells the outside world about each job: the progress
//     display, the log line of a finished job and the tests' hook;
//   - execute ties them together and adds up the Summary.

// execute runs every job not yet done with a pool of workers, each job once
// its dependencies are done. The first failure cancels the rest.
func (r *runner) execute(ctx context.Context, workers int, sum *Summary) error {
	done, err := r.db.DoneJobs(ctx)
	if err != nil {
		return err
	}
	limit := workers
	if r.cfg.Sweep.KeepMerged {
		limit = 0
	}
	q := newQueue(r.plan.Jobs, done, limit)
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
	for worker := range workers {
		wg.Go(func() {
			for {
				j, ok := q.next(ctx)
				if !ok {
					return
				}
				obs.started(j)
				start := time.Now()
				err := r.runJob(ctx, j, worker)
				secs := time.Since(start).Seconds()
				if err != nil {
					q.fail(j, fmt.Errorf("%s %s: %w", j.Kind, j.Label(), err))
					cancel()
				} else {
					sumMu.Lock()
					sum.Ran[j.Kind]++
					sum.Seconds[j.Kind] += secs
					sumMu.Unlock()
					q.finish(j)
				}
				obs.finished(j, secs, err)
			}
		})
	}
	wg.Wait()
	if err := q.err(); err != nil {
		return err
	}
	return ctx.Err()
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
	failure error // the first failure; it stops the queue
}

// newQueue queues the jobs not in done; limit bounds the open cells (0:
// no bound).
func newQueue(jobs []*plan.Job, done map[string]bool, limit int) *queue {
	q := &queue{running: map[string]bool{}, done: done, gate: cellGate{limit: limit, open: map[string]bool{}}}
	q.cond = sync.NewCond(&q.mu)
	for _, j := range jobs {
		if !done[j.Key] {
			q.pending = append(q.pending, j)
		}
	}
	return q
}

// next returns the first pending job whose dependencies are done and
// which the cell gate admits, waiting while there is none; ok is false
// when there is nothing left to do (all started, a failure, ctx ended).
func (q *queue) next(ctx context.Context) (j *plan.Job, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.failure != nil || ctx.Err() != nil || len(q.pending) == 0 {
			return nil, false
		}
		for i, p := range q.pending {
			if q.ready(p) && q.gate.admits(p) {
				q.pending = append(q.pending[:i:i], q.pending[i+1:]...)
				q.running[p.Key] = true
				q.gate.started(p)
				return p, true
			}
		}
		if len(q.running) == 0 {
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

// finish records that j is done.
func (q *queue) finish(j *plan.Job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, j.Key)
	q.done[j.Key] = true
	q.gate.finished(j)
	q.cond.Broadcast()
}

// fail records that j failed with err; the first failure stops the queue.
func (q *queue) fail(j *plan.Job, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, j.Key)
	if q.failure == nil {
		q.failure = err
	}
	q.cond.Broadcast()
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
		return
	}
	if o.afterJob != nil {
		o.afterJob(j)
	}
	o.log.Info("job done", "kind", string(j.Kind), "job", j.Label(), "key", plan.ShortKey(j.Key), "seconds", round2(secs))
}

func (o *observer) close() { o.disp.close() }

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
