package bucket_test

import (
	"bytes"
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

// endsInError reads its bytes, then fails where it would end: as a file
// checked against its digest only once it has been read whole.
type endsInError struct {
	r   io.Reader
	err error
}

func (e *endsInError) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

// TestPutAbortsOnAnErrorAtTheEnd: a streamed upload whose source fails
// only at its end (after every byte) leaves no object, even on a server
// that checks no digest: the last bytes wait for the source's verdict.
func TestPutAbortsOnAnErrorAtTheEnd(t *testing.T) {
	prefix, err := bucket.Parse(fakeS3(t, "renders"))
	require.NoError(t, err)
	c := bucket.NewClient()
	t.Cleanup(func() { _ = c.Close() })
	errNotAsRecorded := errors.New("clip.mp4: not the file the state recorded")
	body := []byte("0123456789")
	src := bucket.Source{Size: int64(len(body)), SHA256: digest([]byte("9876543210")), ContentType: "video/mp4",
		Open: func() (io.ReadCloser, error) {
			return io.NopCloser(&endsInError{r: bytes.NewReader(body), err: errNotAsRecorded}), nil
		}}
	l := prefix.Join("b/clip.mp4")
	require.ErrorIs(t, c.Put(t.Context(), l, src), errNotAsRecorded)
	_, err = c.Stat(t.Context(), l)
	assert.ErrorIs(t, err, bucket.ErrNotFound, "no object from a source that failed")
}
