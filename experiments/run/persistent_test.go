package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"mergescale/eval"
	"mergescale/eval/builtin"
	"mergescale/experiments/config"
)

// persistentFake is a persistent evaluator (eval.persistent) run as
// `run.test persistent WORKER DEVICES`: it loads a model with the
// built-in engine on {"type": "load"} and answers each job's requests with
// it, as `mergescale loglik` does. It appends "start PID WORKER DEVICES",
// "load PID MODEL" and "job PID MODEL" lines to the file fakeLogEnv names
// (not an argument: an argument naming an existing file enters evaluation
// keys with its contents). With fakeCrashEnv set
// it exits in the middle of the answers of a merged model's job (an
// environment variable, not an argument: the command is part of the
// evaluation keys).
func persistentFake(args []string) int {
	worker, devices, logPath := args[0], args[1], os.Getenv(fakeLogEnv)
	crash := os.Getenv(fakeCrashEnv) == "1"
	logf := func(format string, a ...any) {
		if f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, format+"\n", a...)
			f.Close()
		}
	}
	logf("start %d %s %s", os.Getpid(), worker, devices)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<24)
	out := bufio.NewWriter(os.Stdout)
	say := func(v any) {
		b, _ := json.Marshal(v)
		out.Write(append(b, '\n'))
		out.Flush()
	}
	var (
		model  string
		scorer builtin.Scorer
		reqs   []eval.Request
	)
	for in.Scan() {
		var m struct{ Type, Model string }
		json.Unmarshal(in.Bytes(), &m)
		switch m.Type {
		case "load":
			s, err := builtin.LoadScorer(m.Model)
			if err != nil {
				say(map[string]string{"type": "error", "message": err.Error()})
				continue
			}
			fmt.Fprintln(os.Stderr, "loaded", m.Model)
			model, scorer = m.Model, s
			logf("load %d %s", os.Getpid(), model)
			say(map[string]string{"type": "loaded", "model": model})
		case "end":
			logf("job %d %s", os.Getpid(), model)
			ans, err := builtin.AnswerRequests(context.Background(), scorer, reqs, 1)
			if err != nil {
				say(map[string]string{"type": "error", "message": err.Error()})
				continue
			}
			var b bytes.Buffer
			eval.WriteAnswers(&b, reqs, ans)
			if crash && strings.Contains(model, "/merged/") {
				line, _ := b.ReadBytes('\n')
				out.Write(line)
				out.Flush()
				fmt.Fprintln(os.Stderr, "CUDA error: an illegal memory access was encountered")
				return 3
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

// fakeCrashEnv makes persistentFake crash on a merged model; fakeLogEnv
// names its log.
const (
	fakeCrashEnv = "MERGESCALE_TEST_FAKE_CRASH"
	fakeLogEnv   = "MERGESCALE_TEST_FAKE_LOG"
)

// fakeProcess is a process of persistentFake as its log tells: its worker
// and devices, the models it loaded and the model of each job, in order.
type fakeProcess struct {
	worker, devices string
	loads, jobs     []string
}

// readFakeLog reads the fake's log into its processes, by pid.
func readFakeLog(t *testing.T, path string) map[string]*fakeProcess {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string]*fakeProcess{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		switch f[0] {
		case "start":
			procs[f[1]] = &fakeProcess{worker: f[2], devices: f[3]}
		case "load":
			procs[f[1]].loads = append(procs[f[1]].loads, f[2])
		case "job":
			procs[f[1]].jobs = append(procs[f[1]].jobs, f[2])
		}
	}
	return procs
}

// TestPersistentEvaluatorRun runs the tiny study with a persistent
// evaluator on 2 slots × 2 GPUs beside 2 CPU workers. A run whose evaluator
// crashes in the middle of a merged model's answers fails with an error
// naming that evaluation job and the crash (the evaluator's standard error
// reaches the run's log); the rerun finishes with the scores of the per-job
// mode. Every slot's process got its own devices, 0,1 or 2,3, and loaded a
// model once per change of its model.
func TestPersistentEvaluatorRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the tiny study three times")
	}
	t.Setenv(fakeEvaluatorEnv, "1")
	perJob := loadTiny(t, t.TempDir())
	perJob.Eval = config.EvalConfig{Backend: eval.BackendCommand, Command: []string{os.Args[0], "good", "{model}", "{requests}", "{out}"}}
	runTiny(t, perJob, Options{})

	out := t.TempDir()
	logPath := t.TempDir() + "/fake.log"
	c := loadTiny(t, out)
	c.Workers = 2
	c.Eval = config.EvalConfig{Backend: eval.BackendCommand, Persistent: true, Slots: 2, GPUsPerWorker: 2,
		Command: []string{os.Args[0], "persistent", "{worker}", "{devices}"}}
	t.Setenv(fakeLogEnv, logPath)
	t.Setenv(fakeCrashEnv, "1")
	var runLog bytes.Buffer
	_, err := Run(context.Background(), c, Options{Log: slog.New(slog.NewTextHandler(&runLog, nil))})
	if err == nil {
		t.Fatal("the run with a crashing evaluator succeeded")
	}
	for _, w := range []string{"for model " + out + "/merged/", "exited (exit status 3) in the middle of the job", "illegal memory access"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if !strings.HasPrefix(err.Error(), "eval ") {
		t.Errorf("error %q does not name the evaluation job", err)
	}
	// The evaluator's standard error goes to the failed job's log file,
	// which the error names.
	m := regexp.MustCompile(`\(log ([^)]+)\)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Errorf("error %q names no job log", err)
	} else if b, rerr := os.ReadFile(m[1]); rerr != nil || !strings.Contains(string(b), "illegal memory access") {
		t.Errorf("the job's log %s lacks the evaluator's standard error (%v):\n%s", m[1], rerr, b)
	}
	done := count(t, c.StorePath(), `SELECT count(*) FROM jobs`)

	t.Setenv(fakeCrashEnv, "0")
	sum := runTiny(t, c, Options{})
	if sum.Skipped != done {
		t.Errorf("the rerun skipped %d jobs, want the %d done before the crash", sum.Skipped, done)
	}
	if got, want := dump(t, c.StorePath(), scoresQuery), dump(t, perJob.StorePath(), scoresQuery); !reflect.DeepEqual(got, want) {
		t.Errorf("persistent scores differ from the per-job mode's (%d vs %d rows)", len(got), len(want))
	}

	procs := readFakeLog(t, logPath)
	loads, jobs := 0, 0
	for pid, p := range procs {
		if want := map[string]string{"0": "0,1", "1": "2,3"}[p.worker]; p.devices != want {
			t.Errorf("process %s of slot %s got devices %q, want %q", pid, p.worker, p.devices, want)
		}
		// One load per change of the process's model: its loads are its
		// jobs' models with repeats collapsed (a crash may leave a load
		// without its job).
		var changes []string
		for _, m := range p.jobs {
			if len(changes) == 0 || changes[len(changes)-1] != m {
				changes = append(changes, m)
			}
		}
		if len(p.loads) > len(changes) {
			changes = append(changes, p.loads[len(changes):]...) // the load before a crash
		}
		if !reflect.DeepEqual(p.loads, changes) {
			t.Errorf("process %s of slot %s loaded %q for jobs %q", pid, p.worker, p.loads, p.jobs)
		}
		loads += len(p.loads)
		jobs += len(p.jobs)
	}
	evalJobs := count(t, perJob.StorePath(), `SELECT count(*) FROM jobs WHERE kind = 'eval'`)
	// Two crash-run processes (a slot's process may not have started before
	// the crash), two for the rerun.
	if len(procs) < 3 || len(procs) > 4 || jobs < evalJobs {
		t.Errorf("%d processes answered %d jobs (the study has %d evaluations)", len(procs), jobs, evalJobs)
	}
	t.Logf("%d evaluation jobs, %d exchanges, %d loads over %d processes", evalJobs, jobs, loads, len(procs))
}
