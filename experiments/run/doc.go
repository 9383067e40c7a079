// Package run executes the plan of a config: it trains the zoo, merges,
// evaluates and commits every result to the store, skipping jobs already
// done.
//
// A run's first step (Plan, which Run calls) checks what the config names
// on disk, which loading never opens (Check): the task folder of tasks.dir
// and the checkpoints of zoo.checkpoints, reporting problems at their key
// and line like loading does. It then plans the config, keying registered
// checkpoints by their identity: the SHA-256 over their files (links
// followed), hashed in parallel and cached per file version in
// <out>/checkpoint-identity.json, which concurrent shards and an earlier
// `run --plan` share (merge-on-write under a lock; identity.go). The log
// says "identities: hashed N files, M from cache".
//
// Before Run writes anything, the disk pre-flight (disk.go) estimates all
// it will write (identity cache, store, models to train, merged
// checkpoints at once, evaluation logs) per file system and fails, naming
// need and free space, when one is short. Run then records a runs row,
// brings the store's labels of models it shares with earlier configs in
// line (origins.go), runs the jobs not yet done and deletes merged
// checkpoints no longer needed (prune.go). The scheduler (schedule.go)
// runs `workers` jobs at once, each once its dependencies are done;
// without keep_merged a merge of a new cell waits while `workers` cells
// hold merged checkpoints (in merged_dir), and before the first merge of a
// base the free space of merged_dir must cover that many checkpoints plus
// 10 %. A failed evaluation runs again up to eval.retries times, its
// evaluator output in <out>/logs/eval/<key>.log (jobs.log_path); with
// Options.KeepGoing a failure drops only the jobs that depend on it. The
// job kinds are train (train.go), checkpoint registration (register.go),
// merge (merge.go) and evaluation with selection (eval.go, score.go): a
// cell's selection scores its chosen merge on test on its own categories
// and the held-out tasks, and one more evaluation scores it on the other
// held-in categories, reading which merge was chosen from the store; the
// cell's checkpoints are deleted after its last job (plan.Cell.Last).
//
// Run is safe to interrupt at any point (a killed process loses at most the
// jobs in flight) and to run again: a finished config adds only a runs row.
// Models are scored through one eval.Evaluator: the built-in engine of
// package eval/builtin, or an external program through eval/command (the
// config's eval section, evaluator.go).
package run
