package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// A state rebuilt by recover from results.jsonl still counts what its
// jobs spent: the same --max-cost after a lost state file must not pay
// for the budget a second time.
func TestMaxCostAfterRecover(t *testing.T) {
	srv := startSim(t, sim.Config{Seed: 3})
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), budgetRows())
	out := filepath.Join(dir, "out")
	env := tokenEnv(srv.APIURL)
	args := []string{"run", "--manifest", m, "--out", out, "--concurrency", "1", "--progress", "off", "--max-cost", "0.132"}

	code, _, stderr := invoke(t, env, args...)
	require.Equal(t, exitTempFail, code, stderr)
	require.EqualValues(t, 3, srv.Counters().Submits)

	require.NoError(t, os.Remove(filepath.Join(out, ".pikabatch.db")))
	code, _, stderr = invoke(t, env, "recover", "--out", out)
	require.Equal(t, exitOK, code, stderr)

	code, stdout, stderr := invoke(t, env, args...)
	assert.Equal(t, exitTempFail, code, stderr)
	assert.EqualValues(t, 3, srv.Counters().Submits, "the budget was spent before the state was lost")
	assert.Contains(t, stdout, "$0.132 in all of $0.132; $0.000 left\n")
}
