package world

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"mergescale/tokenizer"
)

// The suite-5 candidate world (VersionKnowledge): a knowledge base large
// enough that no preset saturates it. People have two-token names (one of
// the 48 first names and one of 64 surnames); each has 8 attributes of 16
// values; the pretraining corpus states a person's facts in biographies
// (every fact once, full name in every sentence, sentences in a random
// order) whose number per person is spread log-uniformly, so some facts
// are seen a few times and others a few hundred. The rest of the corpus
// teaches the suite's other skills without stating any fact. Pairs of names
// the knowledge base does not use are never mentioned in pretraining
// (NovelNames): in-context tasks run on them, so a context never
// contradicts memory.

// KnowledgeAttribute is one attribute of the knowledge base: its name, its
// 16 values, and the words of the sentence that states it ("<name> <Cloze>
// <value> .", the sentence the probe completes).
type KnowledgeAttribute struct {
	Name   string
	Values []string
	Cloze  string
}

var (
	knowledgeSurnames = []string{
		"holm", "berg", "dahl", "lund", "vik", "strand", "moss", "hale",
		"quist", "lind", "wood", "marsh", "brook", "stone", "hill", "ford",
		"reed", "lake", "grove", "heath", "ash", "oak", "thorn", "vale",
		"crane", "finch", "wren", "lark", "swan", "drake", "fox", "wolf",
		"falk", "smith", "carter", "mason", "fisher", "hunter", "porter", "weaver",
		"novak", "kova", "petrov", "ivanov", "rossi", "russo", "costa", "silva",
		"santos", "lopez", "garcia", "moreno", "dubois", "laurent", "muller", "schulz",
		"meyer", "wagner", "jensen", "larsen", "nilsen", "olsen", "tanaka", "sato",
	}
	knowledgeAttributes = []KnowledgeAttribute{
		{Name: "city", Cloze: "lives in", Values: []string{"oslo", "paris", "rome", "lima", "cairo", "delhi", "tokyo", "quito",
			"berlin", "madrid", "london", "dublin", "vienna", "prague", "athens", "seoul"}},
		{Name: "job", Cloze: "works as a", Values: []string{"baker", "nurse", "pilot", "farmer", "teacher", "doctor", "painter", "driver",
			"tailor", "miner", "judge", "clerk", "barber", "chemist", "plumber", "poet"}},
		{Name: "pet", Cloze: "owns a", Values: []string{"cat", "dog", "bird", "horse", "rabbit", "goat", "mouse", "snake",
			"hamster", "parrot", "turtle", "frog", "lizard", "pony", "ferret", "spider"}},
		{Name: "colour", Cloze: "likes the colour", Values: []string{"red", "blue", "green", "yellow", "black", "white", "pink", "brown",
			"orange", "purple", "grey", "gold", "silver", "beige", "navy", "olive"}},
		{Name: "game", Cloze: "is good at", Values: []string{"tennis", "golf", "hockey", "rugby", "boxing", "skiing", "rowing", "judo",
			"cycling", "swimming", "surfing", "karate", "polo", "darts", "archery", "fencing"}},
		{Name: "drink", Cloze: "drinks", Values: []string{"tea", "coffee", "milk", "juice", "water", "wine", "beer", "cocoa",
			"lemonade", "cider", "soda", "kvass", "mead", "sake", "rum", "gin"}},
		{Name: "instrument", Cloze: "plays the", Values: []string{"flute", "harp", "cello", "trumpet", "banjo", "oboe", "tuba", "lute",
			"organ", "bagpipe", "clarinet", "horn", "sitar", "ukulele", "accordion", "harmonica"}},
		{Name: "fruit", Cloze: "eats", Values: []string{"pear", "plum", "cherry", "mango", "peach", "lemon", "lime", "melon",
			"grape", "kiwi", "fig", "papaya", "guava", "apricot", "banana", "coconut"}},
	}
)

