package gemm

import (
	"fmt"
	"runtime"

	"mergescale/internal/forkjoin"
)

// Product is one C = Alpha·op(A)·op(B) + Beta·C of a batch, with the
// arguments of Kernel.Sgemm.
type Product struct {
	TransA, TransB bool
	M, N, K        int
	Alpha          float32
	A              []float32
	LDA            int
	B              []float32
	LDB            int
	Beta           float32
	C              []float32
	LDC            int
	// After, when not nil, is called right after the product, on the
	// goroutine that computed it: element-wise work on this product's C
	// (attention's softmax) done while C is in that core's cache.
	After func()
}

// SgemmBatch computes every product of ps, as Sgemm would one by one, with
// the products spread over the kernel's goroutines (up to GOMAXPROCS, or
// the limit of a kernel from Limit; a batch of fewer than two goroutines'
// worth of work stays on the caller): it is the way to multiply many small
// independent matrices (attention's per-head products) that are each too
// small to split. No two products may write the same element of C. Each
// product is computed by the same operations as a lone Sgemm call,
// whichever goroutine runs it, so the results do not depend on the number
// of goroutines. Malformed arguments panic, naming the product, before any
// product runs.
func SgemmBatch(k Kernel, ps []Product) {
	for i := range ps {
		p := &ps[i]
		if err := checkArgs(p.TransA, p.TransB, p.M, p.N, p.K, p.A, p.LDA, p.B, p.LDB, p.C, p.LDC); err != nil {
			panic(fmt.Errorf("product %d of the batch: %w", i, err))
		}
	}
	bk, workers, isBlocked := blockedOf(k)
	if !isBlocked {
		workers = runtime.GOMAXPROCS(0)
	}
	one := func(i int) {
		p := &ps[i]
		if isBlocked {
			// One goroutine per product: the batch is the parallelism.
			bk.sgemm(p.TransA, p.TransB, p.M, p.N, p.K, p.Alpha, p.A, p.LDA, p.B, p.LDB, p.Beta, p.C, p.LDC, 1)
		} else {
			k.Sgemm(p.TransA, p.TransB, p.M, p.N, p.K, p.Alpha, p.A, p.LDA, p.B, p.LDB, p.Beta, p.C, p.LDC)
		}
		if p.After != nil {
			p.After()
		}
	}
	// A batch too small to share, or a kernel limited to one goroutine,
	// runs on the caller.
	macs := 0
	for i := range ps {
		macs += ps[i].M * ps[i].N * ps[i].K
	}
	if workers <= 1 || macs < 2*minMACsPerWorker {
		for i := range ps {
			one(i)
		}
		return
	}
	if workers >= runtime.GOMAXPROCS(0) {
		forkjoin.Do(len(ps), one) // products claimed one at a time: balanced
		return
	}
	chunks := min(workers, len(ps))
	forkjoin.Do(chunks, func(c int) {
		for i := len(ps) * c / chunks; i < len(ps)*(c+1)/chunks; i++ {
			one(i)
		}
	})
}
