package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenRedacted(t *testing.T) {
	t.Parallel()
	secret := string(testToken)
	cfg := Config{BaseURL: "https://model-api.runcomfy.net", Token: testToken}
	c, err := New(cfg)
	require.NoError(t, err)

	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		out = append(out,
			fmt.Sprintf(verb, testToken),
			fmt.Sprintf(verb, cfg),
			fmt.Sprintf(verb, &cfg),
			fmt.Sprintf(verb, c),
			fmt.Sprintf(verb, []Token{testToken}),
			fmt.Sprintf(verb, map[string]Token{"t": testToken}),
		)
	}
	assert.Equal(t, "[redacted]", fmt.Sprintf("%v", testToken))
	assert.Equal(t, `"[redacted]"`, fmt.Sprintf("%q", testToken))
	assert.Equal(t, "[redacted]", testToken.String())
	assert.Equal(t, "[redacted]", testToken.GoString())
	out = append(out, fmt.Sprint(testToken), fmt.Sprintln(cfg), c.String())

	j, err := json.Marshal(struct {
		Token Token
		Map   map[string]Token
	}{testToken, map[string]Token{"t": testToken}})
	require.NoError(t, err)
	assert.Equal(t, `{"Token":"[redacted]","Map":{"t":"[redacted]"}}`, string(j))
	out = append(out, string(j))

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("config", "token", testToken, "cfg", cfg, "client", c)
	}
	out = append(out, logs.String())

	for _, s := range out {
		assert.NotContains(t, s, secret)
		assert.NotContains(t, s, "S3CRET")
	}
}

// TestTokenNeverLeaks fails every kind of request against servers that echo
// the token back, and checks every error string and log line.
func TestTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auth := func(r *http.Request) string { return r.Header.Get("Authorization") }

	other := serve(reply(http.StatusOK, `{}`))
	otherSrv := httptest.NewServer(other)
	t.Cleanup(otherSrv.Close)

	steps := map[string]http.HandlerFunc{
		"401 echo": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "bad token: "+auth(r), http.StatusUnauthorized)
		},
		"422 json echo": func(w http.ResponseWriter, r *http.Request) {
			reply(http.StatusUnprocessableEntity, `{"detail":[{"msg":"`+auth(r)+`"}]}`)(w, r)
		},
		"503 echo": func(w http.ResponseWriter, r *http.Request) {
			reply(http.StatusServiceUnavailable, `{"message":"`+auth(r)+`"}`)(w, r)
		},
		"429": reply(http.StatusTooManyRequests, ``, "Retry-After", "1"),
		"200 garbage echo": func(w http.ResponseWriter, r *http.Request) {
			reply(http.StatusOK, "<p>"+auth(r)+"</p>")(w, r)
		},
		"200 error_code echo": func(w http.ResponseWriter, r *http.Request) {
			reply(http.StatusOK, `{"error_code":"`+strings.TrimPrefix(auth(r), "Bearer ")+`","status":""}`)(w, r)
		},
		"200 unknown status echo": func(w http.ResponseWriter, r *http.Request) {
			reply(http.StatusOK, `{"request_id":"x","status":"`+auth(r)+`"}`)(w, r)
		},
		"hangup": hangup(t),
		"redirect with the token in the URL": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, otherSrv.URL+"/steal?t="+strings.TrimPrefix(auth(r), "Bearer "), http.StatusTemporaryRedirect)
		},
		"redirect to a host named after the token": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://"+strings.ToLower(strings.TrimPrefix(auth(r), "Bearer "))+".invalid/", http.StatusFound)
		},
	}

	var errs []error
	run := func(c *Client) {
		ctx := t.Context()
		_, err := c.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
		errs = append(errs, err)
		_, err = c.Status(ctx, "r")
		errs = append(errs, err)
		_, err = c.Result(ctx, "r")
		errs = append(errs, err)
		errs = append(errs, c.Cancel(ctx, "r"))
	}
	for name, step := range steps {
		srv := httptest.NewServer(step)
		t.Cleanup(srv.Close)
		c, err := New(Config{BaseURL: srv.URL, Token: Token(strings.ToLower(string(testToken))), Logger: logger.With("case", name),
			MaxRetries: 1, Sleep: (&sleeper{}).Sleep})
		require.NoError(t, err)
		t.Cleanup(c.CloseIdleConnections)
		run(c)
	}
	down, err := New(Config{BaseURL: "http://" + closedAddr(t), Token: Token(strings.ToLower(string(testToken))), Logger: logger,
		MaxRetries: 1, Sleep: (&sleeper{}).Sleep, RequestTimeout: time.Second})
	require.NoError(t, err)
	run(down)

	secret := strings.ToLower(string(testToken))
	for _, err := range errs {
		if err == nil {
			continue // e.g. a cancel answered 200 with an unknown status
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assert.NotContains(t, s, secret)
			assert.NotContains(t, s, "s3cret")
		}
	}
	assert.Zero(t, other.Count(), "the token went to another origin")
	text := logs.String()
	assert.Contains(t, text, `"msg":"retrying api request"`, "retries were logged (at debug level)")
	assert.Contains(t, text, "[redacted]", "the echoed token was seen and removed")
	assert.NotContains(t, text, secret)
	assert.NotContains(t, text, "s3cret")
	assert.NotContains(t, strings.ToLower(text), "bearer s")
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
