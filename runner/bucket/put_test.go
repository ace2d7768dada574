package bucket_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
)

// TestPutAndEach: Put writes an object as Upload does, with its digest
// in the metadata, and a short read leaves nothing; Each lists only the
// objects directly under a prefix that start with a name, and NewReader
// streams one back.
func TestPutAndEach(t *testing.T) {
	prefix, err := bucket.Parse(fakeS3(t, "renders"))
	require.NoError(t, err)
	c := bucket.NewClient()
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	body := []byte("a video")
	require.NoError(t, c.Put(ctx, prefix.Join("b/results.jsonl"), source(body)))
	a, err := c.Stat(ctx, prefix.Join("b/results.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, digest(body), a.SHA256)

	short := source([]byte("0123456789"))
	short.Open = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("0123")), nil }
	require.ErrorContains(t, c.Put(ctx, prefix.Join("b/short.mp4"), short), "the file changed")
	_, err = c.Stat(ctx, prefix.Join("b/short.mp4"))
	assert.ErrorIs(t, err, bucket.ErrNotFound)

	for _, k := range []string{"b/results-0-of-2.jsonl", "b/a.mp4", "b/sub/results.jsonl"} {
		require.NoError(t, c.Put(ctx, prefix.Join(k), source([]byte(k))))
	}
	var names []string
	require.NoError(t, c.Each(ctx, prefix.Join("b"), "results", func(l bucket.Location) error {
		names = append(names, l.Key)
		return nil
	}))
	assert.Equal(t, []string{"b/results-0-of-2.jsonl", "b/results.jsonl"}, names)

	r, err := c.NewReader(ctx, prefix.Join("b/results.jsonl"))
	require.NoError(t, err)
	var got bytes.Buffer
	_, err = io.Copy(&got, r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Equal(t, body, got.Bytes())
	_, err = c.NewReader(ctx, prefix.Join("b/none"))
	assert.ErrorIs(t, err, bucket.ErrNotFound)
}
