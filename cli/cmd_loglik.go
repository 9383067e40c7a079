package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/internal/atomicfile"
)

// loglikOptions are the flags of `mergescale loglik`.
type loglikOptions struct {
	Model, Requests, Out string
	Workers              int
}

func newLoglikCmd(e *env) *cobra.Command {
	var o loglikOptions
	cmd := &cobra.Command{
		Use:   "loglik --model DIR --requests FILE --out FILE",
		Short: "Answer evaluator requests (loglikelihood, generate_until; JSONL) with the built-in engine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoglik(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Model, "model", "", "model directory (config.json, model.safetensors, tokenizer.json)")
	f.StringVar(&o.Requests, "requests", "", "requests file, one JSON request per line")
	f.StringVar(&o.Out, "out", "", "answers file to write, one JSON answer per line in request order")
	f.IntVar(&o.Workers, "workers", 0, "scoring goroutines (0: all cores)")
	for _, name := range []string{"model", "requests", "out"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// runLoglik answers the requests file with the built-in engine and writes
// the answers file (atomically: nothing appears under --out on failure).
func runLoglik(ctx context.Context, o loglikOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	f, err := os.Open(o.Requests)
	if err != nil {
		return fmt.Errorf("loglik: %w", err)
	}
	reqs, err := eval.ReadRequests(f, o.Requests)
	f.Close()
	if err != nil {
		return fmt.Errorf("loglik: %w", err)
	}
	ans, err := builtin.Evaluator{Workers: o.Workers}.Evaluate(ctx, o.Model, reqs, 0)
	if err != nil {
		return fmt.Errorf("loglik: %w", err)
	}
	var b bytes.Buffer
	if err := eval.WriteAnswers(&b, reqs, ans); err != nil {
		return fmt.Errorf("loglik: %w", err)
	}
	if err := atomicfile.Write(o.Out, b.Bytes()); err != nil {
		return fmt.Errorf("loglik: %w", err)
	}
	return nil
}
