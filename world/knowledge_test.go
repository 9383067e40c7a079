package world

import (
	"slices"
	"strings"
	"testing"
)

func TestKnowledgeWorld(t *testing.T) {
	for _, scatter := range []bool{false, true} {
		testKnowledgeWorld(t, scatter)
	}
}

func testKnowledgeWorld(t *testing.T, scatter bool) {
	w, err := NewKnowledge(1, KnowledgeParams{People: 100, ExposureRatio: 100, BioShare: 0.5, Scatter: scatter})
	if err != nil {
		t.Fatal(err)
	}
	// suite-4's vocabulary is untouched; suite-5 only adds words.
	v4, v5 := Vocabulary(), KnowledgeVocabulary()
	for _, x := range v4 {
		if !slices.Contains(v5, x) {
			t.Fatalf("suite-5 vocabulary lacks %q", x)
		}
	}
	for _, s := range knowledgeSurnames {
		if slices.Contains(v4, s) {
			t.Errorf("surname %q is already a suite-4 word", s)
		}
	}
	seen := map[string]bool{}
	for _, p := range append(slices.Clone(w.People), w.Novel...) {
		if seen[p.Name()] {
			t.Fatalf("name %q twice", p.Name())
		}
		seen[p.Name()] = true
	}
	const n = 4000
	exp := w.Exposures(n)
	sum := 0
	for _, e := range exp {
		sum += e
	}
	if want := n / 2; sum != want {
		t.Fatalf("exposures sum to %d, want %d", sum, want)
	}
	docs := w.Corpus(n, 7)
	if len(docs) != n {
		t.Fatalf("%d documents, want %d", len(docs), n)
	}
	if !slices.Equal(docs, w.Corpus(n, 7)) {
		t.Fatal("corpus is not deterministic")
	}
	// Every fact sentence appears exactly as often as its person's
	// exposures; novel names never appear.
	count := map[string]int{}
	tok := w.Tokenizer()
	for _, d := range docs {
		if len(strings.Fields(d)) > MaxDocTokens {
			t.Fatalf("document of %d words: %q", len(strings.Fields(d)), d)
		}
		if _, err := tok.EncodeStrict(d); err != nil {
			t.Fatal(err)
		}
		for _, s := range strings.Split(d, " . ") {
			count[strings.TrimSuffix(s, " .")]++
		}
		for _, p := range w.Novel[:20] {
			if strings.Contains(" "+d+" ", " "+p.Name()+" ") {
				t.Fatalf("novel name %q in the corpus", p.Name())
			}
		}
	}
	for _, f := range w.Facts()[:400] {
		if got := count[f.Context+" "+f.Value]; got != exp[f.Person] {
			t.Fatalf("fact %s stated %d times, exposures say %d", f.ID(w), got, exp[f.Person])
		}
	}
	if slices.Min(exp) < 1 || slices.Max(exp) < 50*slices.Min(exp) {
		t.Errorf("exposures span %d..%d", slices.Min(exp), slices.Max(exp))
	}
}
