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
