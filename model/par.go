package model

import "mergescale/internal/forkjoin"

// minParallelWork is the least work (in element operations) worth a
// goroutine of its own in the trainer's parallel loops. It is a variable
// only so that tests can split even tiny loops.
var minParallelWork = 1 << 14

// parallelFor splits [0, n) into at most workers contiguous ranges, at most
// one per minParallelWork of work (work is the loop's total), and calls
// fn(lo, hi) for each range through forkjoin.Do (on the caller and the
// process's helper goroutines); it returns when all are done. Every loop
// that uses it computes each output from the same inputs in the same order
// wherever the ranges fall, so results do not depend on workers.
func parallelFor(workers, n, work int, fn func(lo, hi int)) {
	w := min(workers, n, max(1, work/minParallelWork))
	if w <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	forkjoin.Do(w, func(i int) { fn(n*i/w, n*(i+1)/w) })
}
