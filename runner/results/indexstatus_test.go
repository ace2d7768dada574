package results_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/store"
)

// TestStatusOfCountsStatesAndAccount: one pass over an index gives its
// jobs by state (orphans included, as the index holds them) and the
// account of its rows (orphans left out), told as status --from prints it.
func TestStatusOfCountsStatesAndAccount(t *testing.T) {
	t.Parallel()
	idx := entries{
		{Key: "a", State: store.StateDone, Attempts: 1},
		{Key: "b", State: store.StateDone, Attempts: 1},
		{Key: "c", State: store.StateFailed, Attempts: 1},
		{Key: "d", State: store.StateDone, Attempts: 1, Orphan: true},
	}
	s, err := results.StatusOf(t.Context(), "s3://b/p/results.jsonl", idx)
	require.NoError(t, err)
	assert.Equal(t, 4, s.Jobs)
	assert.Equal(t, map[store.State]int{store.StateDone: 3, store.StateFailed: 1}, s.ByState)
	assert.Equal(t, 3, s.Account.Rows)
	assert.Equal(t, 2, s.Account.Done)

	var b strings.Builder
	s.WriteText(&b)
	assert.True(t, strings.HasPrefix(b.String(), "s3://b/p/results.jsonl: rows 3: 2 done, 1 failed"), b.String())
	assert.Contains(t, b.String(), "  jobs in the index: 4: 3 done, 1 failed\n")
}
