package run

import (
	"fmt"
	"io"
	"mergescale/experiments/plan"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// display is the live view of a run on a terminal: one overall bar whose
// description lists the jobs in flight, redrawn every second so that the
// elapsed time moves during long jobs. With no writer it does nothing.
type display struct {
	mu      sync.Mutex
	w       io.Writer
	bar     *progressbar.ProgressBar
	current map[string]string
	stop    chan struct{}
	stopped chan struct{}
}

func newDisplay(w io.Writer, total, done int) *display {
	d := &display{w: w, current: map[string]string{}}
	if w == nil {
		return d
	}
	d.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
	)
	_ = d.bar.Set(done)
	d.stop, d.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(d.stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-t.C:
				d.mu.Lock()
				_ = d.bar.Add(0)
				d.mu.Unlock()
			}
		}
	}()
	return d
}

func (d *display) start(j *plan.Job) {
	if d.bar == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.current[j.Key] = string(j.Kind) + " " + j.Label()
	d.describe()
}

func (d *display) finish(j *plan.Job, err error) {
	if d.bar == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.current, j.Key)
	if err == nil {
		_ = d.bar.Add(1)
	}
	d.describe()
}

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
	d.bar.Describe(desc)
}

func (d *display) close() {
	if d.bar == nil {
		return
	}
	close(d.stop)
	<-d.stopped
	_ = d.bar.Finish()
	fmt.Fprintln(d.w)
}
