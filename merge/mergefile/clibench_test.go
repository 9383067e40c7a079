package mergefile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The CLI benchmark's models: a base and 8 experts of 32 f32 tensors of
// 8 MiB (256 MiB each).
const (
	cliBenchExperts = 8
	cliBenchTensors = 32
	cliBenchElems   = 2 << 20
)

// cliBenchMethods are the merges TestCLIThroughput measures, with the
// parameters of the measurement (weight is required, as in mergekit) and
// the goal as a ratio to cat.
var cliBenchMethods = []struct {
	method, params string
	base           bool
	goal           float64
}{
	{"linear", "parameters: {weight: 1.0}\n", false, 0.6},
	{"task_arithmetic", "parameters: {weight: 1.0}\n", true, 0.6},
	{"ties", "parameters: {weight: 1.0, density: 0.2, trim_scope: tensor}\n", true, 0.25},
	{"dare_ties", "parameters: {weight: 1.0, density: 0.2}\n", true, 0.3},
}

// TestCLIThroughput measures `mergescale merge` as a user runs it: the
// command built and started as a separate process, merging 8 experts (and a
// base) of 256 MiB each from a warm page cache into a directory on the same
// filesystem, against its floor measured in the same run: `cat` of the same
// input files to /dev/null plus a durable write of as many bytes as the
// merge writes, to the same filesystem (dd with O_DIRECT and an fsync; the
// merge writes its output with O_DIRECT and syncs it). Each method's cat,
// merge and write alternate, three rounds; the best time of each counts.
// "× cat" is cat's time ÷ the merge's time (= merge GB/s ÷ cat GB/s of
// input), "× floor" is (cat + write) ÷ the merge's time. The load average is
// logged beside each row.
//
// It writes about 3 GiB and is skipped unless MERGESCALE_BENCH_CLI=1.
// MERGESCALE_BENCH_CLI_METHODS restricts the methods (space-separated),
// MERGESCALE_BENCH_CLI_BIN runs a given binary instead of building one (to
// compare two builds), and MERGESCALE_BENCH_CLI_DIR keeps the generated
// models in that directory for the next run instead of a temporary one.
func TestCLIThroughput(t *testing.T) {
	if os.Getenv("MERGESCALE_BENCH_CLI") != "1" {
		t.Skip("set MERGESCALE_BENCH_CLI=1 to measure the merge command against cat")
	}
	dir := os.Getenv("MERGESCALE_BENCH_CLI_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	bin := os.Getenv("MERGESCALE_BENCH_CLI_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "mergescale")
		if out, err := exec.Command("go", "build", "-o", bin, "mergescale").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	base, experts := cliBenchModels(t, dir)
	want := strings.Fields(os.Getenv("MERGESCALE_BENCH_CLI_METHODS"))

	type row struct {
		method         string
		goal           float64
		files          []string
		cfg            string
		cat, merge     time.Duration
		write          time.Duration // best durable write of outBytes
		writeMode      string        // how the write was made durable
		outBytes       int64         // what the merge writes
		load           string
		ru             syscall.Rusage // of the best merge
		bytes          int64
		catRuns, mRuns []time.Duration
		wRuns          []time.Duration
	}
	var rows []*row
	for _, m := range cliBenchMethods {
		if len(want) > 0 && !slices.Contains(want, m.method) {
			continue
		}
		r := &row{method: m.method, goal: m.goal}
		var yml strings.Builder
		fmt.Fprintf(&yml, "merge_method: %s\n", m.method)
		if m.base {
			fmt.Fprintf(&yml, "base_model: %s\n", base)
			r.files = append(r.files, filepath.Join(base, "model.safetensors"))
		}
		yml.WriteString("models:\n")
		for _, e := range experts {
			fmt.Fprintf(&yml, "  - model: %s\n", e)
			r.files = append(r.files, filepath.Join(e, "model.safetensors"))
		}
		yml.WriteString(m.params)
		r.cfg = filepath.Join(dir, m.method+".yaml")
		if err := os.WriteFile(r.cfg, []byte(yml.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range r.files {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			r.bytes += st.Size()
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatalf("MERGESCALE_BENCH_CLI_METHODS=%q names no known method", want)
	}
	for range 2 { // warm the page cache
		runCat(t, rows[0].files...)
		runCat(t, filepath.Join(base, "model.safetensors"))
	}
	for round := range 3 {
		for _, r := range rows {
			if round == 0 {
				r.load = loadAvg()
			}
			c := runCat(t, r.files...)
			r.catRuns = append(r.catRuns, c)
			out := filepath.Join(dir, "out-"+r.method)
			cmd := exec.Command(bin, "merge", r.cfg, "--out", out)
			cmd.Env = append(os.Environ(), "CI=1")
			t0 := time.Now()
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", r.method, err, b)
			}
			d := time.Since(t0)
			r.mRuns = append(r.mRuns, d)
			if r.cat == 0 || c < r.cat {
				r.cat = c
			}
			if r.merge == 0 || d < r.merge {
				r.merge = d
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					r.ru = *ru
				}
			}
			if r.outBytes == 0 {
				r.outBytes = dirBytes(t, out)
			}
			if err := os.RemoveAll(out); err != nil {
				t.Fatal(err)
			}
			w, mode := runDurableWrite(t, filepath.Join(dir, "floor-"+r.method), r.outBytes)
			r.wRuns = append(r.wRuns, w)
			r.writeMode = mode
			if r.write == 0 || w < r.write {
				r.write = w
			}
		}
	}
	var rep strings.Builder
	fmt.Fprintf(&rep, "\nCLI as a process, warm page cache: %d experts × %d MiB, best of 3; floor = cat of the inputs + durable write (%s) of the output's bytes\n",
		cliBenchExperts, cliBenchTensors*cliBenchElems*4>>20, rows[0].writeMode)
	fmt.Fprintf(&rep, "%-16s %7s %8s %8s %8s %8s %6s %8s %5s %7s %7s %8s  %s\n",
		"method", "GiB in", "merge s", "cat s", "write s", "floor s", "×cat", "×floor", "goal", "user s", "sys s", "RSS MiB", "load 1/5/15 before")
	for _, r := range rows {
		floor := r.cat + r.write
		fmt.Fprintf(&rep, "%-16s %7.2f %8.3f %8.3f %8.3f %8.3f %6.2f %8.2f %5.2f %7.2f %7.2f %8d  %s\n",
			r.method, float64(r.bytes)/(1<<30), r.merge.Seconds(), r.cat.Seconds(), r.write.Seconds(), floor.Seconds(),
			r.cat.Seconds()/r.merge.Seconds(), floor.Seconds()/r.merge.Seconds(), r.goal,
			tvSeconds(r.ru.Utime), tvSeconds(r.ru.Stime), r.ru.Maxrss/1024, r.load)
	}
	for _, r := range rows {
		fmt.Fprintf(&rep, "%s runs: merge %v, cat %v, write of %.1f MiB %v\n",
			r.method, roundAll(r.mRuns), roundAll(r.catRuns), float64(r.outBytes)/(1<<20), roundAll(r.wRuns))
	}
	t.Log(rep.String())
}

// cliBenchModels writes (or, in a kept directory, reuses) the base and the
// experts of TestCLIThroughput.
func cliBenchModels(t *testing.T, dir string) (base string, experts []string) {
	size := int64(cliBenchTensors) * cliBenchElems * 4
	ensure := func(d string, seed uint64) string {
		if st, err := os.Stat(filepath.Join(d, "model.safetensors")); err == nil && st.Size() > size && st.Size() < size+1<<20 {
			return d
		}
		os.RemoveAll(d)
		writeBenchTensors(t, d, cliBenchTensors, cliBenchElems, seed)
		return d
	}
	base = ensure(filepath.Join(dir, "base"), 1)
	for i := range cliBenchExperts {
		experts = append(experts, ensure(filepath.Join(dir, fmt.Sprintf("expert%d", i)), uint64(i+2)))
	}
	return base, experts
}

// runCat runs cat(1) on files with its output on /dev/null and returns the
// wall time.
func runCat(t *testing.T, files ...string) time.Duration {
	t.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	cmd := exec.Command("cat", files...)
	cmd.Stdout = null
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("cat: %v\n%s", err, stderr.String())
	}
	return time.Since(t0)
}

// dirBytes returns the total size of the regular files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// runDurableWrite writes n bytes to path with dd(1) as a child process, with
// O_DIRECT and an fsync at the end (with the fsync alone where the
// filesystem refuses O_DIRECT), removes the file and returns the wall time
// and how the write was made durable.
func runDurableWrite(t *testing.T, path string, n int64) (time.Duration, string) {
	t.Helper()
	args := []string{"if=/dev/zero", "of=" + path, "bs=4M", fmt.Sprintf("count=%d", n), "iflag=count_bytes", "conv=fsync"}
	for _, mode := range []string{"O_DIRECT + fsync", "fsync"} {
		a := args
		if mode == "O_DIRECT + fsync" {
			a = append(slices.Clone(args), "oflag=direct")
		}
		cmd := exec.Command("dd", a...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		os.Remove(path)
		if err == nil {
			return d, mode
		}
		if mode == "fsync" {
			t.Fatalf("dd: %v\n%s", err, stderr.String())
		}
	}
	panic("unreachable")
}

// loadAvg returns the 1, 5 and 15 minute load averages ("?" where unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
