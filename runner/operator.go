package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// Snapshot returns the figures of the run going on (or of the last one) so
// far: what the end-of-run Summary would say now. Rows counts the manifest
// rows read so far and Final the rows that have ended, by state. It is safe
// to call from any goroutine at any time; before the first Run it returns
// a zero Summary.
func (r *Runner) Snapshot() Summary {
	ru := r.current.Load()
	if ru == nil {
		return Summary{FailReasons: map[string]int{}, Final: map[store.State]int{}}
	}
	return ru.snapshot()
}

// Errors of the operator's limits; they come wrapped with ErrSubmitsStopped.
var (
	// ErrDeadline: Config.Deadline passed; no submits after it.
	ErrDeadline = errors.New("deadline reached")
	// ErrSubmitCap: Config.MaxSubmits submits were sent this run.
	ErrSubmitCap = errors.New("submit cap reached")
)

// defaultDeadlineGrace is how long jobs in flight are collected after the
// deadline, unless Config.DeadlineGrace says otherwise.
const defaultDeadlineGrace = 5 * time.Minute

// limits are one run's spending cap and deadline.
type limits struct {
	capped bool
	left   atomic.Int64 // submits left under MaxSubmits

	mu       sync.Mutex
	deadline time.Time // zero: none
	hit      error     // the limit that stopped submits, if any
	timers   []*time.Timer
	cancel   context.CancelCauseFunc
	grace    time.Duration
	stopped  bool // the run's stop was called: arm nothing more

	// fired counts the timers armed and not yet stopped or returned from
	// their callback, so that stop can wait for a callback already running:
	// one that outlived the run would stop the next run's submits.
	fired sync.WaitGroup
}

// afterFunc arms f to run after d, owned by l: stop stops it or waits for
// it. l.mu must be held.
func (l *limits) afterFunc(d time.Duration, f func()) {
	l.fired.Add(1)
	l.timers = append(l.timers, time.AfterFunc(d, func() {
		defer l.fired.Done()
		f()
	}))
}

// startLimits arms the run's limits and returns the context the run's work
// uses: it ends DeadlineGrace after the deadline, abandoning polls and
// downloads still going (they resume next run). stop releases the timers
// and returns once none of their callbacks is running; the limits arm
// nothing after it. It is safe to call twice.
func (r *run) startLimits(ctx context.Context) (context.Context, func()) {
	lctx, cancel := context.WithCancelCause(ctx)
	l := &r.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	l.capped = r.cfg.MaxSubmits > 0
	l.left.Store(int64(r.cfg.MaxSubmits))
	l.hit, l.timers, l.cancel, l.deadline, l.stopped = nil, nil, cancel, time.Time{}, false
	switch l.grace = r.cfg.DeadlineGrace; {
	case l.grace == 0:
		l.grace = defaultDeadlineGrace
	case l.grace < 0:
		l.grace = 0 // none: abandon what is in flight at the deadline
	}
	if r.cfg.Deadline > 0 {
		l.deadline = r.began.Add(r.cfg.Deadline)
		l.afterFunc(r.cfg.Deadline, func() { r.limitReached(ErrDeadline) })
	}
	return lctx, func() {
		l.mu.Lock()
		l.stopped = true
		for _, t := range l.timers {
			if t.Stop() {
				l.fired.Done() // its callback will never run
			}
		}
		l.timers = nil
		l.mu.Unlock()
		cancel(nil)
		// Outside l.mu: a callback that fired as stop came takes l.mu,
		// finds the limits stopped and returns.
		l.fired.Wait()
	}
}

// limitReached stops submits for err (ErrDeadline or ErrSubmitCap); after
// the deadline, what is in flight is collected for the grace period only.
func (r *run) limitReached(err error) {
	l := &r.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hit != nil || l.stopped {
		return
	}
	l.hit = err
	r.stopSubmits.Store(true)
	if errors.Is(err, ErrDeadline) {
		r.log.Warn("deadline reached: no more submits; collecting jobs in flight", "grace", l.grace)
		cancel := l.cancel
		l.afterFunc(l.grace, func() { cancel(ErrDeadline) })
	} else {
		r.log.Warn("submit cap reached: no more submits; collecting jobs in flight", "max_submits", r.cfg.MaxSubmits)
	}
}

// checkLimits is called before a row is handed out for submitting.
func (r *run) checkLimits(act action) {
	if act != actSubmit && act != actResend {
		return
	}
	l := &r.lim
	l.mu.Lock()
	deadline := l.deadline
	l.mu.Unlock()
	switch {
	case !deadline.IsZero() && !r.cfg.Now().Before(deadline):
		r.limitReached(ErrDeadline)
	case l.capped && l.left.Load() <= 0:
		r.limitReached(ErrSubmitCap)
	}
}

// limitErr is the run's error when a limit left rows unfinished (or
// unread: produce stopped before the manifest's end).
func (r *run) limitErr(sum Summary, unread bool) error {
	l := &r.lim
	l.mu.Lock()
	hit := l.hit
	l.mu.Unlock()
	if hit == nil {
		return nil
	}
	if left := sum.NotSubmitted + sum.LeftInFlight + sum.Held; left > 0 || unread {
		return fmt.Errorf("%d rows not finished: %w: %w", left, ErrSubmitsStopped, hit)
	}
	return nil
}

// gatedAPI enforces the limits at the one place a charge can happen: each
// Submit takes one from the cap, and none is sent after the deadline.
type gatedAPI struct {
	API
	r *run
}

func (g gatedAPI) Submit(ctx context.Context, model string, input any, opts api.SubmitOptions) (api.SubmitResponse, error) {
	l := &g.r.lim
	l.mu.Lock()
	deadline := l.deadline
	l.mu.Unlock()
	if !deadline.IsZero() {
		pastDeadline := func() error {
			if g.r.cfg.Now().Before(deadline) {
				return nil
			}
			g.r.limitReached(ErrDeadline)
			return ErrDeadline
		}
		if err := pastDeadline(); err != nil {
			return api.SubmitResponse{}, err
		}
		// The client retries a submit the API did not take; the deadline
		// holds for each of those attempts too, before the caller's gate
		// (which records "submitting").
		record := opts.SendGate
		opts.SendGate = func() error {
			if err := pastDeadline(); err != nil {
				return err
			}
			return record()
		}
	}
	if !l.capped {
		return g.API.Submit(ctx, model, input, opts)
	}
	if l.left.Add(-1) < 0 {
		l.left.Add(1)
		g.r.limitReached(ErrSubmitCap)
		return api.SubmitResponse{}, ErrSubmitCap
	}
	resp, err := g.API.Submit(ctx, model, input, opts)
	if err != nil && !errors.Is(err, api.ErrUncertain) {
		l.left.Add(1) // the API said no, or never got it: nothing to pay
	}
	return resp, err
}
