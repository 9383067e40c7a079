package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestBarDrawsWhatLibrariesReport drives both bars as the run and merge
// libraries do and checks what reaches the writer: the description, the
// count, and one line end when the work ends.
func TestBarDrawsWhatLibrariesReport(t *testing.T) {
	var w bytes.Buffer
	b := newBytesBar(&w)
	b.Start(1000, 0)
	b.Describe("merge 1/2 tensors")
	b.Add(600)
	b.SetTotal(1200)
	b.Describe("merge 2/2 tensors")
	b.Add(600)
	b.Finish()
	out := w.String()
	if !strings.Contains(out, "merge 2/2 tensors") || !strings.HasSuffix(out, "\n") {
		t.Errorf("bytes bar output %q lacks the last description or the line end", out)
	}

	w.Reset()
	j := newJobsBar(&w)
	j.Start(3, 1)
	j.Describe("train s/pt")
	j.Add(2)
	j.Finish()
	if !strings.HasSuffix(w.String(), "\n") {
		t.Errorf("jobs bar output %q does not end its line", w.String())
	}

	w.Reset()
	a := newBytesBar(&w)
	a.Abort() // before Start: nothing drawn
	if w.Len() != 0 {
		t.Errorf("a bar aborted before it started wrote %q", w.String())
	}
}
