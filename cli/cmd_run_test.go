package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/checkpoint"
	"mergescale/eval"
	"mergescale/experiments/config"
)

// fakeEvalEnv makes this test binary a command evaluator (TestMain), run as
// `cli.test --fail-flag FLAGFILE {model} {requests} {out}`: it fails for a model whose
// path contains the text of FLAGFILE (while FLAGFILE exists) and otherwise
// answers every request without loading the model.
const fakeEvalEnv = "MERGESCALE_TEST_FAKE_EVAL"

func fakeEval(args []string) int {
	// args: --fail-flag FILE MODEL REQUESTS OUT
	flag, model, reqPath, outPath := args[1], args[2], args[3], args[4]
	fmt.Println("fake evaluator on", model)
	if b, err := os.ReadFile(flag); err == nil && strings.Contains(model, string(b)) {
		fmt.Fprintln(os.Stderr, "this model always fails")
		return 4
	}
	f, err := os.Open(reqPath)
	if err != nil {
		return 1
	}
	reqs, err := eval.ReadRequests(f, reqPath)
	f.Close()
	if err != nil {
		return 1
	}
	ans := make([]eval.Answer, len(reqs))
	for i, r := range reqs {
		ans[i] = eval.Answer{ID: r.ID, LogProb: -float64(len(r.Continuation)), Text: "x"}
	}
	out, err := os.Create(outPath)
	if err != nil {
		return 1
	}
	defer out.Close()
	if eval.WriteAnswers(out, reqs, ans) != nil {
		return 1
	}
	return 0
}

