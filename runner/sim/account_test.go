package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestAccountMatchesReference drives 20,000 jobs through the lazy account
// with random arrivals, jitter and cancellations, then replays them through a
// naive FIFO scheduler with k slots and requires the same schedule to the
// nanosecond.
func TestAccountMatchesReference(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		seed  uint64
		stuck float64 // Faults.RateNeverFinish
	}{{1, 0}, {2, 0.0002}, {3, 0.0002}, {4, 0.001}} {
		seed := tc.seed
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 0))
			slots := 1 + rng.IntN(8)
			run := time.Duration(50+rng.IntN(200)) * time.Millisecond
			// Arrivals slightly faster than the slots drain them, so that
			// the queue both empties (early) and grows (later).
			meanGap := float64(run) * 1.25 / float64(slots) / 1.05
			s, err := New(Config{
				Slots:     slots,
				QueueTime: time.Duration(rng.IntN(50)) * time.Millisecond,
				RunTime:   run,
				RunJitter: 0.9,
				Seed:      int64(seed),
				Faults:    Faults{RateNeverFinish: tc.stuck, RateFail: 0.1},
				Now:       func() time.Time { panic("clock not used") },
			})
			require.NoError(t, err)

			now := start
			var cancels int
			const n = 20000
			for i := range n {
				now = now.Add(time.Duration(rng.Float64() * 2 * meanGap))
				s.advance(now)
				d := 5
				if rng.IntN(4) == 0 {
					d = 10
				}
				s.newJob(now, fmt.Appendf(nil, `{"n":%d}`, i), d, 0)
				if rng.IntN(20) == 0 {
					if j := s.order[max(0, len(s.order)-1-rng.IntN(50))]; j.state == StateInQueue {
						s.acct.cancel(j, now)
						cancels++
					}
				}
				if i%2000 == 1999 {
					checkQueuePositions(t, s)
				}
			}
			require.Positive(t, cancels)
			s.advance(now.Add(24 * time.Hour))

			free := make([]time.Time, slots)
			never := make([]bool, slots) // held by a stuck job
			var prevStart time.Time
			var stuck, stalled int
			for _, j := range s.order {
				if j.state == StateCancelled {
					require.True(t, j.startedAt.IsZero())
					continue
				}
				k := -1
				for i := range free {
					if !never[i] && (k < 0 || free[i].Before(free[k])) {
						k = i
					}
				}
				if k < 0 {
					require.Equal(t, StateInQueue, j.state, "job %d: every slot is stuck", j.seq)
					stalled++
					continue
				}
				want := latest(j.eligibleAt, free[k], prevStart)
				require.Equal(t, want, j.startedAt, "job %d", j.seq)
				prevStart = want
				if j.isStuck {
					require.Equal(t, StateInProgress, j.state)
					require.True(t, j.finishedAt.IsZero())
					never[k] = true
					stuck++
					continue
				}
				require.Contains(t, []string{StateCompleted, StateFailed}, j.state)
				require.Equal(t, want.Add(j.runTime), j.finishedAt, "job %d", j.seq)
				free[k] = j.finishedAt
			}
			t.Logf("slots %d, cancelled %d, stuck %d, never started %d", slots, cancels, stuck, stalled)
		})
	}
}

func latest(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// checkQueuePositions compares every queued job's position with a count of
// the queued jobs submitted before it.
func checkQueuePositions(t *testing.T, s *Server) {
	t.Helper()
	ahead := 0
	for _, j := range s.order {
		if j.state != StateInQueue {
			continue
		}
		if ahead > 200 && j.seq%97 != 0 {
			ahead++ // a long stalled queue: sample it
			continue
		}
		require.Equal(t, ahead, s.acct.queuePosition(j), "job %d", j.seq)
		ahead++
	}
	require.Equal(t, ahead, s.acct.queued)
}

// BenchmarkAccount measures submitting and running jobs through the account
// alone: O(log n) per job.
func BenchmarkAccount(b *testing.B) {
	s, err := New(Config{Slots: 16, RunTime: 100 * time.Millisecond, RunJitter: 0.2})
	require.NoError(b, err)
	input := []byte(`{"image":"https://x.example/a.png"}`)
	now := start
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		s.advance(now)
		s.newJob(now, input, 5, 0)
	}
}
