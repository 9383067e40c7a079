package model

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestTrainStepSideBySide compares the training-step benchmark of two builds
// on the same machine in one run: the test binary of package model built
// from a given commit (MERGESCALE_BENCH_BASE, anything git rev-parse reads)
// and from the working tree. It runs the two binaries alternately, round
// after round, keeps each build's best figure per benchmark and preset, and
// prints tokens/s, GFLOP/s, the default kernel's Sgemm GFLOP/s on the MLP
// shape and their ratios side by side. Alternating cancels most of the drift
// of a shared machine; best-of keeps the runs least disturbed by it. A
// second table gives medians over the rounds: of tokens/s, of each round's
// paired tree ÷ base speed-up, and of each run's own step ÷ kernel ratio,
// which stay put when the machine's speed moves for minutes at a time.
//
//	MERGESCALE_BENCH_BASE=07b88af go test -run TestTrainStepSideBySide -v -timeout 1h ./model
//
// MERGESCALE_BENCH_ROUNDS (default 5), MERGESCALE_BENCH_PRESETS (default
// "l,xl") and MERGESCALE_BENCH_TIME (the -benchtime of each run, default
// 5x) tune it. Benchmarks that only one build has (BenchmarkTrainStepWorkers
// before it existed) are shown against the other build's BenchmarkTrainStep.
func TestTrainStepSideBySide(t *testing.T) {
	base := os.Getenv("MERGESCALE_BENCH_BASE")
	if base == "" {
		t.Skip("set MERGESCALE_BENCH_BASE to a commit to compare the training step against")
	}
	rounds := 5
	if s := os.Getenv("MERGESCALE_BENCH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("MERGESCALE_BENCH_ROUNDS=%q: want a positive integer", s)
		}
		rounds = n
	}
	presets := strings.Split(cmp.Or(os.Getenv("MERGESCALE_BENCH_PRESETS"), "l,xl"), ",")
	benchtime := cmp.Or(os.Getenv("MERGESCALE_BENCH_TIME"), "5x")

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	rev := strings.TrimSpace(runCmd(t, root, "git", "rev-parse", "--short", base+"^{commit}"))
	// The base build: the commit's tree, exported without touching the
	// repository's worktrees.
	src := filepath.Join(tmp, "base")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := exec.Command("git", "archive", "--format=tar", rev)
	archive.Dir = root
	tarball, err := archive.Output()
	if err != nil {
		t.Fatalf("git archive %s: %v", rev, err)
	}
	untar := exec.Command("tar", "-x", "-C", src)
	untar.Stdin = bytes.NewReader(tarball)
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	bins := map[string]string{rev: filepath.Join(tmp, "base.test"), "tree": filepath.Join(tmp, "tree.test")}
	runCmd(t, src, "go", "test", "-c", "-o", bins[rev], "./model")
	runCmd(t, root, "go", "test", "-c", "-o", bins["tree"], "./model")

	var sub []string
	for _, p := range presets {
		sub = append(sub, regexp.QuoteMeta(strings.TrimSpace(p)))
	}
	pattern := "^BenchmarkTrainStep(Workers)?$/^(" + strings.Join(sub, "|") + ")$"
	// best[build][bench/preset][metric]; runs[build][bench/preset] holds
	// every run's metrics, round by round.
	best := map[string]map[string]map[string]float64{rev: {}, "tree": {}}
	runs := map[string]map[string][]map[string]float64{rev: {}, "tree": {}}
	for r := range rounds {
		order := []string{rev, "tree"}
		if r%2 == 1 {
			order = []string{"tree", rev}
		}
		for _, b := range order {
			out := runCmd(t, tmp, bins[b], "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime)
			for name, metrics := range parseBench(out) {
				runs[b][name] = append(runs[b][name], metrics)
				if best[b][name] == nil {
					best[b][name] = map[string]float64{}
				}
				for k, v := range metrics {
					best[b][name][k] = max(best[b][name][k], v)
				}
			}
		}
		t.Logf("round %d of %d done", r+1, rounds)
	}

	var names []string
	for name := range best["tree"] {
		names = append(names, name)
	}
	slices.Sort(names)
	var sb strings.Builder
	fmt.Fprintf(&sb, "best of %d alternating runs, -benchtime %s; base %s, tree = working tree\n", rounds, benchtime, rev)
	fmt.Fprintf(&sb, "%-28s %12s %12s %7s %9s %9s %9s %9s %7s %7s\n",
		"benchmark", "base tok/s", "tree tok/s", "ratio", "base GF/s", "tree GF/s", "base krn", "tree krn", "base ÷k", "tree ÷k")
	baseOf := func(m map[string]map[string]float64, name string) string {
		if m[name] == nil { // a benchmark the base lacks: against its one-worker figure
			return "BenchmarkTrainStep/" + name[strings.Index(name, "/")+1:]
		}
		return name
	}
	for _, name := range names {
		tm := best["tree"][name]
		bm := best[rev][baseOf(best[rev], name)]
		if bm == nil {
			bm = map[string]float64{}
		}
		fmt.Fprintf(&sb, "%-28s %12.0f %12.0f %7.2f %9.1f %9.1f %9.1f %9.1f %7.2f %7.2f\n", name,
			bm["tokens/s"], tm["tokens/s"], tm["tokens/s"]/bm["tokens/s"],
			bm["GFLOP/s"], tm["GFLOP/s"], kernelGFLOPS(bm), kernelGFLOPS(tm),
			bm["GFLOP/s"]/kernelGFLOPS(bm), tm["GFLOP/s"]/kernelGFLOPS(tm))
	}
	// Medians over the rounds, for a machine whose speed drifts between
	// runs: the step ÷ kernel ratio of each run (both measured in the same
	// process, seconds apart), and each round's tree ÷ base tokens/s (the
	// two runs next to each other).
	fmt.Fprintf(&sb, "\nmedians over the %d rounds\n%-28s %12s %12s %9s %9s %9s\n", rounds,
		"benchmark", "base tok/s", "tree tok/s", "× (paired)", "base ÷k", "tree ÷k")
	for _, name := range names {
		tr, br := runs["tree"][name], runs[rev][baseOf(best[rev], name)]
		var paired []float64
		for i := range min(len(tr), len(br)) {
			paired = append(paired, tr[i]["tokens/s"]/br[i]["tokens/s"])
		}
		fmt.Fprintf(&sb, "%-28s %12.0f %12.0f %9.2f %9.2f %9.2f\n", name,
			median(metricOf(br, "tokens/s")), median(metricOf(tr, "tokens/s")), median(paired),
			median(kernelRatios(br)), median(kernelRatios(tr)))
	}
	t.Log("\n" + sb.String())
}

