package bucket_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"
)

// TestReadsLogNothingToStderr: reading objects stored without an SDK
// checksum (ours, and most S3-compatible services') prints nothing on the
// process's stderr, where it would land among a command's own lines. The
// AWS SDK's default logger writes there, so the test watches the real
// stderr while a client is opened and reads. Not parallel: it swaps
// os.Stderr.
func TestReadsLogNothingToStderr(t *testing.T) {
	fake := fakes3.Start(t, nil, "quiet")
	_, err := fake.Backend.PutObject("quiet", "results.jsonl", map[string]string{}, bytes.NewReader([]byte("{}\n")), 3, nil)
	require.NoError(t, err)
	l, err := bucket.Parse(fake.Prefix("quiet", "results.jsonl"))
	require.NoError(t, err)

	r, w, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stderr
	os.Stderr = w
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); got <- b }()

	c := bucket.NewClient()
	for range 3 {
		b, rerr := c.Read(context.Background(), l)
		if rerr == nil {
			assert.Equal(t, "{}\n", string(b))
		}
		err = rerr
	}
	require.NoError(t, c.Close())
	os.Stderr = saved
	require.NoError(t, w.Close())
	require.NoError(t, err)
	assert.Empty(t, string(<-got), "nothing on stderr while reading")
}
