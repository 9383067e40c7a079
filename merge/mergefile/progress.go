package mergefile

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows a merge's progress (tensors and bytes) on a terminal. A
// nil *progress, or one without writer, does nothing.
type progress struct {
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	w       io.Writer
	tensors int
	done    int
	phase   string
	bytes   int64 // advanced so far
	max     int64 // the bar's total
}

// newProgress returns a progress bar over the plan's input bytes written to
// w, or a silent one when w is nil.
func newProgress(w io.Writer, plan *Plan) *progress {
	p := &progress{tensors: len(plan.Tensors), w: w, phase: "merge", max: plan.InputBytes}
	if w == nil {
		return p
	}
	p.bar = progressbar.NewOptions64(plan.InputBytes,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetDescription(p.describe()),
		progressbar.OptionSetPredictTime(true),
	)
	return p
}

// describe is the bar's label: the phase and the tensors done.
func (p *progress) describe() string {
	return fmt.Sprintf("%s %d/%d tensors", p.phase, p.done, p.tensors)
}

// setPhase names the current pass ("threshold pass", "merge").
func (p *progress) setPhase(phase string) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.done = phase, 0
	p.bar.Describe(p.describe())
}

// addBytes advances the bar by n input bytes.
func (p *progress) addBytes(n int64) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advance(n)
}

// advance moves the bar by n bytes, growing its total when a third
// threshold pass reads more than the plan counted. Callers hold mu.
func (p *progress) advance(n int64) {
	p.bytes += n
	if p.bytes > p.max {
		p.max = p.bytes
		p.bar.ChangeMax64(p.max)
	}
	p.bar.Add64(n)
}

// tensorDone counts one finished tensor of the current phase.
func (p *progress) tensorDone(pt PlannedTensor) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.bar.Describe(p.describe())
	p.advance(pt.InputBytes)
}

// finish completes the bar and ends its line.
func (p *progress) finish() {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Finish()
	fmt.Fprintln(p.w)
}

// abort ends the bar's line without completing it.
func (p *progress) abort() {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w)
}
