package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Profiling is for developers measuring pikabatch (`bench --profile DIR`
// sets these for the processes it starts), so every pikabatch process
// reads it from the environment rather than offering a flag on every
// command; it lives beside the harness that sets it.
const (
	EnvCPUProfile  = "PIKABATCH_CPUPROFILE"  // write a CPU profile of the whole process here
	EnvHeapProfile = "PIKABATCH_HEAPPROFILE" // write the live heap at exit here
	// EnvHeapEvery, a duration, also writes the heap as the process runs,
	// to <PIKABATCH_HEAPPROFILE>.1, .2, …: what grows shows between them.
	EnvHeapEvery = "PIKABATCH_HEAPPROFILE_EVERY"
)

// StartProfiles starts what getenv asks for and returns the function that
// finishes it. A profile that cannot be written is reported on stderr and
// does not stop the command.
func StartProfiles(getenv func(string) string, stderr io.Writer) (stop func()) {
	var cpu *os.File
	if path := getenv(EnvCPUProfile); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "pikabatch: %s: %v\n", EnvCPUProfile, err)
		} else {
			cpu = f
		}
	}
	heapPath := getenv(EnvHeapProfile)
	stopSnapshots := func() {}
	if every, err := time.ParseDuration(getenv(EnvHeapEvery)); err == nil && every > 0 && heapPath != "" {
		stopSnapshots = heapSnapshots(heapPath, every, stderr)
	}
	return func() {
		stopSnapshots()
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if heapPath == "" {
			return
		}
		runtime.GC() // the live heap, not the garbage since the last cycle
		writeHeap(heapPath, stderr)
	}
}

// heapSnapshots writes the heap profile to path.1, path.2, … every every
// until the returned stop is called.
func heapSnapshots(path string, every time.Duration, stderr io.Writer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-t.C:
				writeHeap(fmt.Sprintf("%s.%d", path, n), stderr)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func writeHeap(path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "pikabatch: %s: %v\n", EnvHeapProfile, err)
	}
}
