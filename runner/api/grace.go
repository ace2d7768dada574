package api

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// submitContext returns the context one submit attempt runs under, and
// sending, to be called when the request starts going out; it reports
// false if ctx ended first, and the request must not go. Until then the
// context ends with ctx: a stop during the dial sends nothing. From then on
// it outlives ctx by c.grace, so that the answer of a job the API may be
// creating (its request ID) is still read. RequestTimeout bounds it either
// way.
func (c *Client) submitContext(ctx context.Context) (context.Context, context.CancelFunc, func() bool) {
	actx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	actx, cancelTimeout := context.WithTimeout(actx, c.timeout)
	const (
		before  = iota // not sending yet
		sending        // the request is going out
		stopped        // ctx ended before it went out
	)
	var phase atomic.Int32
	stopWatch := context.AfterFunc(ctx, func() {
		if c.stopSeen != nil {
			defer c.stopSeen()
		}
		if phase.CompareAndSwap(before, stopped) {
			cancelCause(context.Cause(ctx))
			return
		}
		t := time.AfterFunc(c.grace, func() {
			cancelCause(fmt.Errorf("no answer %s after the stop: %w", c.grace, context.Cause(ctx)))
		})
		context.AfterFunc(actx, func() { t.Stop() })
	})
	cancel := func() {
		stopWatch()
		cancelTimeout()
		cancelCause(context.Canceled)
	}
	// A followed redirect gets a connection too: still sending.
	return actx, cancel, func() bool { return phase.CompareAndSwap(before, sending) || phase.Load() == sending }
}

// withStop adds ctx's error to err when ctx is done and err does not say so.
func withStop(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}
