package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// hangTimeout only catches a child that hangs; it is not a speed target.
const hangTimeout = 2 * time.Minute

// TestBinary runs the real pikabatch binary, built once here, against the
// simulator and stops it the ways a machine does: SIGKILL at random
// moments, SIGINT and SIGTERM, once and twice.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	t.Run("SIGKILL at random moments", func(t *testing.T) {
		t.Parallel()
		testKilledAtRandom(t, bin)
	})
	t.Run("signals", func(t *testing.T) {
		t.Parallel()
		testSignals(t, bin)
	})
}

// buildBinary builds cmd/pikabatch into a temporary folder of t.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go tool is needed to build the binary")
	bin := filepath.Join(t.TempDir(), "pikabatch")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// child is one pikabatch process whose stderr (its logs) is read line by line.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout bytes.Buffer
	fired  chan struct{} // closed when the trigger first matched a line
	done   chan struct{} // closed when stderr reached EOF

	mu     sync.Mutex
	stderr []string
}

// startChild starts bin with args against a simulator at apiURL. trigger
// (may be nil) is called with each stderr line until it returns true.
func startChild(t *testing.T, bin, apiURL string, trigger func(line string) bool, args ...string) *child {
	t.Helper()
	c := &child{t: t, cmd: exec.Command(bin, args...), fired: make(chan struct{}), done: make(chan struct{})}
	c.cmd.Env = childEnv(apiURL)
	c.cmd.Stdout = &c.stdout
	pipe, err := c.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		firing := trigger != nil
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.stderr = append(c.stderr, line)
			c.mu.Unlock()
			if firing && trigger(line) {
				firing = false
				close(c.fired)
			}
		}
	}()
	return c
}

// childEnv is this process's environment with the API settings of the test.
func childEnv(apiURL string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUNCOMFY_") {
			env = append(env, kv)
		}
	}
	return append(env, "RUNCOMFY_API_BASE="+apiURL, "RUNCOMFY_API_TOKEN="+testToken)
}

// waitFired waits until the trigger matched (true) or the child closed
// stderr, i.e. is exiting (false).
func (c *child) waitFired() bool {
	c.t.Helper()
	timer := time.NewTimer(hangTimeout)
	defer timer.Stop()
	select {
	case <-c.fired:
		return true
	case <-c.done:
		return false
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		c.t.Fatalf("child hung; stderr:\n%s", c.stderrText())
		return false
	}
}

// wait waits for the child to exit and returns its exit code, -1 when a
// signal killed it.
func (c *child) wait() int {
	c.t.Helper()
	timer := time.NewTimer(hangTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.done
		_ = c.cmd.Wait()
		c.t.Fatalf("child did not exit; stderr:\n%s", c.stderrText())
	}
	_ = c.cmd.Wait() // the exit status is read below
	return c.cmd.ProcessState.ExitCode()
}

func (c *child) stderrText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.stderr, "\n")
}

// lineCounter returns a trigger that fires on the n-th line containing substr.
func lineCounter(substr string, n int) func(string) bool {
	seen := 0
	return func(line string) bool {
		if strings.Contains(line, substr) {
			seen++
		}
		return seen >= n
	}
}

// writeClips writes a manifest of n distinct rows clip-0000… and returns its path.
func writeClips(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "clips.csv")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := csv.NewWriter(f)
	require.NoError(t, w.Write([]string{"id", "image", "promptText", "seed", "resolution", "duration"}))
	for i := range n {
		require.NoError(t, w.Write([]string{fmt.Sprintf("clip-%04d", i), fmt.Sprintf("https://img.example.com/%d.jpg", i),
			fmt.Sprintf("a slow pan over scene %d", i), strconv.Itoa(i), "720p", "5"}))
	}
	w.Flush()
	require.NoError(t, w.Error())
	require.NoError(t, f.Close())
	return path
}

// readStore opens the state file the way the next run would and returns
// every record. Opening it is itself an assertion: a crash must never leave
// a state file that does not open.
func readStore(t *testing.T, path string) map[string]store.Job {
	t.Helper()
	st, err := store.Open(path, store.Options{LockTimeout: 10 * time.Second})
	require.NoError(t, err, "the state file must open")
	defer st.Close()
	jobs := map[string]store.Job{}
	require.NoError(t, st.ForEach(context.Background(), func(j store.Job) error {
		require.True(t, j.State.IsValid(), "row %s in unknown state %q", j.Key, j.State)
		jobs[j.Key] = j
		return nil
	}))
	return jobs
}

