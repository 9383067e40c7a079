package config

import (
	"os"
	"strings"

	"mergescale/eval"
)

// EvalConfig selects the evaluator backend (the eval section).
type EvalConfig struct {
	Backend string   `mapstructure:"backend" json:"backend" schema:"default=builtin"` // builtin or command
	Command []string `mapstructure:"command" json:"command,omitempty"`                // argv with {model} {requests} {out} {worker}
	Timeout string   `mapstructure:"timeout" json:"timeout,omitempty"`                // per call, a Go duration ("30m"); "" : none
	Batch   int      `mapstructure:"batch" json:"batch,omitempty"`                    // requests per call; 0: all of one evaluation
	// Version names the evaluator's version (e.g. the adapter's release, or
	// its transformers version); it is part of every evaluation key.
	Version string `mapstructure:"version" json:"version,omitempty"`
	// KeyIgnore lists flags of Command whose values do not change answers
	// (e.g. --batch-size, --device): they and their values stay out of
	// evaluation keys.
	KeyIgnore []string `mapstructure:"key_ignore" json:"key_ignore,omitempty"`
	// Persistent keeps one evaluator process per evaluation slot up across
	// jobs, sent its models and requests on standard input (command
	// backend; see eval/command.Persistent).
	Persistent bool `mapstructure:"persistent" json:"persistent,omitempty"`
	// Slots is the number of evaluation slots, a pool apart from workers
	// (command backend; 0: as many as workers).
	Slots int `mapstructure:"slots" json:"slots,omitempty" schema:"range=[1,256]"`
	// GPUsPerWorker gives evaluation slot w the devices w·N … w·N + N − 1,
	// substituted for {devices} (command backend; 0: one per slot).
	GPUsPerWorker int `mapstructure:"gpus_per_worker" json:"gpus_per_worker,omitempty" schema:"range=[1,64]"`
	// Retries is how many times a failed evaluation job is run again, with
	// back-off, before it counts as failed; never part of a key.
	Retries int `mapstructure:"retries" json:"retries,omitempty" schema:"default=0 range=[0,100]"`
}

// SlotsFor is the number of evaluation slots when the run has workers
// workers: Slots, or workers when it is unset.
func (e EvalConfig) SlotsFor(workers int) int {
	if e.Slots > 0 {
		return e.Slots
	}
	return workers
}

// IsZero reports whether e is the default (the built-in backend with no
// other setting), which leaves the config hash of configs without an eval
// section as it was before the section existed.
func (e EvalConfig) IsZero() bool {
	return (e.Backend == "" || e.Backend == eval.BackendBuiltin) && len(e.Command) == 0 && e.Timeout == "" && e.Batch == 0 &&
		e.Version == "" && len(e.KeyIgnore) == 0 && !e.Persistent && e.Slots == 0 && e.GPUsPerWorker == 0 &&
		e.Retries == 0
}

// KeyArgv returns the arguments of the command that enter evaluation keys:
// all but the flags of KeyIgnore and their values. A listed flag written
// `--flag=value` is one argument; written `--flag value`, the argument after
// it goes too.
func (e EvalConfig) KeyArgv() []string {
	ignore := map[string]bool{}
	for _, f := range e.KeyIgnore {
		ignore[f] = true
	}
	var out []string
	for i := 0; i < len(e.Command); i++ {
		a := e.Command[i]
		if name, _, ok := strings.Cut(a, "="); ok && ignore[name] {
			continue
		}
		if ignore[a] {
			i++ // and its value
			continue
		}
		out = append(out, a)
	}
	return out
}

// KeyFiles returns the arguments of KeyArgv that name existing regular
// files (relative to the current directory, where the command runs),
// placeholders aside: their contents enter evaluation keys, so that editing
// the adapter script re-evaluates.
func (e EvalConfig) KeyFiles() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range e.KeyArgv() {
		if a == "" || strings.Contains(a, "{") || seen[a] {
			continue
		}
		if fi, err := os.Stat(a); err == nil && fi.Mode().IsRegular() {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// KeyPart is what the evaluator contributes to evaluation job keys: for the
// command backend, the backend, KeyArgv and the SHA-256 of each of
// KeyFiles (files: argument → hex digest, read by the run's first step);
// for any backend, Version when set. Timeout, batch, the KeyIgnore flags,
// persistent, slots and gpus_per_worker never change results, and the built-in backend without a version adds
// nothing (keys as before the section existed).
func (e EvalConfig) KeyPart(files map[string]string) map[string]any {
	var part map[string]any
	if e.Backend != "" && e.Backend != eval.BackendBuiltin {
		part = map[string]any{"backend": e.Backend, "command": e.KeyArgv()}
		if len(files) > 0 {
			part["files"] = files
		}
	}
	if e.Version != "" {
		if part == nil {
			part = map[string]any{}
		}
		part["version"] = e.Version
	}
	return part
}
