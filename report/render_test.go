package report

import (
	"bytes"
	"context"
	"mergescale/store"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderFull(t *testing.T) {
	f := synthStore(t)
	out := t.TempDir()
	var term bytes.Buffer
	if err := Render(context.Background(), f.Path, out, Options{Terminal: &term}); err != nil {
		t.Fatal(err)
	}
	md := readFile(t, filepath.Join(out, reportFile))
	for _, name := range FigureNames {
		if name == "fig_variants" {
			if !strings.Contains(md, "**fig_variants** not drawn: the study lists no zoo key") {
				t.Error("report.md does not say why fig_variants is not drawn")
			}
			continue
		}
		for _, ext := range []string{".png", ".svg"} {
			if _, err := os.Stat(filepath.Join(out, figuresDir, name+ext)); err != nil {
				t.Errorf("figure file: %v", err)
			}
		}
		if !strings.Contains(md, "("+figuresDir+"/"+name+".png)") {
			t.Errorf("report.md does not embed %s with a relative link", name)
		}
	}
	for _, tbl := range []string{"table_merged", "table_baselines", "table_hparams", "table_tasks", "table_paper", "table_selfcheck"} {
		for _, ext := range []string{".md", ".txt", ".csv"} {
			if _, err := os.Stat(filepath.Join(out, tablesDir, tbl+ext)); err != nil {
				t.Errorf("table file: %v", err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, tablesDir, "table_findings_variants.csv")); err == nil {
		t.Error("table_findings_variants written for a study without variants")
	}
	for _, want := range []string{"## Findings", "sizes: [xs, s, m]", "| it", "Missing from the store",
		"## Can this run answer the questions?", "n/a (no IT task arithmetic cell with k = 8 at size m)"} {
		if got := strings.Contains(md, want); got != (want != "Missing from the store") {
			t.Errorf("report.md contains %q = %v", want, got)
		}
	}
	// The synthetic study is built so that every claim holds.
	if n := strings.Count(md, "** — Supported:"); n != 5 {
		t.Errorf("%d of 5 claims supported on the synthetic store, want 5:\n%s", n, md)
	}
	if !strings.Contains(term.String(), "report written to") {
		t.Errorf("terminal output: %q", term.String())
	}
}

func TestRenderEmptyAndPartial(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) *fixture
		want  []string
	}{
		{"no tables", func(t *testing.T) *fixture { return newFixture(t, false) },
			[]string{"the store has no models table", "the store has no merges table", "fig_base_quality** not drawn",
				"Not testable", "records no run configuration"}},
		{"empty schema", func(t *testing.T) *fixture { return newFixture(t, true) },
			[]string{"the store has no models", "no chosen merges with test scores", "no run is recorded", "Not testable"}},
		{"models but no merges", func(t *testing.T) *fixture {
			f := newFixture(t, true)
			f.run("partial", "out: results/partial\n")
			f.model("b", "base", "xs", 100, "it", "")
			f.score("b", "x1", "X", store.HeldOut, 0.4, 0.25)
			return f
		}, []string{"no chosen merges with test scores", "fig_heldout_vs_k** not drawn", "out: results/partial", "| it"}},
		{"merges without the chosen method", func(t *testing.T) *fixture {
			f := newFixture(t, true)
			f.model("m", "merged", "xs", 100, "it", "")
			f.merge(mergeSpec{id: "m", size: "xs", base: "it", method: "ties", k: 2, cats: []string{"A"}, chosen: true})
			f.score("m", "a1", "A", store.HeldIn, 0.5, 0.25)
			return f
		}, []string{"fig_base_quality** not drawn: no chosen test merges of method task_arithmetic",
			"no it expert for category A at size xs", "no it multitask model at size xs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.build(t)
			out := filepath.Join(t.TempDir(), "report")
			if err := Render(context.Background(), f.Path, out, Options{}); err != nil {
				t.Fatalf("Render failed instead of reporting what is missing: %v", err)
			}
			md := readFile(t, filepath.Join(out, reportFile))
			for _, w := range tt.want {
				if !strings.Contains(md, w) {
					t.Errorf("report.md does not contain %q:\n%s", w, md)
				}
			}
		})
	}
}

func TestRenderMissingFile(t *testing.T) {
	err := Render(context.Background(), filepath.Join(t.TempDir(), "nope.db"), t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "nope.db") {
		t.Fatalf("got %v, want an error naming the missing store", err)
	}
}
