package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestStatus(t *testing.T) {
	srv := startSim(t, sim.Config{Faults: sim.Faults{RateFail: 1}})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	base := map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": testToken, "RUNCOMFY_API_TOKEN_FILE": ""}
	code, _, stderr := invoke(t, base, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitFailedRows, code, stderr)

	code, stdout, stderr := invoke(t, base, "status", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "no run is live")
	assert.Contains(t, stdout, "jobs: 3: 3 failed")
	assert.Contains(t, stdout, "failures by message:")

	code, stdout, _ = invoke(t, base, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code)
	var rep statusReport
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
	var rep statusReport
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
	assert.Contains(t, stdout, "0 of 3 rows finished")
	assert.Contains(t, stdout, "oldest job still on the API")
}
