package runner

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
)

func TestAFinishHandsItsSlotToTheJobFirstInLine(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := newPollPolicy(PollConfig{}, func() time.Time { return now })
	p.learn(10 * time.Second)
	queued := func(submitted time.Time, pos int) *jobWatch {
		w := &jobWatch{submittedAt: submitted, queuePos: -1, looks: 1, lastLook: now}
		p.observe(w, api.StatusInQueue, pos, now)
		return w
	}
	a := queued(now, 0)
	b := queued(now.Add(time.Millisecond), 1)

	la := p.plan(a)
	require.False(t, la.useResult, "waiting in line: a status look, and not before the queue should have moved")
	assert.True(t, la.at.After(now.Add(10*time.Second)))

	// A job of ours finished 3s in: a, first in line, took its slot then.
	freedAt := now.Add(3 * time.Second)
	now = now.Add(4 * time.Second)
	p.freed(freedAt)
	select {
	case <-la.wake:
	default:
		t.Fatal("the pollers are woken to plan again")
	}
	la = p.plan(a)
	assert.True(t, la.useResult, "a is looked at once, with the result call...")
	assert.Equal(t, freedAt.Add(10*time.Second), la.at, "...when it should finish")
	assert.Equal(t, 0, b.queuePos, "b moved up")
	assert.False(t, p.plan(b).useResult, "b still waits in line")

	// A look that finds a still queued (another client's job took the
	// slot): it waits in line again, and the next slot is its.
	p.observe(a, api.StatusInQueue, 0, now)
	assert.True(t, a.handedSlot.IsZero())
	p.freed(now)
	assert.Equal(t, now, a.handedSlot)
	assert.True(t, b.handedSlot.IsZero())

	// Its start was handed, not seen, and nothing contradicts it: the run
	// time is learned from it.
	start, known := a.started()
	assert.Equal(t, now, start)
	assert.True(t, known)

	p.forget(a)
	p.forget(b)
	p.freed(now) // nobody waits: nothing happens
	assert.Empty(t, p.waiting)
}

func TestSlotsAreHandedInTheOrderTheyFreed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := newPollPolicy(PollConfig{}, func() time.Time { return now })
	p.learn(10 * time.Second)
	var line []*jobWatch
	for i := range 3 {
		w := &jobWatch{submittedAt: now.Add(time.Duration(i) * time.Millisecond), queuePos: -1, looks: 1, lastLook: now}
		p.observe(w, api.StatusInQueue, i, now)
		line = append(line, w)
	}
	t1, t2 := now.Add(time.Second), now.Add(2*time.Second)
	// The job that finished second is seen first.
	p.freed(t2)
	assert.Equal(t, t2, line[0].handedSlot)
	p.freed(t1)
	assert.Equal(t, t1, line[0].handedSlot, "first in line took the first slot freed")
	assert.Equal(t, t2, line[1].handedSlot)
	assert.True(t, line[2].handedSlot.IsZero())
	assert.Equal(t, 0, line[2].queuePos, "two places nearer the head")
}

func TestASkewedClockCannotStopThePolling(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	const day = 24 * time.Hour
	cases := []struct {
		name string
		// The finished job: its submit and the look that saw it finished,
		// in our clock; created_at and finished_at, in the API's.
		submitted, seen   time.Time
		created, finished time.Time
		maxRunTime        time.Duration // the most it may teach
	}{
		{name: "honest timestamps", submitted: t0, seen: t0.Add(5200 * time.Millisecond),
			created: t0, finished: t0.Add(5 * time.Second), maxRunTime: 5200 * time.Millisecond},
		{name: "created_at 10 days before finished_at", submitted: t0, seen: t0.Add(5 * time.Second),
			created: t0.Add(5*time.Second - 10*day), finished: t0.Add(5 * time.Second), maxRunTime: 5 * time.Second},
		{name: "finished before created", submitted: t0, seen: t0.Add(5 * time.Second),
			created: t0.Add(5 * time.Second), finished: t0, maxRunTime: 5 * time.Second},
		// A job of an earlier run, submitted 30 days ago: 10 days fit in
		// what our clock allows, and may be learned; the bound on the
		// looks still holds.
		{name: "skewed, on a job resumed from 30 days ago", submitted: t0.Add(-30 * day), seen: t0.Add(5 * time.Second),
			created: t0.Add(5*time.Second - 10*day), finished: t0.Add(5 * time.Second), maxRunTime: 30*day + 5*time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := t0
			p := newPollPolicy(PollConfig{}, func() time.Time { return now })
			w := &jobWatch{submittedAt: tc.submitted, queuePos: -1, looks: 1, lastLook: tc.submitted}
			now = tc.seen
			p.finished(w, tc.created, tc.finished, true, now)
			assert.LessOrEqual(t, p.runTime, tc.maxRunTime, "never more than our own clock allows")

			// A job submitted now and seen running: its next look is within
			// Max (30s), or twice the longest run seen in our clock.
			bound := max(p.cfg.Max, 2*tc.seen.Sub(tc.submitted))
			if tc.submitted.Before(t0) {
				bound = p.cfg.Max // a resumed job teaches no bound
			}
			next := &jobWatch{submittedAt: now, queuePos: -1, looks: 1, lastLook: now}
			p.observe(next, api.StatusInProgress, -1, now)
			for range 3 {
				l := p.plan(next)
				require.False(t, l.at.IsZero())
				assert.LessOrEqual(t, l.at.Sub(now), bound, "next look %s after the last", l.at.Sub(now))
				now = l.at
				next.looks++
				next.lastLook = now
			}
		})
	}
}

