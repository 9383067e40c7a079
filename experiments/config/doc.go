// Package config reads a study config (configs/*.yaml): the task-suite
// world, the model zoo, the merge sweep and the evaluator. It is the first
// of three packages that turn a config into results: config (what the
// study is), plan (the jobs it makes), run (doing them).
//
// Loading is pure: Load, LoadEnv and Parse read the YAML they are given and
// nothing else. The checkpoints of zoo.checkpoints and the folder of
// tasks.dir are checked when a run starts (run.Check), so commands that
// only need a config's paths (query, runs, report --config) never open
// them. A config with a bad key and a missing checkpoint is therefore
// reported in two passes: the key when loading, the checkpoint when the run
// starts.
//
// Loading is strict: unknown keys, wrong types and values out of range are
// errors that name the key and its line in the file, "file:LINE: key:
// message", all of them, joined in line order. Environment variables
// MERGESCALE_<KEY> (dots and nesting become underscores, e.g.
// MERGESCALE_ZOO_PRETRAIN_STEPS) override scalar keys and are type-checked
// the same way; their errors name the variable instead of the line.
// Problems locates the errors of later checks the same way.
//
// One schema describes every key: the Config struct itself. A field's
// mapstructure tag is its key (viper decodes the file and the environment
// into Config with it), its Go type the key's kind, and its schema tag the
// rest: required, default=V, range=[lo,hi] (an open end with a
// parenthesis), list (a zoo training key that may list values). The known
// keys (Keys, EnvKeys, the unknown-key check), the defaults and the
// presence and range checks all come from it; the checks that involve
// other keys or the merge and model tables are rules keyed by the same
// dotted paths, run at their key's place as the schema is walked, so
// errors come in the same order for the same config.
//
// Any scalar key of a zoo training stage may be a list of values: every
// combination of the listed values is a variant (Config.Variants), planned
// with its own zoo and sweep. An environment override of a listed key
// replaces the list by one value.
//
// The zoo is either trained (zoo.sizes, zoo.bases and the training stages)
// or brought as existing checkpoints (zoo.checkpoints); the tasks are the
// built-in world's or a folder's (tasks.dir); models are scored by the
// built-in engine or an external program (the eval section, EvalConfig).
package config
