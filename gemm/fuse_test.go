package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestSgemmFusedMatchesSteps compares SgemmFused with its steps done one
// after another (fill C's rows with the bias, Sgemm with beta = 1, then the
// row work over all rows) bit for bit, for every kernel, shapes that split
// by rows and by columns (the bias alone lets a wide C split by columns),
// and one and several processors. The row work squares each element and
// records which rows it saw; the column work records which columns it was
// given: every row and column must be seen exactly once.
func TestSgemmFusedMatchesSteps(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	shapes := []struct {
		ta, tb  bool
		m, n, k int
	}{
		{false, false, 300, 70, 90}, // tall: split by rows
		{false, true, 40, 2000, 64}, // wide: would split by columns
		{true, false, 130, 129, 300},
		{false, false, 5, 3, 2},
		{false, false, 64, 64, 0}, // no depth: C is the bias
	}
	for _, kern := range Available() {
		for _, procs := range []int{1, 4} {
			for _, sh := range shapes {
				for _, mode := range []struct{ withBias, withRows, withCols bool }{
					{true, false, false}, {false, true, false}, {true, true, false}, {false, false, true}, {true, false, true},
				} {
					withBias, withRows, withCols := mode.withBias, mode.withRows, mode.withCols
					name := fmt.Sprintf("%s/procs=%d/%dx%dx%d/bias=%v/rows=%v/cols=%v", kern.Name(), procs, sh.m, sh.n, sh.k, withBias, withRows, withCols)
					t.Run(name, func(t *testing.T) {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
						p := newProblem(rng, sh.ta, sh.tb, sh.m, sh.n, sh.k, 3, 0.75, 0.5)
						bias := randSlice(rng, sh.n)
						square := func(c []float32, r0, r1 int) {
							for r := r0; r < r1; r++ {
								row := c[r*p.ldc : r*p.ldc+sh.n]
								for j, v := range row {
									row[j] = v * v
								}
							}
						}
						want := append([]float32(nil), p.c...)
						beta := p.beta
						if withBias {
							for r := 0; r < sh.m; r++ {
								copy(want[r*p.ldc:r*p.ldc+sh.n], bias)
							}
							beta = 1
						}
						kern.Sgemm(sh.ta, sh.tb, sh.m, sh.n, sh.k, p.alpha, p.a, p.lda, p.b, p.ldb, beta, want, p.ldc)
						if withRows {
							square(want, 0, sh.m)
						}

						got := append([]float32(nil), p.c...)
						seen, seenCols := make([]int, sh.m), make([]int, sh.n)
						var mu sync.Mutex
						f := Fuse{Rows: func(r0, r1 int) {
							square(got, r0, r1)
							mu.Lock()
							for r := r0; r < r1; r++ {
								seen[r]++
							}
							mu.Unlock()
						}}
						if withBias {
							f.Bias = bias
						}
						if !withRows {
							f.Rows = nil
						}
						if withCols {
							// Work beside C, not on it: C's other
							// blocks may still be in progress.
							f.Cols = func(c0, c1 int) {
								mu.Lock()
								for c := c0; c < c1; c++ {
									seenCols[c]++
								}
								mu.Unlock()
							}
						}
						SgemmFused(kern, sh.ta, sh.tb, sh.m, sh.n, sh.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, got, p.ldc, f)
						for r, n := range seen {
							if withRows && n != 1 {
								t.Fatalf("row %d given to Rows %d times", r, n)
							}
						}
						for c, n := range seenCols {
							if withCols && n != 1 {
								t.Fatalf("column %d given to Cols %d times", c, n)
							}
						}
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("element %d: fused %v, step by step %v", i, got[i], want[i])
							}
						}
					})
				}
			}
		}
	}
}

// TestSgemmFusedBadFuse checks the errors for a bias shorter than C's
// columns and for row and column work together, before C is touched.
func TestSgemmFusedBadFuse(t *testing.T) {
	a, b, c := make([]float32, 4), make([]float32, 4), []float32{7, 7, 7, 7}
	for _, kern := range Available() {
		func() {
			defer func() {
				err, ok := recover().(error)
				if !ok || !strings.Contains(err.Error(), "bias has 1 elements, needs 2") {
					t.Fatalf("%s: panic %v, want the bias length error", kern.Name(), err)
				}
				if c[0] != 7 {
					t.Fatalf("%s: C written before the check", kern.Name())
				}
			}()
			SgemmFused(kern, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2, Fuse{Bias: []float32{1}})
		}()
		func() {
			defer func() {
				err, ok := recover().(error)
				if !ok || !strings.Contains(err.Error(), "Rows or Cols, not both") {
					t.Fatalf("%s: panic %v, want the Rows-and-Cols error", kern.Name(), err)
				}
			}()
			SgemmFused(kern, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2, Fuse{Rows: func(int, int) {}, Cols: func(int, int) {}})
		}()
	}
}
