package live_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// TestCollect: the statuses of several state files are totalled, jobs by
// state alike; a file that cannot be opened is an *OpenError naming it.
func TestCollect(t *testing.T) {
	ctx := context.Background()
	a, b := setup(t), setup(t)
	require.NoError(t, a.st.Close())
	require.NoError(t, b.st.Close())

	rep, err := live.Collect(ctx, []string{a.path, b.path})
	require.NoError(t, err)
	require.Len(t, rep.Batches, 2)
	assert.Equal(t, 18, rep.Jobs)
	assert.Equal(t, 4, rep.ByState[store.StateFailed])
	assert.Equal(t, rep.Batches[0].Account.Plus(rep.Batches[1].Account), rep.Account)
	assert.Empty(t, rep.Unreachable)

	missing := filepath.Join(t.TempDir(), ".pikabatch.db")
	_, err = live.Collect(ctx, []string{a.path, missing})
	var oe *live.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, missing, oe.Path)
	assert.ErrorIs(t, err, live.ErrNoState)

	none, err := live.Collect(ctx, nil)
	require.NoError(t, err)
	assert.NotNil(t, none.Batches, "[] in JSON, never null")
}

// TestCancelAll: a key is not found only when no state file of the batch
// has it, and then it is reported once.
func TestCancelAll(t *testing.T) {
	ctx := context.Background()
	a, b := setup(t), setup(t)
	require.NoError(t, a.st.Put(ctx, store.Job{Key: "z-only", State: store.StatePending}))
	require.NoError(t, a.st.Close())
	require.NoError(t, b.st.Close())
	opts := live.OpenOptions{Write: true, API: func() (live.Canceller, error) { return a.api, nil }}
	srcs, err := live.OpenAll(ctx, []string{a.path, b.path}, opts)
	require.NoError(t, err)
	defer live.CloseAll(srcs)

	rep, err := live.CancelAll(ctx, srcs, []string{"z-only", "nope"})
	require.NoError(t, err)
	assert.Equal(t, []live.CancelResult{{Key: "z-only", State: store.StatePending, Outcome: live.NotSubmitted}, {Key: "nope", Outcome: live.NotFound}}, rep.Results)
	assert.Equal(t, map[string]int{live.NotSubmitted: 1, live.NotFound: 1}, rep.Counts)

	_, err = live.OpenAll(ctx, []string{a.path, filepath.Join(t.TempDir(), "none.db")}, opts)
	var oe *live.OpenError
	assert.ErrorAs(t, err, &oe)
}
