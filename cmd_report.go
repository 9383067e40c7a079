package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

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
		dir, err := configOutDir(o.config)
		if err != nil {
			return err
		}
		db, out = filepath.Join(dir, "results.db"), filepath.Join(dir, "report")
	}
	if db == "" || out == "" {
		return errors.New("report: need --db and --out, or --config")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return report.Render(ctx, db, out, report.Options{Method: o.method, Terminal: stdout})
}

// configOutDir reads only the out: key of an experiment config (falling
// back to results/<name> when out is absent, the config's default).
func configOutDir(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	var c struct {
		Out  string `yaml:"out"`
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("config %s: %w", path, err)
	}
	switch {
	case c.Out != "":
		return c.Out, nil
	case c.Name != "":
		return filepath.Join("results", c.Name), nil
	}
	return "", fmt.Errorf("config %s: key out (or name) is missing", path)
}
