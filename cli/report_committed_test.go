package cli

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCommittedReportsRerender renders every committed results store
// (results/paper and each study of results/ablation) into a temporary folder
// and checks that the output equals the committed report byte for byte, file
// for file: the reports the README quotes are what the stores say.
func TestCommittedReportsRerender(t *testing.T) {
	// Reports name their store as given on the command line, so render from
	// the repository root with the paths a user types there.
	t.Chdir("..")
	dirs := []string{filepath.Join("results", "paper")}
	abl, err := filepath.Glob(filepath.Join("results", "ablation", "*", "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range abl {
		dirs = append(dirs, filepath.Dir(db))
	}
	for _, dir := range dirs {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			db := filepath.Join(dir, "results.db")
			if _, err := os.Stat(db); err != nil {
				t.Fatalf("the committed store is missing: %v", err)
			}
			out := t.TempDir()
			var so, se bytes.Buffer
			if code := Execute([]string{"report", "--db", db, "--out", out}, strings.NewReader(""), &so, &se); code != 0 {
				t.Fatalf("report exit %d: %s", code, se.String())
			}
			want := readTree(t, filepath.Join(dir, "report"))
			got := readTree(t, out)
			for _, name := range slices.Sorted(maps.Keys(want)) {
				g, ok := got[name]
				switch {
				case !ok:
					t.Errorf("%s: committed but not rendered", name)
				case !bytes.Equal(g, want[name]):
					t.Errorf("%s: the re-rendered file differs from the committed one (%d vs %d bytes)", name, len(g), len(want[name]))
				}
			}
			for _, name := range slices.Sorted(maps.Keys(got)) {
				if _, ok := want[name]; !ok {
					t.Errorf("%s: rendered but not committed", name)
				}
			}
		})
	}
}

// readTree returns the contents of every regular file under root, keyed by
// its slash-separated path relative to root.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
