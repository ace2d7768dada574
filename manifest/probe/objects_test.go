package probe_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest/probe"
)

// fakeObjects is a bucket of objects by URL, counting the stats asked.
type fakeObjects struct {
	objects map[string][2]string // URL → size (as text), content type
	stats   atomic.Int64
}

func (f *fakeObjects) StatURL(_ context.Context, u string) (int64, string, bool, error) {
	f.stats.Add(1)
	if strings.Contains(u, "down") {
		return 0, "", false, errors.New("connection refused")
	}
	o, ok := f.objects[u]
	if !ok {
		return 0, "", false, nil
	}
	return int64(len(o[0])), o[1], true, nil
}

// TestBucketURLsAreCheckedThroughTheBucket: a bucket URL is asked of the
// bucket, never fetched: it must exist and be of its field's kind (by
// its type, else its name); a local file the manifest read is passed.
func TestBucketURLsAreCheckedThroughTheBucket(t *testing.T) {
	t.Parallel()
	objs := &fakeObjects{objects: map[string][2]string{
		"s3://b/a.png":         {"12345", "image/png"},
		"s3://b/untyped.jpg":   {"12345", "application/octet-stream"},
		"gs://b/clip.mp4":      {"12345", "video/mp4"},
		"azblob://c/empty.png": {"", "image/png"},
	}}
	c := probe.New(probe.Config{RPS: -1, Objects: objs})
	tests := []struct {
		url, problem string
		kind         probe.Kind
	}{
		{url: "s3://b/a.png"},
		{url: "s3://b/untyped.jpg"},
		{url: "gs://b/clip.mp4", kind: probe.KindVideo},
		{url: "gs://b/clip.mp4", problem: "not an image (video/mp4)"},
		{url: "s3://b/missing.png", problem: "no such object in the bucket"},
		{url: "azblob://c/empty.png", problem: "an empty file"},
		{url: "s3://down/a.png", problem: "the bucket did not answer: connection refused"},
	}
	for _, tt := range tests {
		res, err := c.CheckKind(t.Context(), tt.url, tt.kind)
		require.NoError(t, err)
		assert.Equal(t, tt.problem == "", res.OK, "%s: %s", tt.url, res.Problem)
		assert.Equal(t, tt.problem, res.Problem, tt.url)
		assert.Equal(t, "STAT", res.Method)
	}
	assert.Equal(t, int64(len(tests)), objs.stats.Load())

	res, err := c.Check(t.Context(), "file:images/a.png#sha256="+strings.Repeat("0", 64))
	require.NoError(t, err)
	assert.True(t, res.OK)
	assert.Equal(t, "image/png", res.ContentType)

	none := probe.New(probe.Config{RPS: -1})
	res, err = none.Check(t.Context(), "s3://b/a.png")
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Contains(t, res.Problem, "no bucket client")
}
