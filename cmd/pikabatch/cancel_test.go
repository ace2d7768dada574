package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

func TestCancelWhileLive(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)

	// No token in this process: the live run cancels with its own.
	env := map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": ""}
	code, stdout, stderr := invoke(t, env, "cancel", "--out", lr.out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var rep live.CancelReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 2, rep.Counts[live.Cancelled], "one slot: one job runs, two wait")
	assert.Equal(t, 1, rep.Counts[live.AlreadyRunning])
	assert.Equal(t, int64(2), srv.Counters().Cancelled)
	require.True(t, errors.Is(lr.stop(t), context.Canceled))

	code, stdout, _ = invoke(t, nil, "status", "--out", lr.out, "--json")
	require.Equal(t, exitOK, code)
	var st statusReport
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
	assert.Equal(t, exitFailedRows, code, "a named job could not be cancelled")
	assert.Contains(t, stdout, "cancelled 2, already running 1, other 1")
	assert.Contains(t, stdout, "zzz                      no such key")
	assert.Contains(t, stderr, "not every job")
	assert.Equal(t, int64(2), srv.Counters().Cancelled)

	code, stdout, _ = invoke(t, env, "cancel", "--out", lr.out)
	assert.Equal(t, exitOK, code, "nothing left queued")
	assert.Contains(t, stdout, "cancelled 0")

	noToken := map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": ""}
	code, _, stderr = invoke(t, noToken, "cancel", "--out", lr.out, "--key", "zzz")
	assert.Equal(t, exitFailedRows, code, "no token needed when there is nothing to ask the API: %s", stderr)
	code, _, _ = invoke(t, noToken, "cancel", "--out", lr.out, "--key", "a", "--key", "b", "--key", "c")
	assert.Equal(t, exitNoPerm, code, "the running job is asked about, which needs the token")
}
