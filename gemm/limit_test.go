package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// TestLimit checks that a limited kernel gives its kernel's bits, that a
// limit of one keeps a product that would split in one piece (its row work
// sees all rows at once) and a batch on the caller (its products finish in
// order), and that kernels other than the blocked ones come back unchanged.
func TestLimit(t *testing.T) {
	if g := Gonum(); Limit(g, 1) != g {
		t.Fatal("Limit wrapped gonum's kernel")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	rng := rand.New(rand.NewPCG(10, 10))
	for _, kern := range testKernels() {
		if _, ok := kern.(blocked); !ok {
			continue
		}
		for _, n := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/limit=%d", kern.Name(), n), func(t *testing.T) {
				lk := Limit(kern, n)
				if Limit(lk, 1).(limited).n != 1 {
					t.Fatal("Limit of a limited kernel kept the old limit")
				}
				p := newProblem(rng, false, true, 400, 90, 120, 1, 1.25, 0.5)
				want, got := p.run(kern), p.run(lk)
				if i := firstDiff(want, got); i >= 0 {
					t.Fatalf("element %d: limited %v, unlimited %v", i, got[i], want[i])
				}
				var mu sync.Mutex
				var blocks [][2]int
				c := append([]float32(nil), p.c...)
				SgemmFused(lk, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc,
					Fuse{Rows: func(r0, r1 int) { mu.Lock(); blocks = append(blocks, [2]int{r0, r1}); mu.Unlock() }})
				if n == 1 && (len(blocks) != 1 || blocks[0] != [2]int{0, p.m}) {
					t.Fatalf("limit 1: row blocks %v, want one block of all %d rows", blocks, p.m)
				}
				if n > 1 && len(blocks) != n {
					t.Fatalf("limit %d: %d row blocks %v", n, len(blocks), blocks)
				}
				// A batch worth sharing: with a limit of one its products
				// run in order on the caller.
				var order []int
				var ps []Product
				for i := range 40 {
					q := newProblem(rng, false, false, 48, 48, 48, 0, 1, 0)
					ps = append(ps, Product{M: 48, N: 48, K: 48, Alpha: 1, A: q.a, LDA: q.lda, B: q.b, LDB: q.ldb, C: q.c, LDC: q.ldc,
						After: func() { mu.Lock(); order = append(order, i); mu.Unlock() }})
				}
				SgemmBatch(lk, ps)
				if len(order) != len(ps) {
					t.Fatalf("%d of %d products finished", len(order), len(ps))
				}
				if n == 1 {
					for i, v := range order {
						if v != i {
							t.Fatalf("limit 1: products finished in order %v", order)
						}
					}
				}
				for _, q := range ps {
					for _, v := range q.C[:q.M*q.LDC] {
						if math.IsNaN(float64(v)) {
							t.Fatal("a product of the batch was not computed")
						}
					}
				}
			})
		}
	}
}