// tinyCheckpoint writes a model dir with one 4-element tensor.
func tinyCheckpoint(t *testing.T, dir string, v float32) string {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	w, err := checkpoint.CreateFile(filepath.Join(dir, "model.safetensors"), []checkpoint.TensorInfo{{Name: "w", DType: checkpoint.F32, Shape: []int64{4}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteFloat32("w", []float32{v, 1, 2, 3})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"n": 1}`), 0o644)
	return dir
}

// studyOnCheckpoints writes a config on a zoo of tiny checkpoints for each
// size label (a base and two experts each), scored by the fake evaluator
// with flag, and returns its path and the experts' folders.
func studyOnCheckpoints(t *testing.T, sizes []string, flag, extra string) (string, map[string]string) {
	t.Helper()
	t.Setenv(fakeEvalEnv, "1")
	dir := t.TempDir()
	cats := config.HeldInCategories()[:2]
	experts := map[string]string{}
	var b strings.Builder
	fmt.Fprintf(&b, "name: ckpt\nseed: 1\nout: %s\nworld: {seed: 1, validation: 4, test: 8}\nzoo:\n  checkpoints:\n", filepath.Join(dir, "out"))
	for _, s := range sizes {
		fmt.Fprintf(&b, "    - size: %s\n      base: pt\n      base_model: %s\n      experts:\n", s, tinyCheckpoint(t, filepath.Join(dir, s, "base"), 0))
		for i, c := range cats {
			p := tinyCheckpoint(t, filepath.Join(dir, s, c), float32(i+1))
			experts[s+"/"+c] = p
			fmt.Fprintf(&b, "        %s: %s\n", c, p)
		}
	}
	b.WriteString("sweep: {experts: [2], methods: [{method: linear}, {method: task_arithmetic, lambda: [0.5, 1.0]}]}\n")
	// The flag file that breaks a model is no part of the evaluator's
	// identity: key_ignore keeps it (it exists in one run, not the next)
	// out of evaluation keys.
	fmt.Fprintf(&b, "eval: {backend: command, command: [%q, --fail-flag, %q, \"{model}\", \"{requests}\", \"{out}\"], key_ignore: [--fail-flag]}\n", os.Args[0], flag)
	b.WriteString(extra)
	path := filepath.Join(dir, "study.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, experts
}

// TestRunPlanHashesOnce runs `run --plan` twice on a zoo of checkpoints:
// the first hashes every checkpoint file, the second none (its log line on
// stderr says so); --json prints the plan for tools.
func TestRunPlanHashesOnce(t *testing.T) {
	path, _ := studyOnCheckpoints(t, []string{"1b"}, filepath.Join(t.TempDir(), "none"), "")
	for i, want := range []string{"identities: hashed 6 files, 0 from cache", "identities: hashed 0 files, 3 from cache"} {
		var out, errb bytes.Buffer
		if code := Execute([]string{"run", path, "--plan"}, nil, &out, &errb); code != 0 {
			t.Fatalf("plan %d: exit %d: %s", i+1, code, errb.String())
		}
		if !strings.Contains(errb.String(), want) || !strings.Contains(out.String(), "plan ckpt") {
			t.Errorf("plan %d: stderr %q, want %q", i+1, errb.String(), want)
		}
	}
	var out, errb bytes.Buffer
	if code := Execute([]string{"run", path, "--plan", "--json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errb.String())
	}
	var doc struct {
		Jobs   []map[string]any `json:"jobs"`
		Counts map[string]int   `json:"counts"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out.String())
	}
	if doc.Counts["merge"] != 3 || doc.Counts["checkpoint"] != 3 || len(doc.Jobs) != 3+3+3+3+2+2 {
		t.Errorf("counts %v, %d jobs", doc.Counts, len(doc.Jobs))
	}
	if code := Execute([]string{"run", path, "--json"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--json needs --plan") {
		t.Errorf("--json without --plan: exit %d, %s", code, errb.String())
	}
}

// TestRunKeepGoing runs a study whose evaluator always fails for one
// expert with --keep-going: every other job finishes, the command exits 1
// naming the model, and a rerun with the evaluator fixed does only the
// rest.
func TestRunKeepGoing(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "broken")
	path, experts := studyOnCheckpoints(t, []string{"1b"}, flag, "")
	bad := experts["1b/"+config.HeldInCategories()[1]]
	os.WriteFile(flag, []byte(bad), 0o644)
	var out, errb bytes.Buffer
	code := Execute([]string{"run", path, "--keep-going", "--no-report"}, nil, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "error: 1 job(s) failed; every other job finished") ||
		!strings.Contains(errb.String(), "[model "+bad+"]") {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	os.Remove(flag)
	out.Reset()
	errb.Reset()
	if code := Execute([]string{"run", path, "--no-report"}, nil, &out, &errb); code != 0 {
		t.Fatalf("rerun: exit %d: %s", code, errb.String())
	}
	// 3 registrations, 3 zoo evaluations, 3 merges, 3 validations, 2
	// selections, 2 evaluations of the chosen merges on the other held-in
	// categories.
	if !strings.Contains(out.String(), "16 jobs, 15 already done, 1 run") || !strings.Contains(out.String(), "eval          1 jobs") {
		t.Errorf("rerun:\n%s", out.String())
	}
}

// TestPlanCostTable turns `run --plan --json` of a grid over four size
// labels into the cost table of adapters/plan_cost.py (skipped without
// python3).
func TestPlanCostTable(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	path, _ := studyOnCheckpoints(t, []string{"1b", "8b", "24b", "64b"}, filepath.Join(t.TempDir(), "none"), "")
	var out, errb bytes.Buffer
	if code := Execute([]string{"run", path, "--plan", "--json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(planFile, out.Bytes(), 0o644)
	cmd := exec.Command(py, "../adapters/plan_cost.py", planFile, "--params", "1b=1e9,8b=8e9,24b=24e9,64b=64e9", "--format", "csv")
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("plan_cost.py: %v\n%s", err, got)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	want := []string{
		"size,params,merges,bytes_read,bytes_written,merge_hours,evaluations,gpu_hours,merged_dir_at_once",
		// 3 merges of k = 2 at 1e9 × 2 bytes: read 3 × 3 × 2 GB, written 3 × 2 GB; 3 + 3 + 2 + 2 evaluations
		// of 3e6 tokens × 2e9 FLOPs at 400 TFLOP/s; 2 checkpoints at once + 10 %.
		"1b,1000000000,3,18000000000,6000000000,0.004,10,0.042,4400000000",
	}
	if len(lines) != 6 || lines[0] != want[0] || lines[1] != want[1] || !strings.HasPrefix(lines[5], "total,,12,") {
		t.Errorf("plan_cost.py printed:\n%s", got)
	}
	// A size without --params is one clear error.
	cmd = exec.Command(py, "../adapters/plan_cost.py", planFile, "--params", "1b=1e9")
	if got, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(got), "--params lacks size(s) 8b, 24b, 64b") {
		t.Errorf("missing sizes: %v\n%s", err, got)
	}
}
