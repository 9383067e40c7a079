package run

import (
	"sort"
	"strings"
	"sync"

	"mergescale/experiments/plan"
)

// Progress receives a run's progress in jobs: package cli draws it as a bar
// on a terminal, redrawn while long jobs run. Calls come from several
// goroutines, one at a time.
type Progress interface {
	// Start announces the work: total jobs, of which done are done already.
	Start(total, done int64)
	// Add counts n more jobs done.
	Add(n int64)
	// Describe says which jobs are in flight.
	Describe(s string)
	// Finish ends the display.
	Finish()
}

// display tracks the jobs in flight for a Progress. With no Progress it
// does nothing.
type display struct {
	mu      sync.Mutex
	to      Progress
	current map[string]string
}

func newDisplay(to Progress, total, done int) *display {
	d := &display{to: to, current: map[string]string{}}
	if to != nil {
		to.Start(int64(total), int64(done))
	}
	return d
}

func (d *display) start(j *plan.Job) {
	if d.to == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.current[j.Key] = string(j.Kind) + " " + j.Label()
	d.describe()
}

func (d *display) finish(j *plan.Job, err error) {
	if d.to == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.current, j.Key)
	if err == nil {
		d.to.Add(1)
	}
	d.describe()
}

// describe lists the jobs in flight, sorted, in at most 60 characters.
func (d *display) describe() {
	names := make([]string, 0, len(d.current))
	for _, v := range d.current {
		names = append(names, v)
	}
	sort.Strings(names)
	desc := strings.Join(names, " | ")
	if len(desc) > 60 {
		desc = desc[:57] + "..."
	}
	d.to.Describe(desc)
}

func (d *display) close() {
	if d.to == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.to.Finish()
}
