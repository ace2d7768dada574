package batch_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/store"
)

// TestRecoverRebuildsADamagedState: a readable state is not rebuilt; a
// damaged one is kept aside and rebuilt from the results index, and the
// next run submits nothing again.
func TestRecoverRebuildsADamagedState(t *testing.T) {
	c, srv := setup(t, 3)
	_, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	rc := batch.RecoverConfig{Out: c.Out}

	_, err = batch.Recover(t.Context(), rc)
	var ce *batch.ConfigError
	require.ErrorAs(t, err, &ce, "a readable state knows more than the index")

	state := filepath.Join(c.Out, ".pikabatch.db")
	require.NoError(t, os.WriteFile(state, []byte("not a bbolt file"), 0o644))
	res, err := batch.Recover(t.Context(), rc)
	require.NoError(t, err)
	assert.Equal(t, state, res.StatePath)
	assert.FileExists(t, res.KeptAs, "the damaged file is kept, never deleted")
	assert.Equal(t, 3, res.Jobs)
	assert.Equal(t, 3, res.Done)

	run, err := batch.Run(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, 3, run.Summary.SkippedDone)
	assert.EqualValues(t, 3, srv.Counters().Submits, "nothing submitted again")

	_, err = batch.Recover(t.Context(), batch.RecoverConfig{Out: t.TempDir()})
	require.ErrorIs(t, err, store.ErrMissing, "no index to rebuild from")
}
