package bucket_test

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
)

// failingFile is a seekable source whose reads fail, counting them.
type failingFile struct{ reads *atomic.Int64 }

var errDisk = errors.New("read clip.mp4: input/output error")

func (f failingFile) Read([]byte) (int, error)       { f.reads.Add(1); return 0, errDisk }
func (f failingFile) Seek(int64, int) (int64, error) { return 0, nil }
func (f failingFile) Close() error                   { return nil }
func (f failingFile) open() (io.ReadCloser, error)   { return f, nil }
func (f failingFile) source(size int64, sum string) bucket.Source {
	return bucket.Source{Open: f.open, Size: size, SHA256: sum, ContentType: "video/mp4"}
}

// TestPutDoesNotRetryItsSource: an upload whose file cannot be read
// fails at once with the file's error; the SDK, which would send the
// request again after a network error, does not read the file again.
func TestPutDoesNotRetryItsSource(t *testing.T) {
	prefix, err := bucket.Parse(fakeS3(t, "renders"))
	require.NoError(t, err)
	c := bucket.NewClient()
	t.Cleanup(func() { _ = c.Close() })
	f := failingFile{reads: &atomic.Int64{}}
	err = c.Put(t.Context(), prefix.Join("b/clip.mp4"), f.source(10, digest([]byte("0123456789"))))
	require.ErrorIs(t, err, errDisk)
	assert.Equal(t, int64(1), f.reads.Load())
}
