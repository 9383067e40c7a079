package merge

import (
	"math"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Benchmarks merge 8 experts of MERGE_BENCH_MIB MiB of float32 each
// (default 16; the reference size is 256:
// MERGE_BENCH_MIB=256 go test -run ^$ -bench . -benchtime 3x ./merge/).
// Each reports GB/s of expert data, the GB/s of copy() over the same bytes
// measured in the same benchmark, and their ratio.

const benchExperts = 8

var benchData struct {
	once sync.Once
	in   Input
}

func benchInput(b *testing.B) Input {
	benchData.once.Do(func() {
		mib := 16
		if s := os.Getenv("MERGE_BENCH_MIB"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v <= 0 {
				b.Fatalf("MERGE_BENCH_MIB=%q: want a positive integer", s)
			}
			mib = v
		}
		n := mib << 20 / 4
		state := uint64(12345)
		next := func() float32 {
			state = mix64(state + 0x9e3779b97f4a7c15)
			// Roughly Gaussian: sum of two uniforms, scaled like weights.
			u := float32(state>>40) / (1 << 24)
			v := float32(uint32(state)>>8) / (1 << 24)
			return (u + v - 1) * 0.02
		}
		in := Input{Name: "bench", Base: make([]float32, n)}
		for j := range in.Base {
			in.Base[j] = next()
		}
		for i := 0; i < benchExperts; i++ {
			e := make([]float32, n)
			for j := range e {
				e[j] = in.Base[j] + next()*0.05
			}
			in.Experts = append(in.Experts, e)
		}
		benchData.in = in
	})
	return benchData.in
}

func benchMerge(b *testing.B, method string, p Params, global bool) {
	in := benchInput(b)
	n := len(in.Base)
	in.Params = same(benchExperts, p)
	out := make([]float32, n)
	dst := make([]float32, n)
	if method == Linear {
		in.Base = nil
	}
	// Touch the output pages once so that page faults are not timed.
	copy(dst, in.Experts[0])
	copy(out, in.Experts[0])
	var mergeDur, copyDur time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, e := range in.Experts {
			copy(dst, e)
		}
		copyDur += time.Since(t0)
		t0 = time.Now()
		if global {
			params := make([]Params, benchExperts)
			err := forEach(benchExperts, func(x int) error {
				h, err := NewMagnitudeHistogram(*p.Density)
				if err != nil {
					return err
				}
				for !h.Done() {
					if err := h.Add(in.Name, in.Experts[x], in.Base); err != nil {
						return err
					}
					if err := h.EndPass(); err != nil {
						return err
					}
				}
				th, err := h.Threshold(in.Name)
				params[x] = p
				params[x].Threshold = &th
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			in.Params = params
		}
		if _, err := MergeTensor(method, in, uint64(i), out); err != nil {
			b.Fatal(err)
		}
		mergeDur += time.Since(t0)
	}
	b.StopTimer()
	bytes := float64(benchExperts) * float64(n) * 4 * float64(b.N)
	b.ReportMetric(bytes/mergeDur.Seconds()/1e9, "GB/s")
	b.ReportMetric(bytes/copyDur.Seconds()/1e9, "copy_GB/s")
	b.ReportMetric(copyDur.Seconds()/mergeDur.Seconds(), "x_copy")
	b.ReportMetric(0, "ns/op")
	if math.IsNaN(float64(out[0])) {
		b.Fatal("NaN output")
	}
}

func BenchmarkLinear(b *testing.B)         { benchMerge(b, Linear, Params{}, false) }
func BenchmarkTaskArithmetic(b *testing.B) { benchMerge(b, TaskArithmetic, Params{}, false) }
func BenchmarkTIES(b *testing.B)           { benchMerge(b, TIES, Params{Density: F64(0.2)}, false) }
func BenchmarkTIESGlobal(b *testing.B) {
	benchMerge(b, TIES, Params{Density: F64(0.2), TrimScope: ScopeGlobal}, true)
}
func BenchmarkDareTIES(b *testing.B) { benchMerge(b, DareTIES, Params{Density: F64(0.2)}, false) }
