package mergefile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mergescale/checkpoint"
	"mergescale/merge"
)

// childEnv makes this test binary a merge process (TestMain): it merges
// expert into base at out (replacing it), and after the first tensor writes the file
// started and waits to be killed.
const childEnv = "MERGESCALE_TEST_MERGE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(mergeChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func mergeChild(args []string) int {
	base, expert, out, started := args[0], args[1], args[2], args[3]
	_, err := Run(context.Background(), killedRecipe(base, expert), out, Options{Workers: 1, Force: true, Progress: &blockAfterFirst{started: started}})
	fmt.Fprintln(os.Stderr, "merge ended:", err)
	return 1
}

func killedRecipe(base, expert string) *Config {
	return &Config{MergeMethod: "task_arithmetic", BaseModel: base, Parameters: ParamSetOf(merge.Params{Weight: f64(1)}),
		Models: []ModelRef{{Model: expert}}}
}

// blockAfterFirst is a Progress that, once the first tensor is written,
// announces it in a file and blocks the merge.
type blockAfterFirst struct{ started string }

func (b *blockAfterFirst) Start(total, done int64) {}
func (b *blockAfterFirst) Add(n int64) {
	os.WriteFile(b.started, nil, 0o644)
	time.Sleep(time.Hour)
}
func (b *blockAfterFirst) SetTotal(total int64) {}
func (b *blockAfterFirst) Describe(s string)    {}
func (b *blockAfterFirst) Finish()              {}
func (b *blockAfterFirst) Abort()               {}

// startMerge starts a merge process into out and waits until it is busy
// writing (its temporary folder holds the first tensor).
func startMerge(t *testing.T, base, expert, out string) *exec.Cmd {
	t.Helper()
	started := filepath.Join(t.TempDir(), "started")
	cmd := exec.Command(os.Args[0], base, expert, out, started)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			return cmd
		}
	}
	t.Fatal("the merge process did not start writing within a minute")
	return nil
}

// tempFolders lists the temporary folders of out beside it.
func tempFolders(t *testing.T, out string) []string {
	t.Helper()
	var dirs []string
	for _, n := range dirEntries(t, filepath.Dir(out)) {
		if strings.HasPrefix(n, "."+filepath.Base(out)+".tmp-") && !strings.HasSuffix(n, ".lock") {
			dirs = append(dirs, n)
		}
	}
	return dirs
}

// TestKilledMergeLeavesNoTempFolder kills merge processes with SIGKILL
// while they write (their temporary folders stay behind, as a preempted
// cluster job's do); the next merge into the same output removes them and
// says how much it freed, and leaves no temporary folder; a merge still
// running keeps its own.
func TestKilledMergeLeavesNoTempFolder(t *testing.T) {
	dir := t.TempDir()
	const f = checkpoint.F32
	big := func(name string, v float32) tensor {
		data := make([]float32, 256<<10) // 1 MiB
		for i := range data {
			data[i] = v + float32(i%7)
		}
		return f32(name, f, []int64{int64(len(data))}, data...)
	}
	base := writeModel(t, filepath.Join(dir, "base"), 0, big("a", 0), big("b", 0), big("c", 0))
	expert := writeModel(t, filepath.Join(dir, "expert"), 0, big("a", 1), big("b", 2), big("c", 3))
	out := filepath.Join(dir, "merged", "out")

	// A merge killed mid-write leaves its folder; so does the next one,
	// which removed the first's when it started.
	var prev []string
	for i := range 2 {
		cmd := startMerge(t, base, expert, out)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		left := tempFolders(t, out)
		if len(left) != 1 || (i > 0 && left[0] == prev[0]) {
			t.Fatalf("after kill %d: temporary folders %v (before: %v), want one, the last merge's", i+1, left, prev)
		}
		prev = left
	}

	// The next merge removes them and says so.
	var summary bytes.Buffer
	if _, err := Run(context.Background(), killedRecipe(base, expert), out, Options{Summary: &summary}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary.String(), "removed 1 stale temporary folder(s) of "+out+" left by killed merges: ") ||
		!strings.Contains(summary.String(), "MiB freed") {
		t.Errorf("summary:\n%s", summary.String())
	}
	if left := dirEntries(t, filepath.Dir(out)); len(left) != 1 || left[0] != "out" {
		t.Errorf("after the merge: %v, want only out", left)
	}

	// A merge still running keeps its folder while another merges into the
	// same output (with --force, since out exists now).
	running := startMerge(t, base, expert, out)
	mine := tempFolders(t, out)
	if len(mine) != 1 {
		t.Fatalf("the running merge's temporary folders: %v", mine)
	}
	summary.Reset()
	if _, err := Run(context.Background(), killedRecipe(base, expert), out, Options{Summary: &summary, Force: true}); err != nil {
		t.Fatal(err)
	}
	if left := tempFolders(t, out); len(left) != 1 || left[0] != mine[0] || strings.Contains(summary.String(), "removed") {
		t.Errorf("a running merge's folder: %v left (want %v); summary %q", left, mine, summary.String())
	}
	running.Process.Signal(syscall.SIGKILL)
	running.Wait()
	summary.Reset()
	if _, err := Run(context.Background(), killedRecipe(base, expert), out, Options{Summary: &summary, Force: true}); err != nil {
		t.Fatal(err)
	}
	if left := dirEntries(t, filepath.Dir(out)); len(left) != 1 || !strings.Contains(summary.String(), "removed 1 stale") {
		t.Errorf("after the running merge was killed: %v; summary %q", left, summary.String())
	}
}
