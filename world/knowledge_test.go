package world

import (
	"crypto/sha256"
	"encoding/hex"
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

// TestKnowledgeCorpusPinned pins the generator of the corpora the two
// committed pilots trained on (600 people, exposure ratio 100, half
// biographies; biographies and scattered), on 3,000 documents (the pilots
// used 96,000): a change to the world that alters them changes what
// results/ablation/knowledge_pilot_* mean. The hashes were taken at
// 086f873, before the templates and the question form were added.
func TestKnowledgeCorpusPinned(t *testing.T) {
	for _, c := range []struct {
		scatter bool
		sha     string
	}{
		{false, "17c1cdd2654f69fcf73f60a5927e469db36768a6ef4f3a0b8bea2d3a660c48ed"},
		{true, "9baa8a02cdb35b69bc3a881b1810757774b187db7860fcc6827a5bb793faffe6"},
	} {
		w, err := NewKnowledge(1, KnowledgeParams{People: 600, ExposureRatio: 100, BioShare: 0.5, Scatter: c.scatter})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(strings.Join(w.Corpus(3000, 1), "\n")))
		if got := hex.EncodeToString(h[:]); got != c.sha {
			t.Errorf("scatter=%v: corpus SHA-256 %s, want %s", c.scatter, got, c.sha)
		}
	}
}

// TestKnowledgeTemplatesAndQuestions checks the third pilot's corpus: every
// fact is stated exactly Exposures times over its templates and the
// question form, every template is used, and no question is about a
// closed-book test or validation person.
func TestKnowledgeTemplatesAndQuestions(t *testing.T) {
	w, err := NewKnowledge(3, KnowledgeParams{People: 80, ExposureRatio: 20, BioShare: 0.5, Scatter: true, Templates: 3, QAShare: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	exp := w.Exposures(n)
	docs := w.Corpus(n, 5)
	tok := w.Tokenizer()
	count := map[string]int{}
	forms := map[string]int{}
	for _, d := range docs {
		if len(strings.Fields(d)) > MaxDocTokens {
			t.Fatalf("document of %d words: %q", len(strings.Fields(d)), d)
		}
		if _, err := tok.EncodeStrict(d); err != nil {
			t.Fatal(err)
		}
		for _, s := range strings.SplitAfter(d, " .") {
			count[strings.TrimSpace(s)]++
		}
	}
	for _, f := range w.Facts() {
		p := w.People[f.Person]
		at := KnowledgeAttributes()[f.Attribute]
		stated := map[string]string{
			"cloze":    f.Context + " " + f.Value + " .",
			"of":       "the " + at.Name + " of " + p.Name() + " is " + f.Value + " .",
			"has":      p.Name() + " has the " + at.Name + " " + f.Value + " .",
			"question": "what is the " + at.Name + " of " + p.Name() + " ? " + f.Value + " .",
		}
		got := 0
		for form, s := range stated {
			got += count[s]
			forms[form] += count[s]
			if form == "question" && count[s] > 0 && ClosedBookGroup(f.Person) != Train {
				t.Fatalf("question about %s, a closed-book %v person", f.ID(w), ClosedBookGroup(f.Person))
			}
		}
		if got != exp[f.Person] {
			t.Fatalf("fact %s stated %d times, exposures say %d", f.ID(w), got, exp[f.Person])
		}
	}
	for _, form := range []string{"cloze", "of", "has", "question"} {
		if forms[form] == 0 {
			t.Errorf("no statement in form %q", form)
		}
	}
	if _, err := NewKnowledge(1, KnowledgeParams{People: 10, ExposureRatio: 1, BioShare: 0.5, Templates: 4}); err == nil {
		t.Error("templates 4 accepted")
	}
	if _, err := NewKnowledge(1, KnowledgeParams{People: 10, ExposureRatio: 1, BioShare: 0.5, QAShare: 1.5}); err == nil {
		t.Error("question share 1.5 accepted")
	}
}
