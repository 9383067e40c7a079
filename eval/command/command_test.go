package command

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"mergescale/eval"
)

// fakeEnv switches this test binary into a fake evaluator: it is run as
// `command.test MODE REQUESTS OUT MODEL WORKER`.
const fakeEnv = "MERGESCALE_FAKE_EVALUATOR"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		if len(os.Args) > 1 && os.Args[1] == "persistent" {
			os.Exit(persistentFake(os.Args[2:]))
		}
		os.Exit(fakeEvaluator(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeEvaluator answers every loglikelihood request with minus the number
// of words of its continuation and every generation with "MODEL WORKER",
// after misbehaving as MODE asks.
func fakeEvaluator(args []string) int {
	mode, reqPath, outPath, model, worker := args[0], args[1], args[2], args[3], args[4]
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "CUDA out of memory")
		return 3
	case "hang":
		time.Sleep(time.Minute)
	case "silent":
		return 0
	}
	f, err := os.Open(reqPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reqs, err := eval.ReadRequests(f, reqPath)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ans := make([]eval.Answer, len(reqs))
	for i, r := range reqs {
		ans[i] = eval.Answer{ID: r.ID, LogProb: -float64(len(strings.Fields(r.Continuation))), Text: model + " " + worker}
	}
	out, err := os.Create(outPath)
	if err != nil {
		return 1
	}
	defer out.Close()
	if mode == "malformed" {
		eval.WriteAnswers(out, reqs[:1], ans[:1])
		fmt.Fprintln(out, `{"id": "b", "logprob": -1, `)
		return 0
	}
	if err := eval.WriteAnswers(out, reqs, ans); err != nil {
		return 1
	}
	return 0
}

func TestCommandBackend(t *testing.T) {
	t.Setenv(fakeEnv, "1")
	reqs := []eval.Request{
		{ID: "a", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " x y", EOS: true},
		{ID: "b", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " x"},
		{ID: "c", Type: eval.TypeGenerateUntil, Context: "q", MaxGenToks: 3},
	}
	cmd := func(mode string) Evaluator {
		return Evaluator{Argv: []string{os.Args[0], mode, "{requests}", "{out}", "{model}", "{worker}"}, TempDir: t.TempDir()}
	}
	for _, batch := range []int{0, 1, 2} {
		c := cmd("good")
		c.Batch = batch
		got, err := c.Evaluate(context.Background(), "/models/m1", reqs, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := []eval.Answer{{ID: "a", LogProb: -2}, {ID: "b", LogProb: -1}, {ID: "c", Text: "/models/m1 3"}}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("batch %d: answer %d = %+v, want %+v", batch, i, got[i], want[i])
			}
		}
		if left, _ := os.ReadDir(c.TempDir); len(left) != 0 {
			t.Errorf("batch %d: a successful call left %d files in the temp dir", batch, len(left))
		}
	}
	for _, c := range []struct {
		mode    string
		timeout time.Duration
		want    []string
	}{
		{"fail", 0, []string{"for model /models/m1", "exit status 3", "CUDA out of memory"}},
		{"hang", 200 * time.Millisecond, []string{"for model /models/m1", "timed out after 200ms"}},
		{"malformed", 0, []string{"for model /models/m1", "answers.jsonl:2: malformed answer"}},
		{"silent", 0, []string{"for model /models/m1", "no answers"}},
	} {
		ev := cmd(c.mode)
		ev.Timeout = c.timeout
		start := time.Now()
		_, err := ev.Evaluate(context.Background(), "/models/m1", reqs, 0)
		if err == nil {
			t.Errorf("%s: no error", c.mode)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.mode, err, w)
			}
		}
		if c.mode == "hang" && time.Since(start) > 20*time.Second {
			t.Errorf("hang: the time-out took %v", time.Since(start))
		}
	}
}

// TestCommandTimeoutKillsChildren runs the fake evaluator under a shell
// (as a wrapper script would) and checks that the time-out ends the shell's
// child too: the call returns long before the child's minute of sleep.
func TestCommandTimeoutKillsChildren(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	t.Setenv(fakeEnv, "1")
	c := Evaluator{Argv: []string{"/bin/sh", "-c", `"$0" hang "$1" "$2" m 0; echo done`, os.Args[0], "{requests}", "{out}", "{model}"},
		Timeout: 200 * time.Millisecond, TempDir: t.TempDir()}
	start := time.Now()
	_, err := c.Evaluate(context.Background(), "m", []eval.Request{{ID: "a", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " x"}}, 0)
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the call took %v: the shell's child outlived the time-out", d)
	}
}
