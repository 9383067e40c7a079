package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"mergescale/internal/atomicfile"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table is a rectangular table of strings that the report writes as
// Markdown, ASCII and CSV. People read Header and Rows ("mean ± CI"); the
// CSV file is tidy: CSVHeader and CSVRows, snake_case columns, a measure as
// <measure>_mean, _ci_low, _ci_high and _n, plain numbers, empty fields for
// missing values.
type Table struct {
	Name   string // file stem, e.g. "table_cells"
	Title  string
	Header []string
	Rows   [][]string
	// CSVHeader and CSVRows are the CSV form; when nil, CSV writes Header
	// and Rows.
	CSVHeader []string
	CSVRows   [][]string
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

// CSV renders the table's CSV form with a header row.
func (t *Table) CSV() (string, error) {
	header, rows := t.CSVHeader, t.CSVRows
	if header == nil {
		header, rows = t.Header, t.Rows
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(header); err != nil {
		return "", fmt.Errorf("table %s: %w", t.Name, err)
	}
	if err := w.WriteAll(rows); err != nil {
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
		if err := atomicfile.Write(path, []byte(s)); err != nil {
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

// column is one column of a table: its header for people and its CSV
// columns (a stat column's CSV name is a measure, expanded to four
// columns; a column with no CSV name is for people only).
type column struct {
	header string
	csv    []string
	stat   bool
}

func textCol(header string, csv ...string) column { return column{header: header, csv: csv} }

// statCol is a "mean ± CI" column; measure names its four CSV columns.
func statCol(header, measure string) column {
	return column{header: header, csv: []string{measure}, stat: true}
}

// paramCount is a parameter count: "1.92M" for people, 1920000 in CSV.
type paramCount int64

// dual is a value shown one way to people and written as csv (one field
// per CSV column of its column).
type dual struct {
	show string
	csv  []string
}

// tableBuilder adds rows to a table in both of its forms.
type tableBuilder struct {
	t    *Table
	cols []column
}

func newTable(name, title string, cols ...column) *tableBuilder {
	t := &Table{Name: name, Title: title, CSVHeader: []string{}}
	for _, c := range cols {
		t.Header = append(t.Header, c.header)
		if c.stat {
			m := c.csv[0]
			t.CSVHeader = append(t.CSVHeader, m+"_mean", m+"_ci_low", m+"_ci_high", m+"_n")
		} else {
			t.CSVHeader = append(t.CSVHeader, c.csv...)
		}
	}
	return &tableBuilder{t: t, cols: cols}
}

// add appends a row: one value per column, each a string, int, int64,
// paramCount, float64, Stat or dual.
func (b *tableBuilder) add(vals ...any) {
	var show, csvRow []string
	for i, v := range vals {
		c := b.cols[i]
		var s string
		var cs []string
		switch v := v.(type) {
		case string:
			s, cs = v, []string{v}
		case int:
			s = strconv.Itoa(v)
			cs = []string{s}
		case int64:
			s = strconv.FormatInt(v, 10)
			cs = []string{s}
		case paramCount:
			s, cs = humanCount(int64(v)), []string{strconv.FormatInt(int64(v), 10)}
		case float64:
			s, cs = num(v), []string{csvNum(v)}
		case Stat:
			s, cs = stat(v), csvStat(v)
		case dual:
			s, cs = v.show, v.csv
		default:
			s = fmt.Sprint(v)
			cs = []string{s}
		}
		show = append(show, s)
		switch {
		case c.stat && len(cs) != 4:
			cs = append([]string{cs[0]}, "", "", "1")
		case !c.stat && len(cs) > len(c.csv):
			cs = cs[:len(c.csv)]
		}
		csvRow = append(csvRow, cs...)
	}
	b.t.Rows = append(b.t.Rows, show)
	b.t.CSVRows = append(b.t.CSVRows, csvRow)
}

// csvNum writes a number for CSV: empty when missing.
func csvNum(x float64) string {
	if !isNum(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', 10, 64)
}

// csvStat is a Stat's four CSV fields: mean, CI low, CI high, n; the CI
// bounds are empty when n < 2, the mean when there is no value.
func csvStat(s Stat) []string {
	lo, hi := "", ""
	if s.Valid() && s.N >= 2 && isNum(s.CI) {
		lo, hi = csvNum(s.Mean-s.CI), csvNum(s.Mean+s.CI)
	}
	mean := ""
	if s.Valid() {
		mean = csvNum(s.Mean)
	}
	return []string{mean, lo, hi, strconv.Itoa(s.N)}
}

// orNA shows a Stat without a value as "n/a" (its CSV fields stay empty,
// n = 0).
func orNA(s Stat) any {
	if !s.Valid() {
		return dual{"n/a", csvStat(s)}
	}
	return s
}

// one is a single value as a Stat (n = 1, no CI; n = 0 when missing).
func one(x float64) Stat {
	if !isNum(x) {
		return Stat{Mean: math.NaN(), CI: math.NaN(), SD: math.NaN()}
	}
	return Stat{Mean: x, CI: math.NaN(), SD: math.NaN(), N: 1}
}

// variantCols is the leading variant column of a study with variant axes
// (none otherwise, so that such a study's tables are as they were).
func variantCols(r *Results) []column {
	if len(r.Axes) == 0 {
		return nil
	}
	return []column{textCol("variant", "variant")}
}

// variantVals is the value of the variant column for variant v.
func variantVals(r *Results, v string) []any {
	if len(r.Axes) == 0 {
		return nil
	}
	for _, x := range r.Variants {
		if x.JSON == v {
			return []any{dual{x.Label(r.Axes), []string{v}}}
		}
	}
	return []any{dual{v, []string{v}}}
}

// Tables builds the report's tables from r: the per-variant tables list
// every variant; the paper comparison and the self-check use the default
// variant, and table_findings_variants (only for a study with variants)
// gives the findings of each.
func Tables(r *Results, paper *PaperReference) []*Table {
	def := r.Default()
	ts := []*Table{cellsTable(r), baselinesTable(r), hparamsTable(r), taskTable(r)}
	if paper != nil {
		ts = append(ts, paperTable(def, paper))
	}
	ts = append(ts, lawTable(def), selfcheckTable(Selfcheck(def)))
	if len(r.Variants) > 1 {
		ts = append(ts, findingsVariantsTable(r, defaultFig), selfcheckVariantsTable(r))
	}
	return ts
}

// taskCount shows "d of t" (chance-adjusted defined on d of t tasks) and
// writes d and t.
func taskCount(subs []SubsetResult, heldout bool) dual {
	d, t := -1, 0
	for _, s := range subs {
		dd, tt := s.Merged.HeldInChanceTasks, s.Merged.HeldInTasks
		if heldout {
			dd, tt = s.Merged.HeldOutChanceTasks, s.Merged.HeldOutTasks
		}
		if d < 0 || dd < d {
			d = dd
		}
		t = max(t, tt)
	}
	if d < 0 {
		d = 0
	}
	return dual{fmt.Sprintf("%d of %d", d, t), []string{strconv.Itoa(d), strconv.Itoa(t)}}
}

func cellsTable(r *Results) *Table {
	cols := append(variantCols(r),
		textCol("base", "base"), textCol("size", "size"), textCol("params", "params"), textCol("method", "method"),
		textCol("k", "k"), textCol("subsets", "subsets"),
		statCol("held-in (÷ expert)", "heldin_norm"), statCol("held-out (÷ base)", "heldout_norm"),
		statCol("held-in chance-adj.", "heldin_chance_adj"), statCol("held-out chance-adj.", "heldout_chance_adj"),
		statCol("raw held-in", "heldin_raw"), statCol("raw held-out", "heldout_raw"), statCol("gain kept", "gain_kept"),
		statCol("gain kept (CE)", "gain_kept_ce"), statCol("multitask held-in", "mt_heldin_norm"), statCol("multitask held-out", "mt_heldout_norm"),
		textCol("chance-adj. tasks, held-in", "heldin_chance_adj_tasks", "heldin_tasks"),
		textCol("chance-adj. tasks, held-out", "heldout_chance_adj_tasks", "heldout_tasks"))
	b := newTable("table_merged", "Merged models: normalized and raw test accuracy and gain kept, in accuracy and in option cross-entropy "+
		"(mean ± 95% CI over expert subsets; n/a without option_ce scores); "+
		"chance-adjusted scores are averaged over the tasks where the reference is not at chance (the last two columns: on how many tasks, of all, in the subset that has fewest)", cols...)
	for _, c := range r.Cells {
		b.add(append(variantVals(r, c.Variant), c.BaseType, c.Size, paramCount(c.Params), c.Method, c.K, len(c.Subsets),
			c.HeldIn, c.HeldOut, c.HeldInChance, c.HeldOutChance, c.RawHeldIn, c.RawHeldOut, c.GainKept,
			orNA(c.GainKeptCE), c.MTHeldIn, c.MTHeldOut, taskCount(c.Subsets, false), taskCount(c.Subsets, true))...)
	}
	return b.t
}

func baselinesTable(r *Results) *Table {
	cols := append(variantCols(r),
		textCol("base", "base"), textCol("size", "size"), textCol("params", "params"), textCol("model", "model"),
		textCol("category", "category"),
		statCol("raw held-in", "heldin_raw"), statCol("raw held-out", "heldout_raw"),
		statCol("held-in (÷ expert)", "heldin_norm"), statCol("held-out (÷ base)", "heldout_norm"),
		statCol("held-in chance-adj.", "heldin_chance_adj"), statCol("held-out chance-adj.", "heldout_chance_adj"),
		statCol("gain over base (raw)", "gain_over_base"), statCol("‖τ‖ ÷ ‖θ₀‖", "tau_norm_ratio"))
	b := newTable("table_baselines",
		"Base, expert and multitask models (held-in over the expert's own category; over all categories otherwise)", cols...)
	for _, bl := range r.Baselines {
		s := bl.Scores
		b.add(append(variantVals(r, bl.Variant), bl.BaseType, bl.Size, paramCount(bl.Params), bl.Kind, bl.Category,
			one(s.RawHeldIn), one(s.RawHeldOut), one(s.HeldIn), one(s.HeldOut), one(s.HeldInChance), one(s.HeldOutChance),
			one(bl.Gain), one(bl.TauNormRatio))...)
	}
	return b.t
}

func hparamsTable(r *Results) *Table {
	cols := append(variantCols(r),
		textCol("base", "base"), textCol("size", "size"), textCol("method", "method"), textCol("k", "k"),
		textCol("subset", "subset"), textCol("categories", "categories"), textCol("hparams", "hparams"),
		textCol("seed", "seed"), textCol("model", "model"))
	b := newTable("table_hparams", "Hyperparameters chosen on validation, per cell and subset", cols...)
	for _, c := range r.Cells {
		for _, s := range c.Subsets {
			b.add(append(variantVals(r, c.Variant), c.BaseType, c.Size, c.Method, c.K, s.Subset,
				joinCats(s.Categories), s.Hparams, s.Seed, dual{short(s.ModelID), []string{s.ModelID}})...)
		}
	}
	return b.t
}

// taskTable lists every task's raw score; a study with tasks scored by
// another metric than accuracy gets a metric column (the built-in suite's
// table is as it was).
func taskTable(r *Results) *Table {
	metric := map[string][]string{}
	for _, tm := range r.TaskMetrics {
		metric[tm.Task] = append(metric[tm.Task], tm.Metric)
	}
	cols := append(variantCols(r),
		textCol("base", "base"), textCol("size", "size"), textCol("model", "model"), textCol("k", "k"),
		textCol("expert category", "expert_category"), textCol("task", "task"))
	if len(metric) > 0 {
		cols = append(cols, textCol("metric", "metric"))
	}
	cols = append(cols, textCol("task category", "task_category"),
		textCol("heldness", "heldness"), statCol("accuracy", "accuracy"), textCol("n"))
	b := newTable("table_tasks", "Per-task raw test accuracy (merged models: mean ± 95% CI over subsets)", cols...)
	for _, s := range r.Tasks {
		k := ""
		if s.K > 0 {
			k = strconv.Itoa(s.K)
		}
		row := append(variantVals(r, s.Variant), s.BaseType, s.Size, s.Model, k, s.Category, s.Task)
		if len(metric) > 0 {
			m := "accuracy"
			if ms := metric[s.Task]; len(ms) > 0 {
				m = strings.Join(ms, ", ")
			}
			row = append(row, m)
		}
		b.add(append(row, s.TaskCategory, s.Heldness, s.Accuracy, strconv.Itoa(s.Accuracy.N))...)
	}
	return b.t
}

// paperTable puts our task-arithmetic numbers beside the paper's, matching
// sizes by rank (see PaperReference.paperSizeFor) and k by value.
func paperTable(r *Results, paper *PaperReference) *Table {
	b := newTable("table_paper", "Ours beside the paper (task arithmetic; sizes matched by rank)",
		textCol("base", "base"), textCol("our size", "our_size"), textCol("paper size", "paper_size_billion"), textCol("k", "k"),
		statCol("held-in ours", "heldin_norm"), textCol("held-in paper", "heldin_norm_paper"),
		statCol("held-out ours", "heldout_norm"), textCol("held-out paper", "heldout_norm_paper"),
		statCol("multitask held-out ours", "mt_heldout_norm"), textCol("multitask held-out paper", "mt_heldout_norm_paper"))
	pv := func(v KValues, k int, ok bool) float64 {
		if !ok {
			return math.NaN()
		}
		if x, ok := v.At(k); ok {
			return x
		}
		return math.NaN()
	}
	for _, bt := range r.BaseTypes {
		for i, sz := range r.Sizes {
			ps := paper.paperSizeFor(i, len(r.Sizes))
			pc, hasPaper := paper.TaskArithmetic[bt][ps]
			for _, k := range r.Ks {
				c, ok := r.Cell(bt, sz.Name, "task_arithmetic", k)
				if !ok {
					continue
				}
				b.add(bt, sz.Name, dual{fmt.Sprintf("%dB", ps), []string{strconv.Itoa(ps)}}, k,
					c.HeldIn, pv(pc.HeldIn, k, hasPaper), c.HeldOut, pv(pc.HeldOut, k, hasPaper),
					c.MTHeldOut, pv(pc.MultitaskHeldOut, k, hasPaper))
			}
		}
	}
	return b.t
}

// selfcheckVariantsTable gives the self-check's measures for every variant,
// so that a study sweeping one zoo key shows which measure the key moves.
func selfcheckVariantsTable(r *Results) *Table {
	b := newTable("table_selfcheck_variants", "The self-check per zoo variant (the first variant is the default)",
		textCol("variant", "variant"), textCol("measure", "measure"), textCol("value", "value"),
		textCol("threshold", "comparison", "threshold"), textCol("met", "met"))
	for _, v := range r.Variants {
		for _, c := range Selfcheck(r.view(v.JSON)).Checks {
			cmp := "<="
			if c.AtLeast {
				cmp = ">="
			}
			b.add(dual{v.Label(r.Axes), []string{v.JSON}}, c.Measure, dual{formatCheck(c), []string{csvNum(c.Value)}},
				dual{formatThreshold(c), []string{cmp, csvNum(c.Threshold)}}, dual{yesNo(c.Met), []string{strconv.FormatBool(c.Met)}})
		}
	}
	return b.t
}

// findingsVariantsTable gives the five findings of every variant.
func findingsVariantsTable(r *Results, method string) *Table {
	b := newTable("table_findings_variants", "The findings per zoo variant ("+methodLabel(method)+"; the first variant is the default)",
		textCol("variant", "variant"), textCol("claim", "claim"), textCol("verdict", "verdict"),
		textCol("decided on", "estimate", "ci_low", "ci_high", "n"), textCol("numbers", "sentence"))
	for _, v := range r.Variants {
		for _, f := range Findings(r.view(v.JSON), method, nil) {
			e := f.Estimate
			est := dual{e.String(), []string{csvNum(e.Value), csvNum(e.Lo), csvNum(e.Hi), strconv.Itoa(e.N)}}
			b.add(dual{v.Label(r.Axes), []string{v.JSON}}, dual{f.Claim, []string{f.ClaimID}}, string(f.Verdict), est, f.Sentence)
		}
	}
	return b.t
}
