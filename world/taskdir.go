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
	// Hash is a hex SHA-256 of suite.json and every split file read (and,
	// once Subsample has capped a split, of the caps and the seed): it
	// stands for the task data in evaluation job keys.
	Hash string
	// Dropped counts the lines reading (and Subsample) left out, per task,
	// split and reason, in task, split and reason order.
	Dropped []Dropped
}

// The reasons a task folder's line is dropped (Dropped.Reason).
const (
	// DropDuplicate: a validation or test line repeats an earlier line's
	// prompt (or contexts and continuation) in the same split. Train keeps
	// its repeats.
	DropDuplicate = "duplicate"
	// DropInValidation: a train line's prompt is also in validation.
	DropInValidation = "in_validation"
	// DropInTest: a train line's prompt is also in test. Test never loses
	// a line to another split.
	DropInTest = "in_test"
	// DropMaxExamples: left out by Subsample (tasks.max_examples).
	DropMaxExamples = "max_examples"
)

// Dropped counts the lines of one task split left out for one reason.
type Dropped struct {
	Task   string
	Split  Split
	Reason string // DropDuplicate, DropInValidation, DropInTest or DropMaxExamples
	Count  int
	// First is the file:line of the first line dropped ("" for
	// DropMaxExamples).
	First string
}

// String describes the drop in one line.
func (d Dropped) String() string {
	s := fmt.Sprintf("%s %s: %d dropped (%s)", d.Task, d.Split, d.Count, d.Reason)
	if d.First != "" {
		s += ", first " + d.First
	}
	return s
}

// TestFromValidation is the value of suite.json's "test_from" for a task
// whose test.jsonl holds its source data set's validation split (the data
// set's own test labels being hidden, as SuperGLUE's are).
const TestFromValidation = "validation"

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
// ones; train is optional), a required split without examples, a
// malformed line, a line whose shape differs from the task's first line
// (ParseTaskLine lists the shapes), an answer index out of range, fewer
// than two options or contexts, an empty prompt, context or target, an
// unknown metric, a metric that does not fit the task's shape (acc_norm on
// a task without options, among others; see checkForm), an empty stop
// string, a test_from other than "validation".
//
// Lines that would leak or repeat are dropped, not refused, and counted in
// TaskSet.Dropped: a validation or test line whose prompt (contexts and
// continuation) repeats an earlier one of its split, a train line whose
// prompt is also in validation or test. Test never loses a line to another
// split (validation and test may share prompts, as a folder whose
// validation split is a copy of its test split does).
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
					Scoring: tsum.Scoring, TestFrom: tsum.TestFrom}
				if t.TestFrom != "" && t.TestFrom != TestFromValidation {
					p.add("%s:%d: task %q: test_from %q (want %q, or none)", suitePath, line, t.Name, t.TestFrom, TestFromValidation)
				}
				settingsOK := checkScoring(suitePath, line, t, &p)
				if fi, err := os.Stat(filepath.Join(dir, t.Name)); err != nil || !fi.IsDir() {
					p.add("%s:%d: task %q has no files (%s/ is missing)", suitePath, line, t.Name, filepath.Join(dir, t.Name))
					continue
				}
				tf, drops := readTaskSplits(dir, t, h, &p)
				ts.Dropped = append(ts.Dropped, drops...)
				if tf.set && settingsOK {
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
// into h and recording problems in p. It returns the task's line shape and
// the lines it dropped (see ReadTaskDir).
func readTaskSplits(dir string, t *Task, h io.Writer, p *taskDirProblems) (taskForm, []Dropped) {
	required := map[Split]bool{Validation: t.Heldness == HeldIn, Test: true}
	splits := map[Split][]lineInstance{}
	var tf taskForm
	var drops []Dropped
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
		insts := readInstances(path, data, t, &tf, p)
		if sp != Train {
			var dup []lineInstance
			insts, dup = dropRepeats(insts)
			drops = appendDropped(drops, t.Name, sp, DropDuplicate, path, dup)
		}
		splits[sp] = insts
		if len(insts) == 0 && required[sp] {
			p.add("%s: no examples", path)
		}
	}
	// Train gives way to validation and test.
	keys := func(sp Split) map[string]bool {
		m := map[string]bool{}
		for _, li := range splits[sp] {
			m[instanceKey(li.in)] = true
		}
		return m
	}
	testKeys, valKeys := keys(Test), keys(Validation)
	for _, d := range []struct {
		sp     Split
		reason string
		in     map[string]bool
	}{{Train, DropInTest, testKeys}, {Train, DropInValidation, valKeys}} {
		var kept, gone []lineInstance
		for _, li := range splits[d.sp] {
			if d.in[instanceKey(li.in)] {
				gone = append(gone, li)
			} else {
				kept = append(kept, li)
			}
		}
		splits[d.sp] = kept
		path := filepath.Join(dir, t.Name, string(d.sp)+".jsonl")
		drops = appendDropped(drops, t.Name, d.sp, d.reason, path, gone)
	}
	t.Train, t.Validation, t.Test = instancesOf(splits[Train]), instancesOf(splits[Validation]), instancesOf(splits[Test])
	order := []Split{Train, Validation, Test}
	slices.SortStableFunc(drops, func(a, b Dropped) int { return slices.Index(order, a.Split) - slices.Index(order, b.Split) })
	return tf, drops
}

// lineInstance is an instance with its 1-based line in its file.
type lineInstance struct {
	in   Instance
	line int
}

func instancesOf(lis []lineInstance) []Instance {
	var out []Instance
	for _, li := range lis {
		out = append(out, li.in)
	}
	return out
}

// dropRepeats keeps the first line of every prompt (contexts and
// continuation) and returns the others apart.
func dropRepeats(lis []lineInstance) (kept, dup []lineInstance) {
	seen := map[string]bool{}
	for _, li := range lis {
		k := instanceKey(li.in)
		if seen[k] {
			dup = append(dup, li)
			continue
		}
		seen[k] = true
		kept = append(kept, li)
	}
	return kept, dup
}

// appendDropped records the lines gone from a split, when there are any.
func appendDropped(ds []Dropped, task string, sp Split, reason, path string, gone []lineInstance) []Dropped {
	if len(gone) == 0 {
		return ds
	}
	return append(ds, Dropped{Task: task, Split: sp, Reason: reason, Count: len(gone), First: fmt.Sprintf("%s:%d", path, gone[0].line)})
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
// must not repeat across splits: the prompt, or the contexts and
// continuation.
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

// readInstances parses one split file and returns its instances with
// their lines. Every line must have the shape of the task's first line
// (tf).
func readInstances(path string, data []byte, t *Task, tf *taskForm, p *taskDirProblems) []lineInstance {
	var out []lineInstance
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
		out = append(out, lineInstance{in, ln})
	}
	if err := sc.Err(); err != nil {
		p.add("%s: %v", path, err)
	}
	return out
}
