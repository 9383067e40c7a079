// Package builtin is the built-in evaluator backend: it answers the eval
// protocol's requests in this process with the project's own engine
// (package model) and the model's tokenizer, read from a model directory.
//
// Scorer is the engine's interface (a model with its tokenizer);
// NewModelScorer adapts a *model.Model, whose engine tokenizes context and
// continuation separately, appends the end-of-sequence token for eos,
// left-truncates contexts as lm-evaluation-harness does and scores requests
// that share a context in one pass. AnswerRequests answers a request file's
// worth of requests (what `mergescale loglik` runs); Evaluator is the
// backend a study's eval jobs call; EvaluateTasks scores tasks directly.
package builtin

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"mergescale/eval"
	"mergescale/world"
)

// Scorer is a model with its tokenizer, answering requests in this
// process: the built-in engine. The harness adapts *model.Model and its
// tokenizer.Codec (NewModelScorer), whose engine tokenizes
// context and continuation separately, appends the end-of-sequence token
// for eos, left-truncates contexts as lm-evaluation-harness does and scores
// requests that share a context in one pass.
type Scorer interface {
	// Loglikelihood answers loglikelihood requests: one answer (LogProb,
	// IsGreedy) per request, in order, using up to workers goroutines.
	Loglikelihood(reqs []eval.Request, workers int) ([]eval.Answer, error)
	// GenerateUntil answers one generate_until request (Text).
	GenerateUntil(r eval.Request) (eval.Answer, error)
}

// AnswerRequests answers requests with a model in this process: the
// built-in evaluator, and what `mergescale loglik` runs. The loglikelihood
// requests go to the model in one call; the generations run on workers
// goroutines (0: GOMAXPROCS). Answers come back in request order and do not
// depend on workers.
func AnswerRequests(ctx context.Context, s Scorer, reqs []eval.Request, workers int) ([]eval.Answer, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var ll, gen []int // request indexes
	for i, r := range reqs {
		if err := r.Check(); err != nil {
			return nil, fmt.Errorf("eval: request %q: %w", r.ID, err)
		}
		if r.Type == eval.TypeGenerateUntil {
			gen = append(gen, i)
		} else {
			ll = append(ll, i)
		}
	}
	out := make([]eval.Answer, len(reqs))
	if len(ll) > 0 {
		sub := make([]eval.Request, len(ll))
		for k, i := range ll {
			sub[k] = reqs[i]
		}
		ans, err := s.Loglikelihood(sub, workers)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		if len(ans) != len(sub) {
			return nil, fmt.Errorf("eval: %d log-likelihood answers for %d requests", len(ans), len(sub))
		}
		for k, i := range ll {
			out[i] = ans[k]
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, len(gen)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(gen) || ctx.Err() != nil {
					return
				}
				r := reqs[gen[k]]
				a, err := s.GenerateUntil(r)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("eval: request %q: %w", r.ID, err); cancel() })
					return
				}
				out[gen[k]] = a
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	for i, r := range reqs {
		out[i].ID = r.ID
	}
	return out, nil
}

// AnswerRequest answers a single request with a model in this process
// (AnswerRequests for one request).
func AnswerRequest(ctx context.Context, s Scorer, r eval.Request) (eval.Answer, error) {
	a, err := AnswerRequests(ctx, s, []eval.Request{r}, 1)
	if err != nil {
		return eval.Answer{}, err
	}
	return a[0], nil
}

// Evaluator is the built-in evaluator backend: it loads the model with Load
// and answers with AnswerRequests.
type Evaluator struct {
	// Load opens the model at a path with its tokenizer (nil: LoadScorer).
	Load func(path string) (Scorer, error)
	// Workers is the number of goroutines per evaluation (0: GOMAXPROCS).
	Workers int
}

// Evaluate implements eval.Evaluator.
func (b Evaluator) Evaluate(ctx context.Context, model string, reqs []eval.Request, worker int) ([]eval.Answer, error) {
	load := b.Load
	if load == nil {
		load = LoadScorer
	}
	log := eval.LogOf(ctx)
	start := time.Now()
	s, err := load(model)
	if err != nil {
		fmt.Fprintf(log, "builtin: load %s: %v\n", model, err)
		return nil, err
	}
	ll := 0
	for _, r := range reqs {
		if r.Type != eval.TypeGenerateUntil {
			ll++
		}
	}
	fmt.Fprintf(log, "builtin: loaded %s in %.2fs; answering %d loglikelihood and %d generate_until requests with %d goroutines (worker %d)\n",
		model, time.Since(start).Seconds(), ll, len(reqs)-ll, b.Workers, worker)
	start = time.Now()
	ans, err := AnswerRequests(ctx, s, reqs, b.Workers)
	if err != nil {
		fmt.Fprintf(log, "builtin: %v\n", err)
		return nil, fmt.Errorf("model %s: %w", model, err)
	}
	fmt.Fprintf(log, "builtin: answered %d requests in %.2fs\n", len(reqs), time.Since(start).Seconds())
	return ans, nil
}

// EvaluateTasks scores s on one split of every task with the built-in
// engine: eval.TaskRequests, AnswerRequests, eval.TaskResults. Results come back in
// the order of tasks and are identical for any number of workers.
func EvaluateTasks(ctx context.Context, s Scorer, tasks []*world.Task, split world.Split, opts eval.Options) ([]eval.TaskResult, error) {
	reqs, err := eval.TaskRequests(tasks, split, opts)
	if err != nil {
		return nil, err
	}
	ans, err := AnswerRequests(ctx, s, reqs, opts.Workers)
	if err != nil {
		return nil, err
	}
	return eval.TaskResults(tasks, split, opts, ans)
}
