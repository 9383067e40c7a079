package report

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mergescale/store"
)

// TestScalingLawReport renders the synthetic store and checks
// table_scaling_law's names (the tidy CSV's columns and param values), that
// a fit exists where the store supports one and says why where it does
// not, and that no NaN reaches any output.
func TestScalingLawReport(t *testing.T) {
	f := synthStore(t)
	out := t.TempDir()
	if err := Render(context.Background(), f.Path, out, Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, tablesDir, "table_scaling_law.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "base,method,metric,domain,param,value,ci_low,ci_high,n" {
		t.Fatalf("header %q", lines[0])
	}
	params := map[string]bool{}
	var fitted, gamma int
	for _, l := range lines[1:] {
		c := strings.Split(l, ",")
		if len(c) != 9 {
			t.Fatalf("row %q has %d fields", l, len(c))
		}
		if c[2] != store.OptionCE && c[2] != store.GoldNLL || c[3] != store.HeldIn && c[3] != store.HeldOut {
			t.Errorf("row %q: metric or domain outside the names", l)
		}
		params[c[4]] = true
		if c[5] != "" {
			fitted++
			if c[4] == "gamma" && c[6] != "" && c[7] != "" {
				gamma++
			}
		}
	}
	want := map[string]bool{}
	for _, p := range []string{"L_star", "B", "beta", "A0", "gamma", "b", "r2", "holdout_error", "k_saturation"} {
		want[p] = true
	}
	if !reflect.DeepEqual(params, want) {
		t.Errorf("params %v, want %v", params, want)
	}
	// The synthetic store has option_ce for three sizes; its experts are
	// scored on their own category only, so the held-out fits exist (8:
	// 2 bases × 4 methods) and the held-in ones do not.
	if gamma != 8 {
		t.Errorf("%d fits with a γ CI, want 8 (held-out option_ce)", gamma)
	}
	md, err := os.ReadFile(filepath.Join(out, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### " + lawTableTitle, "figures/fig_scaling_law.png", "Scaling law (table_scaling_law", "the store has no gold_nll scores"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	err = filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, ".png") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "NaN") || strings.Contains(string(b), "Inf") {
			t.Errorf("%s contains NaN or Inf", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScalingLawWithoutCE: a store without cross-entropy scores (every
// store written before them) gives n/a with the reason and no figure.
func TestScalingLawWithoutCE(t *testing.T) {
	f := newFixture(t, true)
	f.run("nope", "name: nope\n")
	f.model("base-pt-xs", "base", "xs", 1000, "pt", "")
	f.model("expert-pt-xs-c0", "expert", "xs", 1000, "pt", "c0")
	f.score("expert-pt-xs-c0", "c0_a", "c0", store.HeldIn, 0.9, 0.25)
	r, err := Load(context.Background(), f.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, lf := range r.Law {
		if lf.OK() || !strings.Contains(lf.Why, "the store has no "+lf.Metric+" scores") {
			t.Errorf("%+v: want n/a because the store has no %s", lf, lf.Metric)
		}
	}
	fig, why, err := figScalingLaw(r.Default(), defaultFig)
	if err != nil || fig != nil || why == "" {
		t.Errorf("figure %v, %q, %v: want not drawn with a reason", fig, why, err)
	}
	tab := lawTable(r)
	for _, row := range tab.CSVRows {
		if row[5] != "" || row[8] != "0" {
			t.Errorf("row %v: want an empty value and n = 0", row)
		}
	}
}
