package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"mergescale/checkpoint"
)

func newInspectCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect PATH...",
		Short: "List the tensors of safetensors checkpoints (file, model dir or sharded dir)",
		Long: `inspect validates each checkpoint (a .safetensors file, a directory with
model.safetensors, or a sharded directory with model.safetensors.index.json)
and prints a table of its tensors: name, dtype, shape and parameter count,
with totals. With --json it prints one object for one path and an array of
objects for several.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(e.stdout, args, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// inspectTensor is one row of inspect's output.
type inspectTensor struct {
	Name   string  `json:"name"`
	DType  string  `json:"dtype"`
	Shape  []int64 `json:"shape"`
	Params int64   `json:"params"`
}

// inspectSummary is inspect's output for one path.
type inspectSummary struct {
	Path    string          `json:"path"`
	Params  int64           `json:"params"`
	Tensors []inspectTensor `json:"tensors"`
}

// summarize opens and validates the checkpoint at path and lists its tensors.
// The error always starts with path.
func summarize(path string) (inspectSummary, error) {
	s := inspectSummary{Path: path, Tensors: []inspectTensor{}}
	c, err := checkpoint.Open(path)
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, path) {
			return s, fmt.Errorf("%s: %w", path, err)
		}
		return s, err
	}
	defer c.Close()
	for _, t := range c.Tensors() {
		n := t.NumElements()
		shape := append([]int64{}, t.Shape...)
		s.Tensors = append(s.Tensors, inspectTensor{Name: t.Name, DType: string(t.DType), Shape: shape, Params: n})
		s.Params += n
	}
	return s, nil
}

// runInspect validates every path first, so an invalid input produces only
// the error, then prints the tables or the JSON.
func runInspect(w io.Writer, paths []string, asJSON bool) error {
	sums := make([]inspectSummary, 0, len(paths))
	for _, p := range paths {
		s, err := summarize(p)
		if err != nil {
			return err
		}
		sums = append(sums, s)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(sums) == 1 {
			return enc.Encode(sums[0])
		}
		return enc.Encode(sums)
	}
	for i, s := range sums {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if err := renderInspectTable(w, s); err != nil {
			return err
		}
	}
	return nil
}

// renderInspectTable prints the path, then a table of its tensors with a
// totals footer.
func renderInspectTable(w io.Writer, s inspectSummary) error {
	if _, err := fmt.Fprintf(w, "%s\n", s.Path); err != nil {
		return err
	}
	right := tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight}}
	t := tablewriter.NewTable(w,
		tablewriter.WithRowAlignmentConfig(right),
		tablewriter.WithFooterAlignmentConfig(right),
	)
	t.Header("Name", "Dtype", "Shape", "Params")
	for _, x := range s.Tensors {
		if err := t.Append(x.Name, x.DType, formatShape(x.Shape), strconv.FormatInt(x.Params, 10)); err != nil {
			return err
		}
	}
	noun := "tensors"
	if len(s.Tensors) == 1 {
		noun = "tensor"
	}
	t.Footer("Total", fmt.Sprintf("%d %s", len(s.Tensors), noun), "", strconv.FormatInt(s.Params, 10))
	return t.Render()
}

// formatShape prints a shape as [d0, d1, ...]; a scalar is [].
func formatShape(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
