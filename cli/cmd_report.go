package cli

import (
	"context"
	"errors"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"mergescale/experiments/config"
	"mergescale/report"
)

// reportOptions are the report command's flags.
type reportOptions struct {
	db, out, config, method string
}

func newReportCmd(e *env) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report (--db FILE --out DIR | --config CONFIG)",
		Short: "Write the figures, tables and report.md of a run from its results store",
		Long: `report reads a results store (read-only) and writes figures (PNG and SVG),
tables (Markdown, ASCII, CSV) and report.md, whose Findings section checks the
paper's five claims against the store's numbers. With --config it reads the
config's out: key and uses <out>/results.db and <out>/report/. A store without
data gives a report that says what is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), e.stdout, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", "", "results store (results.db)")
	f.StringVar(&o.out, "out", "", "directory to write the report into")
	f.StringVar(&o.config, "config", "", "experiment config: use <out>/results.db and <out>/report/")
	f.StringVar(&o.method, "method", "task_arithmetic", "merge method shown by single-method figures and claims")
	return cmd
}

// runReport resolves the store and output paths and renders the report.
func runReport(ctx context.Context, stdout io.Writer, o reportOptions) error {
	db, out := o.db, o.out
	if o.config != "" {
		if db != "" || out != "" {
			return errors.New("report: give either --config or --db and --out, not both")
		}
		c, err := config.Load(o.config)
		if err != nil {
			return err
		}
		db, out = c.StorePath(), filepath.Join(c.Out, "report")
	}
	if db == "" || out == "" {
		return errors.New("report: need --db and --out, or --config")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return report.Render(ctx, db, out, report.Options{Method: o.method, Terminal: stdout})
}
