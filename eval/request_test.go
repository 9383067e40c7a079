package eval

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"mergescale/world"
)

func TestRequestsRoundTrip(t *testing.T) {
	reqs := []Request{
		{ID: "a", Type: TypeLoglikelihood, Context: "q <ans>", Continuation: " red", EOS: true},
		{ID: "b", Type: TypeGenerateUntil, Context: "q <ans>", Until: []string{"\n"}, MaxGenToks: 5},
	}
	var b bytes.Buffer
	if err := WriteRequests(&b, reqs); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a","type":"loglikelihood","context":"q <ans>","continuation":" red","eos":true}
{"id":"b","type":"generate_until","context":"q <ans>","until":["\n"],"max_gen_toks":5}
`
	if b.String() != want {
		t.Fatalf("requests file\n%s\nwant\n%s", b.String(), want)
	}
	got, err := ReadRequests(&b, "r.jsonl")
	if err != nil || !reflect.DeepEqual(got, reqs) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	ans := []Answer{{ID: "a", LogProb: -1.5, IsGreedy: true}, {ID: "b", Text: "red dog"}}
	b.Reset()
	if err := WriteAnswers(&b, reqs, ans); err != nil {
		t.Fatal(err)
	}
	if b.String() != `{"id":"a","logprob":-1.5,"is_greedy":true}`+"\n"+`{"id":"b","text":"red dog"}`+"\n" {
		t.Fatalf("answers file\n%s", b.String())
	}
	back, err := ReadAnswers(&b, "o.jsonl", reqs)
	if err != nil || back[0] != ans[0] || back[1] != ans[1] {
		t.Fatalf("answers read back %+v, %v", back, err)
	}
}

func TestReadAnswersErrors(t *testing.T) {
	reqs := []Request{
		{ID: "a", Type: TypeLoglikelihood, Context: "q", Continuation: " x"},
		{ID: "b", Type: TypeGenerateUntil, Context: "q", MaxGenToks: 3},
	}
	for _, c := range []struct{ name, file, want string }{
		{"malformed", `{"id":"a","logprob":-1,"is_greedy":false}` + "\n" + `{"id":"b","text":` + "\n", "o.jsonl:2: malformed answer"},
		{"missing", `{"id":"a","logprob":-1,"is_greedy":false}` + "\n", `o.jsonl: no answer to request "b" (request line 2)`},
		{"unknown id", `{"id":"zz","logprob":-1,"is_greedy":false}` + "\n", `o.jsonl:1: answer to unknown request id "zz"`},
		{"twice", "\n" + `{"id":"a","logprob":-1,"is_greedy":false}` + "\n" + `{"id":"a","logprob":-1,"is_greedy":false}`, `o.jsonl:3: second answer to request "a" (first on line 2)`},
		{"no logprob", `{"id":"a","is_greedy":false}`, `o.jsonl:1: answer to loglikelihood request "a" needs logprob and is_greedy`},
		{"no text", `{"id":"a","logprob":-1,"is_greedy":false}` + "\n" + `{"id":"b"}`, `o.jsonl:2: answer to generate_until request "b" has no text`},
		{"positive logprob", `{"id":"a","logprob":2,"is_greedy":false}`, `o.jsonl:1: request "a": logprob 2 is not a log-probability`},
		{"unknown field", `{"id":"a","logprob":-1,"is_greedy":false,"x":1}`, `o.jsonl:1: malformed answer`},
	} {
		_, err := ReadAnswers(strings.NewReader(c.file), "o.jsonl", reqs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct{ name, file, want string }{
		{"type", `{"id":"a","type":"rolling","context":"q"}`, `r.jsonl:1: unknown type "rolling"`},
		{"no id", `{"type":"loglikelihood","context":"q","continuation":" x"}`, "r.jsonl:1: missing id"},
		{"dup", `{"id":"a","type":"loglikelihood","context":"q","continuation":" x"}` + "\n" + `{"id":"a","type":"loglikelihood","context":"q","continuation":" y"}`, `r.jsonl:2: id "a" already used on line 1`},
		{"budget", `{"id":"a","type":"generate_until","context":"q"}`, "r.jsonl:1: generate_until request needs max_gen_toks > 0"},
	} {
		_, err := ReadRequests(strings.NewReader(c.file), "r.jsonl")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("requests %s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestTaskResultsFromAnswers scores hand-written answers: the highest
// log-probability wins (the lower index on ties), exact match compares
// texts with white space collapsed, and answers that do not match the
// requests are an error.
func TestTaskResultsFromAnswers(t *testing.T) {
	task := &world.Task{Name: "t", Category: "c", Heldness: world.HeldIn, Generative: true, Test: []world.Instance{
		{Prompt: "p0", Options: []string{"a", "b"}, Answer: 1, Target: "b c"},
		{Prompt: "p1", Options: []string{"a", "b"}, Answer: 0, Target: "a"},
	}}
	reqs, err := TaskRequests([]*world.Task{task}, world.Test, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 6 || reqs[0].Continuation != " a" || !reqs[0].EOS || reqs[2].Type != TypeGenerateUntil || reqs[2].MaxGenToks != 6 {
		t.Fatalf("requests %+v", reqs)
	}
	ans := []Answer{
		{ID: reqs[0].ID, LogProb: -2}, {ID: reqs[1].ID, LogProb: -1}, {ID: reqs[2].ID, Text: "  b \n c "},
		{ID: reqs[3].ID, LogProb: -1}, {ID: reqs[4].ID, LogProb: -1}, {ID: reqs[5].ID, Text: "b"},
	}
	res, err := TaskResults([]*world.Task{task}, world.Test, Options{}, ans)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.N != 2 || r.Accuracy != 1 || r.ExactMatch != 0.5 || !r.HasExactMatch {
		t.Errorf("result %+v, want accuracy 1 (a tie goes to option 0), exact match 0.5", r)
	}
	ans[1], ans[2] = ans[2], ans[1]
	if _, err := TaskResults([]*world.Task{task}, world.Test, Options{}, ans); err == nil {
		t.Error("answers out of order accepted")
	}
}

// TestTaskRequestsAndResultsPerSetting builds the requests of tasks with
// every scoring setting and line shape, checks them on the wire, and scores
// hand-written answers with each task's metric.
func TestTaskRequestsAndResultsPerSetting(t *testing.T) {
	empty, no := "", false
	norm := &world.Task{Name: "norm", Category: "c", Heldness: world.HeldIn,
		Scoring: world.Scoring{Metric: world.MetricAccNorm, TargetDelimiter: &empty, EOS: &no},
		Test:    []world.Instance{{Prompt: "q:", Options: []string{"ab", "abcd"}, Answer: 1, Target: "abcd"}}}
	wino := &world.Task{Name: "wino", Category: "c", Heldness: world.HeldOut,
		Test: []world.Instance{{Contexts: []string{"Ann lent Bo a pen since Ann", "Ann lent Bo a pen since Bo"}, Continuation: "needed one", Answer: 1}}}
	summ := &world.Task{Name: "summ", Category: "c", Heldness: world.HeldIn,
		Scoring: world.Scoring{Metric: world.MetricRougeL, Until: []string{"\n\n"}},
		Test:    []world.Instance{{Prompt: "text one", Target: "police killed the gunman"}, {Prompt: "text two", Target: "x y"}}}
	qa := &world.Task{Name: "qa", Category: "c", Heldness: world.HeldOut, Scoring: world.Scoring{Metric: world.MetricF1},
		Test: []world.Instance{{Prompt: "who?", Target: "a cat on a mat"}}}
	em := &world.Task{Name: "em", Category: "c", Heldness: world.HeldOut,
		Test: []world.Instance{{Prompt: "say", Target: "yes"}}}
	tasks := []*world.Task{norm, wino, summ, qa, em}
	reqs, err := TaskRequests(tasks, world.Test, Options{SkipExactMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteRequests(&b, reqs); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"norm/test/0/0","type":"loglikelihood","context":"q:","continuation":"ab","eos":false}
{"id":"norm/test/0/1","type":"loglikelihood","context":"q:","continuation":"abcd","eos":false}
{"id":"wino/test/0/0","type":"loglikelihood","context":"Ann lent Bo a pen since Ann","continuation":" needed one","eos":true}
{"id":"wino/test/0/1","type":"loglikelihood","context":"Ann lent Bo a pen since Bo","continuation":" needed one","eos":true}
{"id":"summ/test/0/0","type":"loglikelihood","context":"text one","continuation":" police killed the gunman","eos":true}
{"id":"summ/test/0/gen","type":"generate_until","context":"text one","until":["\n\n"],"max_gen_toks":12}
{"id":"summ/test/1/0","type":"loglikelihood","context":"text two","continuation":" x y","eos":true}
{"id":"summ/test/1/gen","type":"generate_until","context":"text two","until":["\n\n"],"max_gen_toks":8}
{"id":"qa/test/0/0","type":"loglikelihood","context":"who?","continuation":" a cat on a mat","eos":true}
{"id":"qa/test/0/gen","type":"generate_until","context":"who?","until":[],"max_gen_toks":14}
{"id":"em/test/0/0","type":"loglikelihood","context":"say","continuation":" yes","eos":true}
{"id":"em/test/0/gen","type":"generate_until","context":"say","until":[],"max_gen_toks":6}
`
	if b.String() != want {
		t.Fatalf("requests\n%s\nwant\n%s", b.String(), want)
	}
	back, err := ReadRequests(&b, "r.jsonl")
	if err != nil || len(back) != len(reqs) {
		t.Fatalf("read back: %v", err)
	}
	// Answers by request id; the targets' log-likelihoods only feed
	// gold_nll (TestGoldNLLWithoutOptions).
	byID := map[string]Answer{
		"norm/test/0/0": {LogProb: -4}, "norm/test/0/1": {LogProb: -6}, // acc picks 0, acc_norm 1 (-2 against -1.5)
		"wino/test/0/0": {LogProb: -3}, "wino/test/0/1": {LogProb: -2},
		"summ/test/0/gen": {Text: "the gunman police killed"}, "summ/test/1/gen": {Text: "x y"},
		"qa/test/0/gen": {Text: "The cat sat on the mat."},
		"em/test/0/gen": {Text: " yes\n"},
	}
	ans := make([]Answer, len(reqs))
	for i, r := range reqs {
		ans[i] = byID[r.ID]
		ans[i].ID = r.ID
		if r.Type == TypeLoglikelihood && ans[i].LogProb == 0 {
			ans[i].LogProb = -1
		}
	}
	res, err := TaskResults(tasks, world.Test, Options{SkipExactMatch: true}, ans)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		metric string
		scores []MetricScore
	}
	var got []row
	for _, r := range res {
		got = append(got, row{r.Metric, r.Scores})
	}
	wantRows := []row{
		{"acc_norm", []MetricScore{{"accuracy", 0, 0.5}, {"acc_norm", 1, 0.5}}},
		{"accuracy", []MetricScore{{"accuracy", 1, 0.5}}},
		{"rouge_l", []MetricScore{{"exact_match", 0.5, 0}, {"rouge_l", (RougeL("the gunman police killed", "police killed the gunman") + 1) / 2, 0}}},
		{"f1", []MetricScore{{"exact_match", 0, 0}, {"f1", 6.0 / 7, 0}}},
		{"exact_match", []MetricScore{{"exact_match", 1, 0}}},
	}
	if !reflect.DeepEqual(got, wantRows) {
		t.Fatalf("results\n%+v\nwant\n%+v", got, wantRows)
	}
	if v, ok := res[0].Score(world.MetricAccNorm); !ok || v != 1 {
		t.Errorf("Score(acc_norm) = %v, %v", v, ok)
	}
}

func TestRequestFieldsOfTheOtherType(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{`{"id":"a","type":"loglikelihood","context":"q","continuation":" x","until":[]}`, "loglikelihood request with until or max_gen_toks"},
		{`{"id":"a","type":"generate_until","context":"q","max_gen_toks":2,"eos":true}`, "generate_until request with continuation or eos"},
		{`{"id":"a","type":"generate_until","context":"q","max_gen_toks":2,"until":["x",""]}`, "empty stop string (until[1])"},
	} {
		_, err := ReadRequests(strings.NewReader(c.line), "r.jsonl")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.line, err, c.want)
		}
	}
	// A generate_until request without until reads (older files) and is
	// written with an empty list.
	reqs, err := ReadRequests(strings.NewReader(`{"id":"a","type":"generate_until","context":"q","max_gen_toks":2}`), "r.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteRequests(&b, reqs)
	if b.String() != `{"id":"a","type":"generate_until","context":"q","until":[],"max_gen_toks":2}`+"\n" {
		t.Errorf("written as %s", b.String())
	}
}
