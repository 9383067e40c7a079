package eval

import (
	"context"
	"fmt"
	"strings"

	"mergescale/world"
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
	// CE holds the option cross-entropy and the gold continuation's
	// negative log-likelihood per byte (see CrossEntropy), for tasks whose
	// instances have options (HasCE).
	CE    CrossEntropy `json:"ce"`
	HasCE bool         `json:"has_ce"`
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

// ContinuationDelimiter starts every option's continuation, as
// lm-evaluation-harness's target delimiter: the context and " " + option
// are tokenized separately and joined.
const ContinuationDelimiter = " "

// MaxGenToks is the generation budget of a generative task's
// generate_until request: twice the words of its longest option plus 4.
// Exact match only needs one token more than the target (a model that does
// not stop after it is not exact), and the margin leaves room for subword
// tokenizers.
func MaxGenToks(options []string) int {
	longest := 0
	for _, o := range options {
		longest = max(longest, len(strings.Fields(o)))
	}
	return 2*longest + 4
}

// requestID names the request of option j (or, with j < 0, the generation)
// of instance i of a task's split.
func requestID(task string, split world.Split, i, j int) string {
	if j < 0 {
		return fmt.Sprintf("%s/%s/%d/gen", task, split, i)
	}
	return fmt.Sprintf("%s/%s/%d/%d", task, split, i, j)
}

// TaskRequests turns one split of tasks into evaluator requests, task by
// task and instance by instance: one loglikelihood request per option
// (context the prompt, continuation ContinuationDelimiter + option, eos
// true), then, for a generative task (unless opts.SkipExactMatch), one
// generate_until request without stop strings.
func TaskRequests(tasks []*world.Task, split world.Split, opts Options) ([]Request, error) {
	if split != world.Train && split != world.Validation && split != world.Test {
		return nil, fmt.Errorf("eval: unknown split %q", split)
	}
	var reqs []Request
	for _, t := range tasks {
		for i, in := range t.Split(split) {
			if in.Answer < 0 || in.Answer >= len(in.Options) {
				return nil, fmt.Errorf("eval: task %s %s[%d]: answer %d out of range for %d options", t.Name, split, i, in.Answer, len(in.Options))
			}
			for j, o := range in.Options {
				reqs = append(reqs, Request{ID: requestID(t.Name, split, i, j), Type: TypeLoglikelihood,
					Context: in.Prompt, Continuation: ContinuationDelimiter + o, EOS: true})
			}
			if t.Generative && !opts.SkipExactMatch {
				reqs = append(reqs, Request{ID: requestID(t.Name, split, i, -1), Type: TypeGenerateUntil,
					Context: in.Prompt, MaxGenToks: MaxGenToks(in.Options)})
			}
		}
	}
	return reqs, nil
}

// TaskResults computes the scores of one split of tasks from the answers to
// TaskRequests(tasks, split, opts), in the same order: accuracy is the share
// of instances whose answer option has the highest log-probability (the
// lowest index on ties), exact match the share whose generated text equals
// the target after NormalizeText, and the cross-entropies (CE) come from
// the same option log-likelihoods. Every backend is scored by this function.
func TaskResults(tasks []*world.Task, split world.Split, opts Options, answers []Answer) ([]TaskResult, error) {
	res := make([]TaskResult, len(tasks))
	k := 0
	for ti, t := range tasks {
		gen := t.Generative && !opts.SkipExactMatch
		r := TaskResult{Task: t.Name, Category: t.Category, Heldness: t.Heldness, Split: split,
			Chance: t.Chance(), HasExactMatch: gen}
		correct, exact := 0, 0
		var ce ceSums
		for i, in := range t.Split(split) {
			lps := make([]float64, len(in.Options))
			for j := range in.Options {
				if k >= len(answers) || answers[k].ID != requestID(t.Name, split, i, j) {
					return nil, fmt.Errorf("eval: answers do not match the requests of task %s %s[%d]", t.Name, split, i)
				}
				lps[j] = answers[k].LogProb
				k++
			}
			if Argmax(lps) == in.Answer {
				correct++
			}
			ce.add(lps, in.Answer, len(ContinuationDelimiter)+len(in.Options[in.Answer]))
			if gen {
				if k >= len(answers) || answers[k].ID != requestID(t.Name, split, i, -1) {
					return nil, fmt.Errorf("eval: answers do not match the requests of task %s %s[%d]", t.Name, split, i)
				}
				if NormalizeText(answers[k].Text) == NormalizeText(in.Target) {
					exact++
				}
				k++
			}
			r.N++
		}
		r.CE, r.HasCE = ce.result()
		if r.N > 0 {
			r.Accuracy = float64(correct) / float64(r.N)
			if gen {
				r.ExactMatch = float64(exact) / float64(r.N)
			}
		}
		res[ti] = r
	}
	if k != len(answers) {
		return nil, fmt.Errorf("eval: %d answers for %d requests", len(answers), k)
	}
	return res, nil
}

// EvaluateWith scores the model at path on one split of every task with any
// evaluator backend (worker is passed on to it).
func EvaluateWith(ctx context.Context, ev Evaluator, path string, worker int, tasks []*world.Task, split world.Split, opts Options) ([]TaskResult, error) {
	reqs, err := TaskRequests(tasks, split, opts)
	if err != nil {
		return nil, err
	}
	ans, err := ev.Evaluate(ctx, path, reqs, worker)
	if err != nil {
		return nil, err
	}
	if len(ans) != len(reqs) {
		return nil, fmt.Errorf("eval: model %s: %d answers for %d requests", path, len(ans), len(reqs))
	}
	return TaskResults(tasks, split, opts, ans)
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
