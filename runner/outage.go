package runner

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/backoff"
)

// outage is the run's outage clock: how long the API has been unavailable,
// across all jobs. One call exhausting its retries is not an outage: the
// job waits and tries again. Only when no call has succeeded for limit does
// the run give up (exit 69), leaving every job resumable.
//
// It is a pure policy: the run reports each call's outcome with the time it
// saw it, and outage answers; the waiting is the caller's (run.outageWait).
// It is safe for concurrent use.
type outage struct {
	limit time.Duration

	mu     sync.Mutex
	since  time.Time // first failure since the last success; zero when healthy
	tries  int       // failures since then
	lastOK time.Time // last successful call
}

// ok records a call that succeeded at now.
func (o *outage) ok(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.since, o.tries, o.lastOK = time.Time{}, 0, now
}

// okSince reports whether a call succeeded at or after t: then the API
// is up, and a call failing since t has trouble of its own.
func (o *outage) okSince(t time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.lastOK.Before(t) && !o.lastOK.IsZero()
}

// failed records a call that gave up at now, unavailable after failing
// for failing (api.UnavailableError.Failing). It returns how many calls
// have failed in this outage, and whether it has lasted the limit: then
// the run gives up.
func (o *outage) failed(now time.Time, failing time.Duration) (tries int, over bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		// The outage began when the failing call did, not when its
		// retries ran out.
		o.since = now.Add(-max(failing, 0))
	}
	o.tries++
	return o.tries, now.Sub(o.since) >= o.limit
}

// outageWait reports a failed call to the outage clock and, while the
// outage is younger than the limit, waits before the caller tries again.
// It returns err when err is not the API being unavailable, or when the
// outage has lasted too long; ctx's error if it ends first.
func (r *run) outageWait(ctx context.Context, err error) error {
	if !errors.Is(err, api.ErrUnavailable) {
		return err
	}
	var failing time.Duration
	var ue *api.UnavailableError
	if errors.As(err, &ue) {
		failing = ue.Failing
	}
	tries, over := r.outage.failed(r.cfg.Now(), failing)
	if over {
		return err
	}
	return backoff.Sleep(ctx, retryWait(r.poll.cfg.Min).Delay(min(tries, 8)-1))
}
