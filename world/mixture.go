package world

import (
	"math/rand/v2"
	"strings"
)

// Objects and their states, used only by the instruction mixture: the facts
// it asks about are stated in the prompt itself, never world facts.
var (
	objects = []string{"box", "cup", "key", "door", "lamp", "table", "chair"}
	states  = [][2]string{{"open", "closed"}, {"full", "empty"}, {"hot", "cold"}, {"red", "blue"}, {"big", "small"}}
)

// mixturePool is the word pool of the format-teaching families: any world
// word, so the families look at the same vocabulary as the tasks.
func mixturePool() []string {
	var pool []string
	pool = append(pool, pets...)
	pool = append(pool, colours...)
	pool = append(pool, jobs...)
	pool = append(pool, cities...)
	pool = append(pool, objects...)
	return pool
}

// mixtureSpecs are the instruction-tuning families, the analog of Flan with
// T0 removed: they teach the format (read an instruction, look at the
// options, answer with one of them) and share no instruction with any
// held-in or held-out task.
func mixtureSpecs() []spec {
	return []spec{
		{name: "mix_copy_last", category: "copying", held: Mixture,
			instruction: "say the last word of the list .",
			variants:    []string{"what is the final word ?", "give the word that closes the list ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				ws := distinctValues(r, mixturePool(), 3+r.IntN(3))
				opts, ans := optionsWith(r, ws[len(ws)-1], ws, 3)
				return "list : " + strings.Join(ws, " "), opts, ans
			}},
		{name: "mix_first_word", category: "copying", held: Mixture,
			instruction: "tell me the first item .",
			variants:    []string{"which item starts the list ?", "say the item that comes first ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				ws := distinctValues(r, mixturePool(), 3+r.IntN(3))
				opts, ans := optionsWith(r, ws[0], ws, 2+r.IntN(min(3, len(ws)-1)))
				return "items : " + strings.Join(ws, " "), opts, ans
			}},
		{name: "mix_contains", category: "membership", held: Mixture,
			instruction: "check if the list contains the word .",
			variants:    []string{"does this word appear in the list ?", "does the list have this word ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				pool := mixturePool()
				ws := distinctValues(r, pool, 4)
				in := r.IntN(2) == 0
				q := pick(r, ws)
				if !in {
					q = pickOther(r, pool, ws...)
				}
				ans := 0
				if !in {
					ans = 1
				}
				return "word : " + q + " list : " + strings.Join(ws, " "), []string{"yes", "no"}, ans
			}},
		{name: "mix_same_word", category: "membership", held: Mixture,
			instruction: "are the two pairs equal ?",
			variants:    []string{"are both pairs equal ?", "compare the pairs . equal or not ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				pool := mixturePool()
				a := distinctValues(r, pool, 2)
				b := append([]string(nil), a...)
				ans := 0
				if r.IntN(2) == 0 {
					k := r.IntN(2)
					b[k] = pickOther(r, pool, a...)
					ans = 1
				}
				return strings.Join(a, " ") + " <sep> " + strings.Join(b, " "), []string{"yes", "no"}, ans
			}},
		{name: "mix_longer", category: "counting", held: Mixture,
			instruction: "which option is longer ?",
			variants:    []string{"pick the option with more words .", "which one has the most words ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				pool := mixturePool()
				k := 2 + r.IntN(2)
				lens := r.Perm(4)[:k]
				opts := make([]string, k)
				best := 0
				for i, l := range lens {
					opts[i] = strings.Join(distinctValues(r, pool, l+1), " ")
					if l > lens[best] {
						best = i
					}
				}
				return "look at the options .", opts, best
			}},
		{name: "mix_count", category: "counting", held: Mixture,
			instruction: "count the words in the list .",
			variants:    []string{"how many words are there ?", "say how many items the list has ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				n := 1 + r.IntN(5)
				ws := distinctValues(r, mixturePool(), n)
				opts, ans := optionsWith(r, numberWords[n], numberWords[1:6], 3)
				return "list : " + strings.Join(ws, " "), opts, ans
			}},
		{name: "mix_swap", category: "ordering", held: Mixture,
			instruction: "swap the order of the two words .",
			variants:    []string{"reverse the pair .", "write the two words in the other order ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				ws := distinctValues(r, mixturePool(), 2)
				opts, ans := shuffled(r, []string{ws[1] + " " + ws[0], ws[0] + " " + ws[1]}, 0)
				return "pair : " + ws[0] + " " + ws[1], opts, ans
			}},
		{name: "mix_stated_fact", category: "truth", held: Mixture,
			instruction: "read the fact . answer the question with yes , no , or maybe .",
			variants:    []string{"use only the fact to decide : yes , no , or maybe .", "is it true , false , or not known from the fact ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				o := pick(r, objects)
				st := states[r.IntN(len(states))]
				s := r.IntN(2)
				fact := "the " + o + " is " + st[s] + " ."
				ans := r.IntN(3)
				var q string
				switch ans {
				case 0:
					q = "is the " + o + " " + st[s] + " ?"
				case 1:
					q = "is the " + o + " " + st[1-s] + " ?"
				default:
					q = "is the " + pickOther(r, objects, o) + " " + st[r.IntN(2)] + " ?"
				}
				return "fact : " + fact + " question : " + q, []string{"yes", "no", "maybe"}, ans
			}},
		// Families of the held-out task types on other "datasets", as Flan
		// keeps NLI, coreference and completion tasks that are not T0's: a
		// knowledge-in-the-answer family (fill a gap in a statement the
		// corpus makes), reference to objects by their
		// state, and continuing a repeating pattern.
		// Families of the held-in types on other data, as Flan keeps QA,
		// sentiment, topic and paraphrase datasets that are not T0's: the
		// base learns the skills the held-in tasks use in other formats and
		// with other labels (a forward fact no held-in task asks, polarity
		// as good/bad, the topic of one word, a word pair's relation).
		{name: "mix_fact_query", category: "knowledge", held: Mixture,
			instruction: "recall the fact about the person .",
			variants:    []string{"what do you know about this person ? pick the value ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities)
				attr := pick(r, []string{"pet", "colour"})
				opts, ans := optionsWith(r, attrValue(e, attr), attrPool(attr), 3)
				return "query : " + e.Name + " , " + attr, opts, ans
			}},
		{name: "mix_polarity", category: "knowledge", held: Mixture,
			instruction: "is the comment good or bad ?",
			variants:    []string{"rate the comment as good or bad ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				pos := r.IntN(2) == 0
				adj := pick(r, positiveAdj)
				ans := 0
				if !pos {
					adj, ans = pick(r, negativeAdj), 1
				}
				return "comment : " + pick(r, w.Entities).Name + " had a " + adj + " " + pick(r, reviewNouns), []string{"good", "bad"}, ans
			}},
		{name: "mix_word_topic", category: "knowledge", held: Mixture,
			instruction: "which area does the term come from ?",
			variants:    []string{"give the area of the term ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				t := r.IntN(len(topicNames))
				opts, ans := optionsWith(r, topicNames[t], topicNames, 3)
				return "term : " + pick(r, topicWords[t]), opts, ans
			}},
		{name: "mix_word_relation", category: "knowledge", held: Mixture,
			instruction: "are the two words alike or opposite ?",
			variants:    []string{"say how the two words relate ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				d := pick(r, descriptors)
				s, i := r.IntN(2), r.IntN(2)
				ans := r.IntN(2)
				other := d[2*s+1-i]
				if ans == 1 {
					other = d[2*(1-s)+r.IntN(2)]
				}
				thing := pick(r, pets)
				return "terms : the " + d[2*s+i] + " " + thing + " , the " + other + " " + thing, []string{"alike", "opposite"}, ans
			}},
		{name: "mix_cloze", category: "knowledge", held: Mixture,
			instruction: "which word is missing ?",
			variants:    []string{"what word goes in the blank ?", "complete the statement with one word ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				var stmt, answer string
				var pool []string
				switch r.IntN(5) {
				case 0: // word classes
					kind := pick(r, kindNames)
					v := pick(r, attrPool(kind))
					stmt, answer, pool = v+" is a _ .", kind, kindNames
				case 1: // synonyms
					d := pick(r, descriptors)
					s := r.IntN(2)
					var others []string
					for _, o := range descriptors {
						if o != d {
							others = append(others, o[:]...)
						}
					}
					opts, ans := optionsWith(r, d[2*s+1], others, 3)
					return "statement : " + d[2*s] + " means _ .", opts, ans
				case 2: // antonyms
					d := pick(r, descriptors)
					s := r.IntN(2)
					opts := []string{d[2*(1-s)+r.IntN(2)], d[2*s+1]}
					o := pickOther(r, descriptorWords(), d[:]...)
					opts = append(opts, o)
					opts, ans := shuffled(r, opts, 0)
					return "statement : " + d[2*s] + " is the opposite of _ .", opts, ans
				case 3: // topics of words
					t := r.IntN(len(topicNames))
					stmt, answer, pool = "the "+pick(r, topicWords[t])+" is about _ .", topicNames[t], topicNames
				default: // gender, in the corpus's own words
					e := pick(r, w.Entities)
					answer = "man"
					if e.Female {
						answer = "woman"
					}
					stmt, pool = e.Name+" is a _ .", []string{"woman", "man"}
				}
				opts, ans := optionsWith(r, answer, pool, min(3, len(pool)))
				return "statement : " + stmt, opts, ans
			}},
		{name: "mix_which_object", category: "reference", held: Mixture,
			instruction: "which object is in that state ?",
			variants:    []string{"name the object the question means ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				os := distinctValues(r, objects, 2)
				sts := distinctValues(r, []string{"open", "closed", "full", "empty", "hot", "cold"}, 2)
				k := r.IntN(2)
				s := "the " + os[0] + " is " + sts[0] + " and the " + os[1] + " is " + sts[1] + " . which one is " + sts[k] + " ?"
				opts, ans := shuffled(r, []string{os[k], os[1-k]}, 0)
				return "scene : " + s, opts, ans
			}},
		{name: "mix_pattern", category: "reference", held: Mixture,
			instruction: "what comes next in the list ?",
			variants:    []string{"continue the pattern with one item ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				p := distinctValues(r, mixturePool(), 2+r.IntN(2))
				n := len(p) + 1 + r.IntN(len(p)+1)
				ws := make([]string, n)
				for i := range ws {
					ws[i] = p[i%len(p)]
				}
				opts, ans := optionsWith(r, p[n%len(p)], p, len(p))
				return "list : " + strings.Join(ws, " "), opts, ans
			}},
	}
}

// descriptorWords lists every descriptor.
func descriptorWords() []string {
	var out []string
	for _, d := range descriptors {
		out = append(out, d[:]...)
	}
	return out
}
