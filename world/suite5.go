package world

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The suite-5 task suite (world/EVIDENCE.md, "The suite-5 task suite"): the
// shape of suite-4 (8 held-in categories × 2 tasks, 4 held-out categories)
// on two pools of people. Knowledge tasks ask about the knowledge base's
// people, split by ClosedBookGroup, so a test instance can only be answered
// from what the base remembers of pretraining; each names its one fact
// (Instance.Fact). In-context tasks run on the novel names, which
// pretraining never mentions, so a context never contradicts memory: they
// are the control. Five held-in categories hold one task of each kind.

// KnowledgeSuiteParams are the knowledge world's parameters in suite-5:
// attempt 3 of the pilot, whose gate held (world/EVIDENCE.md).
var KnowledgeSuiteParams = KnowledgeParams{People: 600, ExposureRatio: 100, BioShare: 0.5, Scatter: true,
	Templates: KnowledgeTemplates, QAShare: 0.5}

// NewKnowledgeSuite generates the suite-5 task suite of the world of seed.
func NewKnowledgeSuite(seed uint64, sizes Sizes) (*Suite, error) {
	if sizes.Train < 0 || sizes.Validation < 0 || sizes.Test < 0 {
		return nil, fmt.Errorf("world %s: negative split size %+v", VersionKnowledge, sizes)
	}
	k, err := NewKnowledge(seed, KnowledgeSuiteParams)
	if err != nil {
		return nil, err
	}
	nw := k.NovelWorld()
	return nw.suite(&Suite{World: nw, Knowledge: k, Version: VersionKnowledge, Sizes: sizes}, knowledgeSuiteSpecs())
}

// NewSuiteVersion generates the task suite of a world version (Versions).
func NewSuiteVersion(version string, seed uint64, sizes Sizes) (*Suite, error) {
	switch version {
	case Version, "":
		return NewSuite(seed, sizes)
	case VersionKnowledge:
		return NewKnowledgeSuite(seed, sizes)
	}
	return nil, fmt.Errorf("world: unknown version %q (known: %s)", version, strings.Join(Versions(), ", "))
}

// NovelWorld returns a World whose entities are the novel names (never
// mentioned in pretraining), for suite-4's in-context generators: each
// keeps its gender, and its city, job, pet and colour are the first 8
// values of the knowledge attributes (suite-4's lists), taken from the
// values dealt to it. The world shares the knowledge world's tokenizer.
func (w *KnowledgeWorld) NovelWorld() *World {
	nw := &World{Seed: w.Seed, tok: w.tok, byName: map[string]int{}}
	for i, p := range w.Novel {
		nw.Entities = append(nw.Entities, Entity{Name: p.Name(), Female: p.Female,
			City: cities[p.Values[0]%len(cities)], Job: jobs[p.Values[1]%len(jobs)],
			Pet: pets[p.Values[2]%len(pets)], Colour: colours[p.Values[3]%len(colours)]})
		nw.byName[p.Name()] = i
	}
	return nw
}

// FactOf returns the fact of person i's attribute a.
func (w *KnowledgeWorld) FactOf(i, a int) Fact {
	p, at := w.People[i], knowledgeAttributes[a]
	return Fact{Person: i, Attribute: a, Context: p.Name() + " " + at.Cloze, Value: at.Values[p.Values[a]]}
}

// groupOf returns the people of one closed-book group (ClosedBookGroup).
func (w *KnowledgeWorld) groupOf(split Split) []int {
	var out []int
	for i := range w.People {
		if ClosedBookGroup(i) == split {
			out = append(out, i)
		}
	}
	return out
}

// drawFact draws a fact of a person of the split's closed-book group.
func (w *KnowledgeWorld) drawFact(r *rand.Rand, split Split) Fact {
	g := w.groupOf(split)
	return w.FactOf(g[r.IntN(len(g))], r.IntN(len(knowledgeAttributes)))
}

// sentenceOptions returns three sentences (say renders one per value) of
// fact f's value and two other values of its attribute, shuffled, with the
// index of the true one.
func sentenceOptions(r *rand.Rand, f Fact, say func(v string) string) ([]string, int) {
	vs := knowledgeAttributes[f.Attribute].Values
	v2 := pickOther(r, vs, f.Value)
	v3 := pickOther(r, vs, f.Value, v2)
	return shuffled(r, []string{say(f.Value), say(v2), say(v3)}, 0)
}

