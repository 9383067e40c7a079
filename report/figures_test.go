package report

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestFiguresGolden(t *testing.T) {
	f := synthStore(t)
	r, err := Load(context.Background(), f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Missing) != 0 {
		t.Fatalf("synthetic store should be complete, missing: %v", r.Missing)
	}
	figs, err := buildFigures(r, defaultFig)
	if err != nil {
		t.Fatal(err)
	}
	again, err := buildFigures(r, defaultFig)
	if err != nil {
		t.Fatal(err)
	}
	for i, fr := range figs {
		if fr.name == "fig_variants" {
			// The synthetic study has no variants; TestFigVariantsGolden
			// draws this figure from a study that has.
			if fr.fig != nil {
				t.Errorf("fig_variants drawn for a study without variants")
			}
			continue
		}
		t.Run(fr.name, func(t *testing.T) {
			if fr.fig == nil {
				t.Fatalf("not drawn: %s", fr.missing)
			}
			got, err := fr.fig.svg()
			if err != nil {
				t.Fatal(err)
			}
			second, err := again[i].fig.svg()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, second) {
				t.Fatal("two renders of the same figure differ")
			}
			path := filepath.Join("testdata", fr.name+".svg")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./report -run Golden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; inspect and rerun with -update", path)
			}
		})
	}
}
