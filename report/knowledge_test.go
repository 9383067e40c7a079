package report

import (
	"strings"
	"testing"

	"mergescale/store"
)

func TestExposureBin(t *testing.T) {
	for _, c := range []struct{ e, lo, hi int }{{0, 0, 0}, {1, 1, 1}, {2, 2, 3}, {3, 2, 3}, {4, 4, 7}, {7, 4, 7}, {8, 8, 15}, {300, 256, 511}} {
		if lo, hi := exposureBin(c.e); lo != c.lo || hi != c.hi {
			t.Errorf("exposureBin(%d) = %d-%d, want %d-%d", c.e, lo, hi, c.lo, c.hi)
		}
	}
}

// TestKnowledgeTable: tidy rows per size (ascending parameters) and bin, a
// fact known when p(value) > 0.5, value_ce the mean −log p.
func TestKnowledgeTable(t *testing.T) {
	p := func(size string, params int64, exp int, lp float64) store.KnowledgeProbe {
		return store.KnowledgeProbe{ModelID: size, Size: size, Params: params, WorldVersion: "suite-5", Fact: "f", Exposures: exp, LogProb: lp}
	}
	ps := []store.KnowledgeProbe{
		p("l", 900, 5, -0.1), p("l", 900, 6, -1), p("l", 900, 40, -0.5),
		p("xs", 20, 5, -2), p("xs", 20, 40, -0.69),
	}
	got, err := knowledgeTable(ps).CSV()
	if err != nil {
		t.Fatal(err)
	}
	want := "size,exposure_bin,facts,fraction_known,value_ce\n" +
		"xs,4-7,1,0,2\n" +
		"xs,32-63,1,1,0.69\n" +
		"l,4-7,2,0.5,0.55\n" +
		"l,32-63,1,1,0.5\n"
	if got != want {
		t.Errorf("table_knowledge.csv =\n%s\nwant\n%s", got, want)
	}
	f, missing, err := figKnowledge(ps)
	if err != nil || f == nil || missing != "" {
		t.Fatalf("figKnowledge: %v, %q", err, missing)
	}
	if _, err := f.svg(); err != nil {
		t.Fatal(err)
	}
	if _, missing, _ := figKnowledge(nil); !strings.Contains(missing, "no knowledge") {
		t.Errorf("figKnowledge(nil) missing = %q", missing)
	}
}

// A short corpus gives one exposure bin (or none): fig_knowledge is drawn
// on a positive log axis, or says why it is not, and never panics.
func TestFigKnowledgeShortCorpus(t *testing.T) {
	p := func(size string, exp int) store.KnowledgeProbe {
		return store.KnowledgeProbe{ModelID: size, Size: size, Params: 10, WorldVersion: "suite-5", Fact: "f", Exposures: exp, LogProb: -3}
	}
	f, missing, err := figKnowledge([]store.KnowledgeProbe{p("xs", 1), p("s", 1), p("s", 0)})
	if err != nil || f == nil {
		t.Fatalf("one bin: figure %v, missing %q, err %v", f != nil, missing, err)
	}
	if err := f.write(t.TempDir(), "fig_knowledge"); err != nil {
		t.Fatal(err)
	}
	if f, missing, _ := figKnowledge([]store.KnowledgeProbe{p("xs", 0)}); f != nil || !strings.Contains(missing, "0 exposures") {
		t.Errorf("no exposed fact: figure %v, missing %q", f != nil, missing)
	}
}
