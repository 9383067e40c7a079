// Package eval is the evaluation protocol and its scoring: what every
// evaluator backend answers, and how answers become scores.
//
// Evaluation speaks one protocol whatever the backend: TaskRequests turns
// one split of tasks (package world: the built-in suite or a task folder)
// into loglikelihood and generate_until requests (JSON Lines, after
// lm-evaluation-harness's request types) with each task's scoring settings
// (target delimiter, eos, stop strings); an Evaluator answers them; and
// TaskResults computes each task's metrics the same way for every backend:
// accuracy and acc_norm by rank classification over options (or per-option
// contexts), exact_match, rouge_l and f1 on greedy generations, and beside
// them two cross-entropies from the same log-likelihoods (CrossEntropy):
// option_ce, −log softmax over the options at the answer, and gold_nll, the
// answer's negative log-likelihood per byte of its continuation. They cost
// no model call.
//
// The backends live in their own packages, by role: eval/builtin answers in
// this process with the project's own engine (package model), eval/command
// runs an external program (adapters/hf_eval.py, or any program that reads
// a requests file and writes an answers file). This package imports neither
// the model nor any backend.
//
// By default rank classification scores every option as the sum of the
// log-probabilities of its continuation, option tokens followed by <eos>
// (the way the training sets of package experiments/trainset end their
// targets). Counting <eos> is what T0 does with T5 targets, and it keeps an
// option that is a prefix of another from winning by being short. A task
// folder sets "eos": false to score as lm-evaluation-harness does.
//
// The paper's normalizations (held-in ÷ the task's expert, held-out ÷ the
// base's zero-shot) are computed from the store by package report, in one
// place.
package eval
