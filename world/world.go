// Package world builds the seeded miniature world behind the task suite: a
// fixed vocabulary of a few hundred words, entities with attributes (a small
// knowledge base), sentiment lexicons, topics with their own vocabularies,
// synonym and antonym sets and polysemous words. From one world the package
// generates the pretraining corpus, the instruction-tuning mixture and the
// held-in and held-out tasks of a miniature T0 (see suite.go).
//
// The word lists are fixed, so every seed shares one vocabulary; the seed
// decides the facts (who lives where, who owns which pet, ...) and every
// sampled sentence. Same seed, same bytes.
package world

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	"mergescale/tokenizer"
)

// Fixed lexicons. Female and male names fix the pronoun an entity takes.
var (
	femaleNames = []string{"mira", "anna", "lena", "sara", "nora", "ella", "ida", "eva", "lisa", "rosa", "maja", "tina",
		"vera", "olga", "iris", "zoe", "ruth", "jane", "kate", "lucy", "emma", "alice", "clara", "hana"}
	maleNames = []string{"tom", "ben", "max", "leo", "sam", "paul", "jon", "ivan", "omar", "hugo", "karl", "otto",
		"finn", "eric", "adam", "luis", "marc", "noah", "owen", "piet", "raul", "theo", "yusuf", "axel"}
	cities  = []string{"oslo", "paris", "rome", "lima", "cairo", "delhi", "tokyo", "quito"}
	jobs    = []string{"baker", "nurse", "pilot", "farmer", "teacher", "doctor", "painter", "driver"}
	pets    = []string{"cat", "dog", "bird", "horse", "rabbit", "goat", "mouse", "snake"}
	colours = []string{"red", "blue", "green", "yellow", "black", "white", "pink", "brown"}

	// topicNames and topicWords: topic i owns topicWords[i].
	topicNames = []string{"sport", "food", "music", "weather", "sea", "money"}
	topicWords = [][]string{
		{"ball", "goal", "team", "coach", "race", "match", "score", "player", "stadium", "runner", "medal", "referee"},
		{"bread", "soup", "rice", "cheese", "apple", "salad", "oven", "spoon", "sugar", "butter", "plate", "cook"},
		{"song", "guitar", "drum", "piano", "band", "singer", "melody", "concert", "violin", "choir", "rhythm", "tune"},
		{"rain", "snow", "wind", "cloud", "storm", "sun", "fog", "thunder", "sky", "frost", "breeze", "heat"},
		{"boat", "wave", "ship", "sailor", "shore", "anchor", "island", "harbor", "tide", "sand", "whale", "shell"},
		{"coin", "price", "market", "loan", "cash", "shop", "wallet", "profit", "tax", "trade", "debt", "salary"},
	}
	// polysemes: a word with two senses, each belonging to one topic (indices into topicNames).
	polysemes = []struct {
		word   string
		senses [2]int
	}{
		{"bank", [2]int{4, 5}}, {"pitch", [2]int{0, 2}}, {"note", [2]int{2, 5}},
		{"roll", [2]int{1, 2}}, {"change", [2]int{3, 5}}, {"board", [2]int{4, 0}},
	}

	positiveAdj = []string{"great", "good", "lovely", "nice", "wonderful", "fine", "excellent", "pleasant", "superb", "fun"}
	negativeAdj = []string{"bad", "awful", "boring", "terrible", "dull", "horrible", "nasty", "weak", "ugly", "rude"}
	reviewNouns = []string{"film", "meal", "book", "show", "trip", "hotel", "play", "party", "class", "visit"}

	// descriptors: pairs of synonym pairs that are antonyms of each other:
	// {a, a'} means the same, {b, b'} means the same, a is the opposite of b.
	descriptors = [][4]string{
		{"big", "large", "small", "tiny"},
		{"fast", "quick", "slow", "sluggish"},
		{"happy", "glad", "sad", "unhappy"},
		{"rich", "wealthy", "poor", "broke"},
		{"clever", "smart", "silly", "foolish"},
		{"calm", "quiet", "loud", "noisy"},
		{"young", "youthful", "old", "aged"},
		{"kind", "gentle", "cruel", "mean"},
	}

	// numbers used by the instruction mixture.
	numberWords = []string{"zero", "one", "two", "three", "four", "five", "six"}

	// functionWords: every template word that is not in a lexicon above.
	functionWords = []string{
		".", ",", "?", ":", "=", "(", ")", "a", "an", "the", "is", "are", "was", "were", "of", "in", "to", "and", "or", "not", "very",
		"lives", "live", "from", "works", "work", "as", "has", "have", "had", "owns", "own", "likes", "like", "colour", "pet", "job",
		"home", "city", "town", "who", "what", "where", "which", "whose", "does", "do", "did", "question", "options",
		"text", "word", "words", "comes", "after", "before", "yes", "no", "maybe", "positive", "negative", "topic",
		"about", "review", "sentence", "sentences", "name", "person", "record", "means", "same", "opposite", "meaning",
		"she", "he", "her", "his", "woman", "man", "met", "saw", "went", "came", "walked", "said", "felt", "i", "we", "it", "they",
		"my", "our", "this", "that", "there", "all", "with", "at", "on", "for", "by", "then", "so", "but", "today", "day",
		"story", "passage", "main", "summary", "summarize", "mostly", "mentioned", "most", "often", "describe", "write",
		"fact", "facts", "true", "false", "answer", "choose", "pick", "read", "say", "tell", "give", "find", "copy",
		"last", "first", "longer", "shorter", "count", "many", "how", "swap", "order", "reverse", "starts", "ends",
		"contains", "kind", "things", "thing", "gets", "got", "hear", "heard", "talk", "talks", "value", "values", "field",
		"pair", "pairs", "follow", "follows", "premise", "claim", "hypothesis", "refers", "pronoun", "sense", "senses",
		"used", "uses", "both", "will", "would", "next", "end", "ending", "finish", "complete", "continue",
		"visits", "back", "goes", "gone", "travel", "travels", "asked", "feed", "fed", "feeds",
		"friend", "friends", "loves", "love", "hates", "nobody", "someone", "somebody", "each", "other", "again",
		"label", "classify", "decide", "check", "tick", "box", "cup", "key", "door", "lamp", "table", "chair",
		"inside", "under", "near", "open", "closed", "full", "empty", "hot", "cold", "letter", "item", "items", "list",
		"seen", "appears", "appear", "here", "differ", "different", "equal", "ours",
		"...", "found", "best", "feeling", "given", "if", "know", "known", "look", "me", "option", "refer", "right", "second", "short", "them", "these", "tired", "triple", "writer", "you",
		"belongs", "belong", "member", "group", "odd", "out", "remaining", "missing", "fill", "blank", "gap",
		"select", "correct", "using", "based", "sentiment", "memory", "reply", "fits", "turn", "into", "ways", "saying",
		"state", "mean", "asks", "mention", "answers", "feel", "final", "more", "compare", "use", "only", "statement", "_",
		"object", "scene", "pattern", "hard", "closes",
		"recall", "query", "comment", "good", "bad", "rate", "area", "term", "terms", "come", "alike", "relate",
	}
)

