package world

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"mergescale/tokenizer"
)

// Heldness says which part of the suite a task belongs to.
type Heldness string

// The three parts of the suite.
const (
	HeldIn  Heldness = "held_in"
	HeldOut Heldness = "held_out"
	Mixture Heldness = "instruction_mixture"
)

// Split names a split of a task.
type Split string

// The splits of every task.
const (
	Train      Split = "train"
	Validation Split = "validation"
	Test       Split = "test"
)

// Instance is one example of a task. Prompt is the full rendered prompt:
// instruction, input, the options when the task shows them, and the final
// <ans> marker. Target is the reference output (Options[Answer]); for the
// generative categories it is the text to produce.
//
// A task folder's instance may instead carry a context per option
// (Contexts, one loglikelihood request per context, Continuation shared;
// no Prompt or Options), or no options at all (Prompt and Target: scored
// on greedy generation only). Form tells the three apart; MarshalJSON
// writes each in its own line shape.
type Instance struct {
	Prompt       string   `json:"prompt"`
	Options      []string `json:"options"`
	Answer       int      `json:"answer"`
	Target       string   `json:"target"`
	Contexts     []string `json:"contexts,omitempty"`
	Continuation string   `json:"continuation,omitempty"`
	// Fact is, for an instance of a knowledge task (suite-5), the ID of the
	// one fact of the knowledge base its answer needs (Fact.ID); "" for
	// every other instance. Task folders do not carry it.
	Fact string `json:"-"`
}

// Task is one "dataset" of the suite with its three splits.
type Task struct {
	Name        string
	Category    string
	Heldness    Heldness
	Instruction string
	// TrainInstructions are the instructions the train split draws from,
	// Instruction first: several prompt templates per task, as T0's P3
	// prompts give every dataset several, so a model trained on the task
	// learns the task rather than one wording. Validation and test always use
	// Instruction. Held-out tasks have exactly one.
	TrainInstructions []string
	// Generative tasks (extractive QA, structure-to-text, summarization) do
	// not show their options in the prompt; they are scored by rank
	// classification over the options and by exact match of greedy decoding.
	Generative bool
	// Skills lists, for a held-out task, the held-in categories whose skills
	// it recombines (the written skill map of the suite).
	Skills                  []string
	Train, Validation, Test []Instance
	// ChanceLevel, when positive, is the chance accuracy declared for the
	// task (a task set's suite.json); Chance returns it.
	ChanceLevel float64
	// Scoring holds the task's scoring settings (a task set's suite.json);
	// the built-in suite's tasks leave it zero.
	Scoring Scoring
	// Knowledge marks a task whose instances need a fact of the base's
	// memory (suite-5's knowledge tasks; each instance names its fact in
	// Instance.Fact). In-context tasks and every suite-4 task leave it false.
	Knowledge bool
	// TestFrom names the source split the test split was taken from when
	// it is not the source's test split: TestFromValidation for a data set
	// whose test labels are hidden (a task set's suite.json "test_from";
	// "" otherwise).
	TestFrom string
}

// Split returns the instances of a split (nil for an unknown name).
func (t *Task) Split(s Split) []Instance {
	switch s {
	case Train:
		return t.Train
	case Validation:
		return t.Validation
	case Test:
		return t.Test
	}
	return nil
}

// Chance is the expected accuracy of a uniform random choice among the
// options, averaged over the test split (1 / number of options when it is
// constant).
func (t *Task) Chance() float64 {
	if t.ChanceLevel > 0 {
		return t.ChanceLevel
	}
	insts := t.Test
	if len(insts) == 0 {
		insts = t.Train
	}
	if len(insts) == 0 {
		return 0
	}
	// Group by number of options so that a constant k gives exactly 1/k.
	count := map[int]int{}
	for _, in := range insts {
		count[in.Choices()]++
	}
	s := 0.0
	for _, k := range slices.Sorted(maps.Keys(count)) { // a fixed summation order
		if k > 0 {
			s += float64(count[k]) / float64(len(insts)) / float64(k)
		}
	}
	return s
}

// Sizes are the number of examples per split of every task.
type Sizes struct {
	Train, Validation, Test int
}

// DefaultSizes are the split sizes used when nothing else is configured.
func DefaultSizes() Sizes { return Sizes{Train: 2000, Validation: 64, Test: 128} }

// MaxPromptTokens bounds every rendered prompt.
const MaxPromptTokens = 48

// Suite is the whole generated task suite of one world.
type Suite struct {
	// World is the suite-4 world; in suite-5, the world of the novel names
	// (KnowledgeWorld.NovelWorld) that the in-context tasks run on, with
	// the knowledge world's tokenizer.
	World *World
	// Knowledge is the suite-5 knowledge world (nil in suite-4).
	Knowledge *KnowledgeWorld
	// Version is the world version the suite was generated by.
	Version string
	Sizes   Sizes
	Tasks   []*Task // held-in, then held-out, then instruction mixture, each in category order
}

