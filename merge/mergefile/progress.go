package mergefile

import (
	"fmt"
	"sync"
)

// Progress receives a merge's progress in input bytes: package cli draws
// it as a bar on a terminal. Calls come from several goroutines, one at a
// time.
type Progress interface {
	// Start announces the work: total units, of which done are done already.
	Start(total, done int64)
	// Add counts n more units done.
	Add(n int64)
	// SetTotal grows the total (a pass read more than planned).
	SetTotal(total int64)
	// Describe says what is in flight.
	Describe(s string)
	// Finish completes the work and ends the display's line.
	Finish()
	// Abort ends the display's line without completing it.
	Abort()
}

// progress tracks a merge's tensors and bytes for a Progress. A progress
// without a Progress does nothing.
type progress struct {
	mu      sync.Mutex
	to      Progress
	tensors int
	done    int
	phase   string
	bytes   int64 // advanced so far
	max     int64 // the display's total
}

// newProgress starts reporting over the plan's input bytes to to, or
// returns a silent progress when to is nil.
func newProgress(to Progress, plan *Plan) *progress {
	p := &progress{tensors: len(plan.Tensors), to: to, phase: "merge", max: plan.InputBytes}
	if to == nil {
		return p
	}
	to.Start(plan.InputBytes, 0)
	to.Describe(p.describe())
	return p
}

// describe is the display's label: the phase and the tensors done.
func (p *progress) describe() string {
	return fmt.Sprintf("%s %d/%d tensors", p.phase, p.done, p.tensors)
}

// setPhase names the current pass ("threshold pass", "merge").
func (p *progress) setPhase(phase string) {
	if p.to == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.done = phase, 0
	p.to.Describe(p.describe())
}

// addBytes advances the display by n input bytes.
func (p *progress) addBytes(n int64) {
	if p.to == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advance(n)
}

// advance moves the display by n bytes, growing its total when a third
// threshold pass reads more than the plan counted. Callers hold mu.
func (p *progress) advance(n int64) {
	p.bytes += n
	if p.bytes > p.max {
		p.max = p.bytes
		p.to.SetTotal(p.max)
	}
	p.to.Add(n)
}

// tensorDone counts one finished tensor of the current phase.
func (p *progress) tensorDone(pt PlannedTensor) {
	if p.to == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.to.Describe(p.describe())
	p.advance(pt.InputBytes)
}

// finish completes the display.
func (p *progress) finish() {
	if p.to == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.to.Finish()
}

// abort ends the display without completing it.
func (p *progress) abort() {
	if p.to == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.to.Abort()
}
