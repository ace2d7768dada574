package runner

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
)

var refusal = api.Refusal{StatusError: &api.StatusError{Code: 429, Message: "too many requests", RetryAfter: time.Second}}

func newTestSlots(ceiling int) (*jobSlots, *atomic.Int64) {
	var learned atomic.Int64
	return newJobSlots(ceiling, &learned, slog.New(slog.DiscardHandler)), &learned
}

// cancelled is a context that has ended: acquire with it succeeds only if
// a slot is free right now, which is how these tests see a full pool
// without waiting.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// onAccount takes n slots whose jobs were accepted.
func onAccount(t *testing.T, s *jobSlots, n int) []*slot {
	t.Helper()
	var sls []*slot
	for range n {
		sl, err := s.acquire(t.Context())
		require.NoError(t, err)
		sl.submitted()
		sls = append(sls, sl)
	}
	return sls
}

func TestJobSlotsBoundJobsAtOnce(t *testing.T) {
	s, learned := newTestSlots(2)
	sls := onAccount(t, s, 2)
	_, err := s.acquire(cancelled())
	require.ErrorIs(t, err, context.Canceled, "full at --concurrency")
	sls[0].release()
	sls[0].release() // a second release gives nothing back twice
	_, err = s.acquire(cancelled())
	require.NoError(t, err)
	_, err = s.acquire(cancelled())
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, learned.Load(), "the account never refused")
}

func TestJobSlotsLearnTheAccountLimit(t *testing.T) {
	s, learned := newTestSlots(8)
	jobs := onAccount(t, s, 3)
	sl, err := s.acquire(t.Context())
	require.NoError(t, err)

	decision, err := sl.refusedAgain(t.Context(), refusal)
	require.NoError(t, err)
	assert.Equal(t, api.BackOffOnly, decision, "a first refusal may be the rate: the submit backs off, the shared rate is kept")
	assert.Zero(t, learned.Load())

	type outcome struct {
		decision api.HoldDecision
		err      error
	}
	done := make(chan outcome, 1)
	go func() {
		decision, err := sl.refusedAgain(t.Context(), refusal)
		done <- outcome{decision, err}
	}()
	// Refused again with the same three jobs on the account: its limit is
	// three, and every other submit waits for room too.
	require.Eventually(t, func() bool { return learned.Load() == 3 }, 10*time.Second, time.Millisecond)
	_, err = s.acquire(cancelled())
	require.ErrorIs(t, err, context.Canceled, "no slot while the account is full")

	jobs[0].release() // a job finished: the held submit goes, and only it
	o := <-done
	require.NoError(t, o.err)
	assert.Equal(t, api.Held, o.decision)
	_, err = s.acquire(cancelled())
	require.ErrorIs(t, err, context.Canceled, "the room went to the held submit")
	sl.submitted()
	assert.EqualValues(t, 3, learned.Load())
}

func limitOf(s *jobSlots) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account.limit
}

func TestJobSlotsLimitCreepsBackUp(t *testing.T) {
	s, learned := newTestSlots(8)
	jobs := onAccount(t, s, 2)
	sl, err := s.acquire(t.Context())
	require.NoError(t, err)
	_, _ = sl.refusedAgain(t.Context(), refusal)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = sl.refusedAgain(t.Context(), refusal)
	}()
	require.Eventually(t, func() bool { return learned.Load() == 2 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, 2, limitOf(s))
	jobs[0].release()
	<-done
	sl.submitted() // accepted at limit 2: one
	jobs[1].release()
	sl.release()
	for range 2 {
		n, err := s.acquire(t.Context())
		require.NoError(t, err)
		n.submitted()
		n.release()
		assert.Equal(t, 2, limitOf(s))
	}
	n, err := s.acquire(t.Context())
	require.NoError(t, err)
	n.submitted() // the 2×limit-th: the limit tries one more
	assert.Equal(t, 3, limitOf(s))
	assert.EqualValues(t, 2, learned.Load(), "the summary keeps what the account refused at")
}

