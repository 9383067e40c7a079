package world

import (
	"index/suffixarray"
	"slices"
	"strings"
	"testing"
)

// inputOf is an instance's input: its prompt without the instruction, the
// options and the <ans> marker.
func inputOf(t *Task, in Instance) string {
	p := in.Prompt
	for _, ins := range t.TrainInstructions {
		if strings.HasPrefix(p, ins+" ") {
			p = strings.TrimPrefix(p, ins+" ")
			break
		}
	}
	if i := strings.Index(p, " options : "); i >= 0 {
		p = p[:i]
	}
	return strings.TrimSuffix(p, " <ans>")
}

// core is an input without its leading "label :" and a trailing "...": the
// text a corpus sentence could contain.
func core(input string) string {
	if i := strings.Index(input, " : "); i >= 0 && !strings.Contains(input[:i], " ") {
		input = input[i+3:]
	}
	return strings.TrimSuffix(input, " ...")
}

// format is the sequence of "label :" words of an input.
func format(input string) string {
	f := strings.Fields(input)
	var labels []string
	for i := 1; i < len(f); i++ {
		if f[i] == ":" {
			labels = append(labels, f[i-1])
		}
	}
	return strings.Join(labels, " ")
}

func optionSet(opts []string) string {
	s := slices.Clone(opts)
	slices.Sort(s)
	return strings.Join(s, "|")
}

// suites are the task suites of every world version, for the tests that
// hold for each.
func suites(t *testing.T) map[string]*Suite {
	t.Helper()
	out := map[string]*Suite{}
	for _, v := range Versions() {
		s, err := NewSuiteVersion(v, 1, DefaultSizes())
		if err != nil {
			t.Fatal(err)
		}
		out[v] = s
	}
	return out
}

// The held-out tasks are unseen at the level of data, not only of
// instructions: no held-out validation or test input appears in the corpus,
// the instruction mixture or any held-in split; no input followed by its
// answer appears in the corpus; and no training task pairs a held-out
// task's option set with the held-out task's input format. In suite-5 the
// facts that knowledge tasks ask for are in the corpus by design; the
// held-out tasks' wordings are not.
func TestHeldOutUnseenInData(t *testing.T) {
	for v, s := range suites(t) {
		t.Run(v, func(t *testing.T) { heldOutUnseen(t, s) })
	}
}

func heldOutUnseen(t *testing.T, s *Suite) {
	var b strings.Builder
	for _, d := range s.Corpus().Corpus(5000, 1) {
		b.WriteString("\n" + d + "\n")
	}
	corpus := suffixarray.New([]byte(b.String()))
	b.Reset()
	training := map[string]string{} // format + option set -> task
	for _, tk := range s.Tasks {
		if tk.Heldness == HeldOut {
			continue
		}
		for _, sp := range []Split{Train, Validation, Test} {
			for _, in := range tk.Split(sp) {
				b.WriteString("\n" + in.Prompt + " " + in.Target + "\n")
				training[format(inputOf(tk, in))+"/"+optionSet(in.Options)] = tk.Name
			}
		}
	}
	prompts := suffixarray.New([]byte(b.String()))
	for _, ho := range s.TasksOf(HeldOut) {
		bad := 0
		for _, sp := range []Split{Validation, Test} {
			for _, in := range ho.Split(sp) {
				input := inputOf(ho, in)
				report := func(format string, args ...any) {
					if bad++; bad <= 3 {
						t.Errorf("%s %s: "+format, append([]any{ho.Name, sp}, args...)...)
					}
				}
				if len(corpus.Lookup([]byte(core(input)), 1)) > 0 {
					report("input %q is in the corpus", core(input))
				}
				if len(corpus.Lookup([]byte(core(input)+" "+in.Target), 1)) > 0 {
					report("input and answer %q are in the corpus", core(input)+" "+in.Target)
				}
				if len(prompts.Lookup([]byte(input), 1)) > 0 {
					report("input %q is in a training prompt", input)
				}
				if name, ok := training[format(input)+"/"+optionSet(in.Options)]; ok {
					report("training task %s uses the options %v with the input format %q", name, in.Options, format(input))
				}
			}
		}
	}
}

// Every held-out task has at least two held-in skills, and its validation
// and test answers are balanced: the most frequent answer is at most
// chance + 0.05 of the split.
func TestHeldOutShapeAndBalance(t *testing.T) {
	for v, s := range suites(t) {
		t.Run(v, func(t *testing.T) { heldOutShape(t, s) })
	}
}

func heldOutShape(t *testing.T, s *Suite) {
	hos := s.TasksOf(HeldOut)
	if len(hos) < 7 || len(s.Categories(HeldOut)) != 4 {
		t.Fatalf("%d held-out tasks in %d categories", len(hos), len(s.Categories(HeldOut)))
	}
	heldIn := map[string]bool{}
	for _, c := range s.Categories(HeldIn) {
		heldIn[c] = true
	}
	for _, ho := range hos {
		n := 0
		for _, sk := range ho.Skills {
			if heldIn[sk] {
				n++
			}
		}
		if n < 2 {
			t.Errorf("%s: %d held-in skills %v", ho.Name, n, ho.Skills)
		}
		for _, sp := range []Split{Validation, Test} {
			count := map[string]int{}
			most := 0
			for _, in := range ho.Split(sp) {
				count[in.Target]++
				most = max(most, count[in.Target])
			}
			if frac := float64(most) / float64(len(ho.Split(sp))); frac > ho.Chance()+0.05 {
				t.Errorf("%s %s: most frequent answer is %.3f of the split (chance %.3f)", ho.Name, sp, frac, ho.Chance())
			}
		}
	}
}