// KnowledgeAttributes returns the attributes of the suite-5 knowledge base
// (a copy).
func KnowledgeAttributes() []KnowledgeAttribute {
	out := make([]KnowledgeAttribute, len(knowledgeAttributes))
	for i, a := range knowledgeAttributes {
		out[i] = KnowledgeAttribute{Name: a.Name, Cloze: a.Cloze, Values: slices.Clone(a.Values)}
	}
	return out
}

// KnowledgeParams are the knobs of the suite-5 world.
type KnowledgeParams struct {
	// People is the number of people in the knowledge base (at most
	// 48 × 64 minus the novel names kept back).
	People int
	// ExposureRatio is the ratio of the most to the least exposed person's
	// share of the biographies (log-uniform in between).
	ExposureRatio float64
	// BioShare is the fraction of corpus documents that are biographies
	// (with Scatter: the number of biographies' worth of fact sentences,
	// as a fraction of the documents).
	BioShare float64
	// Scatter, when set, states the facts one sentence at a time,
	// scattered over all documents among other people's facts and the
	// skill sentences, instead of one person's biography per document; a
	// fact is still stated Exposures(n) times.
	Scatter bool
	// Templates is the number of sentence templates a fact is stated in
	// (1 to KnowledgeTemplates; 0 means 1): template 0 is the cloze
	// sentence the probe completes ("<name> <cloze> <value> ."), the others
	// name the attribute ("the <attribute> of <name> is <value> .", "<name>
	// has the <attribute> <value> ."); each statement draws one uniformly.
	Templates int
	// QAShare is the fraction of the closed-book train people's fact
	// statements made in question form ("what is the <attribute> of <name>
	// ? <value> ."), the "mixed training" of Allen-Zhu & Li (Physics of
	// Language Models 3.1): the corpus shows how facts are asked for, but
	// never about a closed-book test or validation person (0: none).
	QAShare float64
}

// KnowledgeTemplates is the number of statement templates of the suite-5
// world (KnowledgeParams.Templates).
const KnowledgeTemplates = 3

// DefaultKnowledgeParams are the parameters suite-5 uses unless a study
// overrides them.
var DefaultKnowledgeParams = KnowledgeParams{People: 1000, ExposureRatio: 100, BioShare: 0.5}

// novelNames is the number of name pairs kept back from the knowledge base
// for in-context tasks (never mentioned in pretraining).
const novelNames = 256

// Person is one person of the knowledge base.
type Person struct {
	First, Surname string
	Female         bool
	Values         []int // per attribute, the index of the value
}

// Name is the person's two-token name.
func (p Person) Name() string { return p.First + " " + p.Surname }

// Pronoun returns "she" or "he".
func (p Person) Pronoun() string {
	if p.Female {
		return "she"
	}
	return "he"
}

// KnowledgeWorld is the suite-5 world: a seeded knowledge base and its
// corpus. Immutable after NewKnowledge; safe for concurrent use.
type KnowledgeWorld struct {
	Seed   uint64
	Params KnowledgeParams
	People []Person
	Novel  []Person // names never mentioned in pretraining (attributes dealt too, for in-context tasks)
	weight []float64
	tok    *tokenizer.Tokenizer
}