func TestJobSlotsUndoAWrongCut(t *testing.T) {
	s, learned := newTestSlots(8)
	s.holdFor = func(*api.StatusError) time.Duration { return time.Millisecond }
	onAccount(t, s, 2)
	sl, err := s.acquire(t.Context())
	require.NoError(t, err)
	_, _ = sl.refusedAgain(t.Context(), refusal)
	// Refused twice, then no job finishes: after holdFor it tries anyway.
	decision, err := sl.refusedAgain(t.Context(), refusal)
	require.NoError(t, err)
	assert.Equal(t, api.Held, decision)
	assert.EqualValues(t, 2, learned.Load())
	// The account took it with both jobs still there: it was the rate.
	sl.submitted()
	assert.Equal(t, 3, limitOf(s), "the limit rises to what the account holds")
}

func TestJobSlotsHoldEndsWithTheRun(t *testing.T) {
	s, _ := newTestSlots(4)
	jobs := onAccount(t, s, 2)
	sl, err := s.acquire(t.Context())
	require.NoError(t, err)
	_, _ = sl.refusedAgain(t.Context(), refusal)
	_, err = sl.refusedAgain(cancelled(), refusal)
	require.ErrorIs(t, err, context.Canceled)
	sl.release() // the submit's slot, still counted as held
	for _, j := range jobs {
		j.release()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Zero(t, s.used)
	assert.Zero(t, s.placed)
}

func TestFirstRefusalWithNothingOnTheAccountIsTheRate(t *testing.T) {
	s, learned := newTestSlots(4)
	sl, err := s.acquire(t.Context())
	require.NoError(t, err)
	for range 3 {
		decision, err := sl.refusedAgain(t.Context(), refusal)
		require.NoError(t, err)
		assert.Equal(t, api.AsRateLimit, decision, "nothing of ours to wait for")
	}
	assert.Zero(t, learned.Load())
}

func TestRefusalsLikeARateLimitAreTheRate(t *testing.T) {
	s, learned := newTestSlots(8)
	onAccount(t, s, 2)
	sl, err := s.acquire(t.Context())
	require.NoError(t, err)
	ask := func(r api.Refusal) bool {
		decision, err := sl.refusedAgain(t.Context(), r)
		require.NoError(t, err)
		return decision == api.Held
	}
	require.False(t, ask(refusal))

	// A poll was refused in between: the rate refuses everything.
	polls := refusal
	polls.PollsRateLimited++
	assert.False(t, ask(polls))
	polls.PollsRateLimited++
	assert.False(t, ask(polls))
	assert.Zero(t, learned.Load(), "no limit learned from a rate limit")
	assert.Equal(t, 8, limitOf(s))
}

func TestARefusalAtALearnedLimitHoldsAtOnce(t *testing.T) {
	// Two jobs on the account, a limit of two learned earlier (set here
	// directly), and a third submit holding a slot: its first refusal is
	// the limit again, since no poll was refused since it was learned.
	atLimit := func() (*jobSlots, *slot) {
		s, _ := newTestSlots(8)
		onAccount(t, s, 2)
		sl, err := s.acquire(t.Context())
		require.NoError(t, err)
		s.mu.Lock()
		s.account.limit = 2
		s.mu.Unlock()
		return s, sl
	}

	_, sl := atLimit()
	_, err := sl.refusedAgain(cancelled(), refusal)
	require.ErrorIs(t, err, context.Canceled, "it waited for room at once (and the run had stopped)")

	// A poll refused since: the rate, not the limit. Back off as usual.
	_, sl = atLimit()
	polls := refusal
	polls.PollsRateLimited++
	decision, err := sl.refusedAgain(t.Context(), polls)
	require.NoError(t, err)
	assert.Equal(t, api.BackOffOnly, decision)
}

func TestAccountLimitRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		limit        int   // the limit before (ceiling 8)
		pollsLimited int64 // api.Refusal.PollsRateLimited when a submit was last held
		refusal      submitRefusal

		want      api.HoldDecision
		learned   int
		lowered   bool
		limitThen int
	}{
		{name: "nothing of ours on the account: the rate", limit: 8,
			refusal: submitRefusal{onAccount: 0, before: true},
			want:    api.AsRateLimit, limitThen: 8},
		{name: "a first refusal may be the rate: back off only", limit: 8,
			refusal: submitRefusal{onAccount: 3},
			want:    api.BackOffOnly, limitThen: 8},
		{name: "refused again, no poll refused between: the account is full", limit: 8,
			refusal: submitRefusal{onAccount: 3, pollsLimited: 4, before: true, pollsLimitedBefore: 4},
			want:    api.Held, learned: 3, lowered: true, limitThen: 3},
		{name: "refused again while polls were refused too: the rate", limit: 8,
			refusal: submitRefusal{onAccount: 3, pollsLimited: 5, before: true, pollsLimitedBefore: 4},
			want:    api.BackOffOnly, limitThen: 8},
		{name: "a first refusal at a learned limit, no poll refused since: full", limit: 3, pollsLimited: 4,
			refusal: submitRefusal{onAccount: 3, pollsLimited: 4},
			want:    api.Held, learned: 3, limitThen: 3},
		{name: "a first refusal at a learned limit after polls were refused: back off", limit: 3, pollsLimited: 4,
			refusal: submitRefusal{onAccount: 3, pollsLimited: 6},
			want:    api.BackOffOnly, limitThen: 3},
		{name: "a first refusal under a learned limit: back off", limit: 3, pollsLimited: 4,
			refusal: submitRefusal{onAccount: 2, pollsLimited: 4},
			want:    api.BackOffOnly, limitThen: 3},
		{name: "full with more of ours than the limit: held, limit kept", limit: 3,
			refusal: submitRefusal{onAccount: 5, before: true},
			want:    api.Held, learned: 5, limitThen: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := accountLimit{ceiling: 8, limit: tc.limit, pollsLimited: tc.pollsLimited}
			d, learned, lowered := a.refused(tc.refusal)
			assert.Equal(t, tc.want, d)
			assert.Equal(t, tc.learned, learned)
			assert.Equal(t, tc.lowered, lowered)
			assert.Equal(t, tc.limitThen, a.limit)
			if d == api.Held {
				assert.Equal(t, tc.refusal.pollsLimited, a.pollsLimited, "remembers the polls' 429s when it held")
			}
		})
	}
}

func TestAccountLimitAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		limit    int
		accepted int // accepted since the limit last changed
		placed   int // jobs of ours on the account with this one

		want      raise
		limitThen int
	}{
		{"at --concurrency: nothing to learn", 8, 0, 8, keep, 8},
		{"under the limit: counted", 3, 0, 3, keep, 3},
		{"the 2×limit-th accept creeps up by one", 3, 5, 3, creep, 4},
		{"more placed than the limit: the cut was wrong", 3, 0, 4, tookMore, 4},
		{"never above --concurrency", 7, 13, 7, creep, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := accountLimit{ceiling: 8, limit: tc.limit, accepted: tc.accepted}
			assert.Equal(t, tc.want, a.accept(tc.placed))
			assert.Equal(t, tc.limitThen, a.limit)
			if tc.want != keep {
				assert.Zero(t, a.accepted, "counting starts again at the new limit")
			}
		})
	}
}

// TestSlotsSayWhenRowsWait: a row waiting for a slot is what makes a
// finish worth noticing sooner; the poll policy is woken when one begins
// to wait and reads whether any still does.
func TestSlotsSayWhenRowsWait(t *testing.T) {
	t.Parallel()
	s, _ := newTestSlots(1)
	began := make(chan struct{}, 4)
	s.onWait = func() { began <- struct{}{} }
	held := onAccount(t, s, 1)
	assert.False(t, s.rowsWait(), "a slot taken at once is no wait")

	got := make(chan *slot)
	go func() {
		sl, err := s.acquire(t.Context())
		assert.NoError(t, err)
		got <- sl
	}()
	<-began
	assert.True(t, s.rowsWait(), "a row waits for the one slot")
	held[0].release()
	sl := <-got
	assert.False(t, s.rowsWait(), "it took the slot freed")
	sl.release()
	assert.Empty(t, began, "one wait, one wake")
}
