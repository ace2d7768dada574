package bucket_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
)

// TestPutRefusedWhenBodyIsNotItsDigest: an S3 upload is signed with its
// source's SHA-256, so a server that checks signatures refuses a body
// that is not that digest, and no object appears.
func TestPutRefusedWhenBodyIsNotItsDigest(t *testing.T) {
	_, c := realS3(t, "renders")
	ctx := t.Context()
	src := memSource([]byte("the video as it is now"), "video/mp4")
	src.SHA256 = digest([]byte("the video as it was saved"))
	l := mustParse(t, "s3://renders/b/clip.mp4")
	require.Error(t, c.Put(ctx, l, src))
	_, err := c.Stat(ctx, l)
	assert.ErrorIs(t, err, bucket.ErrNotFound)

	require.NoError(t, c.Put(ctx, l, memSource([]byte("the video as it is now"), "video/mp4")))
}