func TestRunTimeTakesTheAPIsTimestampsWithinWhatWasSeen(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Duration { return time.Duration(math.Round(s*1000)) * time.Millisecond }
	at := func(s float64) time.Time { return t0.Add(sec(s)) }
	for _, tc := range []struct {
		name              string
		unfinished        float64 // last look that saw it unfinished, s after submit; <0: none
		found             float64 // the look that found it finished
		created, finished time.Time
		want              time.Duration
	}{
		{"precise timestamps are taken as they are",
			3.5, 4.2, at(0.1), at(4.1), sec(4)},
		{"whole seconds: an instant job reads 0 s, taken as it is",
			-1, 0.25, t0, t0, time.Millisecond},
		{"whole seconds are taken as they are: on average right",
			3.9, 4.6, at(0), at(4), sec(4)},
		{"a value just past what was seen is held to it (the API's clock runs a little ahead)",
			3.5, 4.2, at(0), at(4.6), sec(4.2)},
		{"whole seconds that our looks contradict are left out",
			4.5, 4.6, at(0), at(2), sec(4.55)},
		{"no timestamps: the middle of what was seen",
			2, 4, time.Time{}, time.Time{}, sec(3)},
		{"a clock days off on the API's side is left out",
			1, 2, at(0).Add(-240 * time.Hour), at(2), sec(1.5)},
		{"finished before created is left out",
			1, 2, at(2), at(1), sec(1.5)},
		{"never less than a millisecond",
			-1, 0, time.Time{}, time.Time{}, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &jobWatch{submittedAt: t0, queuePos: -1}
			if tc.unfinished >= 0 {
				w.lastUnfinished = at(tc.unfinished)
			}
			start, known := w.started()
			require.True(t, known)
			assert.Equal(t, tc.want, w.runTime(start, at(tc.found), tc.created, tc.finished))
		})
	}
}

func TestWhileNothingIsLearnedOnlyTheProbeLooksOften(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := newPollPolicy(PollConfig{Initial: 250 * time.Millisecond}, func() time.Time { return now })
	probe := &jobWatch{submittedAt: now, queuePos: -1}
	other := &jobWatch{submittedAt: now, queuePos: -1}

	assert.Equal(t, now.Add(250*time.Millisecond), p.plan(probe).at, "the probe looks first after Initial")
	assert.Equal(t, now.Add(4*time.Second), p.plan(other).at,
		"the others wait for the probe: a backstop at 16×Initial")

	// Four seconds on, nothing learned: the probe looks every eighth of
	// its age, the others back off fourfold.
	now = now.Add(4 * time.Second)
	for _, w := range []*jobWatch{probe, other} {
		w.looks, w.lastLook = 1, now
		p.observe(w, api.StatusInProgress, -1, now)
	}
	assert.Equal(t, now.Add(500*time.Millisecond), p.plan(probe).at)
	assert.Equal(t, now.Add(12*time.Second), p.plan(other).at)

	// The probe's finish wakes the others, who then look when jobs of
	// that run time are due.
	wake := p.plan(other).wake
	p.learn(5 * time.Second)
	select {
	case <-wake:
	default:
		t.Fatal("learning the first run time wakes the others")
	}
	l := p.plan(other)
	assert.True(t, l.useResult)
	assert.Equal(t, other.submittedAt.Add(5*time.Second), l.at)
}

// TestARowWaitingWakesThePollers: when a row begins to wait for a slot,
// the sleeping pollers plan again, and then plan as slot-bound.
func TestARowWaitingWakesThePollers(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := newPollPolicy(PollConfig{}, func() time.Time { return now })
	wait := false
	p.rowsWait = func() bool { return wait }
	w := &jobWatch{submittedAt: now, queuePos: -1}
	probing := p.plan(w)
	p.rowsWaiting()
	select {
	case <-probing.wake:
		t.Fatal("no wake while nothing is learned: the looks it would bring need a run time")
	default:
	}
	p.learn(10 * time.Second)
	frugal := p.plan(w)
	assert.Equal(t, now.Add(10*time.Second), frugal.at, "nothing waits: one look when it is due")

	wait = true
	p.rowsWaiting()
	select {
	case <-frugal.wake:
	default:
		t.Fatal("the pollers are woken to plan again")
	}
	bound := p.plan(w)
	assert.True(t, bound.at.Before(frugal.at), "a row waits: looked at sooner")

	// The next row waits as soon as one took a freed slot: the plans
	// already say rows wait, so the pollers sleep on.
	p.rowsWaiting()
	select {
	case <-bound.wake:
		t.Fatal("no wake while the plans already saw rows waiting")
	default:
	}
}

// learn records a finished job's run time.
func (p *pollPolicy) learn(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeIf(p.schedule.learn(d))
}

// freed records that a job of ours left its slot at t.
func (p *pollPolicy) freed(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeIf(p.schedule.freed(t))
}
