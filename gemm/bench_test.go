package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSgemm reports GFLOP/s (2·m·n·k per call) of every available
// kernel on the shapes of the built-in models, in the same run so that the
// kernels are compared under the same machine load. Use -cpu 1,2 to compare
// one and two goroutines.
func BenchmarkSgemm(b *testing.B) {
	shapes := []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"xs-1024x128x32", false, false, 1024, 128, 32},
		{"xs-1024x32x128", false, false, 1024, 32, 128},
		{"mlp-512x64x256", false, false, 512, 64, 256},
		{"mlp-1024x128x512", false, false, 1024, 128, 512},
		{"mlp-2048x256x1024", false, false, 2048, 256, 1024},
		{"dX-1024x512x128-NT", false, true, 1024, 512, 128},
		{"dW-128x512x1024-TN", true, false, 128, 512, 1024},
		{"attn-64x64x32-NT", false, true, 64, 64, 32},
		{"attn-64x32x64-NN", false, false, 64, 32, 64},
		{"attn-64x16x64-NN", false, false, 64, 16, 64},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range shapes {
		p := newProblem(rng, s.transA, s.transB, s.m, s.n, s.k, 0, 1, 0)
		for _, kern := range Available() {
			b.Run(fmt.Sprintf("%s/%s", s.name, kern.Name()), func(b *testing.B) {
				for b.Loop() {
					kern.Sgemm(p.transA, p.transB, p.m, p.n, p.k, 1, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
