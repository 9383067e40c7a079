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
	"slices"
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
// (joined, one per line), each naming its file and line (or suite.json's
// line and the task): a task in suite.json without files, a missing
// required split (validation and test for held-in tasks, test for held-out
// ones; train is optional), a malformed line, a line whose shape differs
// from the task's first line (ParseTaskLine lists the shapes), an answer
// index out of range, fewer than two options or contexts, an empty prompt,
// context or target, a duplicate prompt within validation or test, a
// validation or test prompt that also appears in train, an unknown metric,
// a metric that does not fit the task's shape (acc_norm on a task without
// options, among others; see checkForm), an empty stop string.
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
				t := &Task{Name: tsum.Name, Category: c.Category, Heldness: part.held, Generative: tsum.Generative, ChanceLevel: tsum.Chance,
					Scoring: tsum.Scoring}
				settingsOK := checkScoring(suitePath, line, t, &p)
				if fi, err := os.Stat(filepath.Join(dir, t.Name)); err != nil || !fi.IsDir() {
					p.add("%s:%d: task %q has no files (%s/ is missing)", suitePath, line, t.Name, filepath.Join(dir, t.Name))
					continue
				}
				if tf := readTaskSplits(dir, t, h, &p); tf.set && settingsOK {
					checkForm(suitePath, line, t, tf, &p)
				}
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

// checkScoring checks a task's scoring settings on their own: a known
// metric, no empty stop string. It reports whether they are usable.
func checkScoring(suitePath string, line int, t *Task, p *taskDirProblems) bool {
	ok := true
	if m := t.Scoring.Metric; m != "" && !slices.Contains(Metrics(), m) {
		p.add("%s:%d: task %q: unknown metric %q (want one of %s)", suitePath, line, t.Name, m, strings.Join(Metrics(), ", "))
		ok = false
	}
	for i, u := range t.Scoring.Until {
		if u == "" {
			p.add("%s:%d: task %q: until[%d] is an empty stop string", suitePath, line, t.Name, i)
			ok = false
		}
	}
	return ok
}

// checkForm checks a task's settings against the shape of its lines: tasks
// with options or contexts are scored by accuracy or acc_norm, tasks
// without options by exact_match, rouge_l or f1; acc_norm needs options
// (a contexts task's candidates differ in their contexts, whose lengths
// are no option's); a contexts task has no prompt to generate from.
func checkForm(suitePath string, line int, t *Task, tf taskForm, p *taskDirProblems) {
	m := t.Scoring.Metric
	switch {
	case tf.form == FormTarget && m != "" && !IsGenerationMetric(m):
		p.add("%s:%d: task %q: metric %s on a task without options (%s); want exact_match, rouge_l or f1", suitePath, line, t.Name, m, tf.at)
	case tf.form != FormTarget && IsGenerationMetric(m):
		p.add("%s:%d: task %q: metric %s on a task with options (%s); want accuracy or acc_norm (generative: true adds exact match)", suitePath, line, t.Name, m, tf.at)
	case tf.form == FormContexts && m == MetricAccNorm:
		p.add("%s:%d: task %q: acc_norm on a task with per-option contexts (%s): it divides by the options' lengths, and the options are in the contexts", suitePath, line, t.Name, tf.at)
	case tf.form == FormContexts && t.Generative:
		p.add("%s:%d: task %q: generative on a task with per-option contexts (%s): there is no prompt to generate from", suitePath, line, t.Name, tf.at)
	}
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
// into h and recording problems in p. It returns the task's line shape.
func readTaskSplits(dir string, t *Task, h io.Writer, p *taskDirProblems) taskForm {
	required := map[Split]bool{Validation: t.Heldness == HeldIn, Test: true}
	lines := map[Split]map[string]int{} // instance key → line, per split
	var tf taskForm
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
		insts, seen := readInstances(path, data, sp != Train, t, &tf, p)
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
		for key, ln := range lines[sp] {
			if tl, ok := lines[Train][key]; ok {
				what := "prompt"
				if tf.form == FormContexts {
					what = "contexts and continuation"
				}
				p.add("%s:%d: %s also appears in train.jsonl line %d", filepath.Join(dir, t.Name, string(sp)+".jsonl"), ln, what, tl)
			}
		}
	}
	return tf
}

func requiredSplits(h Heldness) string {
	if h == HeldIn {
		return "validation.jsonl and test.jsonl"
	}
	return "test.jsonl"
}

// wireInstance is a task line as JSON; pointers tell a missing field from
// an empty one, so that the line's shape is known.
type wireInstance struct {
	Prompt       *string   `json:"prompt"`
	Options      *[]string `json:"options"`
	Answer       *int      `json:"answer"`
	Target       *string   `json:"target"`
	Contexts     *[]string `json:"contexts"`
	Continuation *string   `json:"continuation"`
}

