package api

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
)

func TestAdaptiveRate(t *testing.T) {
	t.Parallel()
	limited := reply(http.StatusTooManyRequests, `{"error_message":"rate limit exceeded"}`, "Retry-After", "1")
	ok := reply(http.StatusOK, `{"status":"in_queue"}`)
	answers := &queue{}
	// A large burst keeps Wait from blocking until the first 429 ends it;
	// then 100/s waits at most 10ms. The test watches the limit, not the
	// clock.
	lim := rate.NewLimiter(100, 1000)
	clock := clocktest.New(time.Unix(1_800_000_000, 0))
	f := setup(t, answers, func(c *Config) { c.Limiter = lim; c.MaxRetries = 1 })
	f.client.now = clock.Now
	status := func() error {
		_, err := f.client.Status(t.Context(), "r")
		return err
	}

	// A first 429 ends the burst: the API's bucket is smaller than ours.
	// The rate stays.
	answers.set(limited, ok)
	require.NoError(t, status())
	assert.Equal(t, 1, lim.Burst(), "requests leave evenly spaced from now on")
	assert.InDelta(t, 100, float64(lim.Limit()), 1e-9)
	assert.EqualValues(t, 1, f.client.Calls().Slowdowns)

	// A 429 while sending evenly (then a success on the retry) halves the
	// rate once.
	clock.Advance(time.Second)
	answers.set(limited, ok)
	require.NoError(t, status())
	assert.InDelta(t, 50, float64(lim.Limit()), 1e-9)
	assert.EqualValues(t, 2, f.client.Calls().Slowdowns)

	// More 429s within the same second do not cut again: they answer
	// requests sent before the cut.
	answers.set(limited)
	require.ErrorIs(t, status(), ErrUnavailable)
	assert.InDelta(t, 50, float64(lim.Limit()), 1e-9)

	// A storm lasting seconds cuts once a second, down to the floor.
	for range 10 {
		clock.Advance(time.Second)
		require.ErrorIs(t, status(), ErrUnavailable)
	}
	assert.InDelta(t, 5, float64(lim.Limit()), 1e-9, "floor: a twentieth of the configured rate")
	assert.EqualValues(t, 6, f.client.Calls().Slowdowns, "burst, then 100 → 50 → 25 → 12.5 → 6.25 → 5")

	// Successes bring it back linearly: the full rate in 20s from zero.
	answers.set(ok)
	clock.Advance(5 * time.Second)
	require.NoError(t, status())
	assert.InDelta(t, 30, float64(lim.Limit()), 1e-9, "5 + 100×5/20")
	clock.Advance(time.Minute)
	require.NoError(t, status())
	assert.InDelta(t, 100, float64(lim.Limit()), 1e-9, "never above the configured rate")
	assert.EqualValues(t, 24, f.client.Calls().RateLimited, "1 + 1 + 2 + 10×2 answers")
}

func TestAdaptiveRateOff(t *testing.T) {
	t.Parallel()
	limited := reply(http.StatusTooManyRequests, ``, "Retry-After", "1")
	ok := reply(http.StatusOK, `{"status":"in_queue"}`)
	for _, tc := range []struct {
		name string
		lim  *rate.Limiter
		opt  func(*Config)
	}{
		{"fixed rate asked for", rate.NewLimiter(100, 1000), func(c *Config) { c.FixedRate = true }},
		{"unlimited", rate.NewLimiter(rate.Inf, 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, serve(limited, ok), func(c *Config) {
				c.Limiter = tc.lim
				if tc.opt != nil {
					tc.opt(c)
				}
			})
			before := tc.lim.Limit()
			_, err := f.client.Status(t.Context(), "r")
			require.NoError(t, err)
			assert.Equal(t, before, tc.lim.Limit())
			assert.Zero(t, f.client.Calls().Slowdowns)
			assert.EqualValues(t, 1, f.client.Calls().RateLimited)
			assert.EqualValues(t, 1, f.client.Calls().PollsRateLimited, "a status call's")
		})
	}
}

