package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// rssSampleEvery spaces the reads of a child's high-water mark. A peak
// reached in the last interval before the child exits can be missed; the
// peak of a run that lasts seconds is not in its last 10 ms.
const rssSampleEvery = 10 * time.Millisecond

// watchPeakRSS follows the peak resident set of the running process pid and
// returns a function that stops following and reports it in bytes (0 if
// it could not be read).
//
// Why not the rusage wait4 returns: Go starts children with
// clone(CLONE_VM|CLONE_VFORK), and Linux carries the parent's high-water
// mark over exec into the child's ru_maxrss, so a benchmark process that
// had grown to 300 MB reported every child at 300 MB. /proc/PID/status
// VmHWM belongs to the child's own address space, which exec makes new.
func watchPeakRSS(pid int) (stop func() int64) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	done := make(chan struct{})
	var wg sync.WaitGroup
	var peak int64
	wg.Go(func() {
		t := time.NewTicker(rssSampleEvery)
		defer t.Stop()
		for {
			if v, ok := readVmHWM(path); ok {
				peak = max(peak, v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// readVmHWM reads the VmHWM line of a /proc status file, in bytes. It is
// absent once the process has exited (a zombie has no memory) and on
// systems without /proc.
func readVmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest) // "12345 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
