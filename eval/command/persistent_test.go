package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mergescale/eval"
)

// persistentFake is a persistent evaluator run as
// `command.test persistent WORKER DEVICES LOG`. It answers as fakeEvaluator
// does (generations: "MODEL WORKER") and appends "start PID WORKER DEVICES"
// and "load PID WORKER MODEL" lines to LOG. Models misbehave by name: one
// named .../missing fails its load with an error line, .../crash exits 3 in
// the middle of its answers, .../noisy prints a progress line on standard
// output, .../slow hangs.
func persistentFake(args []string) int {
	worker, devices, logPath := args[0], args[1], args[2]
	logf := func(format string, a ...any) {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, format+"\n", a...)
			f.Close()
		}
	}
	logf("start %d %s %s", os.Getpid(), worker, devices)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	say := func(v any) {
		b, _ := json.Marshal(v)
		out.Write(append(b, '\n'))
		out.Flush()
	}
	model := ""
	var reqs []eval.Request
	for in.Scan() {
		var m struct{ Type, Model string }
		json.Unmarshal(in.Bytes(), &m)
		switch m.Type {
		case "load":
			fmt.Fprintln(os.Stderr, "loading", m.Model)
			if strings.HasSuffix(m.Model, "/missing") {
				say(map[string]string{"type": "error", "message": "no model at " + m.Model})
				continue
			}
			model = m.Model
			logf("load %d %s %s", os.Getpid(), worker, model)
			say(map[string]string{"type": "loaded", "model": model})
		case "end":
			ans := make([]eval.Answer, len(reqs))
			for i, r := range reqs {
				ans[i] = eval.Answer{ID: r.ID, LogProb: -float64(len(strings.Fields(r.Continuation))), Text: model + " " + worker}
			}
			var b bytes.Buffer
			eval.WriteAnswers(&b, reqs, ans)
			switch {
			case strings.HasSuffix(model, "/crash"):
				line, _ := b.ReadBytes('\n')
				out.Write(line)
				out.Flush()
				fmt.Fprintln(os.Stderr, "CUDA error: an illegal memory access was encountered")
				return 3
			case strings.HasSuffix(model, "/noisy"):
				out.WriteString("Loading checkpoint shards: 100%\n")
			case strings.HasSuffix(model, "/slow"):
				time.Sleep(time.Minute)
			}
			out.Write(b.Bytes())
			out.Flush()
			reqs = nil
		default:
			rs, err := eval.ReadRequests(bytes.NewReader(in.Bytes()), "stdin")
			if err != nil {
				say(map[string]string{"type": "error", "message": err.Error()})
				continue
			}
			reqs = append(reqs, rs...)
		}
	}
	return 0
}

// fakeLog reads the fake's log lines.
func fakeLog(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

var testReqs = []eval.Request{
	{ID: "a", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " x y", EOS: true},
	{ID: "b", Type: eval.TypeLoglikelihood, Context: "q", Continuation: " x"},
	{ID: "c", Type: eval.TypeGenerateUntil, Context: "q", MaxGenToks: 3},
}

// TestPersistentLoadsAndDevices runs jobs on two slots with two GPUs each:
// the answers equal the per-call mode's, each slot's process starts once
// with its own devices (0,1 and 2,3), and a model is loaded once per change
// of a slot's model.
func TestPersistentLoadsAndDevices(t *testing.T) {
	t.Setenv(fakeEnv, "1")
	logPath := t.TempDir() + "/fake.log"
	p := &Persistent{Argv: []string{os.Args[0], "persistent", "{worker}", "{devices}", logPath}, GPUsPerWorker: 2, Batch: 2}
	defer p.Close()
	perCall := Evaluator{Argv: []string{os.Args[0], "good", "{requests}", "{out}", "{model}", "{worker}"}, TempDir: t.TempDir()}
	jobs := []struct {
		slot  int
		model string
	}{{0, "/m/1"}, {0, "/m/1"}, {1, "/m/1"}, {0, "/m/2"}, {1, "/m/1"}, {0, "/m/2"}, {0, "/m/1"}}
	for _, j := range jobs {
		got, err := p.Evaluate(context.Background(), j.model, testReqs, j.slot)
		if err != nil {
			t.Fatal(err)
		}
		want, err := perCall.Evaluate(context.Background(), j.model, testReqs, j.slot)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("slot %d, %s: persistent answers %+v, per call %+v", j.slot, j.model, got, want)
		}
	}
	// Loads: slot 0 /m/1, /m/2, /m/1; slot 1 /m/1.
	if p.Loads() != 4 || p.Starts() != 2 {
		t.Errorf("%d loads and %d starts, want 4 and 2", p.Loads(), p.Starts())
	}
	var starts, loads []string
	for _, l := range fakeLog(t, logPath) {
		f := strings.Fields(l)
		switch f[0] {
		case "start":
			starts = append(starts, f[2]+" "+f[3])
		case "load":
			loads = append(loads, f[2]+" "+f[3])
		}
	}
	join := func(s []string) string { return strings.Join(s, "; ") }
	slices.Sort(starts)
	if got := join(starts); got != "0 0,1; 1 2,3" {
		t.Errorf("processes started with (worker devices) %q, want 0 0,1 and 1 2,3", got)
	}
	if got := join(loads); got != "0 /m/1; 1 /m/1; 0 /m/2; 0 /m/1" {
		t.Errorf("the evaluators loaded %q", got)
	}
	if Devices(0, 2) != "0,1" || Devices(1, 2) != "2,3" || Devices(3, 0) != "3" {
		t.Errorf("Devices: %q %q %q", Devices(0, 2), Devices(1, 2), Devices(3, 0))
	}
}

