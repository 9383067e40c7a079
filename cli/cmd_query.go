package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"mergescale/experiments/config"
	"mergescale/store"
)

// dbFlags are the two ways to name a results database: --db FILE, or
// --config CONFIG for the config's <out>/results.db.
type dbFlags struct {
	db, config string
}

func (f *dbFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.db, "db", "", "results database `FILE`")
	cmd.Flags().StringVar(&f.config, "config", "", "use the results database <out>/results.db of `CONFIG`")
}

// path resolves the flags to a database file.
func (f *dbFlags) path() (string, error) {
	switch {
	case f.db != "" && f.config != "":
		return "", errors.New("give either --db or --config, not both")
	case f.db != "":
		return f.db, nil
	case f.config != "":
		c, err := config.Load(f.config)
		if err != nil {
			return "", err
		}
		return c.StorePath(), nil
	}
	return "", errors.New("which database? give --db FILE or --config CONFIG")
}

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

// printTable renders rows under a header as a text table; column names are
// printed as they are (not upper-cased).
func printTable(w io.Writer, columns []string, rows [][]string) error {
	table := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	table.Header(columns)
	if err := table.Bulk(rows); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	if err := table.Render(); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}