// ParseTaskLine parses one line of a task file: an instance in one of the
// three shapes of Form. The error says what is wrong with the line (the
// caller adds file and line). A line with options but no target gets the
// answer option as its target.
func ParseTaskLine(b []byte) (Instance, error) {
	var w wireInstance
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Instance{}, fmt.Errorf("malformed example: %w", err)
	}
	if dec.More() {
		return Instance{}, errors.New("malformed example: more than one JSON value on the line")
	}
	var in Instance
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	// extra names the fields of another shape present on the line.
	extra := func(fields ...string) error {
		var names []string
		for _, f := range fields {
			present := map[string]bool{"prompt": w.Prompt != nil, "options": w.Options != nil, "answer": w.Answer != nil,
				"target": w.Target != nil, "contexts": w.Contexts != nil, "continuation": w.Continuation != nil}[f]
			if present {
				names = append(names, quoted(f))
			}
		}
		if len(names) == 0 {
			return nil
		}
		return fmt.Errorf("mixes line shapes: %s with %s", in.Form(), strings.Join(names, ", "))
	}
	switch {
	case w.Contexts != nil:
		in = Instance{Contexts: *w.Contexts, Continuation: str(w.Continuation)}
		if len(in.Contexts) == 0 {
			in.Contexts = []string{} // still the contexts shape
		}
		if err := extra("prompt", "options", "target"); err != nil {
			return Instance{}, err
		}
		switch {
		case len(in.Contexts) < 2:
			return Instance{}, fmt.Errorf("%d contexts (rank classification needs at least 2)", len(in.Contexts))
		case w.Continuation == nil || in.Continuation == "":
			return Instance{}, errors.New("contexts without a continuation")
		case w.Answer == nil:
			return Instance{}, errors.New("contexts without an answer")
		}
		for j, c := range in.Contexts {
			if strings.TrimSpace(c) == "" {
				return Instance{}, fmt.Errorf("context %d is empty", j)
			}
		}
		in.Answer = *w.Answer
		if in.Answer < 0 || in.Answer >= len(in.Contexts) {
			return Instance{}, fmt.Errorf("answer index %d out of range for %d contexts", in.Answer, len(in.Contexts))
		}
	case w.Options != nil:
		in = Instance{Prompt: str(w.Prompt), Options: *w.Options, Target: str(w.Target)}
		if err := extra("contexts", "continuation"); err != nil {
			return Instance{}, err
		}
		if w.Answer != nil {
			in.Answer = *w.Answer
		}
		switch {
		case strings.TrimSpace(in.Prompt) == "":
			return Instance{}, errors.New("empty prompt")
		case len(in.Options) < 2:
			return Instance{}, fmt.Errorf("%d options (rank classification needs at least 2)", len(in.Options))
		case in.Answer < 0 || in.Answer >= len(in.Options):
			return Instance{}, fmt.Errorf("answer index %d out of range for %d options", in.Answer, len(in.Options))
		}
		if in.Target == "" {
			in.Target = in.Options[in.Answer]
		}
	case w.Target != nil:
		in = Instance{Prompt: str(w.Prompt), Target: *w.Target}
		if err := extra("answer", "continuation"); err != nil {
			return Instance{}, err
		}
		switch {
		case strings.TrimSpace(in.Prompt) == "":
			return Instance{}, errors.New("empty prompt")
		case strings.TrimSpace(in.Target) == "":
			return Instance{}, errors.New("empty target")
		}
	default:
		return Instance{}, errors.New(`neither "options", "contexts" nor "target": not a task line`)
	}
	return in, nil
}

// instanceKey is what must be unique within a validation or test split and
// must not repeat from train: the prompt, or the contexts and continuation.
func instanceKey(in Instance) string {
	if in.Form() == FormContexts {
		return strings.Join(in.Contexts, "\x00") + "\x00" + in.Continuation
	}
	return in.Prompt
}

// taskForm remembers the first line shape seen in a task's files.
type taskForm struct {
	set  bool
	form Form
	at   string // file:line of the first line
}

// readInstances parses one split file; unique asks for distinct prompts
// (or contexts). It returns the instances and each key's first line.
// Every line must have the shape of the task's first line (tf).
func readInstances(path string, data []byte, unique bool, t *Task, tf *taskForm, p *taskDirProblems) ([]Instance, map[string]int) {
	var out []Instance
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	for ln := 1; sc.Scan(); ln++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		in, err := ParseTaskLine(b)
		if err != nil {
			p.add("%s:%d: %v", path, ln, err)
			continue
		}
		switch f := in.Form(); {
		case !tf.set:
			*tf = taskForm{set: true, form: f, at: fmt.Sprintf("%s:%d", path, ln)}
		case f != tf.form:
			p.add("%s:%d: line shape %s differs from the task's %s (%s)", path, ln, f, tf.form, tf.at)
			continue
		}
		if t.Scoring.Metric == MetricAccNorm {
			if j := slices.Index(in.Options, ""); j >= 0 {
				p.add("%s:%d: option %d is empty (acc_norm divides by the option's length)", path, ln, j)
				continue
			}
		}
		key := instanceKey(in)
		if first, dup := seen[key]; dup {
			if unique {
				what := "prompt"
				if in.Form() == FormContexts {
					what = "contexts and continuation"
				}
				p.add("%s:%d: duplicate %s (first on line %d)", path, ln, what, first)
				continue
			}
		} else {
			seen[key] = ln
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		p.add("%s: %v", path, err)
	}
	return out, seen
}
