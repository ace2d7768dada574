package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestScheduleLooks: the schedule's decision, for one job, of when to
// look at it next and with which call.
func TestScheduleLooks(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	const runTime, spread = 10 * time.Second, 2 * time.Second
	learned := func(s *schedule) { s.samples, s.runTime, s.spread = 3, runTime, spread }
	justLearned := func(s *schedule, _ *jobWatch) { learned(s) }
	cases := []struct {
		name  string
		setup func(s *schedule, w *jobWatch) // w was submitted at t0
		now   time.Time
		want  look
	}{
		{name: "nothing learned, a resumed job never looked at: now",
			setup: func(s *schedule, w *jobWatch) {}, now: t0.Add(10 * time.Second),
			want: look{at: t0.Add(10 * time.Second)}},
		{name: "nothing learned, the first job probes: Initial after its submit",
			setup: func(s *schedule, w *jobWatch) {}, now: t0,
			want: look{at: t0.Add(250 * time.Millisecond)}},
		{name: "nothing learned, the probe looks every eighth of its age",
			setup: func(s *schedule, w *jobWatch) { s.probe, w.looks, w.lastLook = w, 3, t0.Add(8*time.Second) },
			now:   t0.Add(8 * time.Second),
			want:  look{at: t0.Add(9 * time.Second)}},
		{name: "nothing learned, the others wait for the probe: 3×age",
			setup: func(s *schedule, w *jobWatch) {
				s.probe, w.looks, w.lastLook = &jobWatch{queuePos: -1}, 1, t0.Add(4*time.Second)
			},
			now:  t0.Add(4 * time.Second),
			want: look{at: t0.Add(16 * time.Second)}},
		{name: "nothing learned, the others' backstop is at most Max",
			setup: func(s *schedule, w *jobWatch) {
				s.probe, w.looks, w.lastLook = &jobWatch{queuePos: -1}, 2, t0.Add(20*time.Second)
			},
			now:  t0.Add(20 * time.Second),
			want: look{at: t0.Add(50 * time.Second)}},
		{name: "learned: a running job is looked at once, half a spread before it is due, with the result call",
			setup: justLearned, now: t0,
			want: look{at: t0.Add(runTime - spread/2), useResult: true}},
		{name: "learned: a start seen between two looks is early already",
			setup: func(s *schedule, w *jobWatch) {
				learned(s)
				w.looks, w.lastLook = 2, t0.Add(2*time.Second)
				w.lastQueuedAt, w.runningAt = t0.Add(time.Second), t0.Add(2*time.Second)
			},
			now:  t0.Add(2 * time.Second),
			want: look{at: t0.Add(1500*time.Millisecond + runTime), useResult: true}},
		{name: "learned, overdue: a short step",
			setup: func(s *schedule, w *jobWatch) { learned(s); w.looks, w.lastLook = 1, t0.Add(10*time.Second) },
			now:   t0.Add(10 * time.Second),
			want:  look{at: t0.Add(11 * time.Second), useResult: true, late: true}},
		{name: "learned, overdue twice already: the step grows by a quarter each time",
			setup: func(s *schedule, w *jobWatch) {
				learned(s)
				w.looks, w.lastLook, w.late = 3, t0.Add(12*time.Second), 2
			},
			now:  t0.Add(12 * time.Second),
			want: look{at: t0.Add(12*time.Second + 1562500*time.Microsecond), useResult: true, late: true}},
		{name: "learned, queued at 3 with two running: when four finishes should have come, plus half a run",
			setup: func(s *schedule, w *jobWatch) {
				learned(s)
				s.running = 2
				w.looks, w.lastLook, w.queuePos, w.posAt, w.lastQueuedAt = 1, t0, 3, t0, t0
			},
			now:  t0,
			want: look{at: t0.Add(4*runTime/2 + runTime/2)}},
		{name: "learned, queued far back: at most Max after the last look",
			setup: func(s *schedule, w *jobWatch) {
				learned(s)
				w.looks, w.lastLook, w.queuePos, w.posAt, w.lastQueuedAt = 1, t0, 40, t0, t0
			},
			now:  t0,
			want: look{at: t0.Add(30 * time.Second)}},
		{name: "learned, queued: at the pace the queue was seen to move",
			setup: func(s *schedule, w *jobWatch) {
				learned(s)
				s.advanced, s.advancing = 4, 2 // two places a second
				w.looks, w.lastLook, w.queuePos, w.posAt, w.lastQueuedAt = 1, t0, 3, t0, t0
			},
			now:  t0,
			want: look{at: t0.Add(2*time.Second + runTime/2)}},
		{name: "learned, a new job behind our queued ones: its position first",
			setup: func(s *schedule, w *jobWatch) { learned(s); s.queued = 5 }, now: t0,
			want: look{at: t0.Add(100 * time.Millisecond)}},
		{name: "learned, handed a freed slot: due a run time after it",
			setup: func(s *schedule, w *jobWatch) {
				learned(s)
				w.looks, w.lastLook, w.queuePos, w.posAt, w.lastQueuedAt = 1, t0, 0, t0, t0
				w.handedSlot = t0.Add(3 * time.Second)
			},
			now:  t0.Add(3 * time.Second),
			want: look{at: t0.Add(3*time.Second + runTime), useResult: true}},
		{name: "a run time learned from a skewed clock is bounded by Max",
			setup: func(s *schedule, w *jobWatch) { learned(s); s.runTime = 10 * 24 * time.Hour },
			now:   t0,
			want:  look{at: t0.Add(30*time.Second - spread/2), useResult: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSchedule(PollConfig{}, t0)
			w := &jobWatch{submittedAt: t0, queuePos: -1}
			tc.setup(s, w)
			assert.Equal(t, tc.want, s.plan(w, tc.now))
		})
	}
}

