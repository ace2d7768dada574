package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// threeRowsRenamed is threeRows with b renamed: b's job becomes an orphan.
var threeRowsRenamed = strings.Replace(threeRows, "\nb,", "\nb2,", 1)

func TestOrphansInTheSummaryStatusAndExport(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, stdout, "orphans")

	writeFile(t, m, threeRowsRenamed)
	code, stdout, stderr = invoke(t, env, "run", "--manifest", m, "--out", out, "--dry-run")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "       1  orphans: jobs of the state file no row claims; never submitted\n")

	code, stdout, stderr = invoke(t, env, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, "an orphan does not fail the run: %s", stderr)
	assert.Contains(t, stdout, "\norphans 1 (b): state entries no manifest row claims")

	code, stdout, stderr = invoke(t, nil, "status", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "\n  orphans 1 (b): ")

	code, stdout, _ = invoke(t, nil, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Batches, 1)
	assert.Equal(t, 1, rep.Batches[0].Orphans)
	assert.Equal(t, []string{"b"}, rep.Batches[0].OrphanKeys)

	code, stdout, stderr = invoke(t, nil, "export", "--out", out, "--format", "csv")
	require.Equal(t, exitOK, code, stderr)
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 5)
	col := slices.Index(results.CSVColumns, "orphan")
	require.Equal(t, "orphan", recs[0][col])
	for _, rec := range recs[1:] {
		assert.Equal(t, rec[0] == "b", rec[col] == "true", "orphan column of %s", rec[0])
	}

	code, stdout, _ = invoke(t, nil, "export", "--out", out)
	require.Equal(t, exitOK, code)
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e results.Entry
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		assert.Equal(t, e.Key == "b", e.Orphan, "orphan flag of %s", e.Key)
	}
}

func TestALiveRunReportsItsOrphans(t *testing.T) {
	srv := slowSim(t)
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	lr := startLiveRun(t, testOptions(srv, m, out), 3)
	require.ErrorIs(t, lr.stop(t), context.Canceled)

	// b's job is still on the API when its row is renamed.
	writeFile(t, m, threeRowsRenamed)
	o := testOptions(srv, m, out)
	found := make(chan int, 1)
	o.cfg.Hooks.Orphans = func(n int) { found <- n }
	startLiveRun(t, o, 1)
	require.Equal(t, 1, <-found)

	code, stdout, stderr := invoke(t, nil, "status", "--out", out, "--json")
	require.Equal(t, exitOK, code, stderr)
	var rep statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Batches, 1)
	st := rep.Batches[0]
	require.NotNil(t, st.Live)
	assert.Equal(t, 1, st.Live.ThisRun.Orphans)
	assert.Equal(t, []string{"b"}, st.Live.ThisRun.OrphanKeys)
	assert.Equal(t, 1, st.Live.ThisRun.OrphansInFlight, "its render is being collected")
	assert.Equal(t, 1, st.Orphans)
	assert.Equal(t, 1, st.OrphansInFlight)
	assert.Equal(t, 3, st.Live.Rows, "an orphan is not a row")

	code, stdout, _ = invoke(t, nil, "status", "--out", out)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "\n  orphans 1 (b): ")
	assert.Contains(t, stdout, "1 with a render in flight or not downloaded")
}
