package runner

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
)

// jobSlots bounds the jobs a run has on the API at once: at most
// --concurrency, and no more than the account takes.
//
// Accounts have their own limit on jobs at once (commonly about 5 to start),
// and the API answers a submit above it with 429: back-pressure, which no
// backoff cures — only a job finishing makes room. A run with --concurrency
// above that limit would otherwise keep its extra submits knocking, each
// knock read as "slow down" by the shared rate limiter, which then slows the
// polls too, and a finished job's room would wait for the next knock.
//
// A 429 does not say which limit it is. So the first refusal of a submit
// backs it off as for a rate limit (without slowing the shared rate, which
// the polls' own 429s slow if it is the rate); a second one, with jobs of ours
// on the account and no poll refused in between (a rate limit refuses
// polls too), as the account's limit — and so is a first one at a limit
// already learned, while no poll has been refused since: the limit drops to the jobs we
// have there and the submit waits for one of them to finish — or, at the
// longest, holdMax, after which it tries again anyway. If the account then
// takes it with no job of ours gone, the cut was wrong (it was the rate)
// and the limit rises by one. It also creeps up by one after every 2×limit
// accepted submits, so an account whose limit grows with spend, or a cut
// that was wrong after all, does not hold the run down. A refused submit is
// never a charge: what this costs is a few free calls.
type jobSlots struct {
	log     *slog.Logger
	ceiling int           // --concurrency
	learned *atomic.Int64 // the summary's AccountJobs: jobs of ours on the account at its last refusal
	holdFor func(refusal *api.StatusError) time.Duration

	mu      sync.Mutex
	account accountLimit  // what the account takes: the limit on slots
	used    int           // slots taken: jobs on the API and submits on their way
	placed  int           // of those, the jobs known to be on the account
	changed chan struct{} // closed and replaced when a slot may have come free

	// waiters counts the takes waiting for a slot: rows the limit holds.
	// It is atomic so that the poll policy can read it under its own lock.
	waiters atomic.Int64
	// onWait, if set, is called (with no lock held) when a take begins to
	// wait while none did.
	onWait func()
}

// accountLimit learns how many jobs at once the account takes (see
// jobSlots): a pure policy. Its methods take what a submit met and return
// what to do; jobSlots serialises them and does the waiting.
type accountLimit struct {
	ceiling  int // --concurrency
	limit    int // jobs at once allowed now: ceiling, or what the account was seen to take
	accepted int // submits accepted since the limit last changed
	// pollsLimited is api.Refusal.PollsRateLimited when a submit was last
	// held for room: while it stays so, polls go through and a refusal at
	// the limit is the limit again.
	pollsLimited int64
}

// submitRefusal is a 429 on a submit, as accountLimit sees it.
type submitRefusal struct {
	onAccount int // jobs of ours on the account
	// pollsLimited is api.Refusal.PollsRateLimited now; before and
	// pollsLimitedBefore say whether this submit was refused before, and
	// what it was then.
	pollsLimited       int64
	before             bool
	pollsLimitedBefore int64
}

// refused decides what a 429 on a submit means. It returns api.Held when
// the account is full: the submit waits for room (jobSlots does the
// waiting), and learned is then the account's limit as seen; lowered says
// the run's limit came down to it.
func (a *accountLimit) refused(r submitRefusal) (d api.HoldDecision, learned int, lowered bool) {
	// Refused again with no poll refused in between, or refused at a limit
	// already learned with no poll refused since: the account is full.
	again := r.before && r.pollsLimited == r.pollsLimitedBefore ||
		a.limit < a.ceiling && r.onAccount >= a.limit && r.pollsLimited == a.pollsLimited
	switch {
	case r.onAccount == 0:
		// Nothing of ours on the account, nothing to wait for: the rate,
		// or other clients' jobs.
		return api.AsRateLimit, 0, false
	case !again:
		// A first refusal may be the rate, and so is one while polls are
		// refused too: back off. The shared rate is left to the polls'
		// 429s, since the account's limit would slow them for nothing.
		return api.BackOffOnly, 0, false
	}
	a.pollsLimited = r.pollsLimited
	if r.onAccount < a.limit {
		a.set(r.onAccount)
		lowered = true
	}
	return api.Held, r.onAccount, lowered
}

// raise is why accountLimit.accept raised the limit.
type raise int

const (
	keep     raise = iota // no change
	tookMore              // the account held more jobs than the limit said
	creep                 // 2×limit submits were accepted at the limit
)

// accept records an accepted submit, with placed jobs of ours on the
// account now (this one included), and says whether the limit rises.
func (a *accountLimit) accept(placed int) raise {
	switch {
	case a.limit >= a.ceiling:
		return keep
	case placed > a.limit:
		// A submit that stopped waiting was taken: the account holds more
		// than the limit said. (One more, not all that seem to be there:
		// jobs that finished unseen still count as placed.)
		a.set(a.limit + 1)
		return tookMore
	}
	a.accepted++
	if a.accepted >= 2*a.limit {
		a.set(a.limit + 1)
		return creep
	}
	return keep
}

