package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

func TestZZShapes(t *testing.T) {
	k := Default().(blocked)
	d := 128
	R := 768
	type sh struct {
		ta, tb   bool
		m, n, kk int
	}
	shapes := []sh{
		{false, false, R, 4 * d, d},
		{false, false, R, 3 * d, d}, {false, false, R, d, d}, {false, false, R, d, 4 * d},
		{true, false, d, 3 * d, R}, {true, false, d, d, R}, {true, false, d, 4 * d, R}, {true, false, 4 * d, d, R},
		{false, true, R, d, 3 * d}, {false, true, R, d, d}, {false, true, R, d, 4 * d}, {false, true, R, 4 * d, d},
		{false, true, 752, 500, d}, {true, false, 500, d, 752}, {false, false, 752, d, 500},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	buf := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = rng.Float32()
		}
		return x
	}
	best := make([]float64, len(shapes))
	for rep := 0; rep < 8; rep++ {
		for i, s := range shapes {
			lda := s.kk
			if s.ta {
				lda = s.m
			}
			ldb := s.n
			if s.tb {
				ldb = s.kk
			}
			a, b, c := buf(s.m*s.kk), buf(s.kk*s.n), buf(s.m*s.n)
			n := 0
			st := time.Now()
			for time.Since(st) < 30*time.Millisecond {
				k.sgemm(s.ta, s.tb, s.m, s.n, s.kk, 1, a, lda, b, ldb, 1, c, s.n, runtime.GOMAXPROCS(0))
				n++
			}
			g := 2 * float64(s.m*s.n*s.kk) * float64(n) / time.Since(st).Seconds() / 1e9
			best[i] = max(best[i], g)
		}
	}
	for i, s := range shapes {
		fmt.Printf("%v%v %4dx%4dx%4d %6.1f GFLOP/s  %.2f of ref\n", b2s(s.ta), b2s(s.tb), s.m, s.n, s.kk, best[i], best[i]/best[0])
	}
}

func b2s(b bool) string {
	if b {
		return "T"
	}
	return "N"
}
