package runner

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/backoff"
)

// outage tracks how long the API has been unavailable, across all jobs.
// One call exhausting its retries is not an outage: the job waits and tries
// again. Only when no call has succeeded for OutageLimit does the run give
// up (exit 69), leaving every job resumable.
type outage struct {
	limit time.Duration
	now   func() time.Time

	mu     sync.Mutex
	since  time.Time // first failure since the last success; zero when healthy
	tries  int
	lastOK time.Time // last successful call
}

// ok records a successful call.
func (o *outage) ok() {
	o.mu.Lock()
	o.since, o.tries, o.lastOK = time.Time{}, 0, o.now()
	o.mu.Unlock()
}

// okSince reports whether a call succeeded at or after t: then the API
// is up, and a call failing since t has trouble of its own.
func (o *outage) okSince(t time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.lastOK.Before(t) && !o.lastOK.IsZero()
}

// wait records a failed call and, while the outage is younger than the
// limit, waits before the caller tries again. It returns err when the
// outage has lasted too long, or ctx's error.
func (o *outage) wait(ctx context.Context, err error, base time.Duration) error {
	if !errors.Is(err, api.ErrUnavailable) {
		return err
	}
	o.mu.Lock()
	now := o.now()
	if o.since.IsZero() {
		// The outage began when the failing call did, not when its
		// retries ran out.
		o.since = now
		var ue *api.UnavailableError
		if errors.As(err, &ue) && ue.Failing > 0 {
			o.since = now.Add(-ue.Failing)
		}
	}
	o.tries++
	over := now.Sub(o.since) >= o.limit
	tries := o.tries
	o.mu.Unlock()
	if over {
		return err
	}
	if serr := backoff.Sleep(ctx, retryWait(base).Delay(min(tries, 8)-1)); serr != nil {
		return serr
	}
	return nil
}