// TestScheduleLearns: what one finished job teaches, and when the pollers
// are told to plan again.
func TestScheduleLearns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		runTimes  []time.Duration // learned one after another
		planAgain []bool          // what each learn answered
		runTime   time.Duration
		spread    time.Duration
	}{
		{"the first run time ends the probing", []time.Duration{10 * time.Second}, []bool{true}, 10 * time.Second, 0},
		{"a longer one moves the estimate a fifth of the way, quietly",
			[]time.Duration{10 * time.Second, 20 * time.Second}, []bool{true, false}, 12 * time.Second, 2 * time.Second},
		{"a much shorter estimate makes sleeping pollers overdue: they plan again",
			[]time.Duration{10 * time.Second, 4 * time.Second}, []bool{true, true}, 8800 * time.Millisecond, 1200 * time.Millisecond},
		{"a slightly shorter one does not",
			[]time.Duration{10 * time.Second, 6 * time.Second}, []bool{true, false}, 9200 * time.Millisecond, 800 * time.Millisecond},
		{"nothing runs for no time", []time.Duration{0}, []bool{false}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSchedule(PollConfig{}, time.Unix(1_800_000_000, 0))
			var got []bool
			for _, d := range tc.runTimes {
				got = append(got, s.learn(d))
			}
			assert.Equal(t, tc.planAgain, got)
			assert.Equal(t, tc.runTime, s.runTime)
			assert.Equal(t, tc.spread, s.spread)
		})
	}
}

// TestScheduleForgets: a poller that ends while nothing is learned hands
// the probe on, and the others plan again.
func TestScheduleForgets(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name      string
		isProbe   bool
		learned   bool
		planAgain bool
	}{
		{"the probe, nothing learned: another takes over", true, false, true},
		{"the probe, once a run time is known", true, true, false},
		{"any other job", false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSchedule(PollConfig{}, t0)
			w := &jobWatch{submittedAt: t0, queuePos: -1}
			if tc.learned {
				s.learn(time.Second)
			}
			if tc.isProbe {
				s.probe = w
			}
			assert.Equal(t, tc.planAgain, s.forget(w))
			assert.Nil(t, s.probe)
		})
	}
}

