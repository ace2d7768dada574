package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestStateNamedLikeASocketSurvivesTheRun: issue 14 — `--state out/x.sock`
// bound the control socket on the state file itself, which deleted it, and
// the next run submitted (and paid for) every row again.
func TestStateNamedLikeASocketSurvivesTheRun(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	state := filepath.Join(out, "x.sock")
	env := tokenEnv(srv.APIURL)

	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--state", state)
	require.Equal(t, exitOK, code, stderr)
	require.FileExists(t, state)
	require.Equal(t, int64(3), srv.Counters().Submits)

	code, stdout, stderr := invoke(t, env, "run", "--manifest", m, "--out", out, "--state", state)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "3 already done")
	assert.Equal(t, int64(3), srv.Counters().Submits, "nothing submitted twice")
}
