package runner

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// noAPI is an API that must not be called.
type noAPI struct{ t *testing.T }

func (a noAPI) Submit(context.Context, string, any, api.SubmitOptions) (api.SubmitResponse, error) {
	a.t.Error("submit called")
	return api.SubmitResponse{}, context.Canceled
}
func (a noAPI) Status(context.Context, string) (api.Status, error) {
	a.t.Error("status called")
	return api.Status{}, context.Canceled
}
func (a noAPI) Result(context.Context, string) (api.Result, error) {
	a.t.Error("result called")
	return api.Result{}, context.Canceled
}
func (a noAPI) Cancel(context.Context, string) error {
	a.t.Error("cancel called")
	return context.Canceled
}

// TestDownloadCollectsATimedOutJob: a job past --job-timeout that the API
// later completes is paid for; whatever state the poller left it in, a
// download of its outputs records it done.
func TestDownloadCollectsATimedOutJob(t *testing.T) {
	t.Parallel()
	video := []byte("a late but paid render")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(video) }))
	defer ts.Close()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, ".pikabatch.db"), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	// Its cost already known: the download has nothing to ask the API.
	cost := 0.044
	job := store.Job{Key: "late", RequestID: "req-1", State: store.StateTimedOut, CostUSD: &cost,
		Outputs: []store.Output{{URL: ts.URL + "/late.mp4?sig=x"}}}
	require.NoError(t, st.Put(t.Context(), job))
	rr, err := New(Config{Model: "m", OutDir: dir}, noAPI{t}, st)
	require.NoError(t, err)
	r := newRun(rr)
	defer r.files.dirSync.Close()

	got, err := r.download(t.Context(), job)
	require.NoError(t, err)
	assert.Equal(t, store.StateDone, got.State)
	require.Len(t, got.Outputs, 1)
	assert.Equal(t, "late.mp4", got.Outputs[0].Path)
	b, err := os.ReadFile(filepath.Join(dir, "late.mp4"))
	require.NoError(t, err)
	assert.Equal(t, video, b)
}

// TestResumedDownloadAboveTheCapDeletesItsPart: a download cut off in an
// earlier run left its part file to resume; resumed under a cap the file
// exceeds (the host's Content-Range gives the whole size), it is refused
// and the part is deleted, as a fresh download over the cap leaves none.
func TestResumedDownloadAboveTheCapDeletesItsPart(t *testing.T) {
	t.Parallel()
	const size = 4096
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			_, _ = w.Write(make([]byte, size))
			return
		}
		w.Header().Set("Content-Range", "bytes 100-"+strconv.Itoa(size-1)+"/"+strconv.Itoa(size))
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(make([]byte, size-100))
	}))
	defer ts.Close()
	dir := t.TempDir()
	part := filepath.Join(dir, partName("big", 0))
	require.NoError(t, os.WriteFile(part, make([]byte, 100), 0o600))
	d := newDownloader(DownloadConfig{MaxBytes: 1024}, OSFS{}, ts.Client(), dir, slog.New(slog.DiscardHandler))

	_, err := d.fetch(t.Context(), "big", 0, 1, store.Output{URL: ts.URL + "/big.mp4"}, &counters{})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.NoFileExists(t, part)
}
