package world

import (
	"math/rand/v2"
	"strings"
)

// MaxDocTokens bounds the words of one pretraining document (without the
// <bos> and <eos> a trainer adds).
const MaxDocTokens = 60

// Corpus returns n pretraining documents of the world, each a few sentences
// of at most MaxDocTokens words. They state the world's facts in several
// templates (the only place closed-book facts appear), tell short stories
// whose pronouns refer back to entities, show topic words together, review
// sentences with and without negation, synonyms and antonyms, and polysemous
// words in both senses. The same (world, n, seed) gives the same documents.
func (w *World) Corpus(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(w.Seed^0x5bd1e995, seed))
	docs := make([]string, 0, n)
	for len(docs) < n {
		var words []string
		for {
			s := strings.Fields(w.corpusSentence(r))
			if len(words)+len(s) > MaxDocTokens {
				break
			}
			words = append(words, s...)
		}
		docs = append(docs, strings.Join(words, " "))
	}
	return docs
}

// corpusSentence draws one sentence (or a short run of sentences) of the corpus.
func (w *World) corpusSentence(r *rand.Rand) string {
	e := pick(r, w.Entities)
	switch k := r.IntN(20); {
	case k < 7: // facts, in several templates
		attr := pick(r, kindNames)
		return factSentence(r, e.Name, attr, attrValue(e, attr))
	case k < 9: // a story whose pronouns refer back to the entity
		o := pick(r, w.Entities)
		switch r.IntN(3) {
		case 0:
			return e.Name + " went to " + e.City + " . " + e.Pronoun() + " met " + o.Name + " . " + e.Pronoun() + " was " + pick(r, descriptors)[r.IntN(4)] + " ."
		case 1:
			return e.Name + " came back home and fed " + e.Possessive() + " " + e.Pet + " ."
		default:
			return "today " + e.Name + " went to work as a " + e.Job + " . " + e.Pronoun() + " saw " + o.Name + " ."
		}
	case k < 10: // gender
		if e.Female {
			return e.Name + " is a woman ."
		}
		return e.Name + " is a man ."
	case k < 11: // word classes
		kind := pick(r, kindNames)
		return pick(r, attrPool(kind)) + " is a " + kind + " ."
	case k < 14: // topics
		return topicSentence(r, e.Name)
	case k < 16: // sentiment, with negation
		return sentimentSentence(r, e.Name, e.Pronoun())
	case k < 18: // synonyms and antonyms
		return synonymSentence(r, e.Name)
	default: // polysemous words in context
		return polysemeSentence(r)
	}
}

// The sentence kinds the built-in corpus and the suite-5 knowledge corpus
// share, each drawing from r in the same order wherever it is called, so
// that a seed gives the same text as before they were shared.

// topicSentence is a sentence about a topic's words, naming name.
func topicSentence(r *rand.Rand, name string) string {
	t := r.IntN(len(topicNames))
	ws := distinctValues(r, topicWords[t], 3)
	switch r.IntN(3) {
	case 0:
		return name + " " + pick(r, []string{"saw", "likes", "heard"}) + " the " + ws[0] + " and the " + ws[1] + " ."
	case 1:
		return "we talk about " + topicNames[t] + " : " + strings.Join(ws, " ") + " ."
	default:
		return "the " + ws[0] + " is about " + topicNames[t] + " ."
	}
}

// sentimentSentence is a review with its sentiment, possibly negated, and
// the reviewer's mood.
func sentimentSentence(r *rand.Rand, name, pronoun string) string {
	pos := r.IntN(2) == 0
	neg := r.IntN(3) == 0
	adj := pick(r, positiveAdj)
	if pos == neg {
		adj = pick(r, negativeAdj)
	}
	not := ""
	if neg {
		not = "not "
	}
	mood := pick(r, []string{"happy", "glad"})
	if !pos {
		mood = pick(r, []string{"sad", "unhappy"})
	}
	return name + " said the " + pick(r, reviewNouns) + " was " + not + adj + " , so " + pronoun + " felt " + mood + " ."
}

// synonymSentence states a synonym or an antonym, or uses both of a person.
func synonymSentence(r *rand.Rand, name string) string {
	d := pick(r, descriptors)
	s := r.IntN(2)
	switch r.IntN(3) {
	case 0:
		return d[2*s] + " means " + d[2*s+1] + " ."
	case 1:
		return d[2*s+r.IntN(2)] + " is the opposite of " + d[2*(1-s)+r.IntN(2)] + " ."
	default:
		return name + " is " + d[2*s] + " , so " + name + " is " + d[2*s+1] + " and not " + d[2*(1-s)+r.IntN(2)] + " ."
	}
}

// polysemeSentence uses a polysemous word among one sense's topic words.
func polysemeSentence(r *rand.Rand) string {
	p := polysemes[r.IntN(len(polysemes))]
	t := p.senses[r.IntN(2)]
	ws := distinctValues(r, topicWords[t], 2)
	return "the " + p.word + " and the " + ws[0] + " and the " + ws[1] + " are about " + topicNames[t] + " ."
}
