package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pikabatch/pikabatch/runner/notify"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup starts a webhook answering status, and returns its URL with a
// secret path, what it received, and the log Post writes.
func setup(t *testing.T, status int) (string, chan map[string]any, *bytes.Buffer) {
	t.Helper()
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		b, _ := io.ReadAll(r.Body)
		assert.NoError(t, json.Unmarshal(b, &p))
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		got <- p
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks/s3cr3t-path", got, &bytes.Buffer{}
}

// TestPostSendsAndLogsOnlyTheHost: the payload arrives as JSON, also when
// the run's context is cancelled (a run stopped by a signal says so), and
// the log names the webhook's host, never its secret path.
func TestPostSendsAndLogsOnlyTheHost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"accepted", http.StatusOK, "notified"},
		{"refused", http.StatusForbidden, "notify: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, got, logs := setup(t, tc.status)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			notify.Post(ctx, u, map[string]string{"text": "done"}, http.DefaultClient, slog.New(slog.NewTextHandler(logs, nil)))
			assert.Equal(t, "done", (<-got)["text"])
			assert.Contains(t, logs.String(), tc.want)
			assert.NotContains(t, logs.String(), "s3cr3t")
		})
	}
}

// TestPostUnreachableIsLogged: a webhook that cannot be reached is a
// warning without its URL's path; Post returns.
func TestPostUnreachableIsLogged(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/hooks/s3cr3t-path"
	srv.Close()
	var logs bytes.Buffer
	notify.Post(t.Context(), u, struct{}{}, &http.Client{}, slog.New(slog.NewTextHandler(&logs, nil)))
	assert.Contains(t, logs.String(), "notify: not sent")
	assert.NotContains(t, logs.String(), "s3cr3t")
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	require.NoError(t, notify.CheckURL("https://hooks.example.com/x"))
	for _, bad := range []string{"", "hooks.example.com/x", "ftp://hooks.example.com/x", "https:///x", "://"} {
		assert.ErrorIs(t, notify.CheckURL(bad), notify.ErrBadURL, bad)
	}
}
