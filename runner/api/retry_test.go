package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
)

func TestRetries(t *testing.T) {
	t.Parallel()
	ok := reply(http.StatusOK, `{"status":"in_progress"}`)
	busy := reply(http.StatusServiceUnavailable, `{"message":"busy"}`)

	t.Run("503 twice then 200", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, busy, ok)
		f := setup(t, srv)
		st, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, StatusInProgress, st.Status)
		assert.Equal(t, Calls{Status: 3, Retries: 2}, f.client.Calls())
		// Full jitter at 0.5 of 100ms, then of 200ms.
		assert.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}, f.sleep.Delays())
	})

	t.Run("429 with Retry-After", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusTooManyRequests, `{"message":"slow down"}`, "Retry-After", "2"), ok)
		f := setup(t, srv)
		_, err := f.client.Result(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{2 * time.Second}, f.sleep.Delays())
		assert.Equal(t, Calls{Result: 2, Retries: 1, RateLimited: 1, PollsRateLimited: 1}, f.client.Calls())
	})

	t.Run("Retry-After shorter than backoff", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusServiceUnavailable, ``, "Retry-After", "0"), ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{50 * time.Millisecond}, f.sleep.Delays())
	})

	t.Run("408 and 500s", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusRequestTimeout, ``), reply(http.StatusInternalServerError, ``),
			reply(http.StatusBadGateway, ``), reply(http.StatusGatewayTimeout, ``), ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, int64(4), f.client.Calls().Retries)
	})

	t.Run("error_code 500001 on a GET", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusBadRequest, `{"error_code":500001,"error_message":"retry"}`),
			reply(http.StatusOK, `{"error_code":"500001","error_message":"retry"}`), ok)
		f := setup(t, srv)
		st, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, StatusInProgress, st.Status)
		assert.Equal(t, int64(2), f.client.Calls().Retries)
	})

	t.Run("submit retried on 429", func(t *testing.T) {
		t.Parallel()
		limited := reply(http.StatusTooManyRequests, ``)
		srv := serve(limited, limited, reply(http.StatusOK, `{"request_id":"r"}`))
		f := setup(t, srv)
		resp, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
		require.NoError(t, err)
		assert.Equal(t, "r", resp.RequestID)
		assert.Equal(t, Calls{Submit: 3, Retries: 2, RateLimited: 2}, f.client.Calls())
		reqs := srv.Requests()
		assert.Equal(t, reqs[0].Body, reqs[2].Body, "every attempt sends the whole body")
	})

	t.Run("200 with a temporary error_code", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusOK, `{"error_code":503,"message":"overloaded"}`), ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count())
	})

	t.Run("body cut off", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"status":`)
		}, ok)
		f := setup(t, srv)
		_, err := f.client.Status(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count())
	})

	t.Run("connection dropped", func(t *testing.T) {
		t.Parallel()
		srv := serve(hangup(t), ok)
		f := setup(t, srv)
		_, err := f.client.Result(t.Context(), "r")
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count())
	})

	t.Run("exhausted", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv, func(c *Config) { c.MaxRetries = 3 })
		clock := clocktest.New(time.Unix(1_800_000_000, 0))
		f.client.now = clock.Now
		f.sleep.hook = func() { clock.Advance(time.Second) }
		_, err := f.client.Status(t.Context(), "r")
		require.ErrorIs(t, err, ErrUnavailable)
		var se *StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusServiceUnavailable, se.Code)
		assert.Equal(t, "busy", se.Message)
		var ue *UnavailableError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, 4, ue.Attempts)
		assert.Equal(t, 3*time.Second, ue.Failing, "from the first attempt to the last")
		assert.EqualError(t, err, "API unavailable after 4 attempts: status: HTTP 503: busy")
		assert.Equal(t, 4, srv.Count())
		assert.Equal(t, Calls{Status: 4, Retries: 3}, f.client.Calls())
		assert.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}, f.sleep.Delays())
	})

	t.Run("no retries", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv, func(c *Config) { c.MaxRetries = -1 })
		_, err := f.client.Status(t.Context(), "r")
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Equal(t, 1, srv.Count())
	})

	t.Run("cancelled while backing off", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		f.sleep.hook = cancel
		_, err := f.client.Status(ctx, "r")
		require.ErrorIs(t, err, context.Canceled)
		var se *StatusError
		require.ErrorAs(t, err, &se, "the last error is kept")
		assert.NotErrorIs(t, err, ErrUnavailable)
		assert.Equal(t, 1, srv.Count())
		assert.Zero(t, f.client.Calls().Retries)
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Token: testToken, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
		Rand: func() float64 { return 0.999999 }})
	require.NoError(t, err)
	near := func(want time.Duration, n int) {
		t.Helper()
		assert.InDelta(t, want, c.backoff(n, nil), float64(time.Millisecond), "retry %d", n)
	}
	near(100*time.Millisecond, 0)
	near(200*time.Millisecond, 1)
	near(800*time.Millisecond, 3)
	near(time.Second, 4)
	near(time.Second, 1000) // no overflow

	late := &StatusError{Code: http.StatusTooManyRequests, RetryAfter: 5 * time.Second}
	assert.Equal(t, 5*time.Second, c.backoff(0, fmt.Errorf("wrapped: %w", late)))

	zero, err := New(Config{Token: testToken, Rand: func() float64 { return 0 }})
	require.NoError(t, err)
	assert.Zero(t, zero.backoff(3, nil), "full jitter reaches zero")
	bad, err := New(Config{Token: testToken, Rand: func() float64 { return 7 }})
	require.NoError(t, err)
	assert.Zero(t, bad.backoff(3, nil), "an out-of-range Rand is ignored")
}

func TestSubmitUncertain(t *testing.T) {
	t.Parallel()
	received := make(chan struct{}) // "no answer in time": the server has the submit
	var receivedOnce sync.Once
	tests := []struct {
		name string
		step func(t *testing.T) http.HandlerFunc
		opts func(*Config)
	}{
		{name: "connection dropped after the body was read", step: hangup},
		{name: "200 not JSON", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusOK, `<html>ok</html>`) }},
		{name: "200 without request_id", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusOK, `{"status":"in_queue"}`) }},
		{name: "202 empty", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusAccepted, ``) }},
		// A gateway may give up after the API created the job.
		{name: "500", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusInternalServerError, `{"message":"oops"}`) }},
		{name: "502", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusBadGateway, `<html>bad gateway</html>`) }},
		{name: "503 with Retry-After", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusServiceUnavailable, ``, "Retry-After", "1")
		}},
		{name: "504", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusGatewayTimeout, ``) }},
		{name: "408", step: func(*testing.T) http.HandlerFunc { return reply(http.StatusRequestTimeout, ``) }},
		{name: "200 with a 5xx error_code", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusOK, `{"error_code":503,"message":"overloaded"}`)
		}},
		// The API's code for "retry with backoff" says nothing of whether the
		// job was created: on a submit that is not known.
		{name: "400 with error_code 500001", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusBadRequest, `{"error_code":500001,"error_message":"internal error, retry with backoff"}`)
		}},
		{name: "200 with error_code 500001", step: func(*testing.T) http.HandlerFunc {
			return reply(http.StatusOK, `{"error_code":500001,"error_message":"internal error"}`)
		}},
		{name: "200 body cut off", step: func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, `{"request_id":`)
			}
		}},
		{
			name: "no answer in time",
			step: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					receivedOnce.Do(func() { close(received) })
					<-r.Context().Done()
				}
			},
			// The timeout takes effect once the server has the submit: on a
			// loaded machine 50 ms could pass before the request was even
			// written, and the client rightly re-sent it.
			opts: func(c *Config) {
				c.RequestTimeout = 50 * time.Millisecond
				c.HTTPClient = &http.Client{Transport: &heldTimeout{received: received}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(tt.step(t), reply(http.StatusOK, `{"request_id":"dup"}`))
			opts := []func(*Config){}
			if tt.opts != nil {
				opts = append(opts, tt.opts)
			}
			f := setup(t, srv, opts...)
			resp, err := f.client.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
			require.ErrorIs(t, err, ErrUncertain)
			var ue *UncertainError
			require.ErrorAs(t, err, &ue)
			assert.Zero(t, resp)
			assert.NotErrorIs(t, err, ErrUnavailable)
			assert.Equal(t, 1, srv.Count(), "an uncertain submit is never re-sent")
			assert.Equal(t, Calls{Submit: 1}, f.client.Calls())
			assert.Empty(t, f.sleep.Delays())
		})
	}
}
