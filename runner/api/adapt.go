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

// ratePolicy decides the shared rate from what calls meet: a pure policy.
// Its methods take an observation and the time it was made and return
// the limiter's new setting; the caller serialises them and applies it.
type ratePolicy struct {
	ceiling  rate.Limit // the configured rate
	limit    rate.Limit // the rate now
	bursting bool       // requests may still leave in bursts

	lastCut  time.Time
	lastGain time.Time // when recovery was last applied
}

// rateChange is a decision of ratePolicy: end the burst (the rate stays),
// or set the rate to limit.
type rateChange struct {
	endBurst bool
	limit    rate.Limit
}

// newRatePolicy returns the policy of a limiter of rate ceiling that may
// burst; ok is false when such a limiter cannot adapt: unlimited, or one
// that never refills.
func newRatePolicy(ceiling rate.Limit, bursting bool) (ratePolicy, bool) {
	if ceiling <= 0 || ceiling == rate.Inf || math.IsInf(float64(ceiling), 0) {
		return ratePolicy{}, false
	}
	return ratePolicy{ceiling: ceiling, limit: ceiling, bursting: bursting}, true
}

// refused reacts to a 429 at now and reports whether it slows down. The
// first reaction is to stop bursting: the API's own bucket is evidently
// smaller than ours (an API that allows R/s may take them only evenly
// spaced), so from then on requests leave evenly spaced at the same rate.
// Only a 429 that comes while sending evenly cuts the rate.
func (p *ratePolicy) refused(now time.Time) (rateChange, bool) {
	if !p.lastCut.IsZero() && now.Sub(p.lastCut) < adaptCutEvery {
		return rateChange{}, false
	}
	p.lastCut, p.lastGain = now, now
	if p.bursting {
		p.bursting = false
		return rateChange{endBurst: true}, true
	}
	next := max(p.ceiling*adaptFloor, p.limit*adaptCut)
	if next >= p.limit {
		return rateChange{}, false
	}
	p.limit = next
	return rateChange{limit: next}, true
}

// succeeded raises the rate after a call that succeeded at now, in
// proportion to the time since the last raise, never above the ceiling.
func (p *ratePolicy) succeeded(now time.Time) (rateChange, bool) {
	if p.limit >= p.ceiling {
		return rateChange{}, false
	}
	dt := now.Sub(p.lastGain)
	if dt <= 0 {
		return rateChange{}, false
	}
	p.lastGain = now
	p.limit = min(p.ceiling, p.limit+p.ceiling*rate.Limit(dt.Seconds()/adaptRecover.Seconds()))
	return rateChange{limit: p.limit}, true
}

// adaptiveLimit applies a ratePolicy to a shared rate.Limiter. It is safe
// for concurrent use.
type adaptiveLimit struct {
	lim *rate.Limiter

	mu     sync.Mutex
	policy ratePolicy
}

// newAdaptiveLimit returns nil when lim cannot adapt: no limiter, an
// unlimited one, or one that never refills.
func newAdaptiveLimit(lim *rate.Limiter) *adaptiveLimit {
	if lim == nil {
		return nil
	}
	p, ok := newRatePolicy(lim.Limit(), lim.Burst() > 1)
	if !ok {
		return nil
	}
	return &adaptiveLimit{lim: lim, policy: p}
}

// slowDown reports a 429 at now and whether the limiter slowed down.
func (a *adaptiveLimit) slowDown(now time.Time) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.policy.refused(now)
	if ok {
		a.apply(now, c)
	}
	return ok
}

// recover reports a call that succeeded at now.
func (a *adaptiveLimit) recover(now time.Time) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.policy.succeeded(now); ok {
		a.apply(now, c)
	}
}

// apply sets the limiter as c says. a.mu must be held.
func (a *adaptiveLimit) apply(now time.Time, c rateChange) {
	if c.endBurst {
		a.lim.SetBurstAt(now, 1)
		return
	}
	a.lim.SetLimitAt(now, c.limit)
}