// set changes the limit, within 1 and the ceiling.
func (a *accountLimit) set(n int) {
	a.limit, a.accepted = min(max(n, 1), a.ceiling), 0
}

// holdMax is the longest a submit held for room waits before it tries again
// with no job finished: time enough for a rate limit to pass, if that is
// what the refusals were.
func holdMax(refusal *api.StatusError) time.Duration {
	return 8 * max(refusal.RetryAfter, time.Second)
}

func newJobSlots(ceiling int, learned *atomic.Int64, log *slog.Logger) *jobSlots {
	return &jobSlots{log: log, ceiling: ceiling, learned: learned, holdFor: holdMax,
		account: accountLimit{ceiling: ceiling, limit: ceiling}, changed: make(chan struct{})}
}

// acquire takes a slot, waiting while every allowed one is taken.
func (s *jobSlots) acquire(ctx context.Context) (*slot, error) {
	if err := s.take(ctx, nil); err != nil {
		return nil, err
	}
	return &slot{s: s}, nil
}

// take waits for a slot until ctx ends or, if giveUp is not nil, until it
// fires: then it takes one anyway, above the limit.
func (s *jobSlots) take(ctx context.Context, giveUp <-chan time.Time) error {
	waiting := false
	defer func() {
		if waiting {
			s.waiters.Add(-1)
		}
	}()
	for {
		s.mu.Lock()
		if s.used < s.account.limit {
			s.used++
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		if !waiting {
			waiting = true
			if s.waiters.Add(1) == 1 && s.onWait != nil {
				s.onWait()
			}
		}
		select {
		case <-ch:
		case <-giveUp:
			s.mu.Lock()
			s.used++
			s.mu.Unlock()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// rowsWait reports whether a take waits for a slot.
func (s *jobSlots) rowsWait() bool { return s.waiters.Load() > 0 }

// signal wakes every waiter to look again. s.mu must be held.
func (s *jobSlots) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// slot is one job's place in jobSlots.
type slot struct {
	s      *jobSlots
	placed bool // the job is on the account (s.mu guards it)
	// Its submit's last refusal, if any (only its goroutine uses these).
	refused      bool
	pollsLimited int64 // api.Refusal.PollsRateLimited then
	released     sync.Once
}

// place records that the job is on the account: its submit was accepted,
// or it is a job of an earlier run being polled.
func (sl *slot) place() {
	s := sl.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !sl.placed {
		sl.placed = true
		s.placed++
	}
}

// release gives the slot back: its job has left the API (or never reached
// it). Later calls do nothing.
func (sl *slot) release() {
	sl.released.Do(func() {
		s := sl.s
		s.mu.Lock()
		defer s.mu.Unlock()
		s.used--
		if sl.placed {
			s.placed--
		}
		s.signal()
	})
}

// submitted records an accepted submit: the job is on the account.
func (sl *slot) submitted() {
	sl.place()
	s := sl.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.account.accept(s.placed) {
	case keep:
		return
	case tookMore:
		s.log.Info("the account took more jobs at once than it seemed to; raising the limit",
			"jobs_at_once", s.account.limit, "concurrency", s.ceiling)
	}
	s.signal() // room for one more
}

// hold returns the api.SubmitHold of the submit that holds sl. stop ends a
// wait for room: the run's context, since a submit that waits is provably
// unsent and needs no grace.
func (sl *slot) hold(stop context.Context) api.SubmitHold {
	return func(_ context.Context, refusal api.Refusal) (api.HoldDecision, error) {
		return sl.refusedAgain(stop, refusal)
	}
}

// refusedAgain decides what a 429 on the submit holding sl means, and waits
// for room when it is the account's limit (see jobSlots).
func (sl *slot) refusedAgain(ctx context.Context, refusal api.Refusal) (api.HoldDecision, error) {
	s := sl.s
	s.mu.Lock()
	d, learned, lowered := s.account.refused(submitRefusal{onAccount: s.placed, pollsLimited: refusal.PollsRateLimited,
		before: sl.refused, pollsLimitedBefore: sl.pollsLimited})
	sl.refused, sl.pollsLimited = true, refusal.PollsRateLimited
	if d != api.Held {
		s.mu.Unlock()
		return d, nil
	}
	s.learned.Store(int64(learned))
	if lowered {
		s.log.Warn("the account takes no more jobs at once; further submits wait for a job to finish",
			"jobs_at_once", learned, "concurrency", s.ceiling)
	}
	// Give the slot back and queue for the next one like any submit, so
	// that a finish lets one of them go, not every one that waits.
	s.used--
	s.signal()
	s.mu.Unlock()

	t := time.NewTimer(s.holdFor(refusal.StatusError))
	defer t.Stop()
	if err := s.take(ctx, t.C); err != nil {
		// The caller still releases the slot it holds: keep the count whole.
		s.mu.Lock()
		s.used++
		s.mu.Unlock()
		return api.AsRateLimit, err
	}
	return api.Held, nil
}
