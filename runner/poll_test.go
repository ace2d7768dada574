package runner

import (
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
		wantRunTime       time.Duration // learned; 0 = nothing learned
	}{
		{name: "honest timestamps", submitted: t0, seen: t0.Add(5200 * time.Millisecond),
			created: t0, finished: t0.Add(5 * time.Second), wantRunTime: 5 * time.Second},
		{name: "whole seconds, a little over what we saw: capped by it", submitted: t0, seen: t0.Add(4200 * time.Millisecond),
			created: t0, finished: t0.Add(5 * time.Second), wantRunTime: 4200 * time.Millisecond},
		{name: "created_at 10 days before finished_at: ignored", submitted: t0, seen: t0.Add(5 * time.Second),
			created: t0.Add(5*time.Second - 10*day), finished: t0.Add(5 * time.Second)},
		{name: "finished before created: ignored", submitted: t0, seen: t0.Add(5 * time.Second),
			created: t0.Add(5 * time.Second), finished: t0},
		{name: "no timestamps: nothing learned", submitted: t0, seen: t0.Add(5 * time.Second)},
		// A job of an earlier run, submitted 30 days ago: 10 days fit in
		// what our clock allows, and are learned; the bound below still
		// holds the looks.
		{name: "skewed, on a job resumed from 30 days ago", submitted: t0.Add(-30 * day), seen: t0.Add(5 * time.Second),
			created: t0.Add(5*time.Second - 10*day), finished: t0.Add(5 * time.Second), wantRunTime: 10 * day},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := t0
			p := newPollPolicy(PollConfig{}, func() time.Time { return now })
			w := &jobWatch{submittedAt: tc.submitted, queuePos: -1, looks: 1, lastLook: tc.submitted}
			now = tc.seen
			freed := p.finished(w, tc.created, tc.finished, true, now)
			assert.False(t, freed.After(now), "a slot is freed no later than it was seen free")
			assert.Equal(t, tc.wantRunTime, p.runTime)

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