// CorpusSource is a world that writes a pretraining corpus: the suite-4
// World and the suite-5 KnowledgeWorld.
type CorpusSource interface {
	Tokenizer() *tokenizer.Tokenizer
	Corpus(n int, seed uint64) []string
}

// Corpus returns the world whose corpus the suite's bases pretrain on.
func (s *Suite) Corpus() CorpusSource {
	if s.Knowledge != nil {
		return s.Knowledge
	}
	return s.World
}

// spec describes how a task is generated. gen returns the task input (without
// instruction and options), the options and the answer index. split lets a
// generator keep the entities of test and train apart (closed-book QA).
type spec struct {
	name, category string
	held           Heldness
	instruction    string
	variants       []string // further instructions for the train split (held-in and mixture)
	generative     bool
	skills         []string
	gen            func(w *World, r *rand.Rand, split Split) (input string, options []string, answer int)
	// kgen, set instead of gen on suite-5's own tasks, draws from the
	// knowledge world; fact is the ID of the fact the instance needs ("" for
	// an in-context task), and knowledge marks the task as a knowledge task.
	kgen      func(k *KnowledgeWorld, r *rand.Rand, split Split) (input string, options []string, answer int, fact string)
	knowledge bool
}

// Category lists, in display order.
var (
	heldInCategories  = []string{"multiple_choice_qa", "extractive_qa", "closed_book_qa", "sentiment", "topic_classification", "structure_to_text", "summarization", "paraphrase"}
	heldOutCategories = []string{"sentence_completion", "nli", "coreference", "word_sense"}
)

// HeldInCategories returns the 8 held-in categories in display order.
func HeldInCategories() []string { return append([]string(nil), heldInCategories...) }

// HeldOutCategories returns the 4 held-out categories in display order.
func HeldOutCategories() []string { return append([]string(nil), heldOutCategories...) }

func allSpecs() []spec {
	var out []spec
	out = append(out, heldInSpecs()...)
	out = append(out, heldOutSpecs()...)
	out = append(out, mixtureSpecs()...)
	return out
}

// NewSuite generates every task of the world of seed with the given sizes.
func NewSuite(seed uint64, sizes Sizes) (*Suite, error) {
	if sizes.Train < 0 || sizes.Validation < 0 || sizes.Test < 0 {
		return nil, fmt.Errorf("world: negative split size %+v", sizes)
	}
	w, err := New(seed)
	if err != nil {
		return nil, err
	}
	return w.suite(&Suite{World: w, Version: Version, Sizes: sizes}, allSpecs())
}

// suite generates the tasks of specs into s from its World (and, for
// suite-5's own tasks, its Knowledge world) and returns it.
func (w *World) suite(s *Suite, specs []spec) (*Suite, error) {
	for _, sp := range specs {
		t, err := w.generate(sp, s.Sizes, s.Knowledge)
		if err != nil {
			return nil, err
		}
		s.Tasks = append(s.Tasks, t)
	}
	return s, nil
}

