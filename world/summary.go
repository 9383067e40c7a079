package world

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"mergescale/internal/atomicfile"
)

// TaskSummary describes one task of the suite listing.
type TaskSummary struct {
	Name   string  `json:"name"`
	Chance float64 `json:"chance"`
	// Generative says that exact match of greedy decoding applies (the
	// prompt does not show the options).
	Generative bool `json:"generative"`
	// Scoring holds the task's scoring settings (target_delimiter, eos,
	// until, metric), all omitted for the built-in suite.
	Scoring
	// TestFrom is "validation" when the test split holds the source data
	// set's validation split (its test labels being hidden); omitted
	// otherwise.
	TestFrom   string `json:"test_from,omitempty"`
	Train      int    `json:"train"`
	Validation int    `json:"validation"`
	Test       int    `json:"test"`
}

// CategorySummary lists the tasks of one category.
type CategorySummary struct {
	Category string        `json:"category"`
	Tasks    []TaskSummary `json:"tasks"`
}

// Summary is the listing printed by `mergescale suite --json`.
type Summary struct {
	Seed    uint64            `json:"seed"`
	HeldIn  []CategorySummary `json:"held_in"`
	HeldOut []CategorySummary `json:"held_out"`
	Mixture []CategorySummary `json:"instruction_mixture"`
}

// summary describes the task as suite.json lists it.
func (t *Task) summary() TaskSummary {
	return TaskSummary{Name: t.Name, Chance: t.Chance(), Generative: t.Generative, Scoring: t.Scoring, TestFrom: t.TestFrom,
		Train: len(t.Train), Validation: len(t.Validation), Test: len(t.Test)}
}

// Summary lists the suite's categories and tasks with their split sizes and
// chance levels.
func (s *Suite) Summary() Summary {
	part := func(h Heldness) []CategorySummary {
		out := []CategorySummary{}
		for _, c := range s.Categories(h) {
			cs := CategorySummary{Category: c}
			for _, t := range s.CategoryTasks(c) {
				cs.Tasks = append(cs.Tasks, t.summary())
			}
			out = append(out, cs)
		}
		return out
	}
	return Summary{Seed: s.World.Seed, HeldIn: part(HeldIn), HeldOut: part(HeldOut), Mixture: part(Mixture)}
}

// Export writes every split of every task as JSON Lines, one instance
// (prompt, options, answer, target) per line, to dir/<task>/<split>.jsonl,
// plus the suite listing (suite.json) and the world's tokenizer files, so
// that other tools can train and evaluate on the same data. dir is created
// when missing.
func (s *Suite) Export(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("world: export: %w", err)
	}
	for _, t := range s.Tasks {
		td := filepath.Join(dir, t.Name)
		if err := os.MkdirAll(td, 0o755); err != nil {
			return fmt.Errorf("world: export: %w", err)
		}
		for _, sp := range []Split{Train, Validation, Test} {
			if err := writeJSONL(filepath.Join(td, string(sp)+".jsonl"), t.Split(sp)); err != nil {
				return err
			}
		}
	}
	b, err := json.MarshalIndent(s.Summary(), "", "  ")
	if err != nil {
		return fmt.Errorf("world: export: %w", err)
	}
	path := filepath.Join(dir, "suite.json")
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("world: export: %w", err)
	}
	if err := s.World.Tokenizer().Save(dir); err != nil {
		return fmt.Errorf("world: export: %w", err)
	}
	return nil
}

// writeJSONL writes insts to path, one JSON object a line, atomically.
func writeJSONL(path string, insts []Instance) error {
	err := atomicfile.WriteFunc(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, in := range insts {
			if err := enc.Encode(in); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("world: export: %w", err)
	}
	return nil
}
