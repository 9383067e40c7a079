//go:build !linux

package checkpoint

import (
	"errors"
	"os"
)

// startWriteback does nothing here: the final fsync writes everything.
func startWriteback(f *os.File, off, n int64) {}

// setDirect reports that O_DIRECT is not used on this system.
func setDirect(f *os.File, on bool) error {
	return errors.ErrUnsupported
}
