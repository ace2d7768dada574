package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// outageEvent is one call's outcome reported to the outage clock, at
// offset from the test's start.
type outageEvent struct {
	at      time.Duration
	ok      bool
	failing time.Duration // how long the failed call kept failing

	// What the clock answers to a failure.
	tries int
	over  bool
}

func TestOutageDecisions(t *testing.T) {
	t.Parallel()
	const limit = time.Minute
	cases := []struct {
		name   string
		events []outageEvent
	}{
		{"one short failure waits", []outageEvent{
			{at: 0, failing: time.Second, tries: 1},
		}},
		{"counts from the failing call's first attempt", []outageEvent{
			{at: 0, failing: 2 * time.Minute, tries: 1, over: true},
		}},
		{"gives up a limit after the first failure", []outageEvent{
			{at: 0, failing: time.Second, tries: 1},
			{at: 30 * time.Second, failing: time.Second, tries: 2},
			{at: 59 * time.Second, failing: time.Second, tries: 3, over: true},
		}},
		{"later calls' own failing time does not move the start", []outageEvent{
			{at: 0, tries: 1},
			{at: 10 * time.Second, failing: 10 * time.Minute, tries: 2},
		}},
		{"a success ends the outage", []outageEvent{
			{at: 0, failing: 50 * time.Second, tries: 1},
			{at: 5 * time.Second, ok: true},
			{at: 65 * time.Second, failing: time.Second, tries: 1},
		}},
		{"negative failing is none", []outageEvent{
			{at: 0, failing: -time.Hour, tries: 1},
			{at: 59 * time.Second, tries: 2},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Unix(1_800_000_000, 0)
			o := &outage{limit: limit}
			for i, e := range tc.events {
				now := t0.Add(e.at)
				if e.ok {
					o.ok(now)
					continue
				}
				tries, over := o.failed(now, e.failing)
				assert.Equal(t, e.tries, tries, "event %d: tries", i)
				assert.Equal(t, e.over, over, "event %d: over", i)
			}
		})
	}
}

func TestOutageOKSince(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name   string
		lastOK time.Duration // offset of the last success; <0: none
		asked  time.Duration
		want   bool
	}{
		{"no call ever succeeded", -1, 0, false},
		{"a success after the trouble began", 5 * time.Second, 2 * time.Second, true},
		{"a success at that very instant", 2 * time.Second, 2 * time.Second, true},
		{"the last success before it", time.Second, 2 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := &outage{limit: time.Minute}
			if tc.lastOK >= 0 {
				o.ok(t0.Add(tc.lastOK))
			}
			assert.Equal(t, tc.want, o.okSince(t0.Add(tc.asked)))
		})
	}
}
