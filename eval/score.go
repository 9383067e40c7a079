package eval

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"mergescale/eval/world"
	"mergescale/tokenizer"
)

// Options tune an evaluation.
type Options struct {
	// Workers is the number of goroutines scoring examples; 0 means
	// runtime.GOMAXPROCS(0). Results do not depend on it.
	Workers int
	// SkipExactMatch turns off greedy decoding on the generative tasks
	// (rank classification only), which roughly halves their cost.
	SkipExactMatch bool
}

// TaskResult is the score of one model on one split of one task.
type TaskResult struct {
	Task     string         `json:"task"`
	Category string         `json:"category"`
	Heldness world.Heldness `json:"heldness"`
	Split    world.Split    `json:"split"`
	N        int            `json:"n"`
	// Accuracy of rank classification, in [0, 1].
	Accuracy float64 `json:"accuracy"`
	// Chance is the accuracy of a uniform random choice among the options.
	Chance float64 `json:"chance"`
	// ExactMatch of greedy decoding against the target, for generative
	// tasks (HasExactMatch) only.
	ExactMatch    float64 `json:"exact_match"`
	HasExactMatch bool    `json:"has_exact_match"`
}

// Argmax returns the index of the largest score, the lowest index on ties.
// It returns -1 for an empty slice. NaN scores never win.
func Argmax(scores []float64) int {
	best := -1
	for i, s := range scores {
		if s != s { // NaN
			continue
		}
		if best < 0 || s > scores[best] {
			best = i
		}
	}
	return best
}

// encodedInstance is an instance ready for scoring.
type encodedInstance struct {
	prompt  []int
	options [][]int // option tokens + <eos>
	answer  int
	target  []int // target tokens without <eos>
	maxNew  int
}

func encodeForScoring(tok tokenizer.Codec, in world.Instance) (encodedInstance, error) {
	eos := tok.Special().EOS
	if eos == tokenizer.NoToken {
		return encodedInstance{}, errors.New("the tokenizer has no end-of-sequence token, which rank classification appends to every option")
	}
	p, err := tok.EncodeStrict(in.Prompt)
	if err != nil {
		return encodedInstance{}, fmt.Errorf("prompt %q: %w", in.Prompt, err)
	}
	e := encodedInstance{prompt: p, answer: in.Answer}
	longest := 0
	for _, o := range in.Options {
		ids, err := tok.EncodeStrict(o)
		if err != nil {
			return encodedInstance{}, fmt.Errorf("option %q: %w", o, err)
		}
		longest = max(longest, len(ids))
		e.options = append(e.options, append(ids, eos))
	}
	if e.target, err = tok.EncodeStrict(in.Target); err != nil {
		return encodedInstance{}, fmt.Errorf("target %q: %w", in.Target, err)
	}
	// One more token than the longest option, so that a model that does not
	// stop after a correct answer is not counted as exact.
	e.maxNew = longest + 1
	return e, nil
}

// outcome is the result on one instance.
type outcome struct {
	correct, exact bool
}

// BatchScorer is a Scorer that can score several examples in one call, each
// example's scores equal to a separate OptionLogProbs call (*model.Model
// satisfies it). EvaluateTasks uses it when the scorer offers it.
type BatchScorer interface {
	Scorer
	OptionLogProbsBatch(prompts [][]int, options [][][]int) ([][]float64, error)
}

// scoreBatch is the number of examples a worker scores per call.
const scoreBatch = 8