// Task returns the task with the given name.
func (s *Suite) Task(name string) (*Task, bool) {
	for _, t := range s.Tasks {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// TasksOf returns the tasks of one part of the suite, in order.
func (s *Suite) TasksOf(h Heldness) []*Task {
	var out []*Task
	for _, t := range s.Tasks {
		if t.Heldness == h {
			out = append(out, t)
		}
	}
	return out
}

// Categories returns the categories of one part of the suite in display order.
func (s *Suite) Categories(h Heldness) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range s.TasksOf(h) {
		if !seen[t.Category] {
			seen[t.Category] = true
			out = append(out, t.Category)
		}
	}
	return out
}

// CategoryTasks returns the tasks of a category (any part of the suite).
func (s *Suite) CategoryTasks(category string) []*Task {
	var out []*Task
	for _, t := range s.Tasks {
		if t.Category == category {
			out = append(out, t)
		}
	}
	return out
}

func streamOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// generate draws the splits of one task: test first, then validation (both
// without duplicate prompts), then train, which may repeat prompts but never
// contains a prompt of validation or test. k is the knowledge world of a
// suite-5 spec's kgen (nil in suite-4).
func (w *World) generate(sp spec, sizes Sizes, k *KnowledgeWorld) (*Task, error) {
	if sp.kgen != nil && k == nil {
		return nil, fmt.Errorf("world: task %s needs the knowledge world", sp.name)
	}
	t := &Task{Name: sp.name, Category: sp.category, Heldness: sp.held, Instruction: sp.instruction,
		TrainInstructions: append([]string{sp.instruction}, sp.variants...), Generative: sp.generative, Skills: sp.skills,
		Knowledge: sp.knowledge}
	// seen holds the inputs (prompt without instruction) of validation and
	// test: train never repeats one, whatever its instruction.
	seen := map[string]bool{}
	draw := func(split Split, n int, unique bool) ([]Instance, error) {
		r := rand.New(rand.NewPCG(w.Seed, streamOf(sp.name+"/"+string(split))))
		out := make([]Instance, 0, n)
		local := map[string]bool{}
		// Held-out validation and test splits are balanced: no answer is
		// more frequent than chance + 3 points, so a model that always gives
		// one answer stays near chance.
		answers := map[string]int{}
		balanced := sp.held == HeldOut && unique
		for attempts := 0; len(out) < n; attempts++ {
			if attempts > 200*n+1000 {
				return nil, fmt.Errorf("world: task %s: only %d distinct %s examples (want %d)", sp.name, len(out), split, n)
			}
			var (
				input, fact string
				opts        []string
				ans         int
			)
			if sp.kgen != nil {
				input, opts, ans, fact = sp.kgen(k, r, split)
			} else {
				input, opts, ans = sp.gen(w, r, split)
			}
			instr := sp.instruction
			if split == Train && len(sp.variants) > 0 {
				instr = t.TrainInstructions[r.IntN(len(t.TrainInstructions))]
			}
			in := render(sp, instr, input, opts, ans)
			in.Fact = fact
			body := strings.TrimPrefix(in.Prompt, instr+" ")
			if seen[body] || (unique && local[body]) {
				continue
			}
			if balanced && float64(answers[in.Target]+1) > math.Ceil(float64(n)*(1/float64(len(opts))+0.03)) {
				continue
			}
			answers[in.Target]++
			local[body] = true
			out = append(out, in)
		}
		if unique {
			for p := range local {
				seen[p] = true
			}
		}
		return out, nil
	}
	if sp.held == Mixture {
		// The mixture is only trained on: its validation and test splits
		// exist to keep train apart from them and never grow past the
		// defaults, so a larger evaluation split (world.test) does not
		// exhaust a family's inputs.
		d := DefaultSizes()
		sizes.Validation, sizes.Test = min(sizes.Validation, d.Validation), min(sizes.Test, d.Test)
	}
	var err error
	if t.Test, err = draw(Test, sizes.Test, true); err != nil {
		return nil, err
	}
	if t.Validation, err = draw(Validation, sizes.Validation, true); err != nil {
		return nil, err
	}
	if t.Train, err = draw(Train, sizes.Train, false); err != nil {
		return nil, err
	}
	return t, nil
}

// render builds the prompt: instruction, input, the options unless the task
// is generative, and <ans>.
func render(sp spec, instruction, input string, opts []string, ans int) Instance {
	var b strings.Builder
	b.WriteString(instruction)
	b.WriteString(" ")
	b.WriteString(input)
	if !sp.generative {
		b.WriteString(" options : ")
		b.WriteString(strings.Join(opts, " <sep> "))
	}
	b.WriteString(" <ans>")
	return Instance{Prompt: b.String(), Options: opts, Answer: ans, Target: opts[ans]}
}

// Validate checks that every prompt and option of the suite encodes with the
// world's vocabulary, that prompts fit in MaxPromptTokens and that every task
// has 2 to 4 distinct options.
func (s *Suite) Validate() error {
	tok := s.World.Tokenizer()
	for _, t := range s.Tasks {
		for _, sp := range []Split{Train, Validation, Test} {
			for i, in := range t.Split(sp) {
				ids, err := tok.EncodeStrict(in.Prompt)
				if err != nil {
					return fmt.Errorf("world: task %s %s[%d]: %w", t.Name, sp, i, err)
				}
				if len(ids) > MaxPromptTokens-1 { // one position is left for <bos>
					return fmt.Errorf("world: task %s %s[%d]: prompt has %d tokens (max %d): %q", t.Name, sp, i, len(ids), MaxPromptTokens, in.Prompt)
				}
				if len(in.Options) < 2 || len(in.Options) > 4 {
					return fmt.Errorf("world: task %s %s[%d]: %d options", t.Name, sp, i, len(in.Options))
				}
				dup := map[string]bool{}
				for _, o := range in.Options {
					if dup[o] {
						return fmt.Errorf("world: task %s %s[%d]: duplicate option %q", t.Name, sp, i, o)
					}
					dup[o] = true
					if _, err := tok.EncodeStrict(o); err != nil {
						return fmt.Errorf("world: task %s %s[%d] option: %w", t.Name, sp, i, err)
					}
				}
				if in.Answer < 0 || in.Answer >= len(in.Options) {
					return fmt.Errorf("world: task %s %s[%d]: answer %d out of range", t.Name, sp, i, in.Answer)
				}
			}
		}
	}
	return nil
}
