package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner/backoff"
)

// queued reports how many callers of each urgency wait for the turn.
func (p *pacer) queued() (normal, high int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queues[urgencyNormal]), len(p.queues[urgencyHigh])
}

// waitQueued blocks until p has the given callers in line. The callers
// enqueue themselves from goroutines; waiting on their count, not on time,
// keeps the test free of sleeps.
func waitQueued(t *testing.T, p *pacer, normal, high int) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, h := p.queued()
		return n == normal && h == high
	}, 10*time.Second, time.Millisecond)
}

func TestPacerHandsTheTurnToUrgentCallsFirst(t *testing.T) {
	t.Parallel()
	p := newPacer(rate.NewLimiter(rate.Inf, 1), backoff.Sleep)
	require.NoError(t, p.takeTurn(t.Context(), urgencyNormal)) // the test holds the turn

	got := make(chan urgency, 3)
	for _, u := range []urgency{urgencyNormal, urgencyNormal, urgencyHigh} {
		// Counted before the caller starts: once started it may queue
		// before the count is read.
		n, h := p.queued()
		go func() {
			if p.takeTurn(t.Context(), u) == nil {
				got <- u
			}
		}()
		// One at a time, so that the two normal ones queue in order.
		if u == urgencyHigh {
			h++
		} else {
			n++
		}
		waitQueued(t, p, n, h)
	}

	p.mu.Lock()
	p.passTurn()
	p.mu.Unlock()
	assert.Equal(t, urgencyHigh, <-got, "the urgent call came last and goes first")
	n, h := p.queued()
	assert.Equal(t, 2, n, "both normal calls still wait")
	assert.Zero(t, h)

	for range 2 {
		p.mu.Lock()
		p.passTurn()
		p.mu.Unlock()
		assert.Equal(t, urgencyNormal, <-got)
	}
	p.mu.Lock()
	p.passTurn()
	assert.False(t, p.busy, "nobody left: the turn is free")
	p.mu.Unlock()
}

func TestPacerCallerStoppedWhileQueued(t *testing.T) {
	t.Parallel()
	p := newPacer(rate.NewLimiter(rate.Inf, 1), backoff.Sleep)
	require.NoError(t, p.takeTurn(t.Context(), urgencyNormal))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.wait(ctx, urgencyHigh) }()
	waitQueued(t, p, 0, 1)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	n, h := p.queued()
	assert.Zero(t, n+h, "a caller that gave up leaves the line")

	p.mu.Lock()
	p.passTurn()
	assert.False(t, p.busy)
	p.mu.Unlock()
	require.NoError(t, p.wait(t.Context(), urgencyNormal), "the turn was not lost")
}

func TestPacerKeepsTokensForUrgentCalls(t *testing.T) {
	t.Parallel()
	// A bucket of 4 that does not refill within the test: normal calls may
	// spend it down to the reserve of 2, urgent ones to the last token.
	lim := rate.NewLimiter(rate.Every(time.Hour), 4)
	var slept []time.Duration
	errSlept := errors.New("slept")
	p := newPacer(lim, func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return errSlept
	})

	require.NoError(t, p.wait(t.Context(), urgencyNormal))
	require.NoError(t, p.wait(t.Context(), urgencyNormal))
	require.ErrorIs(t, p.wait(t.Context(), urgencyNormal), errSlept, "a third would dip into the reserve")
	require.Len(t, slept, 1)
	assert.InDelta(t, time.Hour.Seconds(), slept[0].Seconds(), 60, "it waits for one token to refill")

	require.NoError(t, p.wait(t.Context(), urgencyHigh))
	require.NoError(t, p.wait(t.Context(), urgencyHigh))
	assert.InDelta(t, 0, lim.Tokens(), 0.01, "urgent calls spend the reserve")
}

func TestNilPacerNeverWaits(t *testing.T) {
	t.Parallel()
	var p *pacer
	require.NoError(t, p.wait(t.Context(), urgencyNormal))
	assert.Nil(t, newPacer(nil, backoff.Sleep))
}

func TestBurst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rps         float64
		concurrency int
		want        int
	}{
		{10, 16, 10}, // one second of the rate
		{10, 2, 4},   // a result look and a refill per job
		{0.5, 8, 1},  // at least one
		{100, 256, 100},
	} {
		assert.Equal(t, tc.want, Burst(tc.rps, tc.concurrency), "rps %g, concurrency %d", tc.rps, tc.concurrency)
	}
	lim := NewLimiter(10, 16)
	assert.Equal(t, 10, lim.Burst())
	assert.Less(t, lim.Tokens(), 1.0, "empty at the start")
}