// EvaluateTasks scores s on one split of every task, using a pool of
// goroutines over all instances of all tasks. Results come back in the order
// of tasks and are identical for any number of workers.
func EvaluateTasks(ctx context.Context, s Scorer, tok tokenizer.Codec, tasks []*world.Task, split world.Split, opts Options) ([]TaskResult, error) {
	type job struct {
		task int
		gen  bool
		in   encodedInstance
	}
	var jobs []job
	for ti, t := range tasks {
		insts := t.Split(split)
		if insts == nil && split != world.Train && split != world.Validation && split != world.Test {
			return nil, fmt.Errorf("eval: unknown split %q", split)
		}
		for i, in := range insts {
			e, err := encodeForScoring(tok, in)
			if err != nil {
				return nil, fmt.Errorf("eval: task %s %s[%d]: %w", t.Name, split, i, err)
			}
			jobs = append(jobs, job{task: ti, gen: t.Generative && !opts.SkipExactMatch, in: e})
		}
	}
	outs := make([]outcome, len(jobs))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(jobs), 1))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	batcher, _ := s.(BatchScorer)
	stop := tok.Special().EOS
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prompts := make([][]int, 0, scoreBatch)
			options := make([][][]int, 0, scoreBatch)
			for {
				lo := int(next.Add(scoreBatch) - scoreBatch)
				if lo >= len(jobs) || ctx.Err() != nil {
					return
				}
				hi := min(lo+scoreBatch, len(jobs))
				var lps [][]float64
				if batcher != nil {
					prompts, options = prompts[:0], options[:0]
					for _, j := range jobs[lo:hi] {
						prompts = append(prompts, j.in.prompt)
						options = append(options, j.in.options)
					}
					var err error
					if lps, err = batcher.OptionLogProbsBatch(prompts, options); err != nil {
						fail(fmt.Errorf("eval: task %s: option log-probs: %w", tasks[jobs[lo].task].Name, err))
						return
					}
				} else {
					for _, j := range jobs[lo:hi] {
						lp, err := s.OptionLogProbs(j.in.prompt, j.in.options)
						if err != nil {
							fail(fmt.Errorf("eval: task %s: option log-probs: %w", tasks[j.task].Name, err))
							return
						}
						lps = append(lps, lp)
					}
				}
				if len(lps) != hi-lo {
					fail(fmt.Errorf("eval: scorer returned %d results for %d examples", len(lps), hi-lo))
					return
				}
				for k, j := range jobs[lo:hi] {
					if len(lps[k]) != len(j.in.options) {
						fail(fmt.Errorf("eval: task %s: scorer returned %d scores for %d options", tasks[j.task].Name, len(lps[k]), len(j.in.options)))
						return
					}
					o := outcome{correct: Argmax(lps[k]) == j.in.answer}
					if j.gen {
						got, err := s.Greedy(j.in.prompt, j.in.maxNew, stop)
						if err != nil {
							fail(fmt.Errorf("eval: task %s: greedy: %w", tasks[j.task].Name, err))
							return
						}
						o.exact = slices.Equal(got, j.in.target)
					}
					outs[lo+k] = o
				}
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
	res := make([]TaskResult, len(tasks))
	for ti, t := range tasks {
		res[ti] = TaskResult{Task: t.Name, Category: t.Category, Heldness: t.Heldness, Split: split,
			Chance: t.Chance(), HasExactMatch: t.Generative && !opts.SkipExactMatch}
	}
	counts := make([][2]int, len(tasks))
	for i, j := range jobs {
		r := &res[j.task]
		r.N++
		if outs[i].correct {
			counts[j.task][0]++
		}
		if outs[i].exact {
			counts[j.task][1]++
		}
	}
	for ti := range res {
		if n := res[ti].N; n > 0 {
			res[ti].Accuracy = float64(counts[ti][0]) / float64(n)
			if res[ti].HasExactMatch {
				res[ti].ExactMatch = float64(counts[ti][1]) / float64(n)
			}
		}
	}
	return res, nil
}

// CategoryMean averages task results within each category, in first-seen
// order: the mean accuracy (and chance) of the category's tasks.
func CategoryMean(results []TaskResult) []TaskResult {
	var out []TaskResult
	idx := map[string]int{}
	n := map[string]int{}
	for _, r := range results {
		i, ok := idx[r.Category]
		if !ok {
			i = len(out)
			idx[r.Category] = i
			out = append(out, TaskResult{Task: r.Category, Category: r.Category, Heldness: r.Heldness, Split: r.Split})
		}
		out[i].N += r.N
		out[i].Accuracy += r.Accuracy
		out[i].Chance += r.Chance
		n[r.Category]++
	}
	for i := range out {
		k := float64(n[out[i].Category])
		out[i].Accuracy /= k
		out[i].Chance /= k
	}
	return out
}
