package account

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/store"
)

// TestSharedLines: the lines the run's summary and status both tell.
func TestSharedLines(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1 job", Plural(1, "job"))
	assert.Equal(t, "0 jobs", Plural(0, "job"))
	assert.Equal(t, "2 indexes", Plural(2, "index"), "a noun ending in x takes -es")
	assert.Equal(t, "a, b, …", Examples([]string{"a", "b"}, 5))
	assert.Equal(t, "a, b", Examples([]string{"a", "b"}, 2))
	assert.Equal(t, `"pending" 2, "starting" 1`, WordCounts(map[string]int{"starting": 1, "pending": 2}))
	assert.Equal(t, "account limit: a submit was refused with 1 job of this run on the account", LimitLine(1))
	assert.Equal(t, "orphans 3 (x, …): state entries no manifest row claims (id renamed or recased, row edited or given an id); flagged in results.jsonl, never submitted; 1 with a render in flight or not downloaded, the next run collects them",
		OrphanLine(3, []string{"x"}, 1, "the next run collects them"))
	assert.Equal(t, "none", StateCounts(nil))
	assert.Equal(t, "1 queued, 2 done", StateCounts(map[store.State]int{store.StateDone: 2, store.StateQueued: 1}))
}
