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
