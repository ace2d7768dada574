// Package clocktest is the clock runner's tests and its subpackages' inject
// in place of time.Now: one that stands still and moves only when told, so
// that a test decides when a deadline passes or a job finishes, without
// sleeping. (store and cmd/pikabatch cannot import an internal package of
// runner; their tests keep a small clock of their own.)
package clocktest

import (
	"sync"
	"time"
)

// Clock is a clock for tests, safe for concurrent use. It either stands
// still (New, Stop) or runs with the wall clock from where it stands
// (Running, Start); Advance moves it either way.
type Clock struct {
	mu      sync.Mutex
	at      time.Time // the reading while stopped; where it started running from
	started time.Time // the wall clock when it started running; zero while stopped
}

// New returns a clock that reads at until moved.
func New(at time.Time) *Clock { return &Clock{at: at} }

// Running returns a clock that runs with the wall clock until stopped.
func Running() *Clock {
	now := time.Now()
	return &Clock{at: now, started: now}
}

// Now returns the clock's reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *Clock) now() time.Time {
	if c.started.IsZero() {
		return c.at
	}
	return c.at.Add(time.Since(c.started))
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// Stop holds the clock where it is: anything timed by it stays where it is
// until the test moves it or starts it again.
func (c *Clock) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.started = c.now(), time.Time{}
}

// Start lets a stopped clock run with the wall clock from where it stands.
// On a running clock it does nothing.
func (c *Clock) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started.IsZero() {
		c.started = time.Now()
	}
}