// queue answers with its handlers in turn; the last one repeats.
type queue struct {
	mu sync.Mutex
	hs []http.HandlerFunc
}

func (q *queue) set(hs ...http.HandlerFunc) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.hs = hs
}

func (q *queue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q.mu.Lock()
	h := q.hs[0]
	if len(q.hs) > 1 {
		q.hs = q.hs[1:]
	}
	q.mu.Unlock()
	h(w, r)
}

// rateEvent is one observation reported to a ratePolicy, at offset from the
// test's start, and the decision expected.
type rateEvent struct {
	at      time.Duration
	refused bool // a 429; otherwise a call that succeeded

	changed  bool
	endBurst bool
	limit    rate.Limit // the rate after it
}

func TestRatePolicyDecisions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		bursting bool
		events   []rateEvent
	}{
		{"the first 429 ends the burst, the rate stays", true, []rateEvent{
			{at: 0, refused: true, changed: true, endBurst: true, limit: 100},
		}},
		{"a 429 while sending evenly halves the rate", false, []rateEvent{
			{at: 0, refused: true, changed: true, limit: 50},
		}},
		{"429s within a second of a cut answer requests sent before it", true, []rateEvent{
			{at: 0, refused: true, changed: true, endBurst: true, limit: 100},
			{at: 999 * time.Millisecond, refused: true, limit: 100},
			{at: time.Second, refused: true, changed: true, limit: 50},
			{at: 1500 * time.Millisecond, refused: true, limit: 50},
		}},
		{"a storm cuts once a second down to the floor", false, []rateEvent{
			{at: 0, refused: true, changed: true, limit: 50},
			{at: 1 * time.Second, refused: true, changed: true, limit: 25},
			{at: 2 * time.Second, refused: true, changed: true, limit: 12.5},
			{at: 3 * time.Second, refused: true, changed: true, limit: 6.25},
			{at: 4 * time.Second, refused: true, changed: true, limit: 5},
			{at: 5 * time.Second, refused: true, limit: 5},
		}},
		{"successes recover linearly, full rate in 20s from zero", false, []rateEvent{
			{at: 0, refused: true, changed: true, limit: 50},
			{at: 5 * time.Second, changed: true, limit: 75},
			{at: 5 * time.Second, limit: 75},
			{at: 7 * time.Second, changed: true, limit: 85},
			{at: time.Minute, changed: true, limit: 100},
			{at: 2 * time.Minute, limit: 100},
		}},
		{"a success at the full rate changes nothing", true, []rateEvent{
			{at: time.Second, limit: 100},
		}},
		{"a cut restarts the recovery", false, []rateEvent{
			{at: 0, refused: true, changed: true, limit: 50},
			{at: 2 * time.Second, changed: true, limit: 60},
			{at: 3 * time.Second, refused: true, changed: true, limit: 30},
			{at: 4 * time.Second, changed: true, limit: 35},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Unix(1_800_000_000, 0)
			p, ok := newRatePolicy(100, tc.bursting)
			require.True(t, ok)
			for i, e := range tc.events {
				var c rateChange
				var changed bool
				if e.refused {
					c, changed = p.refused(t0.Add(e.at))
				} else {
					c, changed = p.succeeded(t0.Add(e.at))
				}
				assert.Equal(t, e.changed, changed, "event %d: changed", i)
				assert.Equal(t, e.endBurst, c.endBurst, "event %d: burst ended", i)
				if changed && !c.endBurst {
					assert.InDelta(t, float64(e.limit), float64(c.limit), 1e-9, "event %d: the limiter's new rate", i)
				}
				assert.InDelta(t, float64(e.limit), float64(p.limit), 1e-9, "event %d: rate", i)
			}
		})
	}
}

func TestRatePolicyCannotAdapt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ceiling rate.Limit
	}{
		{"unlimited", rate.Inf},
		{"never refills", 0},
		{"negative", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, ok := newRatePolicy(tc.ceiling, true)
			assert.False(t, ok)
		})
	}
}
