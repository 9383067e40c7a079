package world

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// entitySplit assigns every entity to one split, so that closed-book tasks
// ask about different people in train and test: the expert learns to look
// facts up, not the facts themselves (those come from the corpus only).
func entitySplit(i int) Split {
	switch i % 6 {
	case 0, 1:
		return Test
	case 2:
		return Validation
	}
	return Train
}

func (w *World) entitiesOf(split Split) []Entity {
	var out []Entity
	for i, e := range w.Entities {
		if entitySplit(i) == split {
			out = append(out, e)
		}
	}
	return out
}

// kinds: the word classes asked about by multiple-choice QA.
func kindLists() map[string][]string {
	return map[string][]string{"colour": colours, "pet": pets, "job": jobs, "city": cities}
}

var kindNames = []string{"colour", "pet", "job", "city"}

// distinctNames draws k distinct entities.
func (w *World) distinctEntities(r *rand.Rand, k int) []Entity {
	perm := r.Perm(len(w.Entities))[:k]
	out := make([]Entity, k)
	for i, p := range perm {
		out[i] = w.Entities[p]
	}
	return out
}

func distinctValues(r *rand.Rand, pool []string, k int) []string {
	perm := r.Perm(len(pool))[:k]
	out := make([]string, k)
	for i, p := range perm {
		out[i] = pool[p]
	}
	return out
}

// shuffled returns a shuffled copy of opts and the new index of opts[ans].
func shuffled(r *rand.Rand, opts []string, ans int) ([]string, int) {
	out := append([]string(nil), opts...)
	perm := r.Perm(len(out))
	res := make([]string, len(out))
	newAns := 0
	for i, p := range perm {
		res[i] = out[p]
		if p == ans {
			newAns = i
		}
	}
	return res, newAns
}

// factSentence states one attribute of e in one of several templates.
func factSentence(r *rand.Rand, name, attr, value string) string {
	var ts []string
	switch attr {
	case "city":
		ts = []string{name + " lives in " + value + " .", name + " is from " + value + " .", "the home of " + name + " is " + value + " ."}
	case "job":
		ts = []string{name + " is a " + value + " .", name + " works as a " + value + " .", "the job of " + name + " is " + value + " ."}
	case "pet":
		ts = []string{name + " has a " + value + " .", name + " owns a " + value + " .", "the pet of " + name + " is a " + value + " ."}
	case "colour":
		ts = []string{name + " likes " + value + " .", "the colour of " + name + " is " + value + " .", name + " likes the colour " + value + " ."}
	}
	return pick(r, ts)
}

func attrValue(e Entity, attr string) string {
	switch attr {
	case "city":
		return e.City
	case "job":
		return e.Job
	case "pet":
		return e.Pet
	}
	return e.Colour
}

func attrPool(attr string) []string { return kindLists()[attr] }

