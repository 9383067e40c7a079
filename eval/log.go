package eval

import (
	"context"
	"io"
)

// logKey is the context key of an evaluation's log.
type logKey struct{}

// WithLog returns ctx carrying w as the log of the evaluations run with it:
// a backend writes its messages there (the command backend its program's
// stdout and stderr, the built-in one what it loaded and answered). The
// harness gives every evaluation job its own log file.
func WithLog(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, logKey{}, w)
}

// LogOf returns the log ctx carries (WithLog), or io.Discard.
func LogOf(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(logKey{}).(io.Writer); ok && w != nil {
		return w
	}
	return io.Discard
}