// Entity is a person of the world with its attributes (indices into the
// fixed lexicons).
type Entity struct {
	Name   string
	Female bool
	City   string
	Job    string
	Pet    string
	Colour string // favourite colour
}

// Pronoun returns "she" or "he".
func (e Entity) Pronoun() string {
	if e.Female {
		return "she"
	}
	return "he"
}

// Possessive returns "her" or "his".
func (e Entity) Possessive() string {
	if e.Female {
		return "her"
	}
	return "his"
}

// World is one seeded world: fixed word lists plus seeded facts. It is
// immutable after New and safe for concurrent use.
type World struct {
	Seed     uint64
	Entities []Entity
	tok      *tokenizer.Tokenizer
	byName   map[string]int
}

// New builds the world of a seed: attributes are dealt to entities so that
// each value is held by the same number of people in each split group.
func New(seed uint64) (*World, error) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var ents []Entity
	for i := range femaleNames {
		ents = append(ents, Entity{Name: femaleNames[i], Female: true})
		ents = append(ents, Entity{Name: maleNames[i], Female: false})
	}
	// Values are dealt within each closed-book split group (test,
	// validation, train people), so each group holds every value equally
	// often: otherwise a model that learns the train people's answer
	// frequencies is pushed below chance on the test people.
	var groups [3][]int
	for i := range ents {
		switch entitySplit(i) {
		case Test:
			groups[0] = append(groups[0], i)
		case Validation:
			groups[1] = append(groups[1], i)
		default:
			groups[2] = append(groups[2], i)
		}
	}
	deal := func(values []string, set func(e *Entity, v string)) {
		for _, g := range groups {
			for k, p := range r.Perm(len(g)) {
				set(&ents[g[p]], values[k%len(values)])
			}
		}
	}
	deal(cities, func(e *Entity, v string) { e.City = v })
	deal(jobs, func(e *Entity, v string) { e.Job = v })
	deal(pets, func(e *Entity, v string) { e.Pet = v })
	deal(colours, func(e *Entity, v string) { e.Colour = v })
	w := &World{Seed: seed, Entities: ents, byName: map[string]int{}}
	for i, e := range ents {
		w.byName[e.Name] = i
	}
	tok, err := tokenizer.New(Vocabulary())
	if err != nil {
		return nil, fmt.Errorf("world: vocabulary: %w", err)
	}
	w.tok = tok
	return w, nil
}

