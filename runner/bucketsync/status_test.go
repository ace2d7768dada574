package bucketsync_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/store"
)

// TestStatusAddsTheIndexesUp: each index's jobs by state, theirs
// together, and the text says both and what a copied index cannot tell.
func TestStatusAddsTheIndexesUp(t *testing.T) {
	to := fakeS3(t, "renders", "b1")
	c := bucket.NewClient()
	t.Cleanup(func() { _ = c.Close() })
	put(t, c, to.Join("results-0-of-2.jsonl"), `{"key":"a","state":"done","attempts":1}`+"\n"+`{"key":"c","state":"pending","attempts":0}`+"\n")
	put(t, c, to.Join("results-1-of-2.jsonl"), `{"key":"b","state":"failed","attempts":1}`+"\n")
	ixs, err := bucketsync.Indexes(t.Context(), c, to)
	require.NoError(t, err)

	st, err := bucketsync.StatusOf(t.Context(), ixs)
	require.NoError(t, err)
	require.Len(t, st.Indexes, 2)
	assert.Equal(t, 2, st.Indexes[0].Jobs)
	assert.Equal(t, "all 2 indexes", st.Total.Index)
	assert.Equal(t, 3, st.Total.Jobs)
	assert.Equal(t, map[store.State]int{store.StateDone: 1, store.StatePending: 1, store.StateFailed: 1}, st.Total.ByState)
	assert.Equal(t, 3, st.Total.Account.Rows)

	var b bytes.Buffer
	st.WriteText(&b)
	out := b.String()
	assert.Contains(t, out, "results-1-of-2.jsonl")
	assert.Contains(t, out, "all 2 indexes: ")
	assert.True(t, strings.HasSuffix(out, "rows no run has read yet are not counted)\n"), out)

	b.Reset()
	st, err = bucketsync.StatusOf(t.Context(), ixs[:1])
	require.NoError(t, err)
	st.WriteText(&b)
	assert.NotContains(t, b.String(), "all 1 indexes", "one index is its own total")
}
