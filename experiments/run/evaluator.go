package run

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/eval/command"
	"mergescale/experiments/config"
)

// newEvaluator builds the backend of the config's eval section; threads is
// the built-in engine's goroutines per evaluation, log the run's log (a
// persistent evaluator's standard error outside a job).
func newEvaluator(c *config.Config, threads int, log *slog.Logger) (eval.Evaluator, error) {
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
		if c.Eval.Persistent {
			return &command.Persistent{Argv: c.Eval.Command, GPUsPerWorker: c.Eval.GPUsPerWorker, Timeout: timeout,
				Batch: c.Eval.Batch, Stderr: &lineLog{log: log, attrs: []any{"evaluator", c.Eval.Command[0]}}}, nil
		}
		return command.Evaluator{Argv: c.Eval.Command, GPUsPerWorker: c.Eval.GPUsPerWorker, Timeout: timeout,
			Batch: c.Eval.Batch, TempDir: filepath.Join(c.Out, "eval-tmp")}, nil
	}
	return nil, fmt.Errorf("eval.backend: unknown backend %q", c.Eval.Backend)
}

// lineLog writes what it is given to a logger, one "evaluator" record per
// line.
type lineLog struct {
	log   *slog.Logger
	attrs []any
	mu    sync.Mutex
	buf   []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 8192 { // a progress bar without newlines
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

// flush logs an unfinished last line.
func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emit(l.buf)
	l.buf = nil
}

// emit logs one line (without its newline); blank lines are dropped.
func (l *lineLog) emit(line []byte) {
	s := string(bytes.TrimRight(line, "\r\n "))
	if s == "" {
		return
	}
	l.log.Info("evaluator", append(append([]any(nil), l.attrs...), "line", s)...)
}
