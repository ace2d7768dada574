package runner

import (
	"math"
	"slices"
	"time"
)

// The poll policy while the batch is slot-bound: rows wait for a slot of
// ours (--concurrency, or the account's limit, holds their submits) and
// none of our jobs waits in the API's queue to take a freed slot. Then
// every second between a job's finish and our noticing it is a second a
// slot sits idle, and a night of them is renders not made: the looks at
// running jobs spend calls to notice finishes sooner. When nothing waits,
// the policy stays as frugal as ever (one look when a job is due).

// boundGapScale sets how a look's cost is weighed against a slot's idle
// time: the gap to the next look at a job is √(boundGapScale · the time
// left in the window its finish is expected in). Gaps that grow as the
// square root of the time left leave a slot idle least for a given number
// of calls (a job still running near the window's end is ever more likely
// to finish at the next moment); this scale (one call worth about 125 ms
// of a slot) spends, in theory, about 4 looks on a job whose run time
// varies evenly by ±20% and 6 on one varying by ±50%, for a finish noticed
// about 0.5 s and 0.75 s after it on average, on jobs of 20 s. (The first
// jobs, before anything is learned, cost more: about 5.5 and 8 calls a job
// over a batch of 40, measured.)
const boundGapScale = 250 * time.Millisecond

// boundRateShare is the part of the call budget the looks at running jobs
// may take while rows wait: the rest is for the submits and downloads the
// finishes they notice start.
const boundRateShare = 0.75

// recentRuns is how many of the last run times learned set the window a
// finish is expected in, once that many are known.
const recentRuns = 16

// slotBound reports whether the batch is slot-bound, as plan sees it.
func (s *schedule) slotBound() bool {
	return s.rowsWait && len(s.waiting) == 0
}

// spreadSeen is the spread learned, corrected for the learning's start
// from zero (the exponential average weighs its first samples against a
// zero that was never seen), or, with a single sample, an eighth of the
// run time: a guess that a job's neighbours finish within a quarter of it.
func (s *schedule) spreadSeen() time.Duration {
	if s.samples < 2 {
		return s.runTime / 8
	}
	return time.Duration(float64(s.spread) / (1 - math.Pow(0.8, float64(s.samples-1))))
}

// planBound decides the next look at a running job that started at start
// and was last looked at (or submitted) at last, while the batch is
// slot-bound. Its finish is expected within the window of the learned run
// time ± twice the spread (an even spread of that mean deviation); looks
// are spread across the window, denser towards its end, and past it come
// at steps that grow with the square root of its lateness.
func (s *schedule) planBound(start, last time.Time) look {
	lo, hi, half := s.window(start)
	floor := s.cfg.Min
	if s.cfg.Rate > 0 {
		floor = max(floor, time.Duration(float64(s.watched)/(boundRateShare*s.cfg.Rate)*float64(time.Second)))
	}
	from := maxTime(last, lo)
	if left := hi.Sub(from); left > 0 {
		gap := sqrtDur(left * boundGapScale / time.Second)
		return look{at: from.Add(min(max(gap, floor), s.cfg.Max)), useResult: true}
	}
	// Past the window the estimate was short: the job is taken to be as far
	// from its end as it is past the window's middle, so the gaps grow as
	// the square root of its lateness, not faster — one long job noticed
	// seconds late holds a slot, and the makespan, as long.
	over := max(last.Sub(hi), 0)
	step := max(floor, sqrtDur((half+over)*boundGapScale/time.Second))
	return look{at: last.Add(s.clamp(step)), useResult: true, late: true}
}

// window is when a job that started at start is expected to finish,
// and half its width. With recentRuns run times learned, it spans the
// shortest to the longest of them, widened by a fourteenth of that range
// each way (16 even draws fall short of each end by a fifteenth of their
// range on average): what was seen, whatever its shape. Before, it is the learned run
// time ± twice the spread, an even spread of that mean deviation.
func (s *schedule) window(start time.Time) (lo, hi time.Time, half time.Duration) {
	run := min(s.runTime, s.maxRun())
	if s.samples < recentRuns {
		half = max(2*s.spreadSeen(), run/20)
		return start.Add(run - half), start.Add(run + half), half
	}
	shortest, longest := slices.Min(s.recent[:]), min(slices.Max(s.recent[:]), s.maxRun())
	margin := max((longest-shortest)/14, run/40)
	half = (longest - shortest + 2*margin) / 2
	return start.Add(shortest - margin), start.Add(longest + margin), half
}

// sqrtDur is the square root of d² (a duration times a duration, over a
// second): √(d² in s²), in seconds.
func sqrtDur(d2 time.Duration) time.Duration {
	return time.Duration(math.Sqrt(d2.Seconds()) * float64(time.Second))
}
