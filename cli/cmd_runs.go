package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"mergescale/store"
)

func newRunsCmd(e *env) *cobra.Command {
	var flags dbFlags
	cmd := &cobra.Command{
		Use:   "runs [--db FILE | --config CONFIG]",
		Short: "List the runs recorded in a results database",
		Long: `List every run of a results database: its name, shard, start and end times
(an empty end means still running or interrupted), config hash and code version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := flags.path()
			if err != nil {
				return err
			}
			return runRuns(cmd.Context(), e.stdout, path)
		},
	}
	flags.register(cmd)
	return cmd
}

// runRuns prints the runs of the database at path.
func runRuns(ctx context.Context, w io.Writer, path string) error {
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	runs, err := db.Runs(ctx)
	if err != nil {
		return err
	}
	rows := make([][]string, len(runs))
	for i, r := range runs {
		end, took := "", ""
		if !r.EndedAt.IsZero() {
			end = r.EndedAt.UTC().Format(time.DateTime)
			took = r.EndedAt.Sub(r.StartedAt).Round(time.Second).String()
		}
		shard := r.Shard
		if shard == "" {
			shard = "-"
		}
		hash := r.ConfigHash
		if len(hash) > 12 {
			hash = hash[:12]
		}
		rows[i] = []string{fmt.Sprint(r.ID), r.Name, shard, r.StartedAt.UTC().Format(time.DateTime), end, took, hash, r.CodeVersion}
	}
	return printTable(w, []string{"id", "name", "shard", "started (UTC)", "ended (UTC)", "took", "config", "code"}, rows)
}
