package cli

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"mergescale/eval"
	"mergescale/model"
)

// ruleEvalEnv turns this test binary into a fake evaluator program,
// `cli.test MODEL REQUESTS OUT`, that answers by rules instead of a model
// (so that every score of the study is known by hand) and appends every
// request it reads to the file named by ruleEvalLogEnv:
//
//   - loglikelihood: logprob −√(characters of context + continuation), so
//     rank classification picks the shortest option (or context) and
//     acc_norm, dividing by the option's length, the longest; eos: true
//     costs 0.5 more;
//   - generate_until: the words of the context after "say: ", then
//     ". tail", cut at the first stop string.
const (
	ruleEvalEnv    = "MERGESCALE_TEST_RULE_EVALUATOR"
	ruleEvalLogEnv = "MERGESCALE_TEST_RULE_EVALUATOR_LOG"
)

func ruleEvaluator(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: MODEL REQUESTS OUT")
		return 2
	}
	data, err := os.ReadFile(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reqs, err := eval.ReadRequests(strings.NewReader(string(data)), args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if log := os.Getenv(ruleEvalLogEnv); log != "" {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return 1
		}
		f.Write(data)
		f.Close()
	}
	ans := make([]eval.Answer, len(reqs))
	for i, r := range reqs {
		ans[i].ID = r.ID
		if r.Type == eval.TypeLoglikelihood {
			ans[i].LogProb = -math.Sqrt(float64(utf8.RuneCountInString(r.Context + r.Continuation)))
			if r.EOS {
				ans[i].LogProb -= 0.5
			}
			continue
		}
		text := strings.TrimPrefix(r.Context[strings.Index(r.Context, "say: ")+1:], "ay: ") + ". tail"
		for _, u := range r.Until {
			if k := strings.Index(text, u); k >= 0 {
				text = text[:k]
			}
		}
		ans[i].Text = text
	}
	f, err := os.Create(args[2])
	if err != nil {
		return 1
	}
	defer f.Close()
	if err := eval.WriteAnswers(f, reqs, ans); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// scoringTaskFiles is a task folder with every scoring setting: acc_norm
// with no delimiter and no <eos>, f1 and rouge_l (with a stop string) on
// tasks without options, a context per option, exact match on a task
// without options.
var scoringTaskFiles = map[string]string{
	"suite.json": `{
  "held_in": [
    {"category": "qa", "tasks": [
      {"name": "qa_norm", "chance": 0.5, "metric": "acc_norm", "target_delimiter": "", "eos": false},
      {"name": "qa_f1", "chance": 0, "metric": "f1"}
    ]},
    {"category": "summ", "tasks": [
      {"name": "summ_rouge", "chance": 0, "metric": "rouge_l", "until": ["."]}
    ]}
  ],
  "held_out": [
    {"category": "wsc", "tasks": [
      {"name": "wsc_ctx", "chance": 0.5},
      {"name": "ho_em", "chance": 0, "until": ["."]}
    ]}
  ]
}
`,
	// acc picks the shortest option (right on line 2 only), acc_norm the
	// longest (right on lines 1 and 3).
	"qa_norm/test.jsonl": `{"prompt": "q1", "options": ["a", "bbbb"], "answer": 1}
{"prompt": "q2", "options": ["cc", "d"], "answer": 1}
{"prompt": "q3", "options": ["eee", "f"], "answer": 0}
`,
	// "a cat sat on the mat. tail" against "the cat on a mat": 3 of 5 words
	// shared, F1 2·(3/5)·1 ÷ (3/5 + 1) = 0.75.
	"qa_f1/test.jsonl": `{"prompt": "say: a cat sat on the mat", "target": "the cat on a mat"}
`,
	// ROUGE-L 2/3 (LCS "police killed") and 1: mean 5/6; exact match 1/2.
	"summ_rouge/test.jsonl": `{"prompt": "say: the gunman police killed", "target": "police killed the gunman"}
{"prompt": "say: x y", "target": "x y"}
`,
	// The shortest context wins: right, then wrong.
	"wsc_ctx/test.jsonl": `{"contexts": ["a long context", "short"], "continuation": "ends", "answer": 1}
{"contexts": ["aa", "bbbbbb"], "continuation": "c", "answer": 1}
`,
	"ho_em/test.jsonl": `{"prompt": "say: yes", "target": "yes"}
{"prompt": "say: no", "target": "maybe"}
`,
}

// TestTaskSettingsThroughRun runs a study on random checkpoints with a task
// folder that uses every scoring setting and the command backend (a fake
// evaluator answering by rules), and checks the requests the evaluator
// read, every score in the store, and the report's words on the metrics.
func TestTaskSettingsThroughRun(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for k, v := range scoringTaskFiles {
		files[k] = v
		if strings.HasPrefix(k, "qa_") || strings.HasPrefix(k, "summ_") {
			files[strings.Replace(k, "test.jsonl", "validation.jsonl", 1)] = v
		}
	}
	for rel, text := range files {
		path := filepath.Join(dir, "tasks", rel)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{"base", "e_qa", "e_summ"} {
		m := model.New(model.Config{VocabSize: 40, NPositions: 16, NEmbd: 8, NLayer: 1, NHead: 1}, uint64(i+1))
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		if err := m.Save(filepath.Join(dir, name), nil); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	cfg := fmt.Sprintf(`name: scoring
seed: 7
out: %[1]s/out
zoo:
  checkpoints:
    - size: micro
      base: it
      base_model: %[1]s/base
      experts: {qa: %[1]s/e_qa, summ: %[1]s/e_summ}
tasks: {dir: %[1]s/tasks}
eval:
  backend: command
  command: [%[2]q, "{model}", "{requests}", "{out}"]
sweep:
  experts: [2]
  subsets: 1
  methods:
    - {method: task_arithmetic, lambda: [0.5, 1.0]}
workers: 1
`, dir, os.Args[0])
	cfgPath := filepath.Join(dir, "study.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	t.Setenv(ruleEvalEnv, "1")
	log := filepath.Join(dir, "requests.log")
	t.Setenv(ruleEvalLogEnv, log)
	if _, errOut, code := runCmd(t, "run", cfgPath); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}

	// The requests carry each task's settings.
	logged, _ := os.ReadFile(log)
	for _, w := range []string{
		`{"id":"qa_norm/test/0/1","type":"loglikelihood","context":"q1","continuation":"bbbb","eos":false}`,
		`{"id":"wsc_ctx/test/0/0","type":"loglikelihood","context":"a long context","continuation":" ends","eos":true}`,
		`{"id":"summ_rouge/test/1/gen","type":"generate_until","context":"say: x y","until":["."],"max_gen_toks":8}`,
		`{"id":"qa_f1/test/0/gen","type":"generate_until","context":"say: a cat sat on the mat","until":[],"max_gen_toks":14}`,
	} {
		if !strings.Contains(string(logged), w+"\n") {
			t.Errorf("the evaluator read no request %s", w)
		}
	}

	// Every model answers alike: one value per (task, split, metric).
	got := storeRows(t, filepath.Join(out, "results.db"),
		`SELECT DISTINCT task, split, metric, printf('%.6f', value), n, chance FROM scores ORDER BY 1, 2, 3`)
	want := []string{
		"ho_em|test|exact_match|0.500000|2|0",
		// Tasks without options score their target for gold_nll alone:
		// (√(characters of prompt + " " + target) + 0.5) ÷ its bytes.
		"ho_em|test|gold_nll|0.837642|2|0",
		"qa_f1|test|exact_match|0.000000|1|0",
		"qa_f1|test|f1|0.750000|1|0",
		"qa_f1|test|gold_nll|0.410632|1|0",
		"qa_f1|validation|exact_match|0.000000|1|0",
		"qa_f1|validation|f1|0.750000|1|0",
		"qa_f1|validation|gold_nll|0.410632|1|0",
		"qa_norm|test|acc_norm|0.666667|3|0.5",
		"qa_norm|test|accuracy|0.333333|3|0.5",
		"qa_norm|test|gold_nll|1.029926|3|0",
		"qa_norm|test|option_ce|0.886524|3|0.6931471805599453",
		"qa_norm|validation|acc_norm|0.666667|3|0.5",
		"qa_norm|validation|accuracy|0.333333|3|0.5",
		"qa_norm|validation|gold_nll|1.029926|3|0",
		"qa_norm|validation|option_ce|0.886524|3|0.6931471805599453",
		"summ_rouge|test|exact_match|0.500000|2|0",
		"summ_rouge|test|gold_nll|0.652482|2|0",
		"summ_rouge|test|rouge_l|0.833333|2|0",
		"summ_rouge|validation|exact_match|0.500000|2|0",
		"summ_rouge|validation|gold_nll|0.652482|2|0",
		"summ_rouge|validation|rouge_l|0.833333|2|0",
		"wsc_ctx|test|accuracy|0.500000|2|0.5",
		// Per-option contexts rank contexts: with ℓ = −√(characters) − 0.5
		// (eos), option_ce = mean(logsumexp(ℓ) − ℓ_answer) = 0.727433 and
		// gold_nll = mean(−ℓ_answer ÷ bytes of " ends" and " c") = 1.198335.
		"wsc_ctx|test|gold_nll|1.198335|2|0",
		"wsc_ctx|test|option_ce|0.727433|2|0.6931471805599453",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scores\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The report says which metric each task is scored by.
	md, err := os.ReadFile(filepath.Join(out, "report", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if w := "Each task is scored by its own metric wherever this report says accuracy: accuracy, except " +
		"ho_em (exact_match), qa_f1 (f1), qa_norm (acc_norm), summ_rouge (rouge_l)."; !strings.Contains(string(md), w) {
		t.Errorf("report.md does not say %q", w)
	}
	csv, err := os.ReadFile(filepath.Join(out, "report", "tables", "table_tasks.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(csv), ",qa_norm,acc_norm,qa,held_in,0.6666") {
		t.Errorf("table_tasks.csv has no acc_norm score of qa_norm:\n%s", csv)
	}
}
