package cli

// The helpers every command shares: progress on a terminal, tables, the
// database flags.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"mergescale/experiments/config"
)

// showProgress reports whether a progress bar belongs on w: a terminal, and
// not under CI.
func showProgress(w io.Writer) bool {
	if os.Getenv("CI") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// bar draws a library's progress (run.Progress, mergefile.Progress) as a
// progress bar on a terminal. The bar is made at Start, when the total is
// known; with a refresh interval it is redrawn that often, so the elapsed
// time moves during long steps.
type bar struct {
	w       io.Writer
	opts    []progressbar.Option
	refresh time.Duration

	mu      sync.Mutex
	pb      *progressbar.ProgressBar
	stop    chan struct{}
	stopped chan struct{}
}

// newJobsBar is a run's bar: jobs done of the plan's, the elapsed time
// redrawn every second, cleared when the run ends.
func newJobsBar(w io.Writer) *bar {
	return &bar{w: w, refresh: time.Second, opts: []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
	}}
}

// newBytesBar is a merge's bar: input bytes read of the plan's.
func newBytesBar(w io.Writer) *bar {
	return &bar{w: w, opts: []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetPredictTime(true),
	}}
}

// Start implements run.Progress and mergefile.Progress.
func (b *bar) Start(total, done int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pb = progressbar.NewOptions64(total, b.opts...)
	if done > 0 {
		_ = b.pb.Set64(done)
	}
	if b.refresh <= 0 {
		return
	}
	b.stop, b.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.stopped)
		t := time.NewTicker(b.refresh)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.mu.Lock()
				_ = b.pb.Add64(0)
				b.mu.Unlock()
			}
		}
	}()
}

// Add implements run.Progress and mergefile.Progress.
func (b *bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb != nil {
		_ = b.pb.Add64(n)
	}
}

// SetTotal implements mergefile.Progress.
func (b *bar) SetTotal(total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb != nil {
		b.pb.ChangeMax64(total)
	}
}

// Describe implements run.Progress and mergefile.Progress.
func (b *bar) Describe(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb != nil {
		b.pb.Describe(s)
	}
}

// Finish implements run.Progress and mergefile.Progress: it completes the
// bar and ends its line.
func (b *bar) Finish() { b.end(true) }

// Abort implements mergefile.Progress: it ends the bar's line as it is.
func (b *bar) Abort() { b.end(false) }

func (b *bar) end(complete bool) {
	if b.stop != nil {
		close(b.stop)
		<-b.stopped
		b.stop = nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb == nil {
		return
	}
	if complete {
		_ = b.pb.Finish()
	}
	fmt.Fprintln(b.w)
}

// printTable renders rows under a header as a text table; column names are
// printed as they are (not upper-cased).
func printTable(w io.Writer, columns []string, rows [][]string) error {
	table := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	table.Header(columns)
	if err := table.Bulk(rows); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	if err := table.Render(); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}

// dbFlags are the two ways to name a results database: --db FILE, or
// --config CONFIG for the config's <out>/results.db.
type dbFlags struct {
	db, config string
}

func (f *dbFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.db, "db", "", "results database `FILE`")
	cmd.Flags().StringVar(&f.config, "config", "", "use the results database <out>/results.db of `CONFIG`")
}

// path resolves the flags to a database file.
func (f *dbFlags) path() (string, error) {
	switch {
	case f.db != "" && f.config != "":
		return "", errors.New("give either --db or --config, not both")
	case f.db != "":
		return f.db, nil
	case f.config != "":
		c, err := config.Load(f.config)
		if err != nil {
			return "", err
		}
		return c.StorePath(), nil
	}
	return "", errors.New("which database? give --db FILE or --config CONFIG")
}
