// Package atomicfile writes result files so that a reader sees the old
// contents or the new ones, never a part, and so that the new contents
// survive a crash once the write has returned: the data goes to a temporary
// file in the same directory, which is synced, given mode 0644 and renamed
// over the path, and then the directory is synced too.
//
// It imports only the standard library, so that every package of the
// project, the low-level ones (checkpoint, tokenizer, model) included, can
// use it.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Mode is the permission every file written here gets, whatever the umask.
const Mode fs.FileMode = 0o644

// Write writes data to path atomically and durably (see the package
// comment). On error path is unchanged, no temporary file is left behind,
// and the error names path.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc is Write with the contents produced by write, which gets a
// buffered writer onto the temporary file. An error from write aborts the
// write and is returned, wrapped with the path.
func WriteFunc(path string, write func(io.Writer) error) error {
	if err := writeFunc(path, write); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeFunc(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<16)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Chmod(Mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return errors.Join(err, removeTemp(tmp))
	}
	return SyncDir(dir)
}

// removeTemp removes a temporary file, which may already be gone.
func removeTemp(tmp string) error {
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// SyncDir syncs a directory, so that the renames and creations in it
// survive a crash. Callers that rename a file or directory into place by
// themselves call it on the parent afterwards.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