// Vocabulary returns every word of every world (specials excluded), sorted
// and without duplicates. It does not depend on the seed.
func Vocabulary() []string {
	set := map[string]bool{}
	add := func(ws ...string) {
		for _, w := range ws {
			set[w] = true
		}
	}
	add(femaleNames...)
	add(maleNames...)
	add(cities...)
	add(jobs...)
	add(pets...)
	add(colours...)
	add(topicNames...)
	for _, ws := range topicWords {
		add(ws...)
	}
	for _, p := range polysemes {
		add(p.word)
	}
	add(positiveAdj...)
	add(negativeAdj...)
	add(reviewNouns...)
	for _, d := range descriptors {
		add(d[:]...)
	}
	add(numberWords...)
	add(functionWords...)
	return slices.Sorted(maps.Keys(set))
}

// Tokenizer returns the world's tokenizer (specials first, then Vocabulary()).
func (w *World) Tokenizer() *tokenizer.Tokenizer { return w.tok }

// Entity returns the entity with the given name.
func (w *World) Entity(name string) (Entity, bool) {
	i, ok := w.byName[name]
	if !ok {
		return Entity{}, false
	}
	return w.Entities[i], true
}

// Helpers for sampling.

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// pickOther returns a random element of xs that is not in not. Generators
// only call it when such an element exists; if none does it returns xs[0]
// rather than loop forever.
func pickOther(r *rand.Rand, xs []string, not ...string) string {
	excluded := func(x string) bool { return slices.Contains(not, x) }
	for range 64 {
		if x := xs[r.IntN(len(xs))]; !excluded(x) {
			return x
		}
	}
	var rest []string
	for _, x := range xs {
		if !excluded(x) {
			rest = append(rest, x)
		}
	}
	if len(rest) == 0 {
		return xs[0]
	}
	return rest[r.IntN(len(rest))]
}

// optionsWith returns answer and k-1 other values of pool, shuffled, with
// the index of answer.
func optionsWith(r *rand.Rand, answer string, pool []string, k int) ([]string, int) {
	opts := []string{answer}
	for len(opts) < k {
		opts = append(opts, pickOther(r, pool, opts...))
	}
	r.Shuffle(len(opts), func(i, j int) { opts[i], opts[j] = opts[j], opts[i] })
	return opts, max(slices.Index(opts, answer), 0)
}

func names(es []Entity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}
