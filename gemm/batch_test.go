package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// TestSgemmBatchMatchesSgemm multiplies a batch of products of mixed
// shapes and transposes, written into disjoint parts of one C and reading
// overlapping parts of A and B as attention does, and compares every
// element bit for bit with the same products made one by one through
// Sgemm, for every kernel and for one and several processors.
func TestSgemmBatchMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const lda, ldb = 96, 80
	a, b := randSlice(rng, 64*lda), randSlice(rng, 64*ldb)
	type shape struct {
		ta, tb  bool
		m, n, k int
	}
	var shapes []shape
	for i := range 40 {
		shapes = append(shapes, shape{i%2 == 1, i%3 == 1, 1 + rng.IntN(48), 1 + rng.IntN(40), 1 + rng.IntN(48)})
	}
	// Each product gets its own rows of C; C starts as noise so that beta
	// matters.
	ldc := 40
	rows := 0
	for _, s := range shapes {
		rows += s.m
	}
	c0 := randSlice(rng, rows*ldc)
	batch := func(c []float32) []Product {
		var ps []Product
		r := 0
		for i, s := range shapes {
			p := Product{TransA: s.ta, TransB: s.tb, M: s.m, N: s.n, K: s.k,
				Alpha: 0.5 + float32(i%3), A: a[i:], LDA: lda, B: b[2*i:], LDB: ldb,
				Beta: float32(i % 2), C: c[r*ldc:], LDC: ldc}
			ps = append(ps, p)
			r += s.m
		}
		return ps
	}
	for _, kern := range Available() {
		for _, procs := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/procs=%d", kern.Name(), procs), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				want := append([]float32(nil), c0...)
				for _, p := range batch(want) {
					kern.Sgemm(p.TransA, p.TransB, p.M, p.N, p.K, p.Alpha, p.A, p.LDA, p.B, p.LDB, p.Beta, p.C, p.LDC)
				}
				got := append([]float32(nil), c0...)
				SgemmBatch(kern, batch(got))
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("element %d (row %d): batch %v, one by one %v", i, i/ldc, got[i], want[i])
					}
				}
			})
		}
	}
}

// TestSgemmBatchBadProduct checks that a malformed product panics with its
// index before any product of the batch runs.
func TestSgemmBatchBadProduct(t *testing.T) {
	a, b := make([]float32, 16), make([]float32, 16)
	c := []float32{7, 7, 7, 7}
	ps := []Product{
		{M: 2, N: 2, K: 2, Alpha: 1, A: a, LDA: 2, B: b, LDB: 2, C: c, LDC: 2},
		{M: 2, N: 2, K: 2, Alpha: 1, A: a, LDA: 2, B: b, LDB: 2, C: c[:3], LDC: 2},
	}
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !strings.Contains(err.Error(), "product 1 of the batch") || !strings.Contains(err.Error(), "C has 3 elements") {
			t.Fatalf("panic %v, want an error naming product 1 and C's length", r)
		}
		if c[0] != 7 {
			t.Fatal("the first product ran before the batch was checked")
		}
	}()
	SgemmBatch(Default(), ps)
}
