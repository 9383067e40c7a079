package config

import "mergescale/eval"

// EvalConfig selects the evaluator backend (the eval section).
type EvalConfig struct {
	Backend string   `mapstructure:"backend" json:"backend" schema:"default=builtin"` // builtin or command
	Command []string `mapstructure:"command" json:"command,omitempty"`                // argv with {model} {requests} {out} {worker}
	Timeout string   `mapstructure:"timeout" json:"timeout,omitempty"`                // per call, a Go duration ("30m"); "" : none
	Batch   int      `mapstructure:"batch" json:"batch,omitempty"`                    // requests per call; 0: all of one evaluation
	// Retries is how many times a failed evaluation job is run again, with
	// back-off, before it counts as failed; never part of a key.
	Retries int `mapstructure:"retries" json:"retries,omitempty" schema:"default=0 range=[0,100]"`
}

// IsZero reports whether e is the default (the built-in backend with no
// other setting), which leaves the config hash of configs without an eval
// section as it was before the section existed.
func (e EvalConfig) IsZero() bool {
	return (e.Backend == "" || e.Backend == eval.BackendBuiltin) && len(e.Command) == 0 && e.Timeout == "" && e.Batch == 0 && e.Retries == 0
}

// KeyPart is what the evaluator contributes to evaluation job keys: nothing
// for the built-in backend, the backend and the command otherwise (timeout,
// batch and retries never change results).
func (e EvalConfig) KeyPart() map[string]any {
	if e.Backend == "" || e.Backend == eval.BackendBuiltin {
		return nil
	}
	return map[string]any{"backend": e.Backend, "command": e.Command}
}
