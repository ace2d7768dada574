//go:build unix

package bench

import "syscall"

// settle flushes the file systems' dirty data, so that one run's writes
// (and the removal of its 1.3 GB of videos) are not written back during
// the next run and counted against it.
func settle() { syscall.Sync() }
