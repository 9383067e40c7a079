// Package command is the command evaluator backend: it answers the eval
// protocol's requests by running an external program (adapters/hf_eval.py,
// or any program that reads a requests file and writes an answers file in
// the protocol's JSON Lines), once per call, with the model, the files and
// the worker slot substituted into its arguments.
//
// A failed call keeps its requests and output for inspection and reports
// the program's last output lines; all of its output (stdout and stderr)
// goes to the log the context carries (eval.WithLog), as it comes; a time-out or a cancelled context kills
// the program's whole process group.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"mergescale/eval"
)

// Evaluator is the command evaluator: for each call it writes the requests
// to a file, runs Argv with {model}, {requests}, {out}, {worker} and
// {devices} substituted in every argument, and reads the answers from {out}.
type Evaluator struct {
	Argv []string
	// GPUsPerWorker is the number of devices of a worker slot ({devices};
	// 0 counts as 1).
	GPUsPerWorker int
	// Timeout bounds one call (0: none).
	Timeout time.Duration
	// Batch is the number of requests per call (0: all in one call).
	Batch int
	// TempDir holds the request and answer files ("" : the system's). The
	// files of a failed call are kept there for inspection.
	TempDir string
}

// Placeholders of Evaluator.Argv.
const (
	PlaceholderModel    = "{model}"
	PlaceholderRequests = "{requests}"
	PlaceholderOut      = "{out}"
	PlaceholderWorker   = "{worker}"
	PlaceholderDevices  = "{devices}"
)

// Devices lists the devices of worker slot w when each slot has n of them
// (n < 1 counts as 1): w·n … w·n + n − 1, comma-separated, what {devices}
// stands for. Slots 0 and 1 with n = 2 get "0,1" and "2,3".
func Devices(w, n int) string {
	n = max(n, 1)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(w*n + i)
	}
	return strings.Join(ids, ",")
}

// stderrOf is the job's log (eval.WithLog), where the command backends
// copy the evaluator's standard error (and, per call, its output) while
// they answer; nil when the context carries none.
func stderrOf(ctx context.Context) io.Writer {
	if w := eval.LogOf(ctx); w != io.Discard {
		return w
	}
	return nil
}

// Evaluate implements eval.Evaluator. A non-zero exit, a time-out, or a missing
// or malformed answer line is an error naming the model and the line.
func (c Evaluator) Evaluate(ctx context.Context, model string, reqs []eval.Request, worker int) ([]eval.Answer, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("eval: command backend without a command")
	}
	batch := c.Batch
	if batch <= 0 || batch > len(reqs) {
		batch = max(len(reqs), 1)
	}
	out := make([]eval.Answer, 0, len(reqs))
	for lo := 0; lo < len(reqs); lo += batch {
		ans, err := c.call(ctx, model, reqs[lo:min(lo+batch, len(reqs))], worker)
		if err != nil {
			return nil, err
		}
		out = append(out, ans...)
	}
	return out, nil
}

// call runs the command once on reqs.
func (c Evaluator) call(ctx context.Context, model string, reqs []eval.Request, worker int) ([]eval.Answer, error) {
	if c.TempDir != "" {
		if err := os.MkdirAll(c.TempDir, 0o755); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
	}
	dir, err := os.MkdirTemp(c.TempDir, "eval-")
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	keep := true
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	reqPath, outPath := dir+"/requests.jsonl", dir+"/answers.jsonl"
	var buf bytes.Buffer
	if err := eval.WriteRequests(&buf, reqs); err != nil {
		return nil, err
	}
	if err := os.WriteFile(reqPath, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	repl := strings.NewReplacer(PlaceholderModel, model, PlaceholderRequests, reqPath,
		PlaceholderOut, outPath, PlaceholderWorker, strconv.Itoa(worker), PlaceholderDevices, Devices(worker, c.GPUsPerWorker))
	argv := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		argv[i] = repl.Replace(a)
	}
	runCtx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	stderr := &sink{w: stderrOf(ctx)}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	what := fmt.Sprintf("evaluator %q for model %s", argv[0], model)
	if err := cmd.Run(); err != nil {
		switch {
		case c.Timeout > 0 && errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
			err = fmt.Errorf("timed out after %v", c.Timeout)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("eval: %s: %w", what, ctx.Err())
		}
		return nil, fmt.Errorf("eval: %s: %w (requests and output kept in %s)%s", what, err, dir, stderr.describe())
	}
	f, err := os.Open(outPath)
	if err != nil {
		return nil, fmt.Errorf("eval: %s: no answers: %w%s", what, err, stderr.describe())
	}
	defer f.Close()
	ans, err := eval.ReadAnswers(f, outPath, reqs)
	if err != nil {
		return nil, fmt.Errorf("eval: %s: %w", what, err)
	}
	keep = false
	return ans, nil
}

// tailBuffer keeps the last few KiB of a command's output for error
// messages.
type tailBuffer struct{ b []byte }

const tailMax = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) describe() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return "; its output ends: " + strings.ReplaceAll(s, "\n", " | ")
}
