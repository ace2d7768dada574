package bucket_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pikabatch/pikabatch/runner/bucket/fakes3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket"
)

// fakeS3 starts an in-process S3 (gofakes3) on loopback with one bucket,
// and returns the s3:// URL prefix that reaches it. The credentials are
// the fake's; the SDK is kept from every file and host it would otherwise
// ask.
func fakeS3(t *testing.T, name string) string {
	t.Helper()
	return fakes3.Start(t, nil, name).Prefix(name, "")
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    bucket.Location
		wantErr string
	}{
		{in: "s3://b/a/c.png", want: bucket.Location{Scheme: "s3", Bucket: "b", Key: "a/c.png"}},
		{in: "GS://b/k", want: bucket.Location{Scheme: "gs", Bucket: "b", Key: "k"}},
		{in: "azblob://c/k.png?domain=x", want: bucket.Location{Scheme: "azblob", Bucket: "c", Key: "k.png", Options: "domain=x"}},
		{in: "s3://b", want: bucket.Location{Scheme: "s3", Bucket: "b"}},
		{in: "https://b/k", wantErr: "not a bucket URL"},
		{in: "s3:///k", wantErr: "names no bucket"},
		{in: "s3://user:pw@b/k", wantErr: "credentials in the URL are refused"},
		{in: "s3://b/k#x", wantErr: "fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := bucket.Parse(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), "pw", "a password is never echoed")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	l, err := bucket.Parse("s3://b/pre/fix/?region=x")
	require.NoError(t, err)
	assert.Equal(t, "s3://b/pre/fix/v.mp4?region=x", l.Join("v.mp4").String())
	assert.True(t, bucket.IsURL("s3://b/k"))
	assert.False(t, bucket.IsURL("file:///tmp/k"))
	assert.False(t, bucket.IsURL("images/k.png"))
}

func digest(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

func source(p []byte) bucket.Source {
	return bucket.Source{
		Open:        func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p)), nil },
		Size:        int64(len(p)),
		SHA256:      digest(p),
		ContentType: "video/mp4",
	}
}

// TestUploadIsContentAddressed: an object with the same size and digest is
// not sent again; another content is; what was uploaded is read back, listed
// and reachable through a pre-signed URL without credentials.
func TestUploadIsContentAddressed(t *testing.T) {
	prefix, err := bucket.Parse(fakeS3(t, "renders"))
	require.NoError(t, err)
	c := bucket.NewClient()
	t.Cleanup(func() { require.NoError(t, c.Close()); require.NoError(t, c.Close()) })
	ctx := t.Context()
	obj := prefix.Join("batch/a.mp4")

	_, err = c.Stat(ctx, obj)
	require.ErrorIs(t, err, bucket.ErrNotFound)

	first := []byte("first video")
	wrote, err := c.Upload(ctx, obj, source(first))
	require.NoError(t, err)
	assert.True(t, wrote)
	wrote, err = c.Upload(ctx, obj, source(first))
	require.NoError(t, err)
	assert.False(t, wrote, "the same content is not uploaded twice")

	a, err := c.Stat(ctx, obj)
	require.NoError(t, err)
	assert.Equal(t, bucket.Attrs{Size: int64(len(first)), ContentType: "video/mp4", SHA256: digest(first)}, a)

	second := []byte("other video")
	wrote, err = c.Upload(ctx, obj, source(second))
	require.NoError(t, err)
	assert.True(t, wrote, "same size, other digest: uploaded")
	got, err := c.Read(ctx, obj)
	require.NoError(t, err)
	assert.Equal(t, second, got)

	signed, err := c.Presign(ctx, obj, time.Hour)
	require.NoError(t, err)
	assert.Contains(t, signed, "X-Amz-Signature")
	resp, err := http.Get(signed)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, second, body)

	_, err = c.Upload(ctx, prefix.Join("batch/b.mp4"), source([]byte("b")))
	require.NoError(t, err)
	listed, err := c.List(ctx, prefix.Join("batch"))
	require.NoError(t, err)
	var keys []string
	for _, l := range listed {
		keys = append(keys, l.Key)
	}
	assert.Equal(t, []string{"batch/a.mp4", "batch/b.mp4"}, keys)
}

// TestUploadOfAFileThatChangesIsRefused: a file that is not the size it
// was hashed at leaves no object behind.
func TestUploadOfAFileThatChangesIsRefused(t *testing.T) {
	prefix, err := bucket.Parse(fakeS3(t, "renders"))
	require.NoError(t, err)
	c := bucket.NewClient()
	t.Cleanup(func() { _ = c.Close() })
	src := source([]byte("0123456789"))
	src.Open = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("0123")), nil }
	obj := prefix.Join("short.mp4")
	_, err = c.Upload(t.Context(), obj, src)
	require.ErrorContains(t, err, "the file changed while it was uploaded")
	_, err = c.Stat(t.Context(), obj)
	assert.ErrorIs(t, err, bucket.ErrNotFound, "an aborted upload leaves no object")
}
