package eval

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Scorer is a model with its tokenizer, answering requests in this
// process: the built-in engine. The harness adapts *model.Model and its
// tokenizer.Codec (experiments.NewModelScorer), whose engine tokenizes
// context and continuation separately, appends the end-of-sequence token
// for eos, left-truncates contexts as lm-evaluation-harness does and scores
// requests that share a context in one pass.
type Scorer interface {
	// Loglikelihood answers loglikelihood requests: one answer (LogProb,
	// IsGreedy) per request, in order, using up to workers goroutines.
	Loglikelihood(reqs []Request, workers int) ([]Answer, error)
	// GenerateUntil answers one generate_until request (Text).
	GenerateUntil(r Request) (Answer, error)
}

// AnswerRequests answers requests with a model in this process: the
// built-in evaluator, and what `mergescale loglik` runs. The loglikelihood
// requests go to the model in one call; the generations run on workers
// goroutines (0: GOMAXPROCS). Answers come back in request order and do not
// depend on workers.
func AnswerRequests(ctx context.Context, s Scorer, reqs []Request, workers int) ([]Answer, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var ll, gen []int // request indexes
	for i, r := range reqs {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("eval: request %q: %w", r.ID, err)
		}
		if r.Type == TypeGenerateUntil {
			gen = append(gen, i)
		} else {
			ll = append(ll, i)
		}
	}
	out := make([]Answer, len(reqs))
	if len(ll) > 0 {
		sub := make([]Request, len(ll))
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
func AnswerRequest(ctx context.Context, s Scorer, r Request) (Answer, error) {
	a, err := AnswerRequests(ctx, s, []Request{r}, 1)
	if err != nil {
		return Answer{}, err
	}
	return a[0], nil
}
