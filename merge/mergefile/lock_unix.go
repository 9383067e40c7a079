//go:build unix

package mergefile

import (
	"errors"
	"os"
	"syscall"
)

// locksSupported says whether lockFile locks (flock).
const locksSupported = true

// lockFile takes an exclusive flock on f, waiting for it when wait is set;
// without wait, ok is false when another process holds it.
func lockFile(f *os.File, wait bool) (ok bool, err error) {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
