package cli

import (
	"context"
	"encoding/csv"
	"io"

	"github.com/spf13/cobra"

	"mergescale/store"
)

func newQueryCmd(e *env) *cobra.Command {
	var flags dbFlags
	var asCSV bool
	cmd := &cobra.Command{
		Use:   `query "SQL" [--db FILE | --config CONFIG] [--csv]`,
		Short: "Run a read-only SQL query on a results database and print the result as a table",
		Long: `Run one SQL statement on a results database, opened read-only (statements
that would modify it fail), and print the result as a table, or as CSV with
--csv. The tables are runs, models, merges, scores and jobs (docs/DESIGN.md).`,
		Example: `  mergescale query --config configs/quick.yaml "SELECT kind, count(*) FROM models GROUP BY kind"
  mergescale query --db results/quick/results.db --csv "SELECT * FROM scores WHERE split = 'test'"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := flags.path()
			if err != nil {
				return err
			}
			return runQuery(cmd.Context(), e.stdout, path, args[0], asCSV)
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV instead of a table")
	return cmd
}

// runQuery runs query read-only on the database at path and prints the result.
func runQuery(ctx context.Context, w io.Writer, path, query string, asCSV bool) error {
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	t, err := db.Query(ctx, query)
	if err != nil {
		return err
	}
	if asCSV {
		cw := csv.NewWriter(w)
		if err := cw.Write(t.Columns); err != nil {
			return err
		}
		if err := cw.WriteAll(t.Rows); err != nil {
			return err
		}
		return cw.Error()
	}
	return printTable(w, t.Columns, t.Rows)
}
