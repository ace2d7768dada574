//go:build unix

package bench

import (
	"os"
	"runtime"
	"syscall"
)

// peakRSS is a waited-for process's peak resident set size in bytes, from
// the rusage wait4 returned for it.
func peakRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes there, KiB elsewhere
	}
	return int64(ru.Maxrss) << 10
}
