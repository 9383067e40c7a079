package world

import (
	"encoding/json"
	"slices"
)

// Metric names: a task's scoring metric, as suite.json's "metric" and the
// store's scores.metric name them.
const (
	// MetricAccuracy is rank classification: the option with the highest
	// log-likelihood. The default of tasks with options.
	MetricAccuracy = "accuracy"
	// MetricAccNorm is rank classification by log-likelihood divided by the
	// option's length in characters (lm-evaluation-harness's acc_norm).
	MetricAccNorm = "acc_norm"
	// MetricExactMatch compares the greedy generation with the target after
	// collapsing white space. The default of tasks without options.
	MetricExactMatch = "exact_match"
	// MetricRougeL is the F-measure of the longest common subsequence of the
	// generation's and the target's tokens (after SQuAD's normalization).
	MetricRougeL = "rouge_l"
	// MetricF1 is SQuAD's token F1 of the generation against the target.
	MetricF1 = "f1"
)

// Metrics lists every metric name, in the order suite.json documents them.
func Metrics() []string {
	return []string{MetricAccuracy, MetricAccNorm, MetricExactMatch, MetricRougeL, MetricF1}
}

// IsGenerationMetric reports whether metric scores greedy generations
// (exact_match, rouge_l, f1) rather than log-likelihoods.
func IsGenerationMetric(metric string) bool {
	return metric == MetricExactMatch || metric == MetricRougeL || metric == MetricF1
}

// DefaultTargetDelimiter separates a prompt from an option (and a context
// from its continuation) when a task sets no target_delimiter: the
// built-in suite's, and lm-evaluation-harness's default.
const DefaultTargetDelimiter = " "

// Scoring holds a task's scoring settings as suite.json spells them (every
// field optional). Its zero value is the built-in suite's: the requests
// and scores of a task without settings are those of before the settings
// existed.
type Scoring struct {
	// TargetDelimiter starts every continuation (nil: DefaultTargetDelimiter).
	TargetDelimiter *string `json:"target_delimiter,omitempty"`
	// EOS says whether loglikelihood requests append the model's
	// end-of-sequence token to the continuation (nil: true).
	// lm-evaluation-harness appends none.
	EOS *bool `json:"eos,omitempty"`
	// Until lists the stop strings of greedy generation (nil: none).
	Until []string `json:"until,omitempty"`
	// Metric is the task's own metric, one of Metrics ("": accuracy for
	// tasks with options, exact_match for tasks without).
	Metric string `json:"metric,omitempty"`
}

// Form is the shape of a task's lines.
type Form int

// The three line shapes of a task file.
const (
	// FormOptions: {"prompt", "options", "answer"} (and an optional
	// "target"), one loglikelihood request per option.
	FormOptions Form = iota
	// FormContexts: {"contexts", "continuation", "answer"}, one
	// loglikelihood request per context, the continuation shared.
	FormContexts
	// FormTarget: {"prompt", "target"}, scored on greedy generation only.
	FormTarget
)

// String names a form by its fields.
func (f Form) String() string {
	switch f {
	case FormContexts:
		return `{"contexts", "continuation", "answer"}`
	case FormTarget:
		return `{"prompt", "target"}`
	}
	return `{"prompt", "options", "answer"}`
}

// Form returns the shape of an instance: contexts, options, or neither.
func (in Instance) Form() Form {
	switch {
	case len(in.Contexts) > 0:
		return FormContexts
	case len(in.Options) > 0:
		return FormOptions
	}
	return FormTarget
}

// Choices returns the number of candidates rank classification chooses
// from: the options, or the contexts (0 for a task without options).
func (in Instance) Choices() int { return max(len(in.Options), len(in.Contexts)) }

// MarshalJSON writes an instance in its form's line shape: prompt,
// options, answer and target (as Export always wrote them); contexts,
// continuation and answer; or prompt and target.
func (in Instance) MarshalJSON() ([]byte, error) {
	switch in.Form() {
	case FormContexts:
		return json.Marshal(struct {
			Contexts     []string `json:"contexts"`
			Continuation string   `json:"continuation"`
			Answer       int      `json:"answer"`
		}{in.Contexts, in.Continuation, in.Answer})
	case FormTarget:
		return json.Marshal(struct {
			Prompt string `json:"prompt"`
			Target string `json:"target"`
		}{in.Prompt, in.Target})
	}
	type plain struct {
		Prompt  string   `json:"prompt"`
		Options []string `json:"options"`
		Answer  int      `json:"answer"`
		Target  string   `json:"target"`
	}
	return json.Marshal(plain{in.Prompt, in.Options, in.Answer, in.Target})
}

// Form returns the line shape of the task: that of its first instance in
// test, validation or train order (FormOptions for a task without any).
func (t *Task) Form() Form {
	for _, sp := range []Split{Test, Validation, Train} {
		if insts := t.Split(sp); len(insts) > 0 {
			return insts[0].Form()
		}
	}
	return FormOptions
}

// TargetDelimiter returns the string that starts every continuation.
func (t *Task) TargetDelimiter() string {
	if t.Scoring.TargetDelimiter != nil {
		return *t.Scoring.TargetDelimiter
	}
	return DefaultTargetDelimiter
}

// EOS reports whether loglikelihood requests append the end-of-sequence
// token.
func (t *Task) EOS() bool { return t.Scoring.EOS == nil || *t.Scoring.EOS }

// Until returns the task's stop strings (never nil).
func (t *Task) Until() []string {
	if t.Scoring.Until == nil {
		return []string{}
	}
	return slices.Clone(t.Scoring.Until)
}

// Metric returns the task's own metric: the one suite.json sets, else
// accuracy for tasks with options (or contexts) and exact_match for tasks
// without.
func (t *Task) Metric() string {
	switch {
	case t.Scoring.Metric != "":
		return t.Scoring.Metric
	case t.Form() == FormTarget:
		return MetricExactMatch
	}
	return MetricAccuracy
}

// Generates reports whether the task is scored on greedy generations:
// generative tasks (exact match beside rank classification) and tasks
// without options.
func (t *Task) Generates() bool { return t.Generative || t.Form() == FormTarget }

// Ranks reports whether the task is scored by rank classification: tasks
// with options or contexts.
func (t *Task) Ranks() bool { return t.Form() != FormTarget }
