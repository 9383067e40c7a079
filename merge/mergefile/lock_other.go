//go:build !unix

package mergefile

import "os"

// locksSupported says whether lockFile locks: not here, so stale
// temporary folders are never removed (a live merge's could not be told
// apart).
const locksSupported = false

// lockFile does nothing on systems without flock.
func lockFile(f *os.File, wait bool) (bool, error) { return true, nil }
