package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
)

// TestSyncScenarioBucket: the bucket the sync scenario hands a child is
// reachable with the environment it gives the child, and nothing else.
func TestSyncScenarioBucket(t *testing.T) {
	b, err := startFakeS3()
	require.NoError(t, err)
	defer b.close()
	for _, kv := range b.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	l, err := bucket.Parse(b.syncTo("run-1"))
	require.NoError(t, err)
	c := bucket.NewClient()
	defer c.Close()
	body := []byte("a video")
	sum := sha256.Sum256(body)
	require.NoError(t, c.Put(t.Context(), l.Join("a.mp4"), bucket.Source{
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
		Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}))
	a, err := c.Stat(t.Context(), l.Join("a.mp4"))
	require.NoError(t, err)
	assert.Equal(t, int64(len(body)), a.Size)
	assert.Contains(t, Scenarios(), "sync")
}
