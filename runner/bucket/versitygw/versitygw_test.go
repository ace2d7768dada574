package versitygw_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/bucket/versitygw"
)

// TestVersionPinned: the version the tests name is the one the tools
// module pins, so a bump is made in one place and seen in both.
func TestVersionPinned(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", ".ci", "tools", "versitygw", "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(raw), "\tgithub.com/versity/versitygw "+versitygw.Version+" ")
	assert.Contains(t, string(raw), "tool github.com/versity/versitygw/cmd/versitygw")
}

// TestStartServesSignedRequests: a started server holds buckets and
// objects, serves a pre-signed GET, and refuses one signed long ago.
func TestStartServesSignedRequests(t *testing.T) {
	srv := versitygw.Start(t)
	assert.True(t, strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:"), srv.Endpoint)
	srv.CreateBucket(t, "harness")
	srv.Put(t, "harness", "dir/a.txt", []byte("hello"))

	get := func(u string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		require.NoError(t, err)
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get(srv.PresignGet(t, "harness", "dir/a.txt", time.Minute, 0))
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "hello", body)
	code, _ = get(srv.PresignGet(t, "harness", "dir/a.txt", time.Minute, -time.Hour))
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = get(srv.Endpoint + "/harness/dir/a.txt")
	assert.Equal(t, http.StatusForbidden, code, "an unsigned request is refused")
}

// TestLaunchAndClose: the API a benchmark uses starts a server, makes a
// bucket, says how a child process reaches it, and stops it; Close is safe
// twice, and a server that cannot start is an error, not a hang.
func TestLaunchAndClose(t *testing.T) {
	bin, err := versitygw.Find()
	require.NoError(t, err)
	srv, err := versitygw.Launch(t.Context(), bin, t.TempDir())
	require.NoError(t, err)
	require.NoError(t, srv.MakeBucket(t.Context(), "bench"))
	env := strings.Join(srv.Env(), "\n")
	assert.Contains(t, env, "AWS_ENDPOINT_URL_S3="+srv.Endpoint)
	assert.Contains(t, env, "AWS_SECRET_ACCESS_KEY="+srv.Secret)
	srv.Close()
	srv.Close()
	assert.Error(t, srv.MakeBucket(t.Context(), "after"), "a closed server answers nothing")

	_, err = versitygw.Launch(t.Context(), filepath.Join(t.TempDir(), "no-such-binary"), t.TempDir())
	assert.Error(t, err)
}
