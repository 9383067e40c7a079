// Package run executes the plan of a config: it trains the zoo, merges,
// evaluates and commits every result to the store, skipping jobs already
// done.
//
// A run's first step (Plan, which Run calls) checks what the config names
// on disk, which loading never opens (Check): the task folder of tasks.dir
// and the checkpoints of zoo.checkpoints, reporting problems at their key
// and line like loading does. It then plans the config, keying registered
// checkpoints by their identity: the SHA-256 over their files, cached per
// file version in <out>/checkpoint-identity.json.
//
// Run is safe to interrupt at any point (a killed process loses at most the
// jobs in flight) and to run again: a finished config adds only a runs row.
// Models are scored through one eval.Evaluator: the built-in engine
// (LoadScorer) or an external program (the config's eval section).
package run
