package backoff_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/backoff"
)

func fixed(f float64) func() float64 { return func() float64 { return f } }

func TestDelay(t *testing.T) {
	t.Parallel()
	const top = 1 - 1e-9 // the largest draw, near the ceiling
	for _, tc := range []struct {
		name string
		p    backoff.Policy
		n    int
		want time.Duration
	}{
		{"first retry", backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: fixed(top)}, 0, 100 * time.Millisecond},
		{"doubles", backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: fixed(top)}, 1, 200 * time.Millisecond},
		{"doubles again", backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: fixed(top)}, 3, 800 * time.Millisecond},
		{"capped", backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: fixed(top)}, 4, time.Second},
		{"no overflow", backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: fixed(top)}, 1000, time.Second},
		{"no overflow uncapped", backoff.Policy{Base: time.Second, Rand: fixed(0.5)}, 1000, math.MaxInt64 / 2},
		{"base over max", backoff.Policy{Base: time.Minute, Max: 10 * time.Second, Rand: fixed(top)}, 0, 10 * time.Second},
		{"no base: max", backoff.Policy{Max: 10 * time.Second, Rand: fixed(top)}, 2, 10 * time.Second},
		{"zero policy", backoff.Policy{Rand: fixed(top)}, 5, 0},
		{"jitter: half", backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: fixed(0.5)}, 2, 200 * time.Millisecond},
		{"full jitter reaches zero", backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second, Rand: fixed(0)}, 3, 0},
		{"draw of 1 is out of range", backoff.Policy{Base: time.Second, Max: time.Second, Rand: fixed(1)}, 0, 0},
		{"negative draw ignored", backoff.Policy{Base: time.Second, Max: time.Second, Rand: fixed(-0.5)}, 0, 0},
		{"NaN draw ignored", backoff.Policy{Base: time.Second, Max: time.Second, Rand: fixed(math.NaN())}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.InDelta(t, float64(tc.want), float64(tc.p.Delay(tc.n)), float64(time.Millisecond))
		})
	}
}

func TestDelayDefaultRandStaysBelowCeiling(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Base: time.Millisecond, Max: 8 * time.Millisecond}
	for n := range 200 {
		d := p.Delay(n % 6)
		assert.GreaterOrEqual(t, d, time.Duration(0))
		assert.Less(t, d, min(time.Millisecond<<(n%6), 8*time.Millisecond))
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	require.NoError(t, backoff.Sleep(t.Context(), time.Microsecond))
	require.NoError(t, backoff.Sleep(t.Context(), 0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, backoff.Sleep(ctx, time.Hour), context.Canceled)
	require.ErrorIs(t, backoff.Sleep(ctx, 0), context.Canceled, "a done context ends even a zero wait")
}
