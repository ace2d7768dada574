package runner_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

func TestDownloadsAboveTheCapAreRefused(t *testing.T) {
	t.Parallel()
	const rows = 10
	e := setup(t, rows, sim.Config{VideoSize: 8 << 10})
	sum, _, err := e.runClient(t.Context(), nil, func(c *runner.Config) { c.Download.MaxBytes = 4 << 10 })
	require.ErrorIs(t, err, runner.ErrFailedRows, "a row left undownloaded is not a success")
	assert.Contains(t, err.Error(), "10 rows")
	assert.Equal(t, rows, sum.Failed)
	assert.Zero(t, sum.Downloaded)
	assert.Equal(t, rows, sum.FailReasons["result file larger than the size cap"], "reasons %v", sum.FailReasons)
	for key, j := range e.jobs() {
		assert.Equal(t, store.StateRendered, j.State, "row %s: the render is kept, to download with a larger cap", key)
		assert.Contains(t, j.LastError, "too large", key)
	}
	entries, err := os.ReadDir(e.out)
	require.NoError(t, err)
	for _, ent := range entries {
		assert.NotEqual(t, ".mp4", filepath.Ext(ent.Name()), "nothing over the cap is written: %s", ent.Name())
	}
	assertNoPartFiles(t, e.out)

	// A larger cap downloads them, without rendering anything again.
	_, _, err = e.runClient(t.Context(), nil, nil)
	require.NoError(t, err)
	e.assertAllDownloaded(rows)
	assert.EqualValues(t, rows, e.sim.Counters().Submits)
}
