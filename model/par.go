package model

import "sync"

// minParallelWork is the least work (in element operations) worth a
// goroutine of its own in the trainer's parallel loops. It is a variable
// only so that tests can split even tiny loops.
var minParallelWork = 1 << 14

// parallelFor splits [0, n) into at most workers contiguous ranges, at most
// one per minParallelWork of work (work is the loop's total), and calls
// fn(part, lo, hi) for each range on its own goroutine, the caller's included;
// it returns when all are done. part is the range's index, below workers,
// for per-goroutine scratch. Every loop that uses it computes each output
// from the same inputs in the same order wherever the ranges fall, so
// results do not depend on workers.
func parallelFor(workers, n, work int, fn func(part, lo, hi int)) {
	w := min(workers, n, max(1, work/minParallelWork))
	if w <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, n*i/w, n*(i+1)/w)
		}()
	}
	fn(0, 0, n/w)
	wg.Wait()
}
