package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"mergescale/store"
)

func newGatherCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "gather OUT.db SHARD.db...",
		Short: "Merge the results databases of sharded runs into one",
		Long: `Copy every row of the shard databases into OUT.db (created when missing).
Rows already present are not added again, so gathering is idempotent: running
it twice, or with overlapping shards, yields the union. Shards are only read.`,
		Example: `  mergescale gather results/paper/results.db results/paper/shard-*.db`,
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGather(cmd.Context(), e.stdout, args[0], args[1:])
		},
	}
}

// runGather merges shards into out and prints what it added.
func runGather(ctx context.Context, w io.Writer, out string, shards []string) error {
	st, err := store.Gather(ctx, out, shards...)
	if err != nil {
		return err
	}
	knowledge := ""
	if st.Knowledge > 0 || st.KnowledgeScores > 0 { // a suite-5 study's probes and scores by known flag
		knowledge = fmt.Sprintf(", %d knowledge probes, %d knowledge scores", st.Knowledge, st.KnowledgeScores)
	}
	_, err = fmt.Fprintf(w, "gathered %d shard database(s) into %s: added %d runs, %d models, %d merges, %d scores, %d jobs%s\n",
		len(shards), out, st.Runs, st.Models, st.Merges, st.Scores, st.Jobs, knowledge)
	return err
}
