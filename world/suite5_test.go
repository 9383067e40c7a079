package world

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// The suite-5 suite keeps the paper's shape: 8 held-in categories × 2
// tasks, at least 5 of them with one knowledge and one in-context task, 4
// held-out categories with at least 7 tasks; every prompt fits and encodes.
func TestKnowledgeSuiteShape(t *testing.T) {
	s, err := NewKnowledgeSuite(1, Sizes{Train: 200, Validation: 32, Test: 64})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Version != VersionKnowledge || s.Knowledge == nil || s.Corpus() != CorpusSource(s.Knowledge) {
		t.Fatalf("suite version %q, knowledge world %v", s.Version, s.Knowledge != nil)
	}
	cats := s.Categories(HeldIn)
	if len(cats) != 8 || len(s.TasksOf(HeldIn)) != 16 {
		t.Fatalf("%d held-in tasks in %d categories", len(s.TasksOf(HeldIn)), len(cats))
	}
	pairs := 0
	for _, c := range cats {
		kinds := map[bool]int{}
		for _, tk := range s.CategoryTasks(c) {
			kinds[tk.Knowledge]++
		}
		if len(s.CategoryTasks(c)) != 2 {
			t.Errorf("category %s has %d tasks", c, len(s.CategoryTasks(c)))
		}
		if kinds[true] == 1 && kinds[false] == 1 {
			pairs++
		}
	}
	if pairs < 5 {
		t.Errorf("%d held-in categories with one knowledge and one in-context task, want ≥ 5", pairs)
	}
	if len(s.Categories(HeldOut)) != 4 || len(s.TasksOf(HeldOut)) < 7 {
		t.Errorf("%d held-out tasks in %d categories", len(s.TasksOf(HeldOut)), len(s.Categories(HeldOut)))
	}
}

// A knowledge instance names one fact of a person of its split's
// closed-book group, and its answer is that fact's value (or yes / no); no other
// instance names a fact. In-context tasks and the instruction mixture never
// name a test or validation person of the knowledge base, and in-context
// tasks name no person of the knowledge base at all.
func TestKnowledgeSuiteFactsAndPools(t *testing.T) {
	s, err := NewKnowledgeSuite(1, Sizes{Train: 300, Validation: 32, Test: 64})
	if err != nil {
		t.Fatal(err)
	}
	k := s.Knowledge
	facts := map[string]Fact{}
	for _, f := range k.Facts() {
		facts[f.ID(k)] = f
	}
	kb := map[string]int{} // name → person
	for i, p := range k.People {
		kb[p.Name()] = i
	}
	for _, tk := range s.Tasks {
		for _, sp := range []Split{Train, Validation, Test} {
			for i, in := range tk.Split(sp) {
				where := tk.Name + " " + string(sp)
				if !tk.Knowledge {
					if in.Fact != "" {
						t.Fatalf("%s[%d]: an in-context instance names fact %s", where, i, in.Fact)
					}
					w := strings.Fields(in.Prompt + " " + strings.Join(in.Options, " "))
					for j := 0; j+1 < len(w); j++ {
						p, ok := kb[w[j]+" "+w[j+1]]
						if ok && (tk.Heldness != Mixture || ClosedBookGroup(p) != Train) {
							t.Fatalf("%s[%d] names %s of the knowledge base: %q", where, i, w[j]+" "+w[j+1], in.Prompt)
						}
					}
					continue
				}
				f, ok := facts[in.Fact]
				if !ok {
					t.Fatalf("%s[%d]: unknown fact %q", where, i, in.Fact)
				}
				if g := ClosedBookGroup(f.Person); g != sp {
					t.Fatalf("%s[%d]: fact %s of a %s person", where, i, in.Fact, g)
				}
				yesNo := in.Target == "yes" || in.Target == "no"
				if (!yesNo && !strings.Contains(in.Target, f.Value)) || !strings.Contains(in.Prompt, k.People[f.Person].Name()) {
					t.Fatalf("%s[%d]: fact %s (%s), prompt %q, target %q", where, i, in.Fact, f.Value, in.Prompt, in.Target)
				}
			}
		}
	}
}

// NewSuiteVersion knows every version and refuses others.
func TestNewSuiteVersion(t *testing.T) {
	for _, v := range Versions() {
		s, err := NewSuiteVersion(v, 1, Sizes{Train: 10, Validation: 4, Test: 4})
		if err != nil || s.Version != v {
			t.Errorf("%s: version %q, err %v", v, s.Version, err)
		}
	}
	if _, err := NewSuiteVersion("suite-9", 1, DefaultSizes()); err == nil || !strings.Contains(err.Error(), "suite-9") {
		t.Errorf("unknown version: err = %v", err)
	}
}

// The suite-5 suite is pinned: the committed study
// (results/ablation/knowledge) was scored on these tasks, and its job keys
// carry the version, not the tasks' content. A change to what suite-5
// generates (corpus, tasks, splits) must come with a new version.
func TestKnowledgeSuitePinned(t *testing.T) {
	s, err := NewKnowledgeSuite(1, Sizes{Train: 200, Validation: 16, Test: 32})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, tk := range s.Tasks {
		for _, sp := range []Split{Train, Validation, Test} {
			for _, in := range tk.Split(sp) {
				fmt.Fprintf(h, "%s|%s|%s|%s|%d|%s\n", tk.Name, sp, in.Prompt, strings.Join(in.Options, "|"), in.Answer, in.Fact)
			}
		}
	}
	for _, d := range s.Corpus().Corpus(500, 1) {
		fmt.Fprintln(h, d)
	}
	const want = "aa8191c86e65e3c0edc7d121bca76bb837ad16a8d01592f0710dd87c516079b3" // the suite the study of 7fd4339 ran on
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("suite-5 SHA-256 %s, want %s: what suite-5 generates changed; give the change a new world version", got, want)
	}
}