// TestScheduleLooksWhenSlotBound: while rows wait for a slot and none of
// our jobs waits in the API's queue, a running job is looked at across
// the window its finish is expected in, more often towards its end; else
// the schedule stays as frugal as TestScheduleLooks says.
func TestScheduleLooksWhenSlotBound(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	// Learned from many jobs: 10 s ± 2 s (mean deviation), the last 16
	// from 6.5 s to 13.5 s, so the window is 6 s to 14 s after the start.
	learned := func(s *schedule, w *jobWatch) {
		s.samples, s.runTime, s.spread, s.rowsWait = 100, 10*time.Second, 2*time.Second, true
		for i := range s.recent {
			s.recent[i] = 6500*time.Millisecond + time.Duration(i)*7*time.Second/15
		}
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	cases := []struct {
		name  string
		setup func(s *schedule, w *jobWatch) // w was submitted at t0
		want  look
	}{
		{name: "the first look: √(0.25 s × the 8 s window) into it",
			setup: learned, want: look{at: t0.Add(ms(6000 + 1414)), useResult: true}},
		{name: "near the window's end the gaps shrink: √(0.25 s × 0.7 s)",
			setup: func(s *schedule, w *jobWatch) { learned(s, w); w.looks, w.lastLook = 5, t0.Add(ms(13300)) },
			want:  look{at: t0.Add(ms(13300 + 418)), useResult: true}},
		{name: "past the window: the gap it would end with, √(0.25 s × the 4 s half-width), late",
			setup: func(s *schedule, w *jobWatch) { learned(s, w); w.looks, w.lastLook = 7, t0.Add(14*time.Second) },
			want:  look{at: t0.Add(ms(15000)), useResult: true, late: true}},
		{name: "2 s past the window: √(0.25 s × (4 s + 2 s))",
			setup: func(s *schedule, w *jobWatch) {
				learned(s, w)
				w.looks, w.lastLook, w.late = 9, t0.Add(16*time.Second), 2
			},
			want: look{at: t0.Add(ms(16000 + 1225)), useResult: true, late: true}},
		{name: "the call budget bounds the gaps: 3 jobs at three quarters of 5 calls/s",
			setup: func(s *schedule, w *jobWatch) {
				learned(s, w)
				s.cfg.Rate, s.watched, w.looks, w.lastLook = 5, 2, 5, t0.Add(ms(13300))
			},
			want: look{at: t0.Add(ms(13300 + 800)), useResult: true}},
		{name: "never later than the frugal look: the budget of 1 call/s would wait 4 s",
			setup: func(s *schedule, w *jobWatch) { learned(s, w); s.cfg.Rate, s.watched = 1, 2 },
			want:  look{at: t0.Add(9 * time.Second), useResult: true}},
		{name: "the window is what the last 16 run times spanned, whatever the mean says",
			setup: func(s *schedule, w *jobWatch) {
				learned(s, w)
				for i := range s.recent {
					s.recent[i] = 6500*time.Millisecond + time.Duration(i)*3*time.Second/15
				}
			},
			// 6.5 s to 9.5 s, widened each way by a fortieth of the run
			// time (more than a fourteenth of 3 s): √(0.25 s × 3.5 s)
			want: look{at: t0.Add(ms(6250 + 935)), useResult: true}},
		{name: "fewer than 16 learned: one run time, its neighbours are guessed within a quarter of it",
			setup: func(s *schedule, w *jobWatch) { learned(s, w); s.samples, s.spread = 1, 0 },
			// window 7.5 s to 12.5 s: √(0.25 s × 5 s)
			want: look{at: t0.Add(ms(7500 + 1118)), useResult: true}},
		{name: "a young average's spread is scaled up: two samples weigh a fifth",
			setup: func(s *schedule, w *jobWatch) { learned(s, w); s.samples, s.spread = 2, 400*time.Millisecond },
			// corrected to 2 s: the 6 s to 14 s window again
			want: look{at: t0.Add(ms(6000 + 1414)), useResult: true}},
		{name: "a job of ours waits in the API's queue: a freed slot is used anyway, frugal as ever",
			setup: func(s *schedule, w *jobWatch) { learned(s, w); s.waiting[&jobWatch{}] = struct{}{} },
			want:  look{at: t0.Add(9 * time.Second), useResult: true}},
		{name: "nothing waits: frugal as ever",
			setup: func(s *schedule, w *jobWatch) { learned(s, w); s.rowsWait = false },
			want:  look{at: t0.Add(9 * time.Second), useResult: true}},
		{name: "nothing learned: the probe looks every eighth of its age, as ever",
			setup: func(s *schedule, w *jobWatch) {
				s.rowsWait, s.probe, w.looks, w.lastLook = true, w, 3, t0.Add(16*time.Second)
			},
			want: look{at: t0.Add(18 * time.Second)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSchedule(PollConfig{}, t0)
			w := &jobWatch{submittedAt: t0, queuePos: -1}
			tc.setup(s, w)
			got := s.plan(w, t0)
			assert.WithinDuration(t, tc.want.at, got.at, time.Millisecond)
			got.at = tc.want.at
			assert.Equal(t, tc.want, got)
		})
	}
}
