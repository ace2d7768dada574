package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// procMem is a process's memory as /proc/PID/status tells it, in bytes.
// RssAnon is the heap and the stacks; RssFile counts mapped file pages,
// among them the state file's bbolt map; RssShmem is shared memory.
type procMem struct {
	RSS, HWM, Anon, File, Shmem int64
	ok                          bool // false: no /proc, or the process has exited
}

// readProcMem reads the memory lines of /proc/PID/status. Only Linux has
// them; elsewhere ok is false and the scale figures read n/a.
func readProcMem(pid int) procMem {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMem{}
	}
	return parseProcMem(b)
}

func parseProcMem(b []byte) procMem {
	var m procMem
	fields := map[string]*int64{"VmRSS:": &m.RSS, "VmHWM:": &m.HWM, "RssAnon:": &m.Anon, "RssFile:": &m.File, "RssShmem:": &m.Shmem}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes()) // "RssAnon:   12345 kB"
		if len(f) != 3 || string(f[2]) != "kB" {
			continue
		}
		dst, ok := fields[string(f[0])]
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		*dst = kb << 10
		seen++
	}
	// A zombie's status has none of these lines.
	m.ok = seen == len(fields)
	return m
}

// readMappedRSS sums the resident bytes of pid's mappings of files whose
// path ends in suffix (the state file's bbolt map), from /proc/PID/smaps.
// It returns -1 when smaps cannot be read.
func readMappedRSS(pid int, suffix string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps")
	if err != nil {
		return -1
	}
	return parseMappedRSS(b, suffix)
}

func parseMappedRSS(b []byte, suffix string) int64 {
	var total int64
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") {
			// A mapping's header: "addr perms offset dev inode [path]".
			in = len(f) >= 6 && strings.HasSuffix(f[len(f)-1], suffix)
			continue
		}
		if in && f[0] == "Rss:" && len(f) == 3 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				total += kb << 10
			}
		}
	}
	return total
}
