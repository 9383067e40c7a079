package eval

import "context"

// Evaluator backends, as the eval.backend config key names them: the
// implementations are packages eval/builtin and eval/command.
const (
	BackendBuiltin = "builtin" // the built-in engine, in process (eval/builtin)
	BackendCommand = "command" // an external program speaking the JSONL protocol (eval/command)
)

// Evaluator answers evaluation requests for the model at a path. worker is
// the caller's worker slot (0 … workers−1), e.g. to pick a GPU. The answers
// come back one per request, in request order.
type Evaluator interface {
	Evaluate(ctx context.Context, model string, reqs []Request, worker int) ([]Answer, error)
}
