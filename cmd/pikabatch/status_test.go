package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestStatus(t *testing.T) {
	srv := startSim(t, sim.Config{Faults: sim.Faults{RateFail: 1}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	base := tokenEnv(srv.APIURL)
	code, _, stderr := invoke(t, base, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitFailedRows, code, stderr)

	code, stdout, stderr := invoke(t, base, "status", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "no run is live")
	assert.Contains(t, stdout, "  rows 3: 0 done, 3 failed, 0 cancelled, 0 in flight, 0 held, 0 not submitted\n")
	assert.Contains(t, stdout, "jobs in the state file: 3: 3 failed")
	assert.Contains(t, stdout, "failures by message:")

	code, stdout, _ = invoke(t, base, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 3, rep.ByState[store.StateFailed])
	require.Len(t, rep.Batches, 1)
	assert.Nil(t, rep.Batches[0].Live)
	n := 0
	for _, g := range rep.Batches[0].Failures {
		n += g.Count
	}
	assert.Equal(t, 3, n)
}

func TestStatusWhileLive(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	lr := startLiveRun(t, testOptions(srv, m, filepath.Join(dir, "out")), 3)

	code, stdout, stderr := invoke(t, nil, "status", "--out", lr.out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Batches, 1)
	st := rep.Batches[0]
	require.NotNil(t, st.Live, "answered by the live run")
	assert.Equal(t, 3, st.Live.Rows)
	assert.Equal(t, 3, st.Live.Left)
	assert.Equal(t, 3, st.Live.ThisRun.Submitted)
	assert.Equal(t, int64(3), st.Live.Calls.Submit)
	assert.Equal(t, 3, st.Jobs)
	assert.NotNil(t, st.OldestActive)

	code, stdout, _ = invoke(t, nil, "status", "--out", lr.out)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "live run, pid")
	assert.Contains(t, stdout, "  rows 3: 0 done, 0 failed, 0 cancelled, 3 in flight, 0 held, 0 not submitted\n")
	assert.Contains(t, stdout, "oldest job still on the API")
}

func TestStatusReportsTheShardsItCanReach(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	for _, sh := range []string{"0/2", "1/2"} {
		code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--shard", sh)
		require.Equal(t, exitOK, code, stderr)
	}
	// Shard 1 is held by a run whose control socket this machine cannot
	// reach (another node of an Indexed Job): the lock without the socket.
	held, err := store.Open(filepath.Join(out, ".pikabatch-1-of-2.db"), store.Options{})
	require.NoError(t, err)
	defer held.Close()

	code, stdout, stderr := invoke(t, nil, "status", "--out", out)
	assert.Equal(t, exitTempFail, code, "a partial answer is not a success: %s", stderr)
	assert.Contains(t, stdout, ".pikabatch-0-of-2.db: no run is live")
	assert.Contains(t, stdout, ".pikabatch-1-of-2.db: held by a run this machine cannot reach")

	code, stdout, _ = invoke(t, nil, "status", "--out", out, "--json")
	assert.Equal(t, exitTempFail, code)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Batches, 1)
	require.Len(t, rep.Unreachable, 1)
	assert.Contains(t, rep.Unreachable[0].StateFile, ".pikabatch-1-of-2.db")
	assert.Equal(t, rep.Batches[0].Jobs, rep.Jobs, "the totals are those of the readable shards")
}

func TestStatusNamesTheAccountLimitOfALiveRun(t *testing.T) {
	var b strings.Builder
	live.Status{StateFile: "out/.pikabatch.db", Live: &live.RunInfo{
		Rows: 10, ThisRun: account.Figures{Submitted: 6, AccountJobs: 5},
	}}.WriteText(&b)
	assert.Contains(t, b.String(), "  account limit: a submit was refused with 5 jobs of this run on the account; further submits wait for a job to finish\n")

	b.Reset()
	live.Status{StateFile: "out/.pikabatch.db", Live: &live.RunInfo{Rows: 10}}.WriteText(&b)
	assert.NotContains(t, b.String(), "account limit", "said only when the account refused")
}