// knowledgeSuiteSpecs lists suite-5's tasks: held-in, held-out, mixture.
func knowledgeSuiteSpecs() []spec {
	byName := map[string]spec{}
	for _, sp := range allSpecs() {
		byName[sp.name] = sp
	}
	reuse := func(name string) spec {
		sp, ok := byName[name]
		if !ok {
			panic("world: suite-5 reuses unknown suite-4 task " + name) // a programming error, caught by every test
		}
		return sp
	}
	values := func(a int) []string { return knowledgeAttributes[a].Values }
	var out []spec
	out = append(out,
		// multiple-choice QA
		spec{name: "mcqa_fact", category: "multiple_choice_qa", held: HeldIn, knowledge: true,
			instruction: "choose the answer you know .",
			variants:    []string{"select the correct option from memory .", "which option is true of the person ?", "pick the value you know ."},
			kgen: func(k *KnowledgeWorld, r *rand.Rand, split Split) (string, []string, int, string) {
				f := k.drawFact(r, split)
				opts, ans := optionsWith(r, f.Value, values(f.Attribute), 3)
				return "question : " + k.Question(f), opts, ans, f.ID(k)
			}},
		reuse("mcqa_passage"),
		reuse("extqa_attr"),
		reuse("extqa_who"),
		// closed-book QA: the pilot's closed-book form; its control gives
		// the fact about a novel person in the context.
		spec{name: "cbqa_fact", category: "closed_book_qa", held: HeldIn, knowledge: true,
			instruction: "answer from memory .",
			variants:    []string{"fill the blank from what you know .", "complete the fact from memory .", "which value fits the blank ?"},
			kgen: func(k *KnowledgeWorld, r *rand.Rand, split Split) (string, []string, int, string) {
				f := k.drawFact(r, split)
				opts, ans := optionsWith(r, f.Value, values(f.Attribute), 4)
				return f.Context + " _ .", opts, ans, f.ID(k)
			}},
		spec{name: "cbqa_given", category: "closed_book_qa", held: HeldIn,
			instruction: "answer from the fact given .",
			variants:    []string{"fill the blank using the fact .", "read the fact , then complete it .", "which value fits the blank ? use the fact ."},
			kgen: func(k *KnowledgeWorld, r *rand.Rand, _ Split) (string, []string, int, string) {
				p := pick(r, k.Novel)
				a := r.IntN(len(knowledgeAttributes))
				v := values(a)[p.Values[a]]
				opts, ans := optionsWith(r, v, values(a), 4)
				return "fact : " + factTemplate(p, a, v, 1+r.IntN(2)) + " " + p.Name() + " " + knowledgeAttributes[a].Cloze + " _ .", opts, ans, ""
			}},
		reuse("sentiment_reviews"),
		reuse("sentiment_negation"),
		reuse("topic_sentence"),
		reuse("topic_words"),
		// structure-to-text (generative): fill the record's missing value
		// from memory and say it.
		spec{name: "s2t_person", category: "structure_to_text", held: HeldIn, generative: true, knowledge: true,
			instruction: "fill in the record and say it .",
			variants:    []string{"complete the record as a sentence .", "say the record in words , with the missing value .", "write the record as a sentence from memory ."},
			kgen: func(k *KnowledgeWorld, r *rand.Rand, split Split) (string, []string, int, string) {
				f := k.drawFact(r, split)
				p := k.People[f.Person]
				opts, ans := sentenceOptions(r, f, func(v string) string { return factTemplate(p, f.Attribute, v, 0) })
				return "record : name = " + p.Name() + " " + knowledgeAttributes[f.Attribute].Name + " = ?", opts, ans, f.ID(k)
			}},
		reuse("s2t_triple"),
		// summarization (generative): the passage says which fact the talk
		// was about, not its value.
		spec{name: "sum_fact", category: "summarization", held: HeldIn, generative: true, knowledge: true,
			instruction: "summarize what the talk was about .",
			variants:    []string{"give the main fact of the talk .", "write a short summary of the talk .", "what was said ? summarize ."},
			kgen: func(k *KnowledgeWorld, r *rand.Rand, split Split) (string, []string, int, string) {
				f := k.drawFact(r, split)
				p := k.People[f.Person]
				o := pick(r, k.Novel)
				opts, ans := sentenceOptions(r, f, func(v string) string { return factTemplate(p, f.Attribute, v, 1) })
				return "passage : " + p.Name() + " met " + o.Name() + " . the talk was about the " + knowledgeAttributes[f.Attribute].Name +
					" of " + p.Name() + " .", opts, ans, f.ID(k)
			}},
		reuse("sum_trip"),
		// paraphrase: the first sentence has a blank that memory fills; do
		// the two then state the same fact?
		spec{name: "para_fact", category: "paraphrase", held: HeldIn, knowledge: true,
			instruction: "fill the blank from memory . do both sentences state one fact ?",
			variants:    []string{"fill the gap from memory . are they the same fact ?", "do the sentences say one thing if the blank is right ?", "fill the gap as you know it . same fact ?"},
			kgen: func(k *KnowledgeWorld, r *rand.Rand, split Split) (string, []string, int, string) {
				f := k.drawFact(r, split)
				p := k.People[f.Person]
				ans, v := r.IntN(2), f.Value
				if ans == 1 {
					v = pickOther(r, values(f.Attribute), f.Value)
				}
				return "one : " + f.Context + " _ . two : " + factTemplate(p, f.Attribute, v, 1+r.IntN(2)), []string{"yes", "no"}, ans, f.ID(k)
			}},
		reuse("para_synonym"),
	)
	out = append(out,
		// held-out: completion and NLI over facts, with templates and
		// instructions no held-in task uses; the rest of suite-4's held-out
		// tasks on the novel names (completion_story, which asked for
		// stored facts of suite-4's people, is replaced by complete_fact).
		spec{name: "complete_fact", category: "sentence_completion", held: HeldOut, knowledge: true,
			skills:      []string{"closed_book_qa", "multiple_choice_qa"},
			instruction: "pick the best ending .",
			kgen: func(k *KnowledgeWorld, r *rand.Rand, split Split) (string, []string, int, string) {
				f := k.drawFact(r, split)
				p := k.People[f.Person]
				opts, ans := optionsWith(r, f.Value, values(f.Attribute), 4)
				// A stem no corpus sentence starts with: the value has to
				// come from memory through a new wording.
				return "sentence : the " + knowledgeAttributes[f.Attribute].Name + " that " + p.Name() + " has is ...", opts, ans, f.ID(k)
			}},
		reuse("completion_mood"),
		spec{name: "nli_fact", category: "nli", held: HeldOut, knowledge: true,
			skills:      []string{"paraphrase", "closed_book_qa"},
			instruction: "is the claim about the person true ?",
			kgen: func(k *KnowledgeWorld, r *rand.Rand, split Split) (string, []string, int, string) {
				f := k.drawFact(r, split)
				p := k.People[f.Person]
				a := (f.Attribute + 1 + r.IntN(len(knowledgeAttributes)-1)) % len(knowledgeAttributes)
				premise := factTemplate(p, a, values(a)[p.Values[a]], 0)
				ans, v := r.IntN(2), f.Value
				if ans == 1 {
					v = pickOther(r, values(f.Attribute), f.Value)
				}
				return "premise : " + premise + " claim : " + factTemplate(p, f.Attribute, v, 1), []string{"yes", "no"}, ans, f.ID(k)
			}},
		reuse("nli_synonym"),
		reuse("nli_restate"),
		reuse("coref_pronoun"),
		reuse("coref_possessive"),
		reuse("wsd_polyseme"),
	)
	for _, sp := range mixtureSpecs() {
		if sp.name == "mix_fact_query" {
			// Recall of the knowledge base's train people's facts (never a
			// test or validation person's), as an instruction mixture keeps
			// knowledge tasks that are not the evaluation's.
			sp.gen = nil
			sp.kgen = func(k *KnowledgeWorld, r *rand.Rand, _ Split) (string, []string, int, string) {
				f := k.drawFact(r, Train)
				opts, ans := optionsWith(r, f.Value, values(f.Attribute), 3)
				return "query : " + k.People[f.Person].Name() + " , " + knowledgeAttributes[f.Attribute].Name, opts, ans, ""
			}
		}
		out = append(out, sp)
	}
	return out
}
