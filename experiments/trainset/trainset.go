// Package trainset builds the training sets of a study from the built-in
// world's tasks and corpus: token examples whose loss is on the target
// only.
//
// Training and scoring are aligned: a task example is trained with
// Prompt = the rendered prompt (ending in <ans>) and Target = the answer's
// tokens followed by <eos>; rank classification (package eval) scores every
// option as the sum of the log-probabilities of the same sequence, option
// tokens + <eos>. Counting <eos> is what T0 does with T5 targets, and it
// keeps an option that is a prefix of another (e.g. "dog" and "dog cat")
// from winning by being short.
package trainset

import (
	"errors"
	"fmt"

	"mergescale/tokenizer"
	"mergescale/world"
)

// Example is one training sequence: the loss is on Target only. It has the
// same fields as model.Example, so a caller converts with
// model.Example(e) or field by field.
type Example struct {
	Prompt, Target []int
}

// EncodeInstance turns a task instance into a training example: the prompt's
// tokens, and the answer's tokens followed by the tokenizer's end-of-sequence
// token.
func EncodeInstance(tok tokenizer.Codec, in world.Instance) (Example, error) {
	eos := tok.Special().EOS
	if eos == tokenizer.NoToken {
		return Example{}, errors.New("eval: the tokenizer has no end-of-sequence token to end targets with")
	}
	p, err := tok.EncodeStrict(in.Prompt)
	if err != nil {
		return Example{}, fmt.Errorf("eval: prompt %q: %w", in.Prompt, err)
	}
	t, err := tok.EncodeStrict(in.Target)
	if err != nil {
		return Example{}, fmt.Errorf("eval: target %q: %w", in.Target, err)
	}
	return Example{Prompt: p, Target: append(t, eos)}, nil
}

// TaskExamples returns the training examples of the train split of every
// task, task after task (a trainer shuffles them).
func TaskExamples(tok tokenizer.Codec, tasks []*world.Task) ([]Example, error) {
	var out []Example
	for _, t := range tasks {
		for i, in := range t.Train {
			ex, err := EncodeInstance(tok, in)
			if err != nil {
				return nil, fmt.Errorf("eval: task %s train[%d]: %w", t.Name, i, err)
			}
			out = append(out, ex)
		}
	}
	return out, nil
}

// ExpertExamples returns the training data of the expert of a held-in
// category: the train splits of the category's tasks.
func ExpertExamples(s *world.Suite, category string) ([]Example, error) {
	tasks := s.CategoryTasks(category)
	if len(tasks) == 0 || tasks[0].Heldness != world.HeldIn {
		return nil, fmt.Errorf("eval: %q is not a held-in category", category)
	}
	return TaskExamples(s.World.Tokenizer(), tasks)
}

// MultitaskExamples returns the train splits of every held-in task.
func MultitaskExamples(s *world.Suite) ([]Example, error) {
	return TaskExamples(s.World.Tokenizer(), s.TasksOf(world.HeldIn))
}

// MixtureExamples returns the train splits of the instruction mixture.
func MixtureExamples(s *world.Suite) ([]Example, error) {
	return TaskExamples(s.World.Tokenizer(), s.TasksOf(world.Mixture))
}

// CorpusExamples returns n pretraining documents of the world as examples
// with an empty prompt and Target = <bos> document <eos> (the loss is on
// every token after <bos>).
func CorpusExamples(w world.CorpusSource, n int, seed uint64) ([]Example, error) {
	tok := w.Tokenizer()
	sp := tok.Special()
	docs := w.Corpus(n, seed)
	out := make([]Example, 0, len(docs))
	for i, d := range docs {
		ids, err := tok.EncodeStrict(d)
		if err != nil {
			return nil, fmt.Errorf("eval: corpus document %d: %w", i, err)
		}
		t := make([]int, 0, len(ids)+2)
		t = append(t, sp.BOS)
		t = append(t, ids...)
		out = append(out, Example{Target: append(t, sp.EOS)})
	}
	return out, nil
}
