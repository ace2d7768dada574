package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucket/versitygw"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestFetchInputsPresignedBucketURL: a rehearsal with FetchInputs tells a
// good pre-signed URL from a bad one as the API would, against a server
// that checks signatures: the URL pikabatch presigns renders, and the same
// URL with its signature altered, or one signed long enough ago to have
// expired, fails its job with the storage's 403.
func TestFetchInputsPresignedBucketURL(t *testing.T) {
	srv := versitygw.Start(t)
	srv.CreateBucket(t, "frames")
	srv.Put(t, "frames", "a.png", []byte("\x89PNG\r\n\x1a\n frame"))
	srv.SetEnv(t)
	c := bucket.NewClient()
	defer c.Close()
	l, err := bucket.Parse("s3://frames/a.png")
	require.NoError(t, err)
	good, err := c.Presign(t.Context(), l, time.Hour)
	require.NoError(t, err)
	sig := good[strings.Index(good, "X-Amz-Signature=")+len("X-Amz-Signature="):][:8]
	flip := map[bool]string{true: "1", false: "0"}[sig[0] == '0']
	tampered := strings.Replace(good, "X-Amz-Signature="+sig[:1], "X-Amz-Signature="+flip, 1)
	expired := srv.PresignGet(t, "frames", "a.png", time.Minute, -time.Hour)

	e := setup(t, sim.Config{FetchInputs: true})
	ok := e.submit(withImage(1, good))
	bad := e.submit(withImage(2, tampered))
	old := e.submit(withImage(3, expired))
	e.clock.Advance(time.Hour)
	e.settle()

	assert.NotEmpty(t, e.videoURL(ok))
	for _, id := range []string{bad, old} {
		msg := e.failure(id)
		assert.Equal(t, "generation failed: input image could not be fetched: HTTP 403", msg)
		assert.NotContains(t, msg, sig)
	}
	assert.EqualValues(t, 3, e.srv.Counters().InputFetches)
}
