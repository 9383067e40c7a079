package world

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TaskSet is a task set read from a folder in the layout Export writes:
// suite.json (categories, held-in and held-out tasks, chance, generative)
// and <task>/{train,validation,test}.jsonl. It replaces the generated suite
// in a study on existing checkpoints.
type TaskSet struct {
	Dir string
	// Tasks are the held-in tasks, then the held-out ones, in suite.json
	// order. Instruction-mixture tasks are not read.
	Tasks []*Task
	// Hash is a hex SHA-256 of suite.json and every split file read: it
	// stands for the task data in evaluation job keys.
	Hash string
}

// Categories returns the categories of one part of the set in suite.json
// order.
func (ts *TaskSet) Categories(h Heldness) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range ts.Tasks {
		if t.Heldness == h && !seen[t.Category] {
			seen[t.Category] = true
			out = append(out, t.Category)
		}
	}
	return out
}

// suiteFile is suite.json as a task set reads it.
type suiteFile struct {
	Seed    uint64            `json:"seed"`
	HeldIn  []CategorySummary `json:"held_in"`
	HeldOut []CategorySummary `json:"held_out"`
	Mixture []CategorySummary `json:"instruction_mixture"`
}

// taskDirProblems collects every problem of a task folder.
type taskDirProblems struct{ errs []error }

func (p *taskDirProblems) add(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// ReadTaskDir reads and validates a task folder. Every problem is reported
// (joined, one per line), each naming its file and line: a task in
// suite.json without files, a missing required split (validation and test
// for held-in tasks, test for held-out ones; train is optional), a malformed
// line, an answer index out of range, fewer than two options, a duplicate
// prompt within validation or test, a validation or test prompt that also
// appears in train.
func ReadTaskDir(dir string) (*TaskSet, error) {
	suitePath := filepath.Join(dir, "suite.json")
	raw, err := os.ReadFile(suitePath)
	if err != nil {
		return nil, fmt.Errorf("task set: %w", err)
	}
	var sf suiteFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return nil, fmt.Errorf("%s: %w", suitePath, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "suite.json %x\n", sha256.Sum256(raw))
	ts := &TaskSet{Dir: dir}
	var p taskDirProblems
	seenTask := map[string]bool{}
	for _, part := range []struct {
		held Heldness
		cats []CategorySummary
	}{{HeldIn, sf.HeldIn}, {HeldOut, sf.HeldOut}} {
		for _, c := range part.cats {
			if c.Category == "" {
				p.add("%s:%d: a %s category without a name", suitePath, lineOf(raw, `"tasks"`), part.held)
			}
			if len(c.Tasks) == 0 {
				p.add("%s:%d: category %q has no tasks", suitePath, lineOf(raw, quoted(c.Category)), c.Category)
			}
			for _, tsum := range c.Tasks {
				line := lineOf(raw, quoted(tsum.Name))
				if tsum.Name == "" || strings.ContainsAny(tsum.Name, `/\`) || tsum.Name == "." || tsum.Name == ".." {
					p.add("%s:%d: task name %q is not a folder name", suitePath, line, tsum.Name)
					continue
				}
				if seenTask[tsum.Name] {
					p.add("%s:%d: task %q listed twice", suitePath, line, tsum.Name)
					continue
				}
				seenTask[tsum.Name] = true
				if tsum.Chance < 0 || tsum.Chance >= 1 {
					p.add("%s:%d: task %q: chance %v is not in [0, 1)", suitePath, line, tsum.Name, tsum.Chance)
				}
				t := &Task{Name: tsum.Name, Category: c.Category, Heldness: part.held, Generative: tsum.Generative, ChanceLevel: tsum.Chance}
				if fi, err := os.Stat(filepath.Join(dir, t.Name)); err != nil || !fi.IsDir() {
					p.add("%s:%d: task %q has no files (%s/ is missing)", suitePath, line, t.Name, filepath.Join(dir, t.Name))
					continue
				}
				readTaskSplits(dir, t, h, &p)
				ts.Tasks = append(ts.Tasks, t)
			}
		}
	}
	if len(ts.Tasks) == 0 && len(p.errs) == 0 {
		p.add("%s: lists no held-in or held-out tasks", suitePath)
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	ts.Hash = hex.EncodeToString(h.Sum(nil))
	return ts, nil
}

func quoted(s string) string { b, _ := json.Marshal(s); return string(b) }

// lineOf returns the 1-based line of the first occurrence of needle in
// data, or 0.
func lineOf(data []byte, needle string) int {
	i := bytes.Index(data, []byte(needle))
	if i < 0 {
		return 0
	}
	return 1 + bytes.Count(data[:i], []byte("\n"))
}

// readTaskSplits reads the split files of one task into t, hashing each
// into h and recording problems in p.
func readTaskSplits(dir string, t *Task, h io.Writer, p *taskDirProblems) {
	required := map[Split]bool{Validation: t.Heldness == HeldIn, Test: true}
	lines := map[Split]map[string]int{} // prompt → line, per split
	for _, sp := range []Split{Train, Validation, Test} {
		path := filepath.Join(dir, t.Name, string(sp)+".jsonl")
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			if required[sp] {
				p.add("%s: missing (%s tasks need %s)", path, t.Heldness, requiredSplits(t.Heldness))
			}
			continue
		}
		if err != nil {
			p.add("%s: %v", path, err)
			continue
		}
		fmt.Fprintf(h, "%s/%s %x\n", t.Name, sp, sha256.Sum256(data))
		insts, seen := readInstances(path, data, sp != Train, p)
		lines[sp] = seen
		switch sp {
		case Train:
			t.Train = insts
		case Validation:
			t.Validation = insts
		case Test:
			t.Test = insts
		}
		if len(insts) == 0 && required[sp] {
			p.add("%s: no examples", path)
		}
	}
	for _, sp := range []Split{Validation, Test} {
		for prompt, ln := range lines[sp] {
			if tl, ok := lines[Train][prompt]; ok {
				p.add("%s:%d: prompt also appears in train.jsonl line %d", filepath.Join(dir, t.Name, string(sp)+".jsonl"), ln, tl)
			}
		}
	}
}

func requiredSplits(h Heldness) string {
	if h == HeldIn {
		return "validation.jsonl and test.jsonl"
	}
	return "test.jsonl"
}

// readInstances parses one split file; unique asks for distinct prompts.
// It returns the instances and each prompt's first line.
func readInstances(path string, data []byte, unique bool, p *taskDirProblems) ([]Instance, map[string]int) {
	var out []Instance
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	for ln := 1; sc.Scan(); ln++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var in Instance
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			p.add("%s:%d: malformed example: %v", path, ln, err)
			continue
		}
		switch {
		case strings.TrimSpace(in.Prompt) == "":
			p.add("%s:%d: empty prompt", path, ln)
			continue
		case len(in.Options) < 2:
			p.add("%s:%d: %d options (rank classification needs at least 2)", path, ln, len(in.Options))
			continue
		case in.Answer < 0 || in.Answer >= len(in.Options):
			p.add("%s:%d: answer index %d out of range for %d options", path, ln, in.Answer, len(in.Options))
			continue
		}
		if in.Target == "" {
			in.Target = in.Options[in.Answer]
		}
		if first, dup := seen[in.Prompt]; dup {
			if unique {
				p.add("%s:%d: duplicate prompt (first on line %d)", path, ln, first)
				continue
			}
		} else {
			seen[in.Prompt] = ln
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		p.add("%s: %v", path, err)
	}
	return out, seen
}