// NewKnowledge builds the suite-5 world of a seed.
func NewKnowledge(seed uint64, p KnowledgeParams) (*KnowledgeWorld, error) {
	total := len(femaleNames) + len(maleNames)
	total *= len(knowledgeSurnames)
	switch {
	case p.People < 1 || p.People > total-novelNames:
		return nil, fmt.Errorf("world %s: people %d must be in [1, %d]", VersionKnowledge, p.People, total-novelNames)
	case p.ExposureRatio < 1:
		return nil, fmt.Errorf("world %s: exposure ratio %g must be at least 1", VersionKnowledge, p.ExposureRatio)
	case p.BioShare <= 0 || p.BioShare > 1:
		return nil, fmt.Errorf("world %s: biography share %g must be in (0, 1]", VersionKnowledge, p.BioShare)
	case p.Templates < 0 || p.Templates > KnowledgeTemplates:
		return nil, fmt.Errorf("world %s: templates %d must be in [1, %d]", VersionKnowledge, p.Templates, KnowledgeTemplates)
	case p.QAShare < 0 || p.QAShare > 1:
		return nil, fmt.Errorf("world %s: question share %g must be in [0, 1]", VersionKnowledge, p.QAShare)
	}
	r := rand.New(rand.NewPCG(seed, 0x6b6e6f776c656467)) // "knowledg"
	firsts := make([]string, 0, len(femaleNames)+len(maleNames))
	firsts = append(firsts, femaleNames...)
	firsts = append(firsts, maleNames...)
	order := r.Perm(total)
	mk := func(i int) Person {
		f := firsts[i/len(knowledgeSurnames)]
		p := Person{First: f, Surname: knowledgeSurnames[i%len(knowledgeSurnames)], Female: slices.Contains(femaleNames, f)}
		p.Values = make([]int, len(knowledgeAttributes))
		for a := range knowledgeAttributes {
			p.Values[a] = r.IntN(len(knowledgeAttributes[a].Values))
		}
		return p
	}
	w := &KnowledgeWorld{Seed: seed, Params: p}
	for _, i := range order[:p.People] {
		w.People = append(w.People, mk(i))
	}
	for _, i := range order[p.People : p.People+novelNames] {
		w.Novel = append(w.Novel, mk(i))
	}
	// Stratified log-uniform weights: person k's share is R^u with u
	// evenly spaced over [0, 1], in a random order.
	w.weight = make([]float64, p.People)
	for k, i := range r.Perm(p.People) {
		u := (float64(k) + 0.5) / float64(p.People)
		w.weight[i] = math.Pow(p.ExposureRatio, u)
	}
	tok, err := tokenizer.New(KnowledgeVocabulary())
	if err != nil {
		return nil, fmt.Errorf("world %s: vocabulary: %w", VersionKnowledge, err)
	}
	w.tok = tok
	return w, nil
}