func heldInSpecs() []spec {
	return []spec{
		// multiple-choice QA
		{name: "mcqa_kind", category: "multiple_choice_qa", held: HeldIn,
			instruction: "choose the right answer .",
			variants:    []string{"select the correct option .", "which option fits the question ?", "pick one option to answer ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				kind := pick(r, kindNames)
				answer := pick(r, attrPool(kind))
				opts := []string{answer}
				for _, k := range r.Perm(len(kindNames)) {
					if kindNames[k] != kind && len(opts) < 4 {
						opts = append(opts, pick(r, attrPool(kindNames[k])))
					}
				}
				opts, ans := shuffled(r, opts, 0)
				return "question : which of these is a " + kind + " ?", opts, ans
			}},
		// The passage is about one person; the question asks which option
		// the passage mentions. Reading, not binding
		// several people to their values, which the 2-layer presets do not
		// learn in a short fine-tune.
		{name: "mcqa_passage", category: "multiple_choice_qa", held: HeldIn,
			instruction: "read the passage and choose the answer .",
			variants:    []string{"answer using the passage .", "look at the passage , then select an option .", "based on the passage , which option is correct ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities)
				ps := distinctValues(r, pets, 4)
				c := pick(r, colours)
				passage := "passage : " + e.Name + " has a " + ps[0] + " and a " + ps[1] + " . " + e.Pronoun() + " likes " + c + " ."
				q := " question : which pet does " + e.Name + " have ?"
				opts, ans := shuffled(r, []string{ps[r.IntN(2)], ps[2], ps[3]}, 0)
				return passage + q, opts, ans
			}},
		// Extractive QA (generative). The answer is a span of the text, found
		// by its type (the job word, the city word, the name), not by binding
		// one of several people to their value: the 2-layer presets cannot
		// learn binding lookups in a short fine-tune (see world/EVIDENCE.md).
		{name: "extqa_attr", category: "extractive_qa", held: HeldIn, generative: true,
			instruction: "copy the answer from the text .",
			variants:    []string{"give the word from the text that answers .", "reply with a word of the text .", "the answer is in the text . write it ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities)
				attrs := []string{"job", "city", "pet"}
				r.Shuffle(len(attrs), func(i, j int) { attrs[i], attrs[j] = attrs[j], attrs[i] })
				vals := map[string]string{}
				var b strings.Builder
				b.WriteString("text :")
				for k, a := range attrs {
					vals[a] = pick(r, attrPool(a))
					n := e.Name
					if k > 0 {
						n = e.Pronoun()
					}
					switch a {
					case "job":
						b.WriteString(" " + n + " is a " + vals[a] + " .")
					case "city":
						b.WriteString(" " + n + " is in " + vals[a] + " .")
					default:
						b.WriteString(" " + n + " has a " + vals[a] + " .")
					}
				}
				q := attrs[r.IntN(3)]
				opts, ans := optionsWith(r, vals[q], attrPool(q), 3)
				switch q {
				case "job":
					b.WriteString(" question : what is the job ?")
				case "city":
					b.WriteString(" question : which city is it ?")
				default:
					b.WriteString(" question : what pet is it ?")
				}
				return b.String(), opts, ans
			}},
		{name: "extqa_who", category: "extractive_qa", held: HeldIn, generative: true,
			instruction: "find the name in the text .",
			variants:    []string{"which person does the text mention ?", "write the name that answers the question .", "who ? copy the name from the text ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities)
				t := r.IntN(len(topicWords))
				ws := distinctValues(r, topicWords[t], 2)
				var s string
				switch r.IntN(3) {
				case 0:
					s = e.Name + " found the " + ws[0] + " near the " + ws[1] + " ."
				case 1:
					s = "the " + ws[0] + " near the " + ws[1] + " was found by " + e.Name + " ."
				default:
					s = "near the " + ws[1] + " , " + e.Name + " found the " + ws[0] + " ."
				}
				opts, ans := optionsWith(r, e.Name, names(w.Entities), 3)
				return "text : " + s + " question : who found the " + ws[0] + " ?", opts, ans
			}},
		// closed-book QA: facts only in the pretraining corpus; entities split by split.
		{name: "cbqa_city", category: "closed_book_qa", held: HeldIn,
			instruction: "answer the question from the facts you know .",
			variants:    []string{"use what you know to answer .", "reply from memory .", "you know this fact . answer it ."},
			gen: func(w *World, r *rand.Rand, split Split) (string, []string, int) {
				e := pick(r, w.entitiesOf(split))
				attr := pick(r, []string{"city", "job"})
				opts, ans := optionsWith(r, attrValue(e, attr), attrPool(attr), 4)
				q := "question : where does " + e.Name + " live ?"
				if attr == "job" {
					q = "question : what does " + e.Name + " work as ?"
				}
				return q, opts, ans
			}},
		// The reverse relation asks about every person in every split: test
		// prompts are new (other distractors), the facts are not. Its facts
		// are in the fine-tuning data as well as the corpus, so the expert can
		// learn them even when the base did not (the small presets do not
		// memorize the corpus facts; cbqa_city measures that recall).
		{name: "cbqa_owner", category: "closed_book_qa", held: HeldIn,
			instruction: "answer with the name of the right person .",
			variants:    []string{"which person fits the question ?", "name the person the question asks about .", "pick the person who fits ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities)
				attr := pick(r, []string{"pet", "colour"})
				v := attrValue(e, attr)
				var others []string
				for _, o := range w.Entities {
					if attrValue(o, attr) != v {
						others = append(others, o.Name)
					}
				}
				opts := []string{e.Name}
				for len(opts) < 3 {
					opts = append(opts, pickOther(r, others, opts...))
				}
				opts, ans := shuffled(r, opts, 0)
				q := "question : who has a " + v + " ?"
				if attr == "colour" {
					q = "question : who likes " + v + " ?"
				}
				return q, opts, ans
			}},
		// sentiment
		{name: "sentiment_reviews", category: "sentiment", held: HeldIn,
			instruction: "is the review positive or negative ?",
			variants:    []string{"classify the review .", "decide if the writer likes it .", "what is the sentiment of this review ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				pos := r.IntN(2) == 0
				adj := pick(r, positiveAdj)
				if !pos {
					adj = pick(r, negativeAdj)
				}
				noun := pick(r, reviewNouns)
				var s string
				switch r.IntN(3) {
				case 0:
					s = "the " + noun + " was " + adj + " ."
				case 1:
					s = "the " + noun + " was very " + adj + " ."
				default:
					s = pick(r, w.Entities).Name + " said the " + noun + " was " + adj + " ."
				}
				ans := 0
				if !pos {
					ans = 1
				}
				return "review : " + s, []string{"positive", "negative"}, ans
			}},
		{name: "sentiment_negation", category: "sentiment", held: HeldIn,
			instruction: "tell the feeling of the writer .",
			variants:    []string{"how does the writer feel ?", "label the review as positive or negative .", "is this writer glad or not ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				pos := r.IntN(2) == 0
				clause := func() string {
					neg := r.IntN(2) == 0
					// the clause's polarity after negation must equal pos
					wantPosAdj := pos != neg
					adj := pick(r, positiveAdj)
					if !wantPosAdj {
						adj = pick(r, negativeAdj)
					}
					if neg {
						return "the " + pick(r, reviewNouns) + " was not " + adj
					}
					return "the " + pick(r, reviewNouns) + " was " + adj
				}
				ans := 0
				if !pos {
					ans = 1
				}
				return "review : " + clause() + " and " + clause() + " .", []string{"positive", "negative"}, ans
			}},
		// topic classification
		{name: "topic_sentence", category: "topic_classification", held: HeldIn,
			instruction: "what is the topic of the sentence ?",
			variants:    []string{"classify the sentence by topic .", "which topic is this sentence about ?", "what does the sentence talk about ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				t := r.IntN(len(topicNames))
				ws := distinctValues(r, topicWords[t], 2)
				s := pick(r, w.Entities).Name + " " + pick(r, []string{"saw", "likes", "heard"}) + " the " + ws[0] + " and the " + ws[1] + " ."
				opts, ans := optionsWith(r, topicNames[t], topicNames, 4)
				return "sentence : " + s, opts, ans
			}},
		{name: "topic_words", category: "topic_classification", held: HeldIn,
			instruction: "which topic do the words belong to ?",
			variants:    []string{"what group are these words from ?", "name the topic of the list of words .", "the words are mostly about what ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				t := r.IntN(len(topicNames))
				ws := distinctValues(r, topicWords[t], 3)
				o := pickOther(r, topicNames, topicNames[t])
				ws = append(ws, pick(r, topicWords[slices.Index(topicNames, o)]))
				r.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
				opts, ans := optionsWith(r, topicNames[t], topicNames, 4)
				return "words : " + strings.Join(ws, " "), opts, ans
			}},
		// structure-to-text (generative)
		{name: "s2t_record", category: "structure_to_text", held: HeldIn, generative: true,
			instruction: "write the record as a sentence .",
			variants:    []string{"turn the field values into a sentence .", "say the record in words .", "describe this record ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities).Name
				job, city := pick(r, jobs), pick(r, cities)
				say := func(j, c string) string { return e + " is a " + j + " from " + c + " ." }
				opts := []string{say(job, city), say(pickOther(r, jobs, job), city), say(job, pickOther(r, cities, city))}
				opts, ans := shuffled(r, opts, 0)
				return "record : name = " + e + " job = " + job + " city = " + city, opts, ans
			}},
		{name: "s2t_triple", category: "structure_to_text", held: HeldIn, generative: true,
			instruction: "describe the triple in words .",
			variants:    []string{"write a sentence for the triple .", "turn the triple into text .", "say what the triple means ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				e := pick(r, w.Entities).Name
				rel := pick(r, []string{"has", "likes", "lives in", "works as"})
				var pool []string
				var say func(v string) string
				switch rel {
				case "has":
					pool, say = pets, func(v string) string { return e + " has a " + v + " ." }
				case "likes":
					pool, say = colours, func(v string) string { return e + " likes " + v + " ." }
				case "lives in":
					pool, say = cities, func(v string) string { return e + " lives in " + v + " ." }
				default:
					pool, say = jobs, func(v string) string { return e + " works as a " + v + " ." }
				}
				v := pick(r, pool)
				v2 := pickOther(r, pool, v)
				v3 := pickOther(r, pool, v, v2)
				opts, ans := shuffled(r, []string{say(v), say(v2), say(v3)}, 0)
				return "triple : ( " + e + " , " + rel + " , " + v + " )", opts, ans
			}},
		// summarization (generative)
		{name: "sum_entity", category: "summarization", held: HeldIn, generative: true,
			instruction: "summarize the passage in two words .",
			variants:    []string{"give a two word summary .", "what is the passage mostly about ? name and topic .", "write a short summary of the passage ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				es := w.distinctEntities(r, 2)
				t := r.IntN(len(topicNames))
				t2 := slices.Index(topicNames, pickOther(r, topicNames, topicNames[t]))
				verbs := []string{"saw", "likes", "heard"}
				ws := distinctValues(r, topicWords[t], 2)
				sents := []string{
					es[0].Name + " " + pick(r, verbs) + " the " + ws[0] + " .",
					es[0].Name + " " + pick(r, verbs) + " the " + ws[1] + " .",
					es[1].Name + " " + pick(r, verbs) + " the " + pick(r, topicWords[t2]) + " .",
				}
				r.Shuffle(len(sents), func(i, j int) { sents[i], sents[j] = sents[j], sents[i] })
				a, b := es[0].Name, es[1].Name
				opts := []string{a + " " + topicNames[t], b + " " + topicNames[t2], a + " " + topicNames[t2], b + " " + topicNames[t]}
				opts, ans := shuffled(r, opts, 0)
				return "passage : " + strings.Join(sents, " "), opts, ans
			}},
		{name: "sum_trip", category: "summarization", held: HeldIn, generative: true,
			instruction: "give a short summary of the story .",
			variants:    []string{"summarize the story .", "tell the main fact of the story .", "who went where ? summarize ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				es := w.distinctEntities(r, 2)
				a, b := es[0], es[1]
				c := distinctValues(r, cities, 2)
				story := "story : " + a.Name + " went to " + c[0] + " . " + a.Pronoun() + " met " + b.Name + " from " + c[1] + " . " +
					a.Pronoun() + " saw the " + pick(r, topicWords[r.IntN(len(topicWords))]) + " ."
				say := func(n, city string) string { return n + " went to " + city }
				opts, ans := shuffled(r, []string{say(a.Name, c[0]), say(b.Name, c[0]), say(a.Name, c[1])}, 0)
				return story, opts, ans
			}},
		// paraphrase identification
		// One descriptor per sentence, at the same position: yes when the
		// second is a synonym (or the same word), no when it is an antonym.
		// Two descriptors per sentence were not learned by the 2-layer presets.
		{name: "para_synonym", category: "paraphrase", held: HeldIn,
			instruction: "do the two sentences have the same meaning ?",
			variants:    []string{"are the two sentences equal in meaning ?", "check if both sentences mean one thing .", "say yes if the sentences mean the same ."},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				n := pick(r, w.Entities).Name
				d := descriptors[r.IntN(len(descriptors))]
				side := r.IntN(2)
				noun := pick(r, []string{n, "the " + pick(r, pets)})
				s1 := noun + " is " + d[2*side+r.IntN(2)] + " ."
				ans := r.IntN(2)
				s2side := side
				if ans == 1 {
					s2side = 1 - side
				}
				s2 := noun + " is " + d[2*s2side+r.IntN(2)] + " ."
				return "one : " + s1 + " two : " + s2, []string{"yes", "no"}, ans
			}},
		{name: "para_template", category: "paraphrase", held: HeldIn,
			instruction: "do both sentences say the same fact ?",
			variants:    []string{"is it one fact in two ways ?", "do the sentences state one fact ?", "are these two sentences saying the same thing ?"},
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				n := pick(r, w.Entities).Name
				attr := pick(r, kindNames)
				v := pick(r, attrPool(attr))
				s1 := factSentence(r, n, attr, v)
				same := r.IntN(2) == 0
				attr2, v2 := attr, v
				if !same {
					// Half of the different pairs state another kind of fact,
					// half the same kind with another value.
					if r.IntN(2) == 0 {
						attr2 = pickOther(r, kindNames, attr)
						v2 = pick(r, attrPool(attr2))
					} else {
						v2 = pickOther(r, attrPool(attr), v)
					}
				}
				s2 := factSentence(r, n, attr2, v2)
				for s2 == s1 {
					s2 = factSentence(r, n, attr2, v2)
				}
				ans := 0
				if !same {
					ans = 1
				}
				return s1 + " <sep> " + s2, []string{"yes", "no"}, ans
			}},
	}
}
