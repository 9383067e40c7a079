package merge

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// chunkLen is the fixed number of entries one worker handles at a time.
// Every per-chunk result (partial sums, candidate lists, errors) is combined
// in chunk order, so results never depend on the number of workers.
const chunkLen = 1 << 16

// forChunks calls fn(c, lo, hi) for every chunk [lo, hi) of [0, n) of
// length chunkLen, on up to GOMAXPROCS goroutines. It returns the error of
// the lowest-numbered failing chunk.
func forChunks(n int, fn func(c, lo, hi int) error) error {
	return forEach(numChunks(n), func(c int) error {
		lo, hi := chunkBounds(c, n)
		return fn(c, lo, hi)
	})
}

func numChunks(n int) int { return (n + chunkLen - 1) / chunkLen }

func chunkBounds(c, n int) (int, int) {
	lo := c * chunkLen
	return lo, min(lo+chunkLen, n)
}

// forEach runs fn(i) for i in [0, n) on up to GOMAXPROCS goroutines and
// returns the error of the lowest failing i.
func forEach(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				errs[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
