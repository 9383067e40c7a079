// Package report turns a mergescale store into the paper's figures and
// tables and a report.md that checks the paper's claims against our runs.
//
// It reads only the SQLite store (read-only), never the runner, and that
// through one store.DB.Snapshot: the store package owns the SQL, and fills
// in the defaults of the columns an older schema lacks (variant '{}', no
// base_id, expert_ids or tau_norm_ratio). Only merges with chosen = 1 and test-split accuracy enter the aggregates. Per
// (variant, base type, size, method, k), each chosen merge (one expert
// subset) gets:
//
//   - normalized held-in: over the held-in tasks of the merged experts'
//     categories only, merged ÷ that category's expert (the merge's own
//     experts, merges.expert_ids) per task, then the mean per category,
//     then the mean over categories;
//   - normalized held-out: over all held-out tasks, merged ÷ the zero-shot
//     score of the merge's own base (merges.base_id) per task, then the
//     mean per category and over categories;
//   - gain kept: Σ_c (merged_c − base_c) ÷ Σ_c (expert_c − base_c) of raw
//     accuracy over the merged categories c, and gain kept in cross-entropy,
//     Σ_c (base_c − merged_c) ÷ Σ_c (base_c − expert_c) of option_ce (n/a
//     in a store without option_ce scores; no other metric enters);
//   - the chance-adjusted variants (score − chance) ÷ (reference − chance),
//     over the tasks where the reference is not at chance, the raw
//     accuracies, and the multitask model's scores over the same categories
//     (so its held-in varies with k, as in the paper).
//
// A study whose config lists zoo keys has variants (models.variant): every
// combination of the listed values is a full variant, and a model belongs
// to each full variant that agrees with its own (a PT base shared by two
// expert learning rates belongs to both). Everything is computed per full
// variant; the findings, the self-check and the single-variant figures use
// the default variant, the first value of every list.
//
// Cells average subsets, with 95% confidence intervals t(0.975, n−1)·s/√n
// (Student t; none when n = 1). The findings compare cells paired over the
// same expert subsets ((k, subset) of k ∈ pairedKs; see Findings), and the
// self-check gives those comparisons' CIs and minimum detectable difference.
package report

import (
	"context"
	"fmt"
	"io"
	"mergescale/internal/atomicfile"
	"os"
	"path/filepath"
	"strings"
)

// Options controls a report.
type Options struct {
	// Method is shown by the single-method figures and tested by the
	// single-method claims; "" means task_arithmetic, as in the paper.
	Method string
	// Terminal, when non-nil, receives the findings and the merged-model
	// table as ASCII.
	Terminal io.Writer
}

// Report directory layout under outDir.
const (
	figuresDir = "figures"
	tablesDir  = "tables"
	reportFile = "report.md"
)

