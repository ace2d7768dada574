package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Adaptive rate: a 429 means "slow down" for the whole account, not just for
// the call that got it, so the shared limiter is cut; calls that succeed
// bring it back, slowly. Additive increase, multiplicative decrease, as TCP
// does, finds the rate the account allows whatever --rps says.
const (
	// adaptCut is the factor a 429 applies to the rate.
	adaptCut = 0.5
	// adaptCutEvery spaces the cuts: the 429s of requests sent before a
	// cut took effect would otherwise cut again for the same excess.
	adaptCutEvery = time.Second
	// adaptFloor is the lowest rate, as a fraction of the configured one.
	adaptFloor = 1.0 / 20
	// adaptRecover is how long, with every call succeeding, the rate takes
	// to climb back from zero to the configured one (linearly).
	adaptRecover = 20 * time.Second
)

// adaptiveLimit adjusts a shared rate.Limiter between a floor and the
// rate it was configured with. It is safe for concurrent use.
type adaptiveLimit struct {
	lim     *rate.Limiter
	ceiling rate.Limit

	mu       sync.Mutex
	lastCut  time.Time
	lastGain time.Time // when recovery was last applied
}

// newAdaptiveLimit returns nil when lim cannot adapt: no limiter, an
// unlimited one, or one that never refills.
func newAdaptiveLimit(lim *rate.Limiter) *adaptiveLimit {
	if lim == nil {
		return nil
	}
	l := lim.Limit()
	if l <= 0 || l == rate.Inf || math.IsInf(float64(l), 0) {
		return nil
	}
	return &adaptiveLimit{lim: lim, ceiling: l}
}

// slowDown reacts to a 429 and reports whether it slowed down. The first
// reaction is to stop bursting: the API's own bucket is evidently smaller
// than ours (an API that allows R/s may take them only evenly spaced), so
// from then on requests leave evenly spaced at the same rate. Only a 429
// that comes while sending evenly cuts the rate.
func (a *adaptiveLimit) slowDown(now time.Time) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.lastCut.IsZero() && now.Sub(a.lastCut) < adaptCutEvery {
		return false
	}
	if a.lim.Burst() > 1 {
		a.lim.SetBurstAt(now, 1)
		a.lastCut, a.lastGain = now, now
		return true
	}
	floor := a.ceiling * adaptFloor
	cur := a.lim.Limit()
	next := max(floor, cur*adaptCut)
	a.lastCut, a.lastGain = now, now
	if next >= cur {
		return false
	}
	a.lim.SetLimitAt(now, next)
	return true
}

// recover raises the rate after a call that succeeded, in proportion to the
// time since the last raise, never above the configured rate.
func (a *adaptiveLimit) recover(now time.Time) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.lim.Limit()
	if cur >= a.ceiling {
		return
	}
	dt := now.Sub(a.lastGain)
	if dt <= 0 {
		return
	}
	a.lastGain = now
	gain := a.ceiling * rate.Limit(dt.Seconds()/adaptRecover.Seconds())
	a.lim.SetLimitAt(now, min(a.ceiling, cur+gain))
}
