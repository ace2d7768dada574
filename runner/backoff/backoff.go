// Package backoff spaces out retries: capped exponential delays with full
// jitter, so that many callers failing together don't retry in step, and a
// sleep that ends early when its context does. The API client and the
// runner's downloads, polls and outage waits all back off through it.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is capped exponential backoff with full jitter. The zero Policy
// never waits.
type Policy struct {
	// Base is the ceiling of the first retry's delay; it doubles with
	// each retry. Zero or less: Max.
	Base time.Duration
	// Max caps the ceiling. Zero or less: no cap but overflow's.
	Max time.Duration
	// Rand returns a number in [0, 1); one out of range counts as 0.
	// It must be safe for the policy's callers to share. Default:
	// math/rand/v2.
	Rand func() float64
}

// Delay returns the wait before retry n (from 0): a uniform random
// duration in [0, min(Base·2ⁿ, Max)).
func (p Policy) Delay(n int) time.Duration {
	limit := p.Max
	if limit <= 0 {
		limit = math.MaxInt64
	}
	ceiling := p.Base
	if ceiling <= 0 {
		ceiling = p.Max
	}
	for i := 0; i < n && ceiling < limit; i++ {
		if ceiling > math.MaxInt64/2 {
			ceiling = limit
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, limit)
	if ceiling <= 0 {
		return 0
	}
	rnd := p.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	f := rnd()
	if f < 0 || f >= 1 || math.IsNaN(f) {
		f = 0
	}
	return time.Duration(f * float64(ceiling))
}

// Sleep waits d or until ctx is done, returning ctx's error then. A wait of
// zero or less returns at once, with ctx's error if it is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
