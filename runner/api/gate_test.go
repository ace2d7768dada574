package api

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSendGate(t *testing.T) {
	t.Parallel()
	busy := reply(http.StatusServiceUnavailable, `{"message":"busy"}`)
	created := reply(http.StatusOK, `{"request_id":"r1"}`)
	errClosed := errors.New("gate closed")

	t.Run("closing between attempts stops the retries unsent", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, busy, created)
		f := setup(t, srv)
		var asked atomic.Int32
		ctx := WithSendGate(t.Context(), func() error {
			if asked.Add(1) > 1 {
				return errClosed // closes while the first retry waits
			}
			return nil
		})
		_, err := f.client.Submit(ctx, "m", map[string]string{"image": "x"})
		require.ErrorIs(t, err, errClosed)
		assert.NotErrorIs(t, err, ErrUncertain, "the API provably took nothing")
		assert.Equal(t, 1, srv.Count(), "only the attempt before the gate closed reached the API")
		assert.EqualValues(t, 2, asked.Load())
	})

	t.Run("open gate changes nothing", func(t *testing.T) {
		t.Parallel()
		srv := serve(busy, created)
		f := setup(t, srv)
		ctx := WithSendGate(t.Context(), func() error { return nil })
		resp, err := f.client.Submit(ctx, "m", map[string]string{"image": "x"})
		require.NoError(t, err)
		assert.Equal(t, "r1", resp.RequestID)
		assert.Equal(t, 2, srv.Count())
	})
}
