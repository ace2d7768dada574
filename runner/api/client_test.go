package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

const model = "pika/pika-2-2/image-to-video"

func TestNewToken(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	require.ErrorIs(t, err, ErrNoToken)
	for _, tok := range []Token{"sk-abc\n", "sk abc", "sk-\x00", "sk-é"} {
		_, err := New(Config{Token: tok})
		require.ErrorIs(t, err, ErrInvalidToken, "%q", string(tok))
		assert.NotContains(t, err.Error(), "sk")
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Token: testToken})
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	assert.Equal(t, "https://model-api.runcomfy.net", c.prefix)
	assert.Equal(t, DefaultRequestTimeout, c.timeout)
	assert.Equal(t, DefaultMaxRetries, c.maxRetries)
	assert.Equal(t, DefaultBackoffBase, c.retryWait.Base)
	assert.Equal(t, DefaultBackoffMax, c.retryWait.Max)
	require.NotNil(t, c.hc.CheckRedirect)
	tr, ok := c.hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.NotZero(t, tr.TLSHandshakeTimeout)
	assert.Equal(t, 64, tr.MaxIdleConnsPerHost)

	c2, err := New(Config{Token: testToken, MaxRetries: -1, HTTPClient: http.DefaultClient})
	require.NoError(t, err)
	assert.Equal(t, 0, c2.maxRetries)
	assert.Nil(t, http.DefaultClient.CheckRedirect, "the caller's client must not be changed")
}

var errAny = errors.New("any error")

func TestLimiter(t *testing.T) {
	t.Parallel()
	busy := reply(http.StatusServiceUnavailable, ``)
	ok := reply(http.StatusOK, `{"status":"in_queue"}`)
	// A limiter with no refill holds exactly burst tokens, so the server's
	// count shows how many waits let a request through. With a deadline on
	// ctx, a wait for a token that never comes fails at once.
	withDeadline := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("every retry waits", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy)
		f := setup(t, srv, func(c *Config) { c.Limiter = rate.NewLimiter(0, 3); c.MaxRetries = 10 })
		ctx := withDeadline(t)
		_, err := f.client.Status(ctx, "r")
		require.ErrorContains(t, err, "rate limiter")
		var se *StatusError
		require.ErrorAs(t, err, &se, "the last answer is kept")
		assert.Equal(t, 3, srv.Count())
		assert.Equal(t, int64(3), f.client.Calls().Status)
	})

	t.Run("every call waits", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, busy, ok)
		f := setup(t, srv, func(c *Config) { c.Limiter = rate.NewLimiter(0, 3) })
		ctx := withDeadline(t)
		_, err := f.client.Status(ctx, "r")
		require.NoError(t, err)
		_, err = f.client.Submit(ctx, model, map[string]any{}, SubmitOptions{})
		require.ErrorContains(t, err, "rate limiter")
		assert.NotErrorIs(t, err, ErrUncertain)
		assert.Equal(t, 3, srv.Count())
	})

	t.Run("redirects wait", func(t *testing.T) {
		t.Parallel()
		srv := serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/v1/requests/r2/status", http.StatusFound)
		}, ok)
		f := setup(t, srv, func(c *Config) { c.Limiter = rate.NewLimiter(0, 2) })
		ctx := withDeadline(t)
		_, err := f.client.Status(ctx, "r")
		require.NoError(t, err)
		_, err = f.client.Status(ctx, "r")
		require.ErrorContains(t, err, "rate limiter")
		assert.Equal(t, 2, srv.Count())
	})
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusServiceUnavailable, ``), reply(http.StatusOK, `{"status":"in_progress"}`))
	f := setup(t, srv)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := f.client.Status(t.Context(), fmt.Sprintf("r%d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	calls := f.client.Calls()
	assert.Equal(t, int64(n+1), calls.Status)
	assert.Equal(t, int64(1), calls.Retries)
}
