package command

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/eval"
)

// python3 returns the interpreter's path, skipping the test without one.
func python3(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	return py
}

// TestLMEvalAdapterSelfTest runs adapters/lmeval_eval.py's self-test: the
// stub model class through the constructor arguments (HFLM's parallelize,
// VLLM's tensor_parallel_size, batch_size auto), the request mapping (eos
// text, stop strings) and both modes. It needs neither lm_eval nor a GPU.
func TestLMEvalAdapterSelfTest(t *testing.T) {
	py := python3(t)
	out, err := exec.Command(py, "../../adapters/lmeval_eval.py", "--self-test").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "self-test ok") {
		t.Fatalf("lmeval_eval.py self-test: %v\n%s", err, out)
	}
}

// TestLMEvalAdapterPersistent runs adapters/lmeval_eval.py --persistent with
// the stub model class as this package's persistent evaluator, 2 slots × 2
// GPUs: the protocol's requests reach the stub as lm-eval Instances and its
// answers come back in order; slot 1's process sees GPUs 2,3 and builds its
// model with parallelize=True; two models in turn load once each per
// change; a model that fails to load fails its job only.
func TestLMEvalAdapterPersistent(t *testing.T) {
	py := python3(t)
	stub, _ := filepath.Abs("../../adapters/testdata/stub_lm.py")
	p := &Persistent{Argv: []string{py, "../../adapters/lmeval_eval.py", "--persistent", "--backend", "hf",
		"--model-class", stub + ":StubLM", "--devices", "{devices}"}, GPUsPerWorker: 2}
	defer p.Close()
	reqs := []eval.Request{
		{ID: "a", Type: eval.TypeLoglikelihood, Context: "Q: colour? A:", Continuation: " red"},
		{ID: "b", Type: eval.TypeLoglikelihood, Context: "Q: colour? A:", Continuation: " dark blue", EOS: true},
		{ID: "c", Type: eval.TypeGenerateUntil, Context: "Q: colour?", Until: []string{"\n"}, MaxGenToks: 5},
		{ID: "d", Type: eval.TypeGenerateUntil, Context: "kwargs?", MaxGenToks: 5},
	}
	for _, job := range []struct {
		slot  int
		model string
	}{{1, "/models/m1"}, {1, "/models/m1"}, {1, "/models/m2"}, {0, "/models/m2"}} {
		got, err := p.Evaluate(context.Background(), job.model, reqs, job.slot)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(job.model)
		want := []eval.Answer{{ID: "a", LogProb: -1, IsGreedy: true}, {ID: "b", LogProb: -2.5}, {ID: "c", Text: name + " says red."}}
		for i, w := range want {
			if got[i] != w {
				t.Errorf("slot %d %s: answer %+v, want %+v", job.slot, job.model, got[i], w)
			}
		}
		devices := map[int]string{0: "0,1", 1: "2,3"}[job.slot]
		if w := "[devices " + devices + "; batch_size=auto dtype=auto max_batch_size=64 parallelize=True] " + name + " says red.\nblue"; got[3].Text != w {
			t.Errorf("slot %d: generation %q, want %q", job.slot, got[3].Text, w)
		}
	}
	if p.Loads() != 3 || p.Starts() != 2 {
		t.Errorf("%d loads in %d processes, want 3 in 2", p.Loads(), p.Starts())
	}
	_, err := p.Evaluate(context.Background(), "/models/missing", reqs, 0)
	if err == nil || !strings.Contains(err.Error(), "/models/missing is not a model folder") {
		t.Errorf("a model that fails to load: %v", err)
	}
	if _, err := p.Evaluate(context.Background(), "/models/m1", reqs, 0); err != nil {
		t.Errorf("after a failed load: %v", err)
	}
}

// TestLMEvalAdapterPerCall runs adapters/lmeval_eval.py once per call with
// the stub model class, as the per-call command evaluator.
func TestLMEvalAdapterPerCall(t *testing.T) {
	py := python3(t)
	stub, _ := filepath.Abs("../../adapters/testdata/stub_lm.py")
	c := Evaluator{Argv: []string{py, "../../adapters/lmeval_eval.py", "--model-class", stub + ":StubLM",
		"--model", "{model}", "--requests", "{requests}", "--out", "{out}"}, TempDir: t.TempDir()}
	got, err := c.Evaluate(context.Background(), "/models/m3", []eval.Request{
		{ID: "a", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " x y", EOS: true},
		{ID: "b", Type: eval.TypeGenerateUntil, Context: "q", Until: []string{"."}, MaxGenToks: 4},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (eval.Answer{ID: "a", LogProb: -2.5}) || got[1] != (eval.Answer{ID: "b", Text: "m3 says red"}) {
		t.Errorf("answers %+v", got)
	}
}