// TestPersistentFailures checks that an error line, a crash in the middle
// of the answers, a stray line on standard output and a time-out each fail
// their job with what went wrong, and that the slot's next job gets a new
// process that answers.
func TestPersistentFailures(t *testing.T) {
	t.Setenv(fakeEnv, "1")
	logPath := t.TempDir() + "/fake.log"
	p := &Persistent{Argv: []string{os.Args[0], "persistent", "{worker}", "{devices}", logPath}, Timeout: 2 * time.Second}
	defer p.Close()
	good := func(step string) {
		t.Helper()
		got, err := p.Evaluate(context.Background(), "/m/1", testReqs, 0)
		if err != nil || got[2].Text != "/m/1 0" {
			t.Fatalf("after %s: %+v, %v", step, got, err)
		}
	}
	good("nothing")
	for _, c := range []struct {
		model string
		want  []string
	}{
		{"/m/missing", []string{"for model /m/missing", "the evaluator reports: no model at /m/missing", "loading /m/missing"}},
		{"/m/crash", []string{"for model /m/crash", "exited (exit status 3)", "illegal memory access"}},
		{"/m/noisy", []string{"for model /m/noisy", `wrote "Loading checkpoint shards: 100%"`}},
		{"/m/slow", []string{"for model /m/slow", "timed out after 2s"}},
	} {
		starts := p.Starts()
		var jobLog bytes.Buffer
		start := time.Now()
		_, err := p.Evaluate(eval.WithLog(context.Background(), &jobLog), c.model, testReqs, 0)
		if err == nil {
			t.Fatalf("%s: no error", c.model)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.model, err, w)
			}
		}
		if !strings.Contains(jobLog.String(), "loading "+c.model) {
			t.Errorf("%s: the job's log %q lacks the evaluator's standard error", c.model, jobLog.String())
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: the failure took %v", c.model, d)
		}
		good(c.model)
		if p.Starts() != starts+1 {
			t.Errorf("%s: %d processes started by the next job, want a new one", c.model, p.Starts()-starts)
		}
	}
}

// TestPersistentCloseEndsProcesses checks that Close ends the evaluators
// (they exit at the end of their input) and that the evaluator is not
// usable after it.
func TestPersistentCloseEndsProcesses(t *testing.T) {
	t.Setenv(fakeEnv, "1")
	logPath := t.TempDir() + "/fake.log"
	p := &Persistent{Argv: []string{os.Args[0], "persistent", "{worker}", "{devices}", logPath}}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			if _, err := p.Evaluate(context.Background(), "/m/1", testReqs, w); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := p.Evaluate(context.Background(), "/m/1", testReqs, 0); err == nil {
		t.Error("Evaluate after Close succeeded")
	}
}
