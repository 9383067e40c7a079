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
	// SkipExactMatch turns off the greedy decoding that generative tasks
	// with options add beside rank classification, which roughly halves
	// their cost. Tasks without options generate all the same: generation
	// is their metric.
	SkipExactMatch bool
	// Group, when set, puts each instance of a task that ranks options in
	// a group ("" for none): TaskResult.Groups holds the accuracy and
	// option cross-entropy of every group. A suite-5 run groups a
	// knowledge task's instances by whether the model's base knows their
	// fact.
	Group func(t *world.Task, in *world.Instance) string
}

// GroupResult is a task's accuracy and option cross-entropy over the
// instances of one group (Options.Group).
type GroupResult struct {
	Group    string  `json:"group"`
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
	OptionCE float64 `json:"option_ce"`
}

// MetricScore is one metric's value on one split of one task.
type MetricScore struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	// Chance is the metric's value for a uniform random choice among the
	// options (rank classification), 0 for generation metrics.
	Chance float64 `json:"chance"`
}

// TaskResult is the score of one model on one split of one task.
type TaskResult struct {
	Task     string         `json:"task"`
	Category string         `json:"category"`
	Heldness world.Heldness `json:"heldness"`
	Split    world.Split    `json:"split"`
	N        int            `json:"n"`
	// Accuracy of rank classification, in [0, 1] (0 for tasks without
	// options).
	Accuracy float64 `json:"accuracy"`
	// Chance is the accuracy of a uniform random choice among the options.
	Chance float64 `json:"chance"`
	// ExactMatch of greedy decoding against the target, for tasks that
	// generate (HasExactMatch) only.
	ExactMatch    float64 `json:"exact_match"`
	HasExactMatch bool    `json:"has_exact_match"`
	// CE holds the option cross-entropy (for tasks whose instances rank
	// options or contexts: HasOptionCE) and the gold continuation's
	// negative log-likelihood per byte (for every task: HasGoldNLL; a task
	// without options scores its target for it). See CrossEntropy.
	CE          CrossEntropy `json:"ce"`
	HasOptionCE bool         `json:"has_option_ce"`
	HasGoldNLL  bool         `json:"has_gold_nll"`
	// Metric is the task's own metric (world.Task.Metric): the one a
	// report shows for the task.
	Metric string `json:"metric"`
	// Scores lists every metric computed: accuracy (tasks with options),
	// acc_norm (when it is the task's metric), exact_match (tasks that
	// generate), rouge_l or f1 (when it is the task's metric).
	Scores []MetricScore `json:"scores"`
	// Groups are the task's scores per group of instances, in the order
	// the groups first occur (Options.Group; nil without it).
	Groups []GroupResult `json:"groups,omitempty"`
}