// KnowledgeVocabulary returns every word of the suite-5 world (specials
// excluded), sorted and without duplicates: the suite-4 vocabulary plus
// surnames, attribute names and values, and the biography templates' words.
func KnowledgeVocabulary() []string {
	set := map[string]bool{}
	for _, w := range Vocabulary() {
		set[w] = true
	}
	for _, w := range knowledgeSurnames {
		set[w] = true
	}
	for _, w := range strings.Fields(knowledgeTemplateWords) {
		set[w] = true
	}
	for _, a := range knowledgeAttributes {
		set[a.Name] = true
		for _, w := range strings.Fields(a.Cloze) {
			set[w] = true
		}
		for _, v := range a.Values {
			set[v] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Tokenizer returns the world's tokenizer.
func (w *KnowledgeWorld) Tokenizer() *tokenizer.Tokenizer { return w.tok }

// Exposures returns, per person, the number of biographies in a corpus of
// n documents (Corpus(n, ·) for any seed): round(BioShare·n) biographies
// dealt by the people's weights, largest remainders first. Every fact of a
// person is stated once per biography, so this is each fact's exposure
// count.
func (w *KnowledgeWorld) Exposures(n int) []int {
	b := int(math.Round(w.Params.BioShare * float64(n)))
	var sum float64
	for _, x := range w.weight {
		sum += x
	}
	out := make([]int, len(w.weight))
	rem := make([]float64, len(w.weight))
	used := 0
	for i, x := range w.weight {
		q := float64(b) * x / sum
		out[i] = int(q)
		rem[i] = q - float64(out[i])
		used += out[i]
	}
	idx := make([]int, len(rem))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, c int) bool { return rem[idx[a]] > rem[idx[c]] })
	for k := 0; used < b; k++ {
		out[idx[k%len(idx)]]++
		used++
	}
	return out
}

// knowledgeTemplateWords are the words the statement templates and the
// question form add around a name, an attribute and a value.
const knowledgeTemplateWords = "the of is has what ?"

// questionOf is the question form of person p's attribute a, without its
// answer: "what is the <attribute> of <name> ?".
func questionOf(p Person, a int) string {
	return "what is the " + knowledgeAttributes[a].Name + " of " + p.Name() + " ?"
}

// Question returns the question form of fact f as the corpus asks it about
// closed-book train people ("what is the <attribute> of <name> ?"), the
// context a probe of question answering completes with f.Value.
func (w *KnowledgeWorld) Question(f Fact) string { return questionOf(w.People[f.Person], f.Attribute) }

// statement returns one statement of person i's fact a: the cloze sentence,
// another template, or (for a closed-book train person, with probability
// QAShare) the question form. With one template and no questions it draws
// nothing from r, so such a corpus is the one earlier pilots trained on.
func (w *KnowledgeWorld) statement(r *rand.Rand, i, a int) string {
	p := w.People[i]
	at := knowledgeAttributes[a]
	v := at.Values[p.Values[a]]
	if w.Params.QAShare > 0 && ClosedBookGroup(i) == Train && r.Float64() < w.Params.QAShare {
		return questionOf(p, a) + " " + v + " ."
	}
	t := 0
	if w.Params.Templates > 1 {
		t = r.IntN(w.Params.Templates)
	}
	return factTemplate(p, a, v, t)
}

// factTemplate states person p's attribute a with value v in template t
// (0: the cloze sentence "<name> <cloze> <v> ."; 1: "the <attribute> of
// <name> is <v> ."; 2: "<name> has the <attribute> <v> .").
func factTemplate(p Person, a int, v string, t int) string {
	at := knowledgeAttributes[a]
	switch t {
	case 1:
		return "the " + at.Name + " of " + p.Name() + " is " + v + " ."
	case 2:
		return p.Name() + " has the " + at.Name + " " + v + " ."
	}
	return p.Name() + " " + at.Cloze + " " + v + " ."
}

// Biography returns one biography of person i: every fact once, the full
// name in every sentence, the sentences in an order drawn from r.
func (w *KnowledgeWorld) Biography(r *rand.Rand, i int) string {
	var b strings.Builder
	for k, a := range r.Perm(len(knowledgeAttributes)) {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w.statement(r, i, a))
	}
	return b.String()
}

// Corpus returns n pretraining documents: Exposures(n)[i] biographies of
// person i and, for the rest, documents of the suite's other skills that
// name people but state none of their facts. The documents are shuffled.
// The same (world, n, seed) gives the same documents.
func (w *KnowledgeWorld) Corpus(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(w.Seed^0x5bd1e995, seed^0x6b62))
	if w.Params.Scatter {
		return w.scatteredCorpus(r, n)
	}
	docs := make([]string, 0, n)
	for i, e := range w.Exposures(n) {
		for range e {
			docs = append(docs, w.Biography(r, i))
		}
	}
	for len(docs) < n {
		var words []string
		for {
			s := strings.Fields(w.skillSentence(r))
			if len(words)+len(s) > MaxDocTokens {
				break
			}
			words = append(words, s...)
		}
		docs = append(docs, strings.Join(words, " "))
	}
	r.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	return docs
}

// scatteredCorpus states every fact of person i Exposures(n)[i] times, one
// sentence at a time: the fact sentences are shuffled and dealt evenly over
// the n documents (document d gets F·(d+1)/n − F·d/n of the F sentences),
// each document is filled up with skill sentences to at most MaxDocTokens
// words, and its sentences are shuffled.
func (w *KnowledgeWorld) scatteredCorpus(r *rand.Rand, n int) []string {
	var facts []string
	for i, e := range w.Exposures(n) {
		for range e {
			for a := range knowledgeAttributes {
				facts = append(facts, w.statement(r, i, a))
			}
		}
	}
	r.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
	docs := make([]string, 0, n)
	for d := range n {
		lo, hi := len(facts)*d/n, len(facts)*(d+1)/n
		sents := append([]string(nil), facts[lo:hi]...)
		words := 0
		for _, s := range sents {
			words += len(strings.Fields(s))
		}
		for {
			s := w.skillSentence(r)
			k := len(strings.Fields(s))
			if words+k > MaxDocTokens {
				break
			}
			sents = append(sents, s)
			words += k
		}
		r.Shuffle(len(sents), func(i, j int) { sents[i], sents[j] = sents[j], sents[i] })
		docs = append(docs, strings.Join(sents, " "))
	}
	return docs
}

