package world

import (
	"math/rand/v2"
)

// heldOutSpecs are the 7 held-out tasks. Each recombines held-in skills in a
// format and with an instruction that no training task uses; Skills is the
// written skill map.
func heldOutSpecs() []spec {
	return []spec{
		// sentence completion
		{name: "completion_story", category: "sentence_completion", held: HeldOut,
			skills:      []string{"closed_book_qa", "multiple_choice_qa"},
			instruction: "pick the best ending .",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities)
				// Stems that no corpus document contains: the fact has to
				// come from what the model knows about the person, not from
				// a memorized sentence.
				var stem string
				var attr string
				switch r.IntN(3) {
				case 0:
					attr = "city"
					stem = "after the trip , " + e.Name + " travels back home to"
				case 1:
					attr = "pet"
					stem = "at home , " + e.Name + " got food for " + e.Possessive()
				default:
					attr = "job"
					stem = "each day " + e.Name + " works hard as a"
				}
				opts, ans := optionsWith(r, attrValue(e, attr), attrPool(attr), 4)
				return "story : " + stem + " ...", opts, ans
			}},
		{name: "completion_mood", category: "sentence_completion", held: HeldOut,
			skills:      []string{"sentiment", "paraphrase"},
			instruction: "fill the gap at the end .",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				pos := r.IntN(2) == 0
				adj := pick(r, positiveAdj)
				if !pos {
					adj = pick(r, negativeAdj)
				}
				e := pick(r, w.Entities)
				// Not the corpus's "said the film was great , so she felt":
				// the mood has to come from the adjective's polarity.
				stem := "after the " + adj + " " + pick(r, reviewNouns) + " , " + e.Name + " was"
				good := pick(r, []string{"happy", "glad"})
				bad := pick(r, []string{"sad", "unhappy"})
				opts := []string{good, bad}
				ans := 0
				if !pos {
					ans = 1
				}
				opts, ans = shuffled(r, opts, ans)
				return "sentence : " + stem + " ...", opts, ans
			}},
		// natural language inference
		{name: "nli_synonym", category: "nli", held: HeldOut,
			skills:      []string{"paraphrase", "extractive_qa"},
			instruction: "given the premise , is the hypothesis true ?",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				es := w.distinctEntities(r, 2)
				n := es[0].Name
				d := r.IntN(len(descriptors))
				s := r.IntN(2)
				premise := n + " is " + descriptors[d][2*s+r.IntN(2)] + " ."
				var hyp string
				ans := r.IntN(3)
				switch ans {
				case 0: // same side of the same pair: entailed
					hyp = n + " is " + descriptors[d][2*s+r.IntN(2)]
				case 1: // other side: contradiction
					hyp = n + " is " + descriptors[d][2*(1-s)+r.IntN(2)]
				default: // another pair, or another person: unknown
					if r.IntN(2) == 0 {
						d2 := (d + 1 + r.IntN(len(descriptors)-1)) % len(descriptors)
						hyp = n + " is " + descriptors[d2][r.IntN(4)]
					} else {
						hyp = es[1].Name + " is " + descriptors[d][r.IntN(4)]
					}
				}
				return "premise : " + premise + " hypothesis : " + hyp + " .", []string{"yes", "no", "maybe"}, ans
			}},
		{name: "nli_restate", category: "nli", held: HeldOut,
			skills:      []string{"paraphrase", "structure_to_text"},
			instruction: "does the claim follow from the premise ?",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				n := pick(r, w.Entities).Name
				attr := pick(r, kindNames)
				v := pick(r, attrPool(attr))
				same := r.IntN(2) == 0
				v2 := v
				if !same {
					v2 = pickOther(r, attrPool(attr), v)
				}
				ans := 0
				if !same {
					ans = 1
				}
				return "premise : " + factSentence(r, n, attr, v) + " claim : " + factSentence(r, n, attr, v2), []string{"yes", "no"}, ans
			}},
		// coreference resolution
		{name: "coref_pronoun", category: "coreference", held: HeldOut,
			skills:      []string{"extractive_qa", "closed_book_qa"},
			instruction: "who does the pronoun refer to ?",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				a, b := w.mixedPair(r)
				d := descriptors[r.IntN(len(descriptors))][r.IntN(4)]
				s := a.Name + " met " + b.Name + " at the " + pick(r, topicWords[r.IntN(len(topicWords))]) + " . " + a.Pronoun() + " was " + d + " ."
				opts, ans := shuffled(r, []string{a.Name, b.Name}, 0)
				return "text : " + s + " question : who was " + d + " ?", opts, ans
			}},
		{name: "coref_possessive", category: "coreference", held: HeldOut,
			skills:      []string{"extractive_qa", "multiple_choice_qa"},
			instruction: "whose thing is it ? answer with a name .",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				a, b := w.mixedPair(r)
				p := pick(r, pets)
				s := a.Name + " and " + b.Name + " walked to the " + pick(r, topicWords[r.IntN(len(topicWords))]) + " . " + a.Possessive() + " " + p + " was with them ."
				opts, ans := shuffled(r, []string{a.Name, b.Name}, 0)
				return "text : " + s + " question : whose " + p + " was it ?", opts, ans
			}},
		// word sense disambiguation
		{name: "wsd_polyseme", category: "word_sense", held: HeldOut,
			skills:      []string{"topic_classification", "paraphrase"},
			instruction: "is the word used in the same sense in both ?",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				p := polysemes[r.IntN(len(polysemes))]
				s1 := r.IntN(2)
				same := r.IntN(2) == 0
				s2 := s1
				if !same {
					s2 = 1 - s1
				}
				ctx := func(s int) string {
					return "the " + p.word + " and the " + pick(r, topicWords[p.senses[s]]) + " ."
				}
				ans := 0
				if !same {
					ans = 1
				}
				return "word : " + p.word + " first : " + ctx(s1) + " second : " + ctx(s2), []string{"yes", "no"}, ans
			}},
	}
}

// mixedPair draws a woman and a man in random order: the first returned is
// the one the pronoun will refer to.
func (w *World) mixedPair(r *rand.Rand) (Entity, Entity) {
	for {
		a, b := pick(r, w.Entities), pick(r, w.Entities)
		if a.Female != b.Female {
			return a, b
		}
	}
}
