// Package cli is mergescale's command line: one cobra command per file
// (cmd_*.go), each a thin layer that parses flags and forwards to a plain
// function of a library package (experiments/..., merge/mergefile, eval,
// report, store). The helpers every command shares (progress on a terminal,
// tables, the database flags, atomic output files) are in helpers.go.
//
// Execute runs a command line in process with the streams it is given, so
// tests call the CLI exactly as a user's shell does, without a subprocess.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
)

// env carries the process's streams to every command, so tests can run a
// command in-process and capture what it prints.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// newRootCmd builds the mergescale command tree.
func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "mergescale",
		Short:         "Model-merging research at scale: train, merge, evaluate, report",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.AddCommand(
		// One constructor per command file (cmd_*.go); keep this list sorted.
		newEvalCmd(e),
		newForwardCmd(e),
		newGatherCmd(e),
		newInspectCmd(e),
		newKnowledgeCmd(e),
		newLoglikCmd(e),
		newMergeCmd(e),
		newQueryCmd(e),
		newReportCmd(e),
		newRunCmd(e),
		newRunsCmd(e),
		newSuiteCmd(e),
		newVersionCmd(e),
	)
	return root
}

// Execute runs the command line args and returns the process exit status.
// Every error is printed as one line "error: ..." on stderr.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(e)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		if errors.Is(err, context.Canceled) {
			msg = "interrupted"
		}
		fmt.Fprintf(stderr, "error: %s\n", msg)
		return 1
	}
	return 0
}
