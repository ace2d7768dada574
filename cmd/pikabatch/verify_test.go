package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/runner/verify"
)

func TestVerifyFindsDamageAndARunRepairsIt(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), threeRows)
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	code, _, stderr := invoke(t, env, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)

	code, stdout, stderr := invoke(t, nil, "verify", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "verified 3 files of 3 done jobs")
	assert.Contains(t, stdout, "3 ok\n")

	// Same size, one byte changed: stat cannot see it, a hash does.
	a := filepath.Join(out, "a.mp4")
	b, err := os.ReadFile(a)
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(a, b, 0o644))
	require.NoError(t, os.Remove(filepath.Join(out, "b.mp4")))

	code, stdout, _ = invoke(t, nil, "verify", "--out", out, "--json")
	assert.Equal(t, exitFailedRows, code)
	var rep verify.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Findings, 2)
	assert.Equal(t, verify.WrongHash, rep.Findings[0].Problem)
	assert.Equal(t, verify.Missing, rep.Findings[1].Problem)
	assert.FileExists(t, a, "verify only reads unless asked")

	code, stdout, stderr = invoke(t, nil, "verify", "--out", out, "--remove-bad")
	assert.Equal(t, exitFailedRows, code)
	assert.Contains(t, stdout, "removed")
	assert.Contains(t, stderr, "run the batch again")
	assert.NoFileExists(t, a)

	submits := srv.Counters().Submits
	code, _, stderr = invoke(t, env, "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, submits, srv.Counters().Submits, "downloaded again, never rendered again")
	code, stdout, _ = invoke(t, nil, "verify", "--out", out)
	assert.Equal(t, exitOK, code, stdout)
}
