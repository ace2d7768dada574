package bucketsync_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/runner/results"
)

func put(t *testing.T, c *bucket.Client, l bucket.Location, body string) {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	_, err := c.Upload(t.Context(), l, bucket.Source{
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(body))), nil },
		Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
	require.NoError(t, err)
}

// TestIndexesAreTheShardsIndexes: the indexes under a prefix are found
// by name, whatever else is there, and read back entry by entry.
func TestIndexesAreTheShardsIndexes(t *testing.T) {
	to := fakeS3(t, "renders", "b1")
	c := bucket.NewClient()
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()

	_, err := bucketsync.Indexes(ctx, c, to)
	require.ErrorIs(t, err, bucket.ErrNotFound)

	put(t, c, to.Join("results-1-of-2.jsonl"), `{"key":"b","state":"failed","attempts":1}`+"\n")
	put(t, c, to.Join("results-0-of-2.jsonl"), `{"key":"a","state":"done","attempts":1}`+"\n"+`{"key":"c","state":"pending","attempts":0}`+"\n")
	for _, other := range []string{"results-x.mp4", "results-2-of-2.jsonl", "metadata-0-of-2.jsonl", "sub/results.jsonl", "a.mp4"} {
		put(t, c, to.Join(other), "not an index")
	}
	ixs, err := bucketsync.Indexes(ctx, c, to)
	require.NoError(t, err)
	var names []string
	for _, ix := range ixs {
		names = append(names, ix.Name)
	}
	assert.Equal(t, []string{"results-0-of-2.jsonl", "results-1-of-2.jsonl"}, names)

	var keys []string
	for _, ix := range ixs {
		require.NoError(t, ix.Export(ctx, func(e results.Entry) error {
			keys = append(keys, e.Key+":"+string(e.State))
			return nil
		}))
	}
	assert.Equal(t, []string{"a:done", "c:pending", "b:failed"}, keys)
	l, err := results.Tally(ctx, ixs[0])
	require.NoError(t, err)
	assert.Equal(t, 2, l.Rows)
	assert.Equal(t, 1, l.Done)
	assert.Equal(t, 1, l.NotSubmitted)
}