// Render reads the store at dbPath and writes figures (PNG and SVG) under
// outDir/figures, tables (Markdown, ASCII, CSV) under outDir/tables and
// outDir/report.md. A store without data gives a report that says what is
// missing; only an unreadable store or an unwritable outDir is an error.
func Render(ctx context.Context, dbPath, outDir string, opts Options) error {
	if opts.Method == "" {
		opts.Method = defaultFig
	}
	r, err := Load(ctx, dbPath)
	if err != nil {
		return err
	}
	paper, err := LoadPaperReference()
	if err != nil {
		return err
	}
	for _, d := range []string{outDir, filepath.Join(outDir, figuresDir), filepath.Join(outDir, tablesDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	figs, err := buildFigures(r, opts.Method)
	if err != nil {
		return err
	}
	if len(r.Knowledge) > 0 {
		f, missing, err := figKnowledge(r.Knowledge)
		if err != nil {
			return fmt.Errorf("fig_knowledge: %w", err)
		}
		figs = append(figs, figureResult{name: "fig_knowledge", fig: f, missing: missing})
	}
	// A suite-5 study's knowledge analysis (default variant).
	def := r.Default()
	knowledgeStudy := len(knowledgeGainRows(def)) > 0
	if knowledgeStudy {
		f, missing, err := figKnowledgeGain(def, opts.Method)
		if err != nil {
			return fmt.Errorf("fig_knowledge_gain: %w", err)
		}
		figs = append(figs, figureResult{name: "fig_knowledge_gain", fig: f, missing: missing})
	}
	for _, f := range figs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.fig != nil {
			if err := f.fig.write(filepath.Join(outDir, figuresDir), f.name); err != nil {
				return err
			}
		}
	}
	tables := Tables(r, paper)
	if len(r.Knowledge) > 0 {
		tables = append(tables, knowledgeTable(r.Knowledge))
	}
	if knowledgeStudy {
		tables = append(tables, knowledgeGainTable(def), knowledgeTargetsTable(def), knowledgeGuardsTable(r))
	}
	for _, t := range tables {
		if err := t.write(filepath.Join(outDir, tablesDir)); err != nil {
			return err
		}
	}
	findings := Findings(def, opts.Method, paper)
	check := Selfcheck(def)
	md, err := markdown(r, dbPath, opts.Method, figs, tables, findings, paper, check)
	if err != nil {
		return err
	}
	path := filepath.Join(outDir, reportFile)
	if err := atomicfile.Write(path, []byte(md)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if opts.Terminal != nil {
		if err := terminal(opts.Terminal, r, tables[0], findings, check, path); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return nil
}

// maxEmbeddedRows is the longest table report.md embeds; longer tables are
// linked.
const maxEmbeddedRows = 80

func markdown(r *Results, dbPath, method string, figs []figureResult, tables []*Table,
	findings []Finding, paper *PaperReference, check SelfcheckResult) (string, error) {
	var b strings.Builder
	title := "mergescale report"
	if r.RunName != "" {
		title += ": " + r.RunName
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "Store: `%s`. Scores are test-split accuracy of the merges chosen on validation; "+
		"normalized held-in is merged ÷ expert over the merged experts' categories, normalized held-out is "+
		"merged ÷ the base's zero-shot score; both are means over categories, then over expert subsets, "+
		"with 95%% confidence intervals over subsets (Student t, n − 1 degrees of freedom). "+
		"Gain kept is Σ (merged − base) ÷ Σ (expert − base) of raw accuracy over the merged categories; gain kept (CE) is "+
		"Σ (base − merged) ÷ Σ (base − expert) of the option cross-entropy (option_ce: −log softmax over a task's options of "+
		"their log-likelihoods, at the gold option), n/a when the store has no option_ce scores. "+
		"Single-method figures and claims use %s.\n\n", dbPath, methodLabel(method))
	if len(r.TaskMetrics) > 0 {
		names := make([]string, len(r.TaskMetrics))
		for i, tm := range r.TaskMetrics {
			names[i] = fmt.Sprintf("%s (%s)", tm.Task, tm.Metric)
		}
		fmt.Fprintf(&b, "Each task is scored by its own metric wherever this report says accuracy: accuracy, except %s.\n\n",
			strings.Join(names, ", "))
	}
	if len(r.Axes) > 0 {
		var axes []string
		for _, a := range r.Axes {
			vals := make([]string, len(a.Values))
			for i, x := range a.Values {
				vals[i] = fmtValue(x)
			}
			axes = append(axes, fmt.Sprintf("`%s` ∈ {%s}", a.Key, strings.Join(vals, ", ")))
		}
		fmt.Fprintf(&b, "The study has %d zoo variants, every combination of %s. The findings, the self-check and the "+
			"figures other than fig_variants are for the default variant (%s); the tables list every variant, and "+
			"table_findings_variants and table_selfcheck_variants give the findings and the self-check of each.\n\n",
			len(r.Variants), strings.Join(axes, " and "), r.Variants[0].Label(r.Axes))
	}
	if len(r.Missing) > 0 {
		b.WriteString("## Missing from the store\n\n")
		for _, m := range r.Missing {
			fmt.Fprintf(&b, "- %s\n", m)
		}
		b.WriteString("\n")
	}
	for _, t := range tables {
		if t.Name == "table_selfcheck" {
			s, err := selfcheckMarkdown(check, t)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		}
	}
	fmt.Fprintf(&b, "## Findings\n\nEach sentence is computed from the store; the tests are defined in `report/findings.go`. "+
		"A claim is decided by a 95%% confidence interval, given as value [low, high], n: *supported* when it excludes 0 in the "+
		"paper's direction, *contradicted* when it excludes 0 in the other, *inconclusive* otherwise. Claims 1, 2, 3 and 5 compare "+
		"the chosen merges over the same expert subsets, the (k, subset) pairs of %s, which hold the same categories at every size "+
		"and base (paired-t intervals; a bootstrap over subsets for the slope against k); the means of cells are given as context.\n\n",
		pairedKsLabel())
	for i, f := range findings {
		fmt.Fprintf(&b, "%d. **%s** — %s", i+1, capital(f.Claim), f.Sentence)
		if f.Paper != "" {
			fmt.Fprintf(&b, " *Paper:* %s", f.Paper)
		}
		b.WriteString("\n")
	}
	for _, t := range tables {
		if t.Name == "table_knowledge_targets" {
			b.WriteString(knowledgeMarkdown)
		}
	}
	b.WriteString("\n## Figures\n\n")
	for _, f := range figs {
		if f.fig == nil {
			fmt.Fprintf(&b, "**%s** not drawn: %s.\n\n", f.name, f.missing)
			continue
		}
		fmt.Fprintf(&b, "![%s](%s/%s.png)\n\n[%s.svg](%s/%s.svg)\n\n", f.fig.title, figuresDir, f.name, f.name, figuresDir, f.name)
	}
	b.WriteString("## Tables\n\nEvery table is also under `tables/` as Markdown (.md), ASCII (.txt) and CSV (.csv).\n\n")
	if paper != nil {
		b.WriteString("The paper's numbers come from `report/paper_reference.yaml` (its appendix tables, with provenance); " +
			"our sizes are matched to the paper's 1B/8B/24B/64B by rank.\n\n")
	}
	for _, t := range tables {
		if t.Name == "table_selfcheck" {
			continue // in its own section above
		}
		fmt.Fprintf(&b, "### %s\n\n", t.Title)
		if len(t.Rows) == 0 {
			b.WriteString("No rows: the store has no data for this table.\n\n")
			continue
		}
		if len(t.Rows) > maxEmbeddedRows {
			fmt.Fprintf(&b, "%d rows; see [%s.md](%s/%s.md) or [%s.csv](%s/%s.csv).\n\n",
				len(t.Rows), t.Name, tablesDir, t.Name, t.Name, tablesDir, t.Name)
			continue
		}
		s, err := t.Markdown()
		if err != nil {
			return "", err
		}
		b.WriteString(s)
		b.WriteString("\n")
	}
	b.WriteString("## Configuration of the run\n\n")
	if r.ConfigText == "" {
		b.WriteString("The store records no run configuration.\n")
	} else {
		fmt.Fprintf(&b, "```yaml\n%s\n```\n", strings.TrimRight(r.ConfigText, "\n"))
	}
	return b.String(), nil
}

func terminal(w io.Writer, r *Results, main *Table, findings []Finding, check SelfcheckResult, path string) error {
	for _, m := range r.Missing {
		if _, err := fmt.Fprintf(w, "missing: %s\n", m); err != nil {
			return err
		}
	}
	if len(main.Rows) > 0 {
		s, err := main.ASCII()
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, s); err != nil {
			return err
		}
	}
	for i, f := range findings {
		if _, err := fmt.Fprintf(w, "%d. %s\n", i+1, f.Sentence); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "can this run answer the questions? %d of %d checks met (see report.md)\n", check.Met(), len(check.Checks)); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "report written to %s\n", path)
	return err
}
