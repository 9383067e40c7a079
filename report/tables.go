package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table is a rectangular table of strings that the report writes as
// Markdown, ASCII and CSV.
type Table struct {
	Name   string // file stem, e.g. "table_cells"
	Title  string
	Header []string
	Rows   [][]string
}

func (t *Table) render(md bool) (string, error) {
	var b bytes.Buffer
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	}
	if md {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	tbl := tablewriter.NewTable(&b, opts...)
	tbl.Header(toAny(t.Header)...)
	for _, r := range t.Rows {
		if err := tbl.Append(toAny(r)...); err != nil {
			return "", fmt.Errorf("table %s: %w", t.Name, err)
		}
	}
	if err := tbl.Render(); err != nil {
		return "", fmt.Errorf("table %s: %w", t.Name, err)
	}
	return b.String(), nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// Markdown renders the table as a GitHub-flavoured Markdown table.
func (t *Table) Markdown() (string, error) { return t.render(true) }

// ASCII renders the table for a terminal.
func (t *Table) ASCII() (string, error) { return t.render(false) }

// CSV renders the table as CSV with a header row.
func (t *Table) CSV() (string, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(t.Header); err != nil {
		return "", fmt.Errorf("table %s: %w", t.Name, err)
	}
	if err := w.WriteAll(t.Rows); err != nil {
		return "", fmt.Errorf("table %s: %w", t.Name, err)
	}
	return b.String(), nil
}

// write saves dir/name.md, name.txt and name.csv.
func (t *Table) write(dir string) error {
	for ext, f := range map[string]func() (string, error){".md": t.Markdown, ".txt": t.ASCII, ".csv": t.CSV} {
		s, err := f()
		if err != nil {
			return err
		}
		path := filepath.Join(dir, t.Name+ext)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			return fmt.Errorf("table %s: %w", path, err)
		}
	}
	return nil
}

// num formats a value with 3 decimals, or "–" when missing.
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return strconv.FormatFloat(x, 'f', 3, 64)
}

// stat formats "mean ± CI", or just the mean when there is no CI.
func stat(s Stat) string {
	if !s.Valid() {
		return "–"
	}
	if math.IsNaN(s.CI) {
		return num(s.Mean)
	}
	return num(s.Mean) + " ± " + num(s.CI)
}

// Tables builds the report's tables from r.
func Tables(r *Results, paper *PaperReference) []*Table {
	ts := []*Table{cellsTable(r), baselinesTable(r), hparamsTable(r), taskTable(r)}
	if paper != nil {
		ts = append(ts, paperTable(r, paper))
	}
	return ts
}

func cellsTable(r *Results) *Table {
	t := &Table{Name: "table_merged", Title: "Merged models: normalized and raw test accuracy (mean ± 95% CI over expert subsets)",
		Header: []string{"base", "size", "params", "method", "k", "subsets", "held-in (÷ expert)", "held-out (÷ base)",
			"held-in chance-adj.", "held-out chance-adj.", "raw held-in", "raw held-out",
			"multitask held-in", "multitask held-out"}}
	for _, c := range r.Cells {
		t.Rows = append(t.Rows, []string{c.BaseType, c.Size, humanCount(c.Params), c.Method, strconv.Itoa(c.K),
			strconv.Itoa(len(c.Subsets)), stat(c.HeldIn), stat(c.HeldOut), stat(c.HeldInChance), stat(c.HeldOutChance),
			stat(c.RawHeldIn), stat(c.RawHeldOut), stat(c.MTHeldIn), stat(c.MTHeldOut)})
	}
	return t
}

func baselinesTable(r *Results) *Table {
	t := &Table{Name: "table_baselines",
		Title: "Base, expert and multitask models (held-in over the expert's own category; over all categories otherwise)",
		Header: []string{"base", "size", "model", "category", "raw held-in", "raw held-out",
			"held-in (÷ expert)", "held-out (÷ base)", "held-in chance-adj.", "held-out chance-adj."}}
	for _, b := range r.Baselines {
		s := b.Scores
		t.Rows = append(t.Rows, []string{b.BaseType, b.Size, b.Kind, b.Category, num(s.RawHeldIn), num(s.RawHeldOut),
			num(s.HeldIn), num(s.HeldOut), num(s.HeldInChance), num(s.HeldOutChance)})
	}
	return t
}

func hparamsTable(r *Results) *Table {
	t := &Table{Name: "table_hparams", Title: "Hyperparameters chosen on validation, per cell and subset",
		Header: []string{"base", "size", "method", "k", "subset", "categories", "hparams", "seed", "model"}}
	for _, c := range r.Cells {
		for _, s := range c.Subsets {
			t.Rows = append(t.Rows, []string{c.BaseType, c.Size, c.Method, strconv.Itoa(c.K), strconv.Itoa(s.Subset),
				joinCats(s.Categories), s.Hparams, strconv.FormatInt(s.Seed, 10), short(s.ModelID)})
		}
	}
	return t
}

func taskTable(r *Results) *Table {
	t := &Table{Name: "table_tasks", Title: "Per-task raw test accuracy (merged models: mean ± 95% CI over subsets)",
		Header: []string{"base", "size", "model", "k", "expert category", "task", "task category", "heldness", "accuracy", "n"}}
	for _, s := range r.Tasks {
		k := ""
		if s.K > 0 {
			k = strconv.Itoa(s.K)
		}
		t.Rows = append(t.Rows, []string{s.BaseType, s.Size, s.Model, k, s.Category, s.Task, s.TaskCategory,
			s.Heldness, stat(s.Accuracy), strconv.Itoa(s.Accuracy.N)})
	}
	return t
}

// paperTable puts our task-arithmetic numbers beside the paper's, matching
// sizes by rank (see PaperReference.paperSizeFor) and k by value.
func paperTable(r *Results, paper *PaperReference) *Table {
	t := &Table{Name: "table_paper", Title: "Ours beside the paper (task arithmetic; sizes matched by rank)",
		Header: []string{"base", "our size", "paper size", "k", "held-in ours", "held-in paper",
			"held-out ours", "held-out paper", "multitask held-out ours", "multitask held-out paper"}}
	pv := func(v KValues, k int) string {
		if x, ok := v.At(k); ok {
			return num(x)
		}
		return "–"
	}
	for _, b := range r.BaseTypes {
		for i, sz := range r.Sizes {
			ps := paper.paperSizeFor(i, len(r.Sizes))
			pc, hasPaper := paper.TaskArithmetic[b][ps]
			for _, k := range r.Ks {
				c, ok := r.Cell(b, sz.Name, "task_arithmetic", k)
				if !ok {
					continue
				}
				row := []string{b, sz.Name, fmt.Sprintf("%dB", ps), strconv.Itoa(k), stat(c.HeldIn), "–",
					stat(c.HeldOut), "–", stat(c.MTHeldOut), "–"}
				if hasPaper {
					row[5], row[7], row[9] = pv(pc.HeldIn, k), pv(pc.HeldOut, k), pv(pc.MultitaskHeldOut, k)
				}
				t.Rows = append(t.Rows, row)
			}
		}
	}
	return t
}
