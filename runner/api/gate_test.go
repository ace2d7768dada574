package api

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestSendGate(t *testing.T) {
	t.Parallel()
	// A submit is retried only after a 429 (a 503 may have created a job).
	busy := reply(http.StatusTooManyRequests, `{"message":"busy"}`)
	created := reply(http.StatusOK, `{"request_id":"r1"}`)
	errClosed := errors.New("gate closed")

	t.Run("closing between attempts stops the retries unsent", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, busy, created)
		f := setup(t, srv)
		var asked atomic.Int32
		gate := func() error {
			if asked.Add(1) > 1 {
				return errClosed // closes while the first retry waits
			}
			return nil
		}
		_, err := f.client.Submit(t.Context(), "m", map[string]string{"image": "x"}, SubmitOptions{SendGate: gate})
		require.ErrorIs(t, err, errClosed)
		assert.NotErrorIs(t, err, ErrUncertain, "the API provably took nothing")
		assert.Equal(t, 1, srv.Count(), "only the attempt before the gate closed reached the API")
		assert.EqualValues(t, 2, asked.Load())
	})

	t.Run("open gate changes nothing", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, created)
		f := setup(t, srv)
		open := SubmitOptions{SendGate: func() error { return nil }}
		resp, err := f.client.Submit(t.Context(), "m", map[string]string{"image": "x"}, open)
		require.NoError(t, err)
		assert.Equal(t, "r1", resp.RequestID)
		assert.Equal(t, 2, srv.Count())
	})
}

func TestSubmitHold(t *testing.T) {
	t.Parallel()
	full := reply(http.StatusTooManyRequests, `{"error_message":"too many requests"}`, "Retry-After", "2")
	created := reply(http.StatusOK, `{"request_id":"r1"}`)

	t.Run("held: sent again at once, not a retry, rate kept", func(t *testing.T) {
		t.Parallel()
		srv := serve(full, full, full, created)
		lim := rate.NewLimiter(100, 1) // not bursting: a 429 cuts the rate
		f := setup(t, srv, func(c *Config) { c.Limiter = lim; c.MaxRetries = 1 })
		var asked []time.Duration
		hold := func(_ context.Context, refusal Refusal) (HoldDecision, error) {
			asked = append(asked, refusal.RetryAfter)
			if len(asked) > 1 {
				return Held, nil
			}
			return AsRateLimit, nil // the first is taken as the rate
		}
		resp, err := f.client.Submit(t.Context(), "m", map[string]string{"image": "x"}, SubmitOptions{Hold: hold})
		require.NoError(t, err, "held refusals do not use up MaxRetries")
		assert.Equal(t, "r1", resp.RequestID)
		assert.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, asked)
		assert.Equal(t, []time.Duration{2 * time.Second}, f.sleep.Delays(), "only the first refusal backs off")
		calls := f.client.Calls()
		assert.EqualValues(t, 1, calls.Retries)
		assert.EqualValues(t, 3, calls.RateLimited)
		assert.Zero(t, calls.PollsRateLimited, "submits' refusals only")
		assert.EqualValues(t, 1, calls.Slowdowns, "a refusal held for room does not slow the rate")
		assert.InDelta(t, 50, float64(lim.Limit()), 1, "halved once (and recovering since)")
	})

	t.Run("backed off without slowing the shared rate", func(t *testing.T) {
		t.Parallel()
		srv := serve(full, created)
		lim := rate.NewLimiter(100, 1000)
		f := setup(t, srv, func(c *Config) { c.Limiter = lim })
		hold := func(context.Context, Refusal) (HoldDecision, error) { return BackOffOnly, nil }
		_, err := f.client.Submit(t.Context(), "m", map[string]string{"image": "x"}, SubmitOptions{Hold: hold})
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{2 * time.Second}, f.sleep.Delays(), "Retry-After honoured")
		assert.EqualValues(t, 1, f.client.Calls().Retries)
		assert.Zero(t, f.client.Calls().Slowdowns)
		assert.InDelta(t, 100, float64(lim.Limit()), 1e-9)
	})

	t.Run("a stop while held ends the submit unsent", func(t *testing.T) {
		t.Parallel()
		srv := serve(full, created)
		f := setup(t, srv)
		errStop := errors.New("run stopped")
		hold := func(context.Context, Refusal) (HoldDecision, error) { return AsRateLimit, errStop }
		_, err := f.client.Submit(t.Context(), "m", map[string]string{"image": "x"}, SubmitOptions{Hold: hold})
		require.ErrorIs(t, err, errStop)
		assert.NotErrorIs(t, err, ErrUncertain, "a refused submit created nothing")
		assert.Equal(t, 1, srv.Count())
	})
}