// Score returns the value of one metric and whether it was computed.
func (r TaskResult) Score(metric string) (float64, bool) {
	for _, s := range r.Scores {
		if s.Metric == metric {
			return s.Value, true
		}
	}
	return 0, false
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

// ContinuationDelimiter starts every option's continuation when a task sets
// no target_delimiter, as lm-evaluation-harness's default target delimiter.
const ContinuationDelimiter = world.DefaultTargetDelimiter

// MaxGenToks is the generation budget of a generate_until request: twice
// the words of the longest option (for a task without options, of the
// target) plus 4. Exact match only needs one token more than the target (a
// model that does not stop after it is not exact), and the margin leaves
// room for subword tokenizers.
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

// generates reports whether a task's requests include greedy generation.
func generates(t *world.Task, opts Options) bool {
	return t.Form() == world.FormTarget || (t.Generative && !opts.SkipExactMatch)
}

// TaskRequests turns one split of tasks into evaluator requests, task by
// task and instance by instance, with the task's settings (world.Task's
// TargetDelimiter, EOS, Until):
//
//   - a task with options: one loglikelihood request per option (context
//     the prompt, continuation the target delimiter + option), then, for a
//     generative task (unless opts.SkipExactMatch), one generate_until
//     request (max_gen_toks MaxGenToks of the options);
//   - a task with a context per option: one loglikelihood request per
//     context, the continuation the target delimiter + the shared
//     continuation;
//   - a task without options: one generate_until request (max_gen_toks
//     MaxGenToks of the target).
func TaskRequests(tasks []*world.Task, split world.Split, opts Options) ([]Request, error) {
	if split != world.Train && split != world.Validation && split != world.Test {
		return nil, fmt.Errorf("eval: unknown split %q", split)
	}
	var reqs []Request
	for _, t := range tasks {
		form, delim, eos, until := t.Form(), t.TargetDelimiter(), t.EOS(), t.Until()
		gen := generates(t, opts)
		for i, in := range t.Split(split) {
			if f := in.Form(); f != form {
				return nil, fmt.Errorf("eval: task %s %s[%d]: line shape %s differs from the task's %s", t.Name, split, i, f, form)
			}
			if form != world.FormTarget && (in.Answer < 0 || in.Answer >= in.Choices()) {
				return nil, fmt.Errorf("eval: task %s %s[%d]: answer %d out of range for %d choices", t.Name, split, i, in.Answer, in.Choices())
			}
			switch form {
			case world.FormOptions:
				for j, o := range in.Options {
					reqs = append(reqs, Request{ID: requestID(t.Name, split, i, j), Type: TypeLoglikelihood,
						Context: in.Prompt, Continuation: delim + o, EOS: eos})
				}
			case world.FormContexts:
				for j, c := range in.Contexts {
					reqs = append(reqs, Request{ID: requestID(t.Name, split, i, j), Type: TypeLoglikelihood,
						Context: c, Continuation: delim + in.Continuation, EOS: eos})
				}
			}
			if form == world.FormTarget {
				// The target's log-likelihood: gold_nll, the only
				// cross-entropy a task without options has.
				reqs = append(reqs, Request{ID: requestID(t.Name, split, i, 0), Type: TypeLoglikelihood,
					Context: in.Prompt, Continuation: delim + in.Target, EOS: eos})
			}
			if gen {
				budget := MaxGenToks(in.Options)
				if form == world.FormTarget {
					budget = MaxGenToks([]string{in.Target})
				}
				reqs = append(reqs, Request{ID: requestID(t.Name, split, i, -1), Type: TypeGenerateUntil,
					Context: in.Prompt, Until: until, MaxGenToks: budget})
			}
		}
	}
	return reqs, nil
}

// TaskResults computes the scores of one split of tasks from the answers to
// TaskRequests(tasks, split, opts), in the same order. Every backend is
// scored by this function:
//
//   - accuracy: the share of instances whose answer has the highest
//     log-probability (the lowest index on ties);
//   - acc_norm: the same with each log-probability divided by its
//     option's length in characters (NormalizedArgmax);
//   - exact_match: the share of generations equal to the target after
//     NormalizeText;
//   - rouge_l, f1: the mean RougeL or TokenF1 of the generations against
//     the targets;
//   - the cross-entropies (CE), from the same log-likelihoods that rank
//     the options or contexts.
func TaskResults(tasks []*world.Task, split world.Split, opts Options, answers []Answer) ([]TaskResult, error) {
	res := make([]TaskResult, len(tasks))
	k := 0
	next := func(t *world.Task, i, j int) (Answer, error) {
		if k >= len(answers) || answers[k].ID != requestID(t.Name, split, i, j) {
			return Answer{}, fmt.Errorf("eval: answers do not match the requests of task %s %s[%d]", t.Name, split, i)
		}
		k++
		return answers[k-1], nil
	}
	for ti, t := range tasks {
		gen, ranks, metric := generates(t, opts), t.Ranks(), t.Metric()
		r := TaskResult{Task: t.Name, Category: t.Category, Heldness: t.Heldness, Split: split,
			Chance: t.Chance(), HasExactMatch: gen, Metric: metric}
		var correct, normed, exact int
		var overlap float64 // Σ rouge_l or f1
		var ce ceSums
		delim := t.TargetDelimiter()
		groups := map[string]int{} // group → index into r.Groups
		for i, in := range t.Split(split) {
			if ranks {
				lps := make([]float64, in.Choices())
				for j := range lps {
					a, err := next(t, i, j)
					if err != nil {
						return nil, err
					}
					lps[j] = a.LogProb
				}
				right := Argmax(lps) == in.Answer
				if right {
					correct++
				}
				if opts.Group != nil && in.Answer >= 0 && in.Answer < len(lps) {
					if g := opts.Group(t, &in); g != "" {
						gi, ok := groups[g]
						if !ok {
							gi = len(r.Groups)
							groups[g] = gi
							r.Groups = append(r.Groups, GroupResult{Group: g})
						}
						gr := &r.Groups[gi]
						gr.N++
						if right {
							gr.Accuracy++
						}
						gr.OptionCE += optionCE(lps, in.Answer)
					}
				}
				if metric == world.MetricAccNorm && NormalizedArgmax(lps, in.Options) == in.Answer {
					normed++
				}
				gold := in.Continuation
				if len(in.Options) > 0 {
					gold = in.Options[in.Answer]
				}
				ce.add(lps, in.Answer, len(delim)+len(gold))
			} else {
				a, err := next(t, i, 0)
				if err != nil {
					return nil, err
				}
				ce.addGold(a.LogProb, len(delim)+len(in.Target))
			}
			if gen {
				a, err := next(t, i, -1)
				if err != nil {
					return nil, err
				}
				if ExactMatch(a.Text, in.Target) {
					exact++
				}
				switch metric {
				case world.MetricRougeL:
					overlap += RougeL(a.Text, in.Target)
				case world.MetricF1:
					overlap += TokenF1(a.Text, in.Target)
				}
			}
			r.N++
		}
		mean := func(x float64) float64 {
			if r.N == 0 {
				return 0
			}
			return x / float64(r.N)
		}
		r.CE, r.HasOptionCE, r.HasGoldNLL = ce.result()
		for gi := range r.Groups { // sums to means
			g := &r.Groups[gi]
			g.Accuracy /= float64(g.N)
			g.OptionCE /= float64(g.N)
		}
		if ranks {
			r.Accuracy = mean(float64(correct))
			r.Scores = append(r.Scores, MetricScore{world.MetricAccuracy, r.Accuracy, r.Chance})
			if metric == world.MetricAccNorm {
				r.Scores = append(r.Scores, MetricScore{world.MetricAccNorm, mean(float64(normed)), r.Chance})
			}
		}
		if gen {
			r.ExactMatch = mean(float64(exact))
			r.Scores = append(r.Scores, MetricScore{world.MetricExactMatch, r.ExactMatch, 0})
			if metric == world.MetricRougeL || metric == world.MetricF1 {
				r.Scores = append(r.Scores, MetricScore{metric, mean(overlap), 0})
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
