// Package forkjoin runs the parts of a parallel loop on long-lived helper
// goroutines that wait for work by spinning a short while before they sleep.
//
// Starting a goroutine for each part of a loop costs little in the Go
// runtime, but the goroutine starts running only when an idle thread wakes
// up, and on a virtual machine whose idle CPU sleeps that takes 60–100 µs:
// as long as a whole 768×128×128 matrix product on one core. A helper that
// has just finished a part spins for a moment (Window, yielding to other
// goroutines meanwhile) and picks up the next loop's parts within a
// microsecond; a helper that found no work for a whole window sleeps, and
// a later loop wakes it.
//
// Parts are claimed, not assigned: the caller runs parts too, and any part
// no helper has started by the time the caller gets to it is run by the
// caller. A loop therefore never waits for a busy or sleeping helper, loops
// may be nested or run from many goroutines at once, and with no helper
// free a loop simply runs on its caller. Which goroutine runs a part never
// changes what the part computes, so callers whose parts are independent
// get the same results however the parts are spread.
package forkjoin

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Window is how long an idle helper keeps looking for work before it
// sleeps. It covers the gaps between the parallel steps of a training step
// (element-wise work of a few hundred microseconds) without keeping a core
// busy for long once the work stops.
const Window = 500 * time.Microsecond

// job is one call of Do.
type job struct {
	fn    func(part int)
	parts int32
	next  atomic.Int32 // the next part to claim
	done  atomic.Int32 // parts finished
}

// claimAndRun runs unclaimed parts of j until none is left.
func (j *job) claimAndRun() {
	for {
		p := j.next.Add(1) - 1
		if p >= j.parts {
			return
		}
		j.fn(int(p))
		j.done.Add(1)
	}
}

// pool is the process's helpers and the loops with parts left to claim.
type pool struct {
	mu      sync.Mutex
	wake    *sync.Cond
	jobs    []*job // loops that may have unclaimed parts, oldest first
	helpers int    // helpers started
	asleep  int    // helpers waiting on wake
	posted  atomic.Uint64
}

func newPool() *pool {
	p := &pool{}
	p.wake = sync.NewCond(&p.mu)
	return p
}

// shared is the pool of the process: its helpers are a resource of the
// machine, like the runtime's threads, so every package uses the same ones.
var shared = newPool()

// Do calls fn(part) once for every part in [0, parts) and returns when all
// have returned. The calls run on the caller and on up to GOMAXPROCS−1
// helper goroutines, in any order and possibly at the same time, so fn
// must be safe to call concurrently for different parts.
func Do(parts int, fn func(part int)) { shared.do(parts, fn) }

func (p *pool) do(parts int, fn func(part int)) {
	switch {
	case parts <= 0:
		return
	case parts == 1:
		fn(0)
		return
	}
	j := &job{fn: fn, parts: int32(parts)}
	p.post(j)
	j.claimAndRun()
	p.retire(j)
	// Every part is claimed; wait for those that helpers are running.
	for spins := 0; j.done.Load() < j.parts; spins++ {
		if spins%64 == 63 {
			runtime.Gosched()
		}
	}
}

// post makes j's parts visible to helpers, starting helpers up to
// GOMAXPROCS−1 and waking one sleeping helper per part beyond the caller's.
func (p *pool) post(j *job) {
	want := runtime.GOMAXPROCS(0) - 1
	p.mu.Lock()
	p.jobs = append(p.jobs, j)
	for p.helpers < want {
		p.helpers++
		go p.helper()
	}
	for n := min(p.asleep, int(j.parts)-1); n > 0; n-- {
		p.wake.Signal()
	}
	p.mu.Unlock()
	p.posted.Add(1)
}

// retire removes j from the loops helpers look at; its parts are all
// claimed.
func (p *pool) retire(j *job) {
	p.mu.Lock()
	for i, x := range p.jobs {
		if x == j {
			p.jobs = append(p.jobs[:i], p.jobs[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
}

// pick returns the oldest loop with unclaimed parts, or nil. The caller
// holds p.mu.
func (p *pool) pick() *job {
	for _, j := range p.jobs {
		if j.next.Load() < j.parts {
			return j
		}
	}
	return nil
}

// helper runs parts of posted loops; idle for a whole Window, it sleeps
// until a loop is posted.
func (p *pool) helper() {
	for {
		// Read the count before looking, so that a loop posted after the
		// look ends the spin at once.
		seen := p.posted.Load()
		p.mu.Lock()
		j := p.pick()
		p.mu.Unlock()
		if j != nil {
			j.claimAndRun()
			continue
		}
		if p.spin(seen) {
			continue
		}
		p.mu.Lock()
		for p.pick() == nil {
			p.asleep++
			p.wake.Wait()
			p.asleep--
		}
		p.mu.Unlock()
	}
}

// spin waits up to Window for a loop to be posted after the count seen,
// yielding the processor to other goroutines between looks, and reports
// whether one was.
func (p *pool) spin(seen uint64) bool {
	start := time.Now()
	for i := 0; ; i++ {
		if p.posted.Load() != seen {
			return true
		}
		if i%16 == 15 {
			if time.Since(start) > Window {
				return false
			}
			runtime.Gosched()
		}
	}
}
