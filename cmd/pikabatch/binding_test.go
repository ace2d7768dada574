package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// TestFolderBelongsToItsAPIAndModel: a folder rendered against
// the simulator was treated as finished by a run against another API, and
// by a run with another model. Every command that would send API calls for
// it now refuses first (exit 64), naming both, and the other API hears
// nothing.
func TestFolderBelongsToItsAPIAndModel(t *testing.T) {
	first := startSim(t, sim.Config{})
	m, out, state := renderedBatch(t, first)
	other := startSim(t, sim.Config{})
	otherEnv := tokenEnv(other.APIURL)

	t.Run("run with another --api-base", func(t *testing.T) {
		code, _, stderr := invoke(t, otherEnv, "run", "--manifest", m, "--out", out)
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, first.APIURL, "names the recorded API")
		assert.Contains(t, stderr, other.APIURL, "and the given one")
		assert.Contains(t, stderr, "another --out")
		assert.Contains(t, stderr, "--api-base "+first.APIURL, "the flag that goes on with it")
		code, _, stderr = invoke(t, otherEnv, "run", "--manifest", m, "--out", out, "--dry-run")
		assert.Equal(t, exitUsage, code, "a dry run of a refused run is refused: %s", stderr)
	})
	t.Run("run with another --model", func(t *testing.T) {
		code, _, stderr := invoke(t, tokenEnv(first.APIURL), "run", "--manifest", m, "--out", out, "--model", "other/model")
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, "other/model")
		assert.Contains(t, stderr, "--model "+defaultModel)
	})
	t.Run("cancel with another --api-base", func(t *testing.T) {
		code, _, stderr := invoke(t, otherEnv, "cancel", "--out", out, "--key", "a")
		// a is done: nothing to send, so nothing to refuse.
		assert.NotEqual(t, exitUsage, code, stderr)
		before := first.Counters()
		_, err := openAndSet(t, state, "a", store.StateQueued)
		require.NoError(t, err)
		code, _, stderr = invoke(t, otherEnv, "cancel", "--out", out, "--key", "a")
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, first.APIURL)
		assert.Equal(t, before.CancelCalls, first.Counters().CancelCalls)
		_, err = openAndSet(t, state, "a", store.StateDone)
		require.NoError(t, err)
	})
	t.Run("same origin, with /v1 and a trailing slash", func(t *testing.T) {
		code, stdout, stderr := invoke(t, tokenEnv(first.APIURL+"/v1/"), "run", "--manifest", m, "--out", out)
		assert.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "rows 3")
	})
	assert.Zero(t, other.Counters().Requests, "the other API heard nothing")
}

// TestStateWithoutBindingIsAdopted: a state file written before bindings
// were recorded takes the first run's, and the log says so.
func TestStateWithoutBindingIsAdopted(t *testing.T) {
	srv := startSim(t, sim.Config{})
	m, out, state := renderedBatch(t, srv)
	st, err := store.Open(state, store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.SetMeta(t.Context(), "api_origin", ""))
	require.NoError(t, st.SetMeta(t.Context(), "model", ""))
	require.NoError(t, st.Close())

	code, _, stderr := invoke(t, tokenEnv(srv.APIURL), "run", "--manifest", m, "--out", out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "state file had no record of its API and model")

	other := startSim(t, sim.Config{})
	code, _, stderr = invoke(t, tokenEnv(other.APIURL), "run", "--manifest", m, "--out", out)
	assert.Equal(t, exitUsage, code, "adopted, then enforced: %s", stderr)
	assert.Zero(t, other.Counters().Requests)
}

// openAndSet puts job key of the state file in state s, as a run that
// stopped would leave it.
func openAndSet(t *testing.T, path, key string, s store.State) (store.Job, error) {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	return st.Update(t.Context(), key, func(j *store.Job) error {
		j.State = s
		return nil
	})
}
