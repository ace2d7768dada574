package api

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Urgency orders the calls waiting for the shared rate limiter.
//
// After a wave of finishes the account has idle slots, and what fills them
// again is a result look (the job is expected done) and a submit (the
// refill). A status look at a queued job or a cancel can wait a moment
// longer. With a first-come limiter the wave's calls queue behind whatever
// asked first: measured on 16 slots of 4 s jobs at 10 requests/s, the
// makespan was 1.47× the ideal.
type urgency int

const (
	urgencyNormal urgency = iota // status looks, cancels
	urgencyHigh                  // result looks and submits
)

// urgencyOf is the urgency of an operation.
func urgencyOf(op string) urgency {
	switch op {
	case opSubmit, opResult:
		return urgencyHigh
	}
	return urgencyNormal
}

// pacer hands the shared limiter's tokens out by urgency, first come first
// served within one urgency. One caller at a time waits on the limiter (the
// turn); when it has its token the turn goes to the oldest urgent caller, or
// else to the oldest normal one. A limiter with tokens to spare answers at
// once, so the turn costs nothing when the rate is not the bottleneck.
type pacer struct {
	lim   *rate.Limiter
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	busy   bool               // a caller holds the turn
	queues [2][]chan struct{} // waiting callers by urgency, oldest first
}

func newPacer(lim *rate.Limiter, sleep func(ctx context.Context, d time.Duration) error) *pacer {
	if lim == nil {
		return nil
	}
	return &pacer{lim: lim, sleep: sleep}
}

// wait blocks until the caller may send one request, or ctx ends. A nil
// pacer never waits.
func (p *pacer) wait(ctx context.Context, u urgency) error {
	if p == nil {
		return nil
	}
	for {
		if err := p.takeTurn(ctx, u); err != nil {
			return err
		}
		if u == urgencyNormal {
			if d := p.reserved(); d > 0 {
				// The tokens left are kept for urgent calls: let them pass,
				// and come back when the bucket has refilled.
				p.mu.Lock()
				p.passTurn()
				p.mu.Unlock()
				if err := p.sleep(ctx, d); err != nil {
					return err
				}
				continue
			}
		}
		err := p.lim.Wait(ctx)
		p.mu.Lock()
		p.passTurn()
		p.mu.Unlock()
		return err
	}
}

// reserved is how long a normal call must wait before the bucket holds a
// token beyond the reserve kept for urgent calls: half the burst, so that
// status looks spent while jobs run never leave the wave of result looks
// and refills that follows their finishes waiting on the rate.
func (p *pacer) reserved() time.Duration {
	reserve := float64(p.lim.Burst() / 2)
	if reserve == 0 {
		return 0
	}
	lim := float64(p.lim.Limit())
	if lim <= 0 || math.IsInf(lim, 1) {
		return 0
	}
	missing := reserve + 1 - p.lim.Tokens()
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / lim * float64(time.Second))
}

// takeTurn waits until the caller holds the turn.
func (p *pacer) takeTurn(ctx context.Context, u urgency) error {
	p.mu.Lock()
	if !p.busy {
		p.busy = true
		p.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	p.queues[u] = append(p.queues[u], ch)
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-ch:
		// The turn was handed over as ctx ended: hand it on, or it is lost.
		p.passTurn()
	default:
		q := p.queues[u]
		for i, c := range q {
			if c == ch {
				p.queues[u] = append(q[:i:i], q[i+1:]...)
				break
			}
		}
	}
	return ctx.Err()
}

// passTurn gives the turn to the next caller, most urgent first. p.mu must
// be held.
func (p *pacer) passTurn() {
	for u := urgencyHigh; u >= urgencyNormal; u-- {
		if q := p.queues[u]; len(q) > 0 {
			next := q[0]
			q[0] = nil
			p.queues[u] = q[1:]
			close(next)
			return
		}
	}
	p.busy = false
}

// NewLimiter returns the shared rate limiter for rps requests a second,
// for a run that keeps up to concurrency jobs on the API: a token bucket
// of Burst(rps, concurrency) tokens that starts empty.
//
// The burst is what the run saved while it waited for jobs to finish; it
// is spent on the wave of result looks and refills that follows a wave of
// finishes, which would otherwise queue behind the rate while slots stand
// idle (measured: 16 slots of 4 s jobs at 10 requests/s took 1.47× the
// ideal time with requests evenly spaced). It is at most one second of the
// rate, which an API that allows R requests a second over any second
// takes. An API that takes them only evenly spaced answers the first burst
// with 429s, and the client then stops bursting (adapt.go). Empty at the
// start, so that a run with more work than the rate allows sends evenly
// spaced requests from its first one.
func NewLimiter(rps float64, concurrency int) *rate.Limiter {
	burst := Burst(rps, concurrency)
	lim := rate.NewLimiter(rate.Limit(rps), burst)
	lim.AllowN(time.Now(), burst) // start empty
	return lim
}

// Burst is the bucket size NewLimiter uses: a result look and a refill for
// every job the run keeps on the API, at most one second of the rate, and
// at least 1.
func Burst(rps float64, concurrency int) int {
	return max(1, min(2*concurrency, int(math.Ceil(rps))))
}