// skillSentence draws one sentence of the corpus's non-fact part: gender,
// word classes, topics, sentiment with negation, synonyms and antonyms,
// polysemous words, and stories whose pronouns refer back to a person.
func (w *KnowledgeWorld) skillSentence(r *rand.Rand) string {
	e := pick(r, w.People)
	switch k := r.IntN(13); {
	case k < 2: // a story whose pronouns refer back to the person
		o := pick(r, w.People)
		return e.Name() + " met " + o.Name() + " . " + e.Pronoun() + " was " + pick(r, descriptors)[r.IntN(4)] + " ."
	case k < 3: // gender
		if e.Female {
			return e.Name() + " is a woman ."
		}
		return e.Name() + " is a man ."
	case k < 4: // word classes
		a := pick(r, knowledgeAttributes)
		return pick(r, a.Values) + " is a " + a.Name + " ."
	case k < 7: // topics
		return topicSentence(r, e.Name())
	case k < 9: // sentiment, with negation
		return sentimentSentence(r, e.Name(), e.Pronoun())
	case k < 11: // synonyms and antonyms
		return synonymSentence(r, e.Name())
	default: // polysemous words in context
		return polysemeSentence(r)
	}
}

// Fact is one fact of the knowledge base with its cloze: Context is the
// words before the value in the biography sentence that states it.
type Fact struct {
	Person    int // index into People
	Attribute int // index into KnowledgeAttributes()
	Context   string
	Value     string
}

// ID names a fact as "<first>_<surname>/<attribute>".
func (f Fact) ID(w *KnowledgeWorld) string {
	p := w.People[f.Person]
	return p.First + "_" + p.Surname + "/" + knowledgeAttributes[f.Attribute].Name
}

// Facts returns every fact, person after person, attributes in order.
func (w *KnowledgeWorld) Facts() []Fact {
	out := make([]Fact, 0, len(w.People)*len(knowledgeAttributes))
	for i := range w.People {
		for a := range knowledgeAttributes {
			out = append(out, w.FactOf(i, a))
		}
	}
	return out
}

// ClosedBookGroup splits the knowledge base's people for closed-book tasks,
// as suite-4 splits its people: person i is a test person when i%4 == 0, a
// validation person when i%4 == 1, a train person otherwise. A closed-book
// test question is about a person no fine-tuning example mentions, so it
// can only be answered from pretraining.
func ClosedBookGroup(i int) Split {
	switch i % 4 {
	case 0:
		return Test
	case 1:
		return Validation
	}
	return Train
}

// ClosedBookQA renders a closed-book question about fact f with k options
// (the value and k−1 other values of the attribute, drawn from r): the
// prompt (ending in <ans>), the options and the answer's index.
//
// With clozeLast the options come first and the fact's cloze ends the
// prompt ("... options : a <sep> b . <name> <cloze> <ans>"), so the answer
// is predicted where the biographies put the value; otherwise the suite's
// order (question with a blank, then the options).
func (w *KnowledgeWorld) ClosedBookQA(r *rand.Rand, f Fact, k int, clozeLast bool) (string, []string, int) {
	at := knowledgeAttributes[f.Attribute]
	opts, ans := optionsWith(r, f.Value, at.Values, k)
	if clozeLast {
		return "answer from memory . options : " + strings.Join(opts, " <sep> ") + " . " + f.Context + " <ans>", opts, ans
	}
	return "answer from memory . " + f.Context + " _ . options : " + strings.Join(opts, " <sep> ") + " <ans>", opts, ans
}
