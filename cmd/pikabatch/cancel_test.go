package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestCancelWhileLive(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)

	// No token in this process: the live run cancels with its own.
	env := map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""}
	code, stdout, stderr := invoke(t, env, "cancel", "--out", lr.out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var rep cancelJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 2, rep.Counts[live.Cancelled], "one slot: one job runs, two wait")
	assert.Equal(t, 1, rep.Counts[live.AlreadyRunning])
	assert.Equal(t, int64(2), srv.Counters().Cancelled)
	require.True(t, errors.Is(lr.stop(t), context.Canceled))

	code, stdout, _ = invoke(t, nil, "status", "--out", lr.out, "--json")
	require.Equal(t, exitOK, code)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	assert.Equal(t, 2, st.ByState[store.StateCancelled], "recorded by the live run")
}

func TestCancelOffline(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)
	require.True(t, errors.Is(lr.stop(t), context.Canceled))

	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "cancel", "--out", lr.out, "--key", "a", "--key", "b", "--key", "c", "--key", "zzz")
	assert.Equal(t, exitFailedRows, code, "a named key is unknown")
	assert.Contains(t, stdout, "2 cancelled, 1 already running (collected by the run), 1 other")
	assert.Contains(t, stdout, "zzz                      no such key")
	assert.Contains(t, stderr, "not every job")
	assert.Equal(t, int64(2), srv.Counters().Cancelled)

	code, stdout, _ = invoke(t, env, "cancel", "--out", lr.out)
	assert.Equal(t, exitOK, code, "nothing left queued")
	assert.Contains(t, stdout, "0 cancelled, 1 already running (collected by the run)\n")

	noToken := map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""}
	code, _, stderr = invoke(t, noToken, "cancel", "--out", lr.out, "--key", "zzz")
	assert.Equal(t, exitFailedRows, code, "no token needed when there is nothing to ask the API: %s", stderr)
	code, _, _ = invoke(t, noToken, "cancel", "--out", lr.out, "--key", "a", "--key", "b", "--key", "c")
	assert.Equal(t, exitNoPerm, code, "the running job is asked about, which needs the token")
}

// collectRunning checks a batch after a cancel: the job the API would not
// cancel was rendered and downloaded, the others are recorded cancelled.
func collectRunning(t *testing.T, srv *sim.Running, out string) {
	t.Helper()
	jobs := readStore(t, filepath.Join(out, ".pikabatch.db"))
	states := map[store.State]int{}
	for key, j := range jobs {
		states[j.State]++
		if j.State == store.StateDone {
			assert.FileExists(t, filepath.Join(out, key+".mp4"), "the running job's video is collected")
		}
	}
	assert.Equal(t, map[store.State]int{store.StateDone: 1, store.StateCancelled: 2}, states)
	assert.EqualValues(t, 2, srv.Counters().Cancelled)
	assert.EqualValues(t, 3, srv.Counters().Submits, "nothing submitted again")
}

func TestCancelNotAcceptedIsCollectedByTheLiveRun(t *testing.T) {
	clock := newPausedClock() // the running job runs until the cancel is done
	srv := startSim(t, sim.Config{Slots: 1, RunTime: 30 * time.Millisecond, Now: clock.Now})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)

	env := map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""}
	code, stdout, stderr := invoke(t, env, "cancel", "--out", lr.out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "2 cancelled, 1 already running (collected by the run)\n")

	clock.Resume()
	err := <-lr.done
	close(lr.done)
	require.ErrorIs(t, err, runner.ErrFailedRows, "the two cancelled rows are not done")
	collectRunning(t, srv, lr.out)
}

func TestCancelNotAcceptedOfflineIsCollectedByTheNextRun(t *testing.T) {
	clock := newPausedClock()
	srv := startSim(t, sim.Config{Slots: 1, RunTime: 30 * time.Millisecond, Now: clock.Now})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)
	require.True(t, errors.Is(lr.stop(t), context.Canceled))

	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "cancel", "--out", lr.out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "2 cancelled, 1 already running (collected by the run)\n")
	for key, j := range readStore(t, filepath.Join(lr.out, ".pikabatch.db")) {
		if j.State != store.StateCancelled {
			assert.Contains(t, []store.State{store.StateSubmitted, store.StateQueued, store.StateRunning}, j.State,
				"%s: a job not cancelled is never recorded cancelled", key)
		}
	}

	clock.Resume()
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", lr.out, "--rps", "0")
	assert.Equal(t, exitFailedRows, code, stderr)
	collectRunning(t, srv, lr.out)
}

// TestCancelExitFollowsTheOutcome: cancel with --key and without exit
// alike for the same outcome. A job already running is collected by the
// run, which is no failure either way; an unknown key is.
func TestCancelExitFollowsTheOutcome(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)
	require.True(t, errors.Is(lr.stop(t), context.Canceled))
	env := tokenEnv(srv.APIURL)

	code, stdout, stderr := invoke(t, env, "cancel", "--out", lr.out)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "2 cancelled, 1 already running (collected by the run)\n")
	var running string
	for key, j := range readStore(t, filepath.Join(lr.out, ".pikabatch.db")) {
		if j.State != store.StateCancelled {
			running = key
		}
	}
	require.NotEmpty(t, running)

	want := "0 cancelled, 1 already running (collected by the run)\n"
	code, stdout, _ = invoke(t, env, "cancel", "--out", lr.out)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, want)
	code, stdout, stderr = invoke(t, env, "cancel", "--out", lr.out, "--key", running)
	assert.Equal(t, exitOK, code, "the same outcome named by its key: %s", stderr)
	assert.Contains(t, stdout, want)

	code, _, stderr = invoke(t, env, "cancel", "--out", lr.out, "--key", "zzz")
	assert.Equal(t, exitFailedRows, code, "an unknown key")
	assert.Contains(t, stderr, "not every job")
}
