package forkjoin

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDoRunsEveryPartOnce counts the calls of every part over loops of
// several sizes, called back to back, after the helpers have gone to sleep,
// and from several goroutines at once.
func TestDoRunsEveryPartOnce(t *testing.T) {
	check := func(t *testing.T, parts int) {
		t.Helper()
		calls := make([]atomic.Int32, max(parts, 1))
		Do(parts, func(p int) { calls[p].Add(1) })
		for p := 0; p < parts; p++ {
			if n := calls[p].Load(); n != 1 {
				t.Fatalf("%d parts: part %d ran %d times", parts, p, n)
			}
		}
	}
	for _, parts := range []int{0, 1, 2, 3, 7, 64, 1000} {
		t.Run(fmt.Sprintf("parts=%d", parts), func(t *testing.T) {
			for range 50 {
				check(t, parts)
			}
		})
	}
	t.Run("after the window", func(t *testing.T) {
		check(t, 8)
		time.Sleep(3 * Window)
		check(t, 8)
	})
	t.Run("concurrent callers", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					check(t, 5)
				}
			}()
		}
		wg.Wait()
	})
}

// TestDoNested runs loops inside the parts of a loop: every inner part
// must run once and the outer loop must not return before them.
func TestDoNested(t *testing.T) {
	const outer, inner = 6, 9
	var grid [outer][inner]atomic.Int32
	for range 20 {
		Do(outer, func(o int) {
			Do(inner, func(i int) { grid[o][i].Add(1) })
		})
	}
	for o := range grid {
		for i := range grid[o] {
			if n := grid[o][i].Load(); n != 20 {
				t.Fatalf("part (%d, %d) ran %d times in 20 loops", o, i, n)
			}
		}
	}
}

// TestDoWaitsForHelpers makes the parts slow: Do must not return while a
// helper still runs one, and the writes of every part must be visible to
// the caller afterwards.
func TestDoWaitsForHelpers(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors for a helper")
	}
	out := make([]int, 4)
	for round := 1; round <= 10; round++ {
		Do(len(out), func(p int) {
			time.Sleep(200 * time.Microsecond)
			out[p] = round * (p + 1)
		})
		for p, v := range out {
			if v != round*(p+1) {
				t.Fatalf("round %d: part %d left %d", round, p, v)
			}
		}
	}
}

// TestDoUsesHelpers checks that a loop's parts really spread: with two
// processors, two parts that each wait for the other to start can only
// finish when they run at the same time.
func TestDoUsesHelpers(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors for a helper")
	}
	for range 20 {
		var started atomic.Int32
		deadline := time.Now().Add(5 * time.Second)
		Do(2, func(int) {
			started.Add(1)
			for started.Load() < 2 {
				if time.Now().After(deadline) {
					return
				}
				runtime.Gosched()
			}
		})
		if started.Load() < 2 {
			t.Fatal("the second part never ran beside the first")
		}
	}
}

// BenchmarkDo measures a two-part loop whose parts take about 50 µs, run
// after 200 µs of work on the caller alone, as a parallel matrix product
// follows the element-wise work of a training step: through Do, and with a
// goroutine started for the second part. ns/op is the loop's time alone;
// the floor is one part's.
func BenchmarkDo(b *testing.B) {
	spin := func(d time.Duration) {
		for start := time.Now(); time.Since(start) < d; {
		}
	}
	loop := func(b *testing.B, run func()) {
		var in time.Duration
		for i := 0; i < b.N; i++ {
			spin(200 * time.Microsecond)
			start := time.Now()
			run()
			in += time.Since(start)
		}
		b.ReportMetric(float64(in.Nanoseconds())/float64(b.N), "loop-ns")
	}
	part := func() { spin(50 * time.Microsecond) }
	b.Run("forkjoin", func(b *testing.B) {
		loop(b, func() { Do(2, func(int) { part() }) })
	})
	b.Run("goroutine", func(b *testing.B) {
		loop(b, func() {
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); part() }()
			part()
			wg.Wait()
		})
	})
}
