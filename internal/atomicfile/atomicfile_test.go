package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestWriteContentAndMode: the file holds the data and has mode 0644 under
// a restrictive umask and over an existing file of another mode; nothing
// else is left in the directory.
func TestWriteContentAndMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := os.WriteFile(path, []byte("old contents, longer than the new"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{"{\"a\": 1}\n", ""} {
		if err := Write(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != data {
			t.Errorf("contents %q, want %q", got, data)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != Mode {
			t.Errorf("mode %v, want %v", st.Mode().Perm(), Mode)
		}
		if names := entries(t, dir); len(names) != 1 || names[0] != "out.json" {
			t.Errorf("directory holds %q, want only out.json", names)
		}
	}
}

// TestWriteFuncStreams: WriteFunc's writer reaches the file, larger than
// its buffer.
func TestWriteFuncStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.txt")
	line := strings.Repeat("x", 99) + "\n"
	err := WriteFunc(path, func(w io.Writer) error {
		for range 2000 {
			if _, err := io.WriteString(w, line); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.Repeat(line, 2000) {
		t.Errorf("contents of %d bytes, want %d", len(got), 2000*len(line))
	}
}

// TestWriteFailureLeavesNothing: a failing producer, a rename onto a
// directory and a missing directory leave the old file (if any) as it was,
// no temporary file, and an error that names the path.
func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "result.jsonl")
	if err := os.WriteFile(path, []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFunc(path, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want boom naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "before" {
		t.Errorf("failed write changed the file to %q", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("failed write left %q", names)
	}

	// The rename fails: the path is a non-empty directory.
	sub := filepath.Join(dir, "taken")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(sub, []byte("data")); err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("write over a directory: error %v, want one naming %s", err, sub)
	}
	if names := entries(t, dir); len(names) != 2 {
		t.Errorf("failed rename left %q", names)
	}

	// The directory does not exist.
	gone := filepath.Join(dir, "nowhere", "f.json")
	if err := Write(gone, nil); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("write into a missing directory: error %v, want one naming %s", err, gone)
	}
}

// TestSyncDir: a directory syncs; a missing one is an error naming it.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(dir, "gone")
	if err := SyncDir(gone); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("error %v, want one naming %s", err, gone)
	}
}
