package mergefile

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mergescale/checkpoint"
)

// benchTensorElems is the size of every tensor of a generated benchmark
// model: 4 Mi float32 entries (16 MiB), about a GPT-2 medium MLP matrix.
const benchTensorElems = 4 << 20

// writeBenchModel writes a model directory of f32 tensors of
// benchTensorElems entries totalling about bytes.
func writeBenchModel(tb testing.TB, dir string, bytes int64, seed uint64) {
	tb.Helper()
	writeBenchTensors(tb, dir, int(max(bytes/(4*benchTensorElems), 1)), benchTensorElems, seed)
}

// writeBenchTensors writes a model directory of n f32 tensors of elems
// entries (a multiple of 1024), with cheap pseudo-random values (xorshift)
// so that writing a gigabyte takes a second, not a minute.
func writeBenchTensors(tb testing.TB, dir string, n, elems int, seed uint64) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	infos := make([]checkpoint.TensorInfo, n)
	for i := range infos {
		infos[i] = checkpoint.TensorInfo{Name: fmt.Sprintf("h.%03d.weight", i), DType: checkpoint.F32, Shape: []int64{int64(elems / 1024), 1024}}
	}
	w, err := checkpoint.CreateDir(dir, infos, nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]float32, elems)
	x := seed*0x9E3779B97F4A7C15 | 1
	for _, ti := range infos {
		for j := range buf {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			buf[j] = float32(int32(x>>32)) * (1.0 / (1 << 31))
		}
		if err := w.WriteFloat32(ti.Name, buf); err != nil {
			w.Abort()
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchModels writes a base and k experts of perModel bytes under dir.
func benchModels(tb testing.TB, dir string, k int, perModel int64) (base string, experts []string) {
	base = filepath.Join(dir, "base")
	writeBenchModel(tb, base, perModel, 1)
	for i := range k {
		e := filepath.Join(dir, fmt.Sprintf("expert%d", i))
		writeBenchModel(tb, e, perModel, uint64(i+2))
		experts = append(experts, e)
	}
	return base, experts
}

// catFiles reads every file under the dirs like cat(1) and returns the bytes.
func catFiles(tb testing.TB, dirs ...string) int64 {
	var total int64
	buf := make([]byte, 128<<10)
	for _, d := range dirs {
		paths, _ := filepath.Glob(filepath.Join(d, "*.safetensors"))
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				tb.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
			f.Close()
			if err != nil {
				tb.Fatal(err)
			}
			total += n
		}
	}
	return total
}

// BenchmarkEndToEnd merges 8 experts × 256 MiB of f32 (16 MiB under -short)
// from the page cache and reports GB/s of input read, beside a cat of the
// same files measured in the same run (x_cat = merge GB/s ÷ cat GB/s; the
// goal is ≥ 0.5 for linear and task_arithmetic).
func BenchmarkEndToEnd(b *testing.B) {
	perModel := int64(256 << 20)
	if testing.Short() {
		perModel = 16 << 20
	}
	dir := b.TempDir()
	base, experts := benchModels(b, dir, 8, perModel)
	all := append([]string{base}, experts...)
	catFiles(b, all...) // warm the page cache
	var catGBps float64
	for range 3 {
		t0 := time.Now()
		n := catFiles(b, all...)
		catGBps = max(catGBps, float64(n)/1e9/time.Since(t0).Seconds())
	}
	b.Run("cat", func(b *testing.B) {
		var n int64
		for b.Loop() {
			n = catFiles(b, all...)
		}
		b.SetBytes(n)
	})
	for _, method := range []string{"linear", "task_arithmetic", "ties", "dare_ties"} {
		b.Run(method, func(b *testing.B) {
			cfg := &Config{MergeMethod: method, BaseModel: base, Parameters: ParamSet{"weight": Scalar(1.0)}}
			if method == "linear" {
				cfg.BaseModel = "" // averaging reads no base
			}
			if method == "ties" || method == "dare_ties" {
				cfg.Parameters["density"] = Scalar(0.2)
			}
			for _, e := range experts {
				cfg.Models = append(cfg.Models, ModelRef{Model: e})
			}
			plan, err := Check(cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(plan.InputBytes)
			var elapsed time.Duration
			i := 0
			for b.Loop() {
				out := filepath.Join(dir, fmt.Sprintf("out-%s-%d", method, i))
				i++
				t0 := time.Now()
				if _, err := Run(context.Background(), cfg, out, Options{}); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(t0)
				b.StopTimer()
				os.RemoveAll(out)
				b.StartTimer()
			}
			gbps := float64(plan.InputBytes) * float64(i) / 1e9 / elapsed.Seconds()
			b.ReportMetric(gbps, "GB/s")
			b.ReportMetric(gbps/catGBps, "x_cat")
		})
	}
}

// TestPeakRSS runs the merge command as a child process on generated
// checkpoints of 0.25, 0.5 and 1 GiB per expert (4 experts and a base,
// 16 MiB tensors) and logs its peak RSS from rusage. The goal is an RSS that
// stays flat as the model grows. It writes about 8 GiB and is skipped unless
// MERGESCALE_BENCH_RSS=1.
func TestPeakRSS(t *testing.T) {
	if os.Getenv("MERGESCALE_BENCH_RSS") != "1" {
		t.Skip("set MERGESCALE_BENCH_RSS=1 to measure the peak RSS of the merge command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mergescale")
	build := exec.Command("go", "build", "-o", bin, "mergescale")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	methods := strings.Fields(os.Getenv("MERGESCALE_BENCH_RSS_METHODS"))
	if len(methods) == 0 {
		methods = []string{"task_arithmetic", "ties"}
	}
	const k = 4
	var report strings.Builder
	fmt.Fprintf(&report, "\n%-16s %10s %12s %12s %8s\n", "method", "GiB/expert", "peak RSS MiB", "(k+2)×max MiB", "seconds")
	for _, gib := range []float64{0.25, 0.5, 1} {
		md := filepath.Join(dir, fmt.Sprintf("models-%v", gib))
		base, experts := benchModels(t, md, k, int64(gib*(1<<30)))
		catFiles(t, append([]string{base}, experts...)...) // large files are written past the page cache
		for _, method := range methods {
			var yml strings.Builder
			fmt.Fprintf(&yml, "merge_method: %s\nbase_model: %s\nmodels:\n", method, base)
			for _, e := range experts {
				fmt.Fprintf(&yml, "  - model: %s\n", e)
			}
			if method != "task_arithmetic" && method != "linear" {
				yml.WriteString("parameters: {weight: 1, density: 0.2}\n")
			} else {
				yml.WriteString("parameters: {weight: 1}\n")
			}
			cfgPath := filepath.Join(md, method+".yaml")
			if err := os.WriteFile(cfgPath, []byte(yml.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(md, "out-"+method)
			cmd := exec.Command(bin, "merge", cfgPath, "--out", out)
			cmd.Env = append(os.Environ(), "CI=1")
			t0 := time.Now()
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", method, err, b)
			}
			secs := time.Since(t0).Seconds()
			ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			if !ok {
				t.Skip("no rusage on this platform")
			}
			rssMiB := float64(ru.Maxrss) / 1024 // Linux reports KiB
			fmt.Fprintf(&report, "%-16s %10.2f %12.0f %12d %8.1f\n", method, gib, rssMiB, (k+2)*benchTensorElems*4>>20, secs)
			os.RemoveAll(out)
		}
		os.RemoveAll(md)
	}
	t.Log(report.String())
}
