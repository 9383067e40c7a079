package run

import (
	"fmt"
	"path/filepath"
	"time"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/eval/command"
	"mergescale/experiments/config"
)

// newEvaluator builds the backend of the config's eval section; threads is
// the built-in engine's goroutines per evaluation.
func newEvaluator(c *config.Config, threads int) (eval.Evaluator, error) {
	switch c.Eval.Backend {
	case "", eval.BackendBuiltin:
		return builtin.Evaluator{Load: builtin.LoadScorer, Workers: threads}, nil
	case eval.BackendCommand:
		var timeout time.Duration
		if c.Eval.Timeout != "" {
			d, err := time.ParseDuration(c.Eval.Timeout)
			if err != nil {
				return nil, fmt.Errorf("eval.timeout: %w", err)
			}
			timeout = d
		}
		return command.Evaluator{Argv: c.Eval.Command, Timeout: timeout, Batch: c.Eval.Batch,
			TempDir: filepath.Join(c.Out, "eval-tmp")}, nil
	}
	return nil, fmt.Errorf("eval.backend: unknown backend %q", c.Eval.Backend)
}
