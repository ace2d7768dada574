package bucket_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/bucket"
)

var _ probe.Objects = (*bucket.Client)(nil)

// TestStatURL: `validate --check-urls` learns an object's size and type
// from the bucket, and that a missing one is missing, not an error.
func TestStatURL(t *testing.T) {
	prefix, err := bucket.Parse(fakeS3(t, "inputs"))
	require.NoError(t, err)
	c := bucket.NewClient()
	t.Cleanup(func() { _ = c.Close() })
	obj := prefix.Join("a.mp4")
	_, err = c.Upload(t.Context(), obj, source([]byte("a video")))
	require.NoError(t, err)

	size, ct, found, err := c.StatURL(t.Context(), obj.String())
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, int64(7), size)
	assert.Equal(t, "video/mp4", ct)

	_, _, found, err = c.StatURL(t.Context(), prefix.Join("none.png").String())
	require.NoError(t, err)
	assert.False(t, found)

	_, _, _, err = c.StatURL(t.Context(), "https://x/a.png")
	assert.Error(t, err)
}