// assertAllDone checks that every row is done and its file is byte for
// byte what the simulator served for the row's request ID.
func assertAllDone(t *testing.T, srv *sim.Server, out string, jobs map[string]store.Job, rows int) {
	t.Helper()
	require.Len(t, jobs, rows)
	for key, j := range jobs {
		require.Equal(t, store.StateDone, j.State, "row %s: %s", key, j.LastError)
		require.Len(t, j.Outputs, 1, "row %s", key)
		got, err := os.ReadFile(filepath.Join(out, j.Outputs[0].Path))
		require.NoError(t, err)
		want, ok := srv.Video(j.RequestID, 0)
		require.True(t, ok, "the simulator knows %s", j.RequestID)
		require.True(t, bytes.Equal(want, got), "file of %s differs from the render of %s", key, j.RequestID)
		assert.Equal(t, key+".mp4", j.Outputs[0].Path)
	}
}

// testKilledAtRandom kills pikabatch with SIGKILL at random points of its
// progress, then lets a last run finish. The kill points come from a seeded
// RNG and are triggered by the child's own log lines, never by sleeping.
func testKilledAtRandom(t *testing.T, bin string) {
	const (
		rows  = 300
		kills = 12
		seed  = 20260301
	)
	srv := startSim(t, sim.Config{Slots: 8, RunTime: 50 * time.Millisecond, Seed: 5})
	dir := t.TempDir()
	clips := writeClips(t, dir, rows)
	out := filepath.Join(dir, "out")
	state := filepath.Join(out, ".pikabatch.db")
	// A row caught in flight by two kills in a row would be held under the
	// default policy (re-sent once); this test wants every row to finish,
	// and bounds the extra submits by what the store showed instead.
	args := []string{"run", "--manifest", clips, "--out", out, "--concurrency", "16", "--rps", "0", "--max-resends", "100"}

	rng := rand.New(rand.NewPCG(seed, seed))
	events := []string{"msg=submitted ", "msg=rendered ", "msg=downloaded ", ""}
	t.Logf("seed %d", seed)
	start := time.Now()
	inFlightAtKills := 0
	for k := 0; k < kills; k++ {
		event := events[rng.IntN(len(events))]
		n := 1 + rng.IntN(15)
		if event == "" {
			n = 1 + rng.IntN(3) // any line: the first few are startup, before any submit
		}
		c := startChild(t, bin, srv.APIURL, lineCounter(event, n), args...)
		if !c.waitFired() {
			code := c.wait()
			t.Fatalf("run %d ended (exit %d) before kill point %q×%d; make the batch longer\n%s", k, code, event, n, c.stderrText())
		}
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
		code := c.wait()
		require.Equal(t, -1, code, "killed by the signal, not exited")

		jobs := readStore(t, state)
		submitting, done := 0, 0
		for _, j := range jobs {
			switch j.State {
			case store.StateSubmitting:
				submitting++
			case store.StateDone:
				done++
			}
		}
		inFlightAtKills += submitting
		t.Logf("kill %2d at %7.3fs, after %2d× %-18q: %3d rows recorded, %3d done, %2d submitting; simulator: %d submits",
			k+1, time.Since(start).Seconds(), n, event, len(jobs), done, submitting, srv.Counters().Submits)
	}

	c := startChild(t, bin, srv.APIURL, nil, args...)
	code := c.wait()
	require.Equal(t, exitOK, code, "final run:\n%s\n%s", c.stdout.String(), c.stderrText())
	t.Logf("final run done at %.3fs", time.Since(start).Seconds())

	assertAllDone(t, srv.Server, out, readStore(t, state), rows)
	counters := srv.Counters()
	t.Logf("simulator: %d submits for %d rows, %d rows seen submitting after a kill, %d duplicate submits",
		counters.Submits, rows, inFlightAtKills, counters.DuplicateSubmits)
	assert.LessOrEqual(t, counters.Submits, int64(rows+inFlightAtKills),
		"every submit beyond one per row is one the store showed in flight at a kill")
	assert.LessOrEqual(t, counters.DuplicateSubmits, int64(inFlightAtKills))
	assert.Zero(t, counters.FileRequestsWithAuth)
	assertNoTempFiles(t, out)
}

// assertNoTempFiles checks that a finished run left no partial or temporary file.
func assertNoTempFiles(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".part") || strings.HasSuffix(name, ".tmp") {
			t.Errorf("temporary file left behind: %s", name)
		}
	}
}
