package mergefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A merge builds its output in a temporary folder beside the output,
// .<out>.tmp-<n>, and renames it into place at the end. A merge killed
// with SIGKILL (what a preempted cluster job gets) cannot remove it, so
// the next merge into the same output does: every temporary folder has a
// lock file, .<out>.tmp-<n>.lock, which its merge holds locked (flock)
// from before the folder exists until after it is gone. A folder whose
// lock can be taken belongs to a merge that no longer runs (the kernel
// drops a dead process's locks); one whose lock is held belongs to a
// running merge and stays. A folder without a lock file is from a
// mergescale that did not lock, and is stale as well.

// tempOutput is the temporary output folder of a merge and its held lock.
type tempOutput struct {
	dir  string
	lock *os.File
}

// createTempOutput creates the temporary folder of outDir beside it,
// holding its lock.
func createTempOutput(outDir string) (*tempOutput, error) {
	parent, base := filepath.Dir(filepath.Clean(outDir)), filepath.Base(filepath.Clean(outDir))
	for range 100 {
		lf, err := os.CreateTemp(parent, "."+base+".tmp-*.lock")
		if err != nil {
			return nil, fmt.Errorf("merge: output: %w", err)
		}
		if ok, err := lockFile(lf, true); err != nil || !ok {
			lf.Close()
			os.Remove(lf.Name())
			if err == nil {
				err = errors.New("lock taken")
			}
			return nil, fmt.Errorf("merge: output: lock %s: %w", lf.Name(), err)
		}
		// A cleaner may have taken the lock between its creation and
		// ours, and removed the file: then start over with a new name.
		if !sameFile(lf) {
			lf.Close()
			continue
		}
		dir := strings.TrimSuffix(lf.Name(), ".lock")
		if err := os.Mkdir(dir, 0o755); err != nil {
			os.Remove(lf.Name())
			lf.Close()
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return nil, fmt.Errorf("merge: output: %w", err)
		}
		return &tempOutput{dir: dir, lock: lf}, nil
	}
	return nil, fmt.Errorf("merge: output: no temporary folder beside %s", outDir)
}

// sameFile reports whether the open file f is still the file at its name.
func sameFile(f *os.File) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(f.Name())
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// release removes the folder when it is still there (a failed merge) and
// then the lock file, and drops the lock.
func (t *tempOutput) release() {
	os.RemoveAll(t.dir)
	os.RemoveAll(t.dir + ".old")
	os.Remove(t.lock.Name())
	t.lock.Close() // drops the lock
}

// cleanStale removes the temporary folders of outDir (and their lock
// files) that no running merge holds, and returns how many folders it
// removed and their size. On systems without file locks it removes
// nothing.
func cleanStale(outDir string) (folders int, freed int64, err error) {
	if !locksSupported {
		return 0, 0, nil
	}
	parent, base := filepath.Dir(filepath.Clean(outDir)), filepath.Base(filepath.Clean(outDir))
	ents, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("merge: stale temporary folders: %w", err)
	}
	prefix := "." + base + ".tmp-"
	stems := map[string]bool{}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		stem := strings.TrimSuffix(strings.TrimSuffix(n, ".lock"), ".old")
		if stem != prefix {
			stems[stem] = true
		}
	}
	names := make([]string, 0, len(stems))
	for s := range stems {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, stem := range names {
		n, size, err := cleanOne(filepath.Join(parent, stem))
		if err != nil {
			return folders, freed, err
		}
		folders += n
		freed += size
	}
	return folders, freed, nil
}

// cleanOne removes the temporary folder dir (and dir.old, the previous
// output a killed --force merge had moved aside) unless a running merge
// holds dir.lock.
func cleanOne(dir string) (folders int, freed int64, err error) {
	lockPath := dir + ".lock"
	lf, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	switch {
	case err == nil:
		defer lf.Close()
		ok, err := lockFile(lf, false)
		if err != nil {
			return 0, 0, fmt.Errorf("merge: lock %s: %w", lockPath, err)
		}
		if !ok {
			return 0, 0, nil // a running merge's
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, 0, fmt.Errorf("merge: stale temporary folders: %w", err)
	}
	for _, d := range []string{dir, dir + ".old"} {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			freed += dirSize(d)
			folders++
		}
		if err := os.RemoveAll(d); err != nil {
			return folders, freed, fmt.Errorf("merge: remove stale temporary folder: %w", err)
		}
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return folders, freed, fmt.Errorf("merge: remove stale lock: %w", err)
	}
	return folders, freed, nil
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
