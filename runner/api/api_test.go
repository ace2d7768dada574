package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testToken is what every test client sends; no error or log may contain it.
const testToken = Token("sk-test-S3CRET-0123456789abcdef")

// sleeper records backoff waits instead of waiting.
type sleeper struct {
	mu     sync.Mutex
	delays []time.Duration
	hook   func() // runs inside Sleep, e.g. to cancel the ctx
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return ctx.Err()
}

func (s *sleeper) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// seen is one request as the server received it.
type seen struct {
	Method string
	URI    string // RequestURI: the path as sent, escapes included
	Header http.Header
	Body   []byte
}

// script serves request i with steps[i]; the last step repeats. It records
// every request.
type script struct {
	mu    sync.Mutex
	reqs  []seen
	steps []http.HandlerFunc
}

func serve(steps ...http.HandlerFunc) *script { return &script{steps: steps} }

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := len(s.reqs)
	s.reqs = append(s.reqs, seen{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: body})
	step := s.steps[min(i, len(s.steps)-1)]
	s.mu.Unlock()
	step(w, r)
}

func (s *script) Requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

func (s *script) Count() int { return len(s.Requests()) }

// reply answers code with body; headers come as name, value pairs.
func reply(code int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if w.Header().Get("Content-Type") == "" && strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// hangup reads the request and drops the connection without answering: the
// server may have acted on it.
func hangup(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if !assertNoError(t, err) {
			return
		}
		_ = conn.Close()
	}
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

type fixture struct {
	client *Client
	srv    *httptest.Server
	sleep  *sleeper
}

// setup starts h on loopback and returns a client for it. The client's
// backoff is base 100ms, max 1s, jitter fixed at one half, and it never
// really sleeps.
func setup(t *testing.T, h http.Handler, opts ...func(*Config)) *fixture {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	sl := &sleeper{}
	cfg := Config{
		BaseURL:     srv.URL,
		Token:       testToken,
		Logger:      testLogger(t),
		Sleep:       sl.Sleep,
		Rand:        func() float64 { return 0.5 },
		BackoffBase: 100 * time.Millisecond,
		BackoffMax:  time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return &fixture{client: c, srv: srv, sleep: sl}
}

// testLogger sends the client's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
