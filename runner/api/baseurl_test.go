package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    string
		wantErr error // nil: accepted; errAny: any error
	}{
		{name: "default", base: ""},
		{name: "https", base: "https://model-api.runcomfy.net"},
		{name: "https with prefix", base: "https://proxy.example.com/runcomfy/"},
		{name: "http 127.0.0.1", base: "http://127.0.0.1:8080"},
		{name: "http 127.1.2.3", base: "http://127.1.2.3:8080"},
		{name: "http localhost", base: "http://localhost:8080"},
		{name: "http LOCALHOST", base: "http://LOCALHOST:8080"},
		{name: "http ::1", base: "http://[::1]:8080"},
		{name: "http example.com", base: "http://example.com", wantErr: ErrInsecureBase},
		{name: "http LAN address", base: "http://192.168.1.10:8080", wantErr: ErrInsecureBase},
		{name: "http localhost lookalike", base: "http://localhost.example.com", wantErr: ErrInsecureBase},
		{name: "http 128.0.0.1", base: "http://128.0.0.1", wantErr: ErrInsecureBase},
		{name: "ftp", base: "ftp://model-api.runcomfy.net", wantErr: errAny},
		{name: "no host", base: "https:///v1", wantErr: errAny},
		{name: "relative", base: "model-api.runcomfy.net", wantErr: errAny},
		{name: "credentials", base: "https://user:pw@model-api.runcomfy.net", wantErr: errAny},
		{name: "query", base: "https://model-api.runcomfy.net/?a=b", wantErr: errAny},
		{name: "unparsable", base: "https://[::1", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(Config{BaseURL: tt.base, Token: testToken})
			switch tt.wantErr {
			case nil:
				require.NoError(t, err)
				c.CloseIdleConnections()
			case errAny:
				require.Error(t, err)
				assert.NotContains(t, err.Error(), "pw")
			default:
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r","status":"in_queue"}`))
	f := setup(t, srv, func(c *Config) { c.BaseURL += "/prefix/" })
	ctx := t.Context()

	_, err := f.client.Submit(ctx, "my org/model v1%/x", map[string]any{}, SubmitOptions{})
	require.NoError(t, err)
	_, err = f.client.Status(ctx, "a/b?c d")
	require.NoError(t, err)
	_, err = f.client.Result(ctx, "id-1")
	require.NoError(t, err)
	require.NoError(t, f.client.Cancel(ctx, "id-1"))

	var uris []string
	for _, r := range srv.Requests() {
		uris = append(uris, r.Method+" "+r.URI)
	}
	assert.Equal(t, []string{
		"POST /prefix/v1/models/my%20org/model%20v1%25/x",
		"GET /prefix/v1/requests/a%2Fb%3Fc%20d/status",
		"GET /prefix/v1/requests/id-1/result?include_cost=true",
		"POST /prefix/v1/requests/id-1/cancel",
	}, uris)

	for _, m := range []string{"", "/pika", "pika/", "pika//x", "pika/../v1/requests/x/cancel", "./x"} {
		_, err := f.client.Submit(ctx, m, nil, SubmitOptions{})
		require.ErrorIs(t, err, ErrInvalidID, "model %q", m)
	}
	for _, id := range []string{"", ".", ".."} {
		_, err := f.client.Status(ctx, id)
		require.ErrorIs(t, err, ErrInvalidID, "id %q", id)
		_, err = f.client.Result(ctx, id)
		require.ErrorIs(t, err, ErrInvalidID, "id %q", id)
		require.ErrorIs(t, f.client.Cancel(ctx, id), ErrInvalidID, "id %q", id)
	}
	assert.Equal(t, 4, srv.Count(), "invalid IDs must not be sent")
}

// TestBaseURLVersion: a base given with or without its trailing /v1 (as
// RunComfy's MCP server is configured) builds the same paths.
func TestBaseURLVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		suffix string
		prefix string // before /v1/... on the wire
	}{
		{suffix: "", prefix: ""},
		{suffix: "/", prefix: ""},
		{suffix: "/v1", prefix: ""},
		{suffix: "/v1/", prefix: ""},
		{suffix: "/proxy", prefix: "/proxy"},
		{suffix: "/proxy/v1", prefix: "/proxy"},
		{suffix: "/v1x", prefix: "/v1x"},
		{suffix: "/v1/v1", prefix: "/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.suffix, func(t *testing.T) {
			t.Parallel()
			srv := serve(reply(http.StatusOK, `{"request_id":"r","status":"in_queue"}`))
			f := setup(t, srv, func(c *Config) { c.BaseURL += tt.suffix })
			_, err := f.client.Submit(t.Context(), model, map[string]any{}, SubmitOptions{})
			require.NoError(t, err)
			_, err = f.client.Status(t.Context(), "r")
			require.NoError(t, err)
			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			assert.Equal(t, tt.prefix+"/v1/models/"+model, reqs[0].URI)
			assert.Equal(t, tt.prefix+"/v1/requests/r/status", reqs[1].URI)
		})
	}
	c, err := New(Config{BaseURL: "https://model-api.runcomfy.net/v1", Token: testToken})
	require.NoError(t, err)
	assert.Equal(t, "https://model-api.runcomfy.net", c.prefix)
}

func TestRedirects(t *testing.T) {
	t.Parallel()

	t.Run("to another origin", func(t *testing.T) {
		t.Parallel()
		other := serve(reply(http.StatusOK, `{"request_id":"stolen","status":"completed"}`))
		otherSrv := httptest.NewServer(other)
		t.Cleanup(otherSrv.Close)
		for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			srv := serve(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, otherSrv.URL+r.URL.Path, code)
			})
			f := setup(t, srv)
			_, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
			require.ErrorIs(t, err, ErrRedirect, "code %d", code)
			assert.NotErrorIs(t, err, ErrUncertain)
			_, err = f.client.Status(t.Context(), "r")
			require.ErrorIs(t, err, ErrRedirect, "code %d", code)
			assert.Equal(t, 2, srv.Count(), "a refused redirect is not retried")
		}
		assert.Zero(t, other.Count(), "the other origin must see no request, let alone the token")
	})

	t.Run("same origin keeps the token", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/v1/requests/r2/status", http.StatusFound)
		}, reply(http.StatusOK, `{"status":"in_queue"}`))
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		assert.Equal(t, "Bearer "+string(testToken), reqs[1].Header.Get("Authorization"))
	})

	t.Run("POST turned into GET", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
		}, reply(http.StatusOK, `{}`))
		f := setup(t, srv)
		_, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
		require.ErrorIs(t, err, ErrRedirect)
		assert.NotErrorIs(t, err, ErrUncertain)
		assert.Equal(t, 1, srv.Count())
	})
}
