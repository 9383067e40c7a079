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
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				ws := distinctValues(r, mixturePool(), 3+r.IntN(3))
				opts, ans := optionsWith(r, ws[len(ws)-1], ws, 3)
				return "list : " + strings.Join(ws, " "), opts, ans
			}},
		{name: "mix_first_word", category: "copying", held: Mixture,
			instruction: "tell me the first item .",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				ws := distinctValues(r, mixturePool(), 3+r.IntN(3))
				opts, ans := optionsWith(r, ws[0], ws, 2+r.IntN(min(3, len(ws)-1)))
				return "items : " + strings.Join(ws, " "), opts, ans
			}},
		{name: "mix_contains", category: "membership", held: Mixture,
			instruction: "check if the list contains the word .",
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
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				n := 1 + r.IntN(5)
				ws := distinctValues(r, mixturePool(), n)
				opts, ans := optionsWith(r, numberWords[n], numberWords[1:6], 3)
				return "list : " + strings.Join(ws, " "), opts, ans
			}},
		{name: "mix_swap", category: "ordering", held: Mixture,
			instruction: "swap the order of the two words .",
			gen: func(w *World, r *rand.Rand, _ Split) (string, []string, int) {
				ws := distinctValues(r, mixturePool(), 2)
				opts, ans := shuffled(r, []string{ws[1] + " " + ws[0], ws[0] + " " + ws[1]}, 0)
				return "pair : " + ws[0] + " " + ws[1], opts, ans
			}},
		{name: "mix_stated_fact", category: "truth", held: Mixture,
			instruction: "read the fact . answer the question with yes , no , or maybe .",
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
	}
}
