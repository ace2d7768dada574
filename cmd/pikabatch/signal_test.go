package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// pausedClock is a simulator clock that stands still until resumed, then
// runs at the speed of the wall clock. While it stands still, no job on
// the simulated account ever finishes.
type pausedClock struct {
	mu      sync.Mutex
	at      time.Time
	resumed time.Time // zero while paused
}

func newPausedClock() *pausedClock { return &pausedClock{at: time.Now()} }

func (c *pausedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resumed.IsZero() {
		return c.at
	}
	return c.at.Add(time.Since(c.resumed))
}

func (c *pausedClock) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumed = time.Now()
}

func testSignals(t *testing.T, bin string) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		code int
	}{
		{"SIGINT", syscall.SIGINT, exitSIGINT},
		{"SIGTERM", syscall.SIGTERM, exitSIGTERM},
	} {
		t.Run(tc.name+" stops without waiting for running jobs", func(t *testing.T) {
			t.Parallel()
			testFirstSignal(t, bin, tc.sig, tc.code)
		})
	}
	t.Run("second SIGINT exits at once", func(t *testing.T) {
		t.Parallel()
		testSecondSignal(t, bin)
	})
}

// testFirstSignal interrupts a run whose jobs cannot finish (the
// simulator's clock stands still): the run must stop submitting, record
// every request ID and exit with the signal's code, leaving the jobs on the
// API to be collected by the next run.
func testFirstSignal(t *testing.T, bin string, sig syscall.Signal, wantCode int) {
	const rows = 40
	clock := newPausedClock()
	srv := startSim(t, sim.Config{Slots: 4, RunTime: 30 * time.Millisecond, Now: clock.Now})
	dir := t.TempDir()
	clips := writeClips(t, dir, rows)
	out := filepath.Join(dir, "out")
	args := []string{"run", "--manifest", clips, "--out", out, "--concurrency", "8", "--rps", "0"}

	c := startChild(t, bin, srv.APIURL, lineCounter("msg=submitted ", 5), args...)
	require.True(t, c.waitFired(), "the run ended before 5 submits:\n%s", c.stderrText())
	require.NoError(t, c.cmd.Process.Signal(sig))
	code := c.wait()
	require.Equal(t, wantCode, code, "stdout:\n%s\nstderr:\n%s", c.stdout.String(), c.stderrText())
	assert.Contains(t, c.stderrText(), "stopping")

	jobs := readStore(t, filepath.Join(out, ".pikabatch.db"))
	withID := 0
	for key, j := range jobs {
		assert.NotEqual(t, store.StateSubmitting, j.State, "row %s: a submit on the wire is recorded before exit", key)
		assert.NotEqual(t, store.StateUncertain, j.State, "row %s", key)
		assert.NotEqual(t, store.StateDone, j.State, "row %s: no job can have finished", key)
		if j.RequestID != "" {
			withID++
		}
	}
	first := srv.Counters()
	require.Positive(t, withID)
	assert.EqualValues(t, withID, first.Submits, "every job the API created has its request ID in the store")
	t.Logf("%s after %d recorded submits; exit %d", sig, withID, code)

	// The next run collects the jobs left running and submits the rest, once.
	clock.Resume()
	c = startChild(t, bin, srv.APIURL, nil, args...)
	require.Equal(t, exitOK, c.wait(), "stdout:\n%s\nstderr:\n%s", c.stdout.String(), c.stderrText())
	assertAllDone(t, srv.Server, out, readStore(t, filepath.Join(out, ".pikabatch.db")), rows)
	final := srv.Counters()
	assert.EqualValues(t, rows, final.Submits)
	assert.Zero(t, final.DuplicateSubmits)
}

// testSecondSignal holds submits on the wire so that the first SIGINT has
// to wait for their answers; a second SIGINT must end the process at once
// and leave a state file that opens and resumes.
func testSecondSignal(t *testing.T, bin string) {
	const (
		rows  = 20
		allow = 6 // submits answered before the API starts to hang
	)
	srv, err := sim.New(sim.Config{Token: testToken, Slots: 4, RunTime: 20 * time.Millisecond})
	require.NoError(t, err)
	var submits atomic.Int64
	hanging := make(chan struct{}, 64)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/models/") && submits.Add(1) > allow {
			// Never answered, never processed: the connection is held
			// until the client goes away (which the server notices once
			// the body has been read).
			_, _ = io.Copy(io.Discard, r.Body)
			hanging <- struct{}{}
			<-r.Context().Done()
			return
		}
		srv.APIHandler().ServeHTTP(w, r)
	}))
	files := httptest.NewServer(srv.FilesHandler())
	srv.SetFilesBase(files.URL)
	t.Cleanup(func() {
		api.CloseClientConnections()
		files.CloseClientConnections()
		api.Close()
		files.Close()
	})
	dir := t.TempDir()
	clips := writeClips(t, dir, rows)
	out := filepath.Join(dir, "out")
	args := []string{"run", "--manifest", clips, "--out", out, "--concurrency", "4", "--rps", "0"}

	c := startChild(t, bin, api.URL, lineCounter("stopping;", 1), args...)
	select {
	case <-hanging:
	case <-c.done:
		t.Fatalf("the run ended before a submit hung:\n%s", c.stderrText())
	}
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGINT))
	require.True(t, c.waitFired(), "the first signal is acknowledged:\n%s", c.stderrText())
	// The run now waits (up to its grace period) for the hanging submit's
	// answer, which never comes. A second signal must not wait.
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGINT))
	code := c.wait()
	require.Equal(t, exitSIGINT, code, "stderr:\n%s", c.stderrText())
	assert.Contains(t, c.stderrText(), "exiting now")

	jobs := readStore(t, filepath.Join(out, ".pikabatch.db"))
	submitting := 0
	for _, j := range jobs {
		if j.State == store.StateSubmitting {
			submitting++
		}
	}
	assert.Positive(t, submitting, "the hanging submits are honestly recorded as in flight")
	t.Logf("second SIGINT: %d rows left submitting, %d submits answered", submitting, allow)

	// Resume: rows left submitting are re-sent once (the default policy for
	// a submit whose answer was lost). The hanging submits created nothing;
	// the only possible extra jobs are submits answered in the last
	// milliseconds whose request ID was still on its way to disk when the
	// second signal ended the process, and those rows read submitting too.
	submits.Store(-1 << 30)
	c = startChild(t, bin, api.URL, nil, args...)
	require.Equal(t, exitOK, c.wait(), "stdout:\n%s\nstderr:\n%s", c.stdout.String(), c.stderrText())
	assert.Contains(t, c.stdout.String(), "re-sent")
	assertAllDone(t, srv, out, readStore(t, filepath.Join(out, ".pikabatch.db")), rows)
	final := srv.Counters()
	assert.LessOrEqual(t, final.Submits, int64(rows+submitting))
	assert.LessOrEqual(t, final.DuplicateSubmits, int64(submitting))
	t.Logf("resumed: %d submits for %d rows, %d duplicates", final.Submits, rows, final.DuplicateSubmits)
}