// metricOf returns one metric of every run.
func metricOf(runs []map[string]float64, metric string) []float64 {
	var out []float64
	for _, m := range runs {
		out = append(out, m[metric])
	}
	return out
}

// kernelRatios returns each run's step GFLOP/s ÷ its kernel's Sgemm GFLOP/s.
func kernelRatios(runs []map[string]float64) []float64 {
	var out []float64
	for _, m := range runs {
		out = append(out, m["GFLOP/s"]/kernelGFLOPS(m))
	}
	return out
}

// median returns the median of x (the mean of the middle two for an even
// count), NaN for none.
func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// kernelGFLOPS returns the default kernel's Sgemm figure of a benchmark
// line's metrics (the one named <kernel>-sgemm-GFLOP/s other than gonum's).
func kernelGFLOPS(m map[string]float64) float64 {
	for k, v := range m {
		if strings.HasSuffix(k, "-sgemm-GFLOP/s") && k != "gonum-sgemm-GFLOP/s" {
			return v
		}
	}
	return m["gonum-sgemm-GFLOP/s"]
}

// parseBench reads the result lines of go test -bench output: benchmark
// name (without the -GOMAXPROCS suffix), then value-unit pairs.
func parseBench(out string) map[string]map[string]float64 {
	res := map[string]map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[f[i+1]] = v
		}
		res[name] = m
	}
	return res
}

// runCmd runs a command in dir and returns its standard output, failing the
// test with its output when it fails.
func runCmd(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}
