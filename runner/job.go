package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// worker carries one run's shared limits to the per-job goroutines.
type worker struct {
	r         *Runner
	slots     *jobSlots           // jobs on the API at once
	downloads *semaphore.Weighted // downloads at once
	// started bounds the jobs started and not yet ended. A rendered job gives
	// its API slot back before it waits for a download slot, so that slow
	// downloads never idle the account; started (two pools and the
	// downloads) caps how many may wait, so that a disk slower than the API
	// slows the submits instead of piling waiting jobs up in memory — a
	// 20,000-row run at --concurrency 256 held ~90 MB of them (issue #5).
	started *semaphore.Weighted
	stopErr *atomic.Value // first reason new submits were stopped

	// probe is closed once the run's first submit has its answer; the
	// other submits wait for it (see submit). probing picks that first one.
	probe     chan struct{}
	probing   atomic.Bool
	probeOnce sync.Once
}

// start acquires what the job needs and runs it on g. It blocks while the
// pool is full, which is what keeps a million-row manifest streaming.
func (w *worker) start(ctx context.Context, g *errgroup.Group, job store.Job, act action) error {
	r := w.r
	if (act == actSubmit || act == actResend) && r.stopSubmits.Load() {
		r.countUnstarted(job)
		return nil
	}
	if err := w.started.Acquire(ctx, 1); err != nil {
		return err
	}
	if act == actDownload {
		if err := w.downloads.Acquire(ctx, 1); err != nil {
			w.started.Release(1)
			return err
		}
		g.Go(func() error {
			defer w.started.Release(1)
			defer w.downloads.Release(1)
			job, err := r.download(ctx, job)
			return w.finish(ctx, job, err)
		})
		return nil
	}
	sl, err := w.slots.acquire(ctx)
	if err != nil {
		w.started.Release(1)
		return err
	}
	g.Go(func() error {
		defer w.started.Release(1)
		defer sl.release()
		job, err := w.onAPI(ctx, job, act, sl)
		sl.release()
		if err != nil || job.State != store.StateRendered {
			return w.finish(ctx, job, err)
		}
		if err := w.downloads.Acquire(ctx, 1); err != nil {
			return w.finish(ctx, job, err)
		}
		defer w.downloads.Release(1)
		job, err = r.download(ctx, job)
		return w.finish(ctx, job, err)
	})
	return nil
}

// finish records a job's end state for the summary and decides whether err
// ends the whole run. Job-level outcomes are already in the store.
func (w *worker) finish(ctx context.Context, job store.Job, err error) error {
	r := w.r
	if job.Orphan {
		return w.finishOrphan(ctx, job, err)
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// Interrupted: the job resumes next run from what the store says.
		r.countUnstarted(job)
		return nil
	}
	// A job whose error ends the run is counted like any other: the
	// summary must not say "left in flight 0" while it is.
	switch {
	case job.State == store.StatePending:
		r.stats.notSubmitted.Add(1)
	case job.State == store.StateUncertain || job.State == store.StateSubmitting:
		r.stats.held.Add(1)
	case !job.State.IsTerminal() && job.State != store.StateRendered:
		r.stats.leftInFlight.Add(1)
	}
	r.stats.end(job.State)
	return err
}

// onAPI takes a job from wherever it is to finished on the API side.
// It returns a fatal error only when the whole run must stop.
func (w *worker) onAPI(ctx context.Context, job store.Job, act action, sl *slot) (store.Job, error) {
	r := w.r
	var err error
	if job.State == store.StateTimedOut && job.RequestID != "" {
		// --job-timeout gave up on it, but a render we could not cancel
		// is paid for: if it finished since, collect it.
		var collected bool
		if job, collected, err = r.lateLook(ctx, job); err != nil || collected || act != actSubmit {
			return job, err
		}
	}
	switch act {
	case actResend:
		job, err = w.resolveUncertain(ctx, job, sl)
	case actSubmit:
		job, err = w.submit(ctx, job, sl)
	}
	if err != nil || job.RequestID == "" || job.State.IsTerminal() {
		return job, err
	}
	sl.place() // a job of an earlier run is on the account too
	return r.pollUntilDone(ctx, job)
}

// resolveUncertain applies the uncertain-submit policy of DESIGN.md: re-send
// once and count it, or hold the row when asked to.
func (w *worker) resolveUncertain(ctx context.Context, job store.Job, sl *slot) (store.Job, error) {
	r := w.r
	if job.State == store.StateSubmitting {
		// A run died between recording "submitting" and learning the outcome.
		var err error
		job, err = r.store.Update(ctx, job.Key, func(j *store.Job) error {
			j.State = store.StateUncertain
			if j.LastError == "" {
				j.LastError = "run stopped while the submit was in flight"
			}
			return nil
		})
		if err != nil {
			return job, fmt.Errorf("record uncertain %q: %w", job.Key, err)
		}
	}
	if r.cfg.HoldUncertain || job.Resent >= r.cfg.MaxResends {
		r.log.Warn("uncertain submit held; not re-sent", "key", job.Key, "resent", job.Resent)
		return job, nil
	}
	r.stats.resent.Add(1)
	r.log.Warn("re-sending uncertain submit; a duplicate charge is possible", "key", job.Key)
	return w.submit(ctx, job, sl)
}

// submit sends one paid submit, recording "submitting" durably right
// before the POST leaves and the request ID durably before anything else
// uses it.
func (w *worker) submit(ctx context.Context, job store.Job, sl *slot) (store.Job, error) {
	r := w.r
	if err := ctx.Err(); err != nil {
		return job, err
	}
	if r.stopSubmits.Load() {
		return job, nil
	}
	// The run's first submit goes alone: an unknown model, a revoked
	// token or an empty account then costs one refused submit, not one
	// per slot.
	isProbe := w.probing.CompareAndSwap(false, true)
	if isProbe {
		defer w.endProbe()
	} else {
		select {
		case <-w.probe:
		case <-ctx.Done():
			return job, ctx.Err()
		}
		if r.stopSubmits.Load() {
			return job, nil
		}
	}
	resend := job.State == store.StateUncertain
	prev := job
	job.State = store.StateSubmitting
	job.Attempts++
	if resend {
		job.Resent++
	}
	if prev.State.IsTerminal() {
		// --retry-failed: the old request ID and outputs belong to a render we gave up.
		job.RequestID, job.Outputs, job.LastError = "", nil, ""
		job.SubmittedAt, job.FinishedAt, job.DownloadedAt = time.Time{}, time.Time{}, time.Time{}
	}
	// "submitting" is written at the send gate, after the rate limiter's
	// wait: a row still waiting for a token when the run dies stays what
	// it was (pending), not a possible duplicate charge. The gate also
	// refuses the send once the run is stopping: the submit is
	// irreversible, and a refused one provably never left.
	recorded := false
	record := func() error {
		if recorded {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.store.Put(ctx, job); err != nil {
			return &recordError{err: err}
		}
		recorded = true
		return nil
	}

	// The run's ctx stops a submit still waiting to be sent (for a rate
	// token, a slot); one already on the wire still gets its answer, for
	// up to the client's SubmitGrace, so its request ID is recorded.
	sctx := api.WithSubmitHold(ctx, sl.hold(ctx))
	sctx = withSubmitGate(sctx, record)
	resp, err := r.api.Submit(sctx, r.cfg.Model, job.Input)
	// Stop before the probe lets the other submits go: none of them may leave.
	switch {
	case errors.Is(err, api.ErrPaymentRequired):
		w.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
	case errors.Is(err, api.ErrUnknownModel), errors.Is(err, api.ErrUnauthorized):
		r.stopSubmits.Store(true)
	}
	if isProbe {
		w.endProbe()
	}
	var rerr *recordError
	if errors.As(err, &rerr) {
		return prev, fmt.Errorf("record submitting %q: %w", job.Key, rerr.err)
	}
	if !recorded && (err == nil || errors.Is(err, api.ErrUncertain) || errors.Is(err, api.ErrRejected)) {
		// An API that never asked the gate (a test double) still sent it.
		if perr := r.store.Put(context.WithoutCancel(ctx), job); perr != nil {
			r.log.Error("submitting not recorded", "key", job.Key, "err", perr)
		}
		recorded = true
	}
	wctx := context.WithoutCancel(ctx) // the outcome is always recorded
	switch {
	case err == nil:
		r.outage.ok()
		r.stats.submitted.Add(1)
		sl.submitted()
		now := r.cfg.Now()
		rec, err := r.store.Update(wctx, job.Key, func(j *store.Job) error {
			j.State = store.StateSubmitted
			j.RequestID = resp.RequestID
			j.SubmittedAt = now
			j.LastError = ""
			return nil
		})
		if err != nil {
			return w.requestIDNotRecorded(wctx, job, resp.RequestID, now, err)
		}
		job = rec
		r.log.Info("submitted", "key", job.Key, "request_id", job.RequestID)
		if h := r.cfg.Hooks.Submitted; h != nil {
			h(job.Key, job.RequestID)
		}
		return job, nil
	case errors.Is(err, api.ErrUncertain):
		r.stats.uncertain.Add(1)
		job, uerr := r.store.Update(wctx, job.Key, func(j *store.Job) error {
			j.State = store.StateUncertain
			j.LastError = err.Error()
			return nil
		})
		if uerr != nil {
			return job, fmt.Errorf("record uncertain %q: %w", job.Key, uerr)
		}
		r.log.Warn("submit outcome unknown", "key", job.Key, "err", err)
		if ctx.Err() != nil {
			return job, nil
		}
		return w.resolveUncertain(ctx, job, sl)
	case errors.Is(err, api.ErrRejected):
		now := r.cfg.Now()
		job, uerr := r.store.Update(wctx, job.Key, func(j *store.Job) error {
			j.State = store.StateFailed
			j.LastError = apiMessage(err)
			j.FinishedAt = now
			return nil
		})
		if uerr != nil {
			return job, fmt.Errorf("record rejection of %q: %w", job.Key, uerr)
		}
		r.stats.fail(job.LastError)
		r.log.Warn("submit rejected", "key", job.Key, "err", job.LastError)
		return job, nil
	}
	// The API answered no (or never received it): no job exists. Put the row back.
	if recorded {
		job = r.revert(job, prev.State, err.Error())
	} else {
		job = prev // nothing was written: the row is as it was
	}
	if errors.Is(err, api.ErrUnavailable) {
		if werr := r.outage.wait(ctx, err, r.poll.cfg.Min); werr == nil {
			return w.submit(ctx, job, sl)
		} else if ctx.Err() != nil {
			return job, ctx.Err()
		}
	}
	switch {
	case errors.Is(err, api.ErrUnknownModel):
		// Usage, not the account: every row would be refused the same way.
		return job, fmt.Errorf("model %q: %w", r.cfg.Model, err)
	case errors.Is(err, api.ErrUnauthorized):
		return job, fmt.Errorf("submit %q: %w", job.Key, err)
	case errors.Is(err, api.ErrPaymentRequired), errors.Is(err, api.ErrUnavailable):
		w.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
		return job, nil
	case ctx.Err() != nil:
		return job, ctx.Err()
	}
	w.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
	return job, nil
}

// recordError is a state write that failed at the send gate: the submit
// was not sent, and the run must stop (it cannot record what it pays for).
type recordError struct{ err error }

func (e *recordError) Error() string { return "record submitting: " + e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

// endProbe lets the submits waiting for the run's first one go.
func (w *worker) endProbe() { w.probeOnce.Do(func() { close(w.probe) }) }

// revert puts a row that provably never reached the API back to its state before the submit.
func (r *Runner) revert(job store.Job, to store.State, lastErr string) store.Job {
	if to == store.StateUncertain {
		// Still unknown whether the first send created a job.
		to = store.StateUncertain
	} else {
		to = store.StatePending
	}
	j, err := r.store.Update(context.Background(), job.Key, func(j *store.Job) error {
		j.State = to
		j.Attempts--
		if j.Resent > 0 && to == store.StateUncertain {
			j.Resent--
		}
		j.LastError = lastErr
		return nil
	})
	if err != nil {
		r.log.Error("could not put row back after an unsent submit", "key", job.Key, "err", err)
		return job
	}
	return j
}

func (w *worker) stopSubmitting(reason error) {
	if w.r.stopSubmits.CompareAndSwap(false, true) {
		w.stopErr.Store(reason)
		w.r.log.Error("no further submits this run; collecting jobs in flight", "err", reason)
	}
}

// apiMessage is the API's own message when err carries one.
func apiMessage(err error) string {
	var se *api.StatusError
	if errors.As(err, &se) && se.Message != "" {
		return se.Message
	}
	return err.Error()
}

// lateLook asks the API once about a job that timed out in an earlier run
// and records it rendered if it completed meanwhile. It reports whether
// it did; any other answer leaves the job timed out.
func (r *Runner) lateLook(ctx context.Context, job store.Job) (store.Job, bool, error) {
	r.stats.polls.Add(1)
	res, err := r.api.Result(ctx, job.RequestID)
	switch {
	case err != nil && ctx.Err() != nil:
		return job, false, ctx.Err()
	case err != nil:
		r.log.Info("timed-out job looked at again: no answer", "key", job.Key, "request_id", job.RequestID, "err", err)
		return job, false, nil
	case res.Status != api.StatusCompleted || len(res.Outputs) == 0:
		r.log.Debug("timed-out job looked at again", "key", job.Key, "request_id", job.RequestID, "status", res.Status)
		return job, false, nil
	}
	r.outage.ok()
	// Recorded here, not by recordResult: it finished at some time since
	// the last run, which teaches the poll policy nothing and frees no slot.
	now := r.cfg.Now()
	key := job.Key // job is the zero Job when Update fails
	job, err = r.store.Update(context.WithoutCancel(ctx), key, func(j *store.Job) error {
		j.State = store.StateRendered
		j.FinishedAt = now
		j.Polls++
		j.LastError = ""
		j.Outputs = make([]store.Output, len(res.Outputs))
		for i, u := range res.Outputs {
			j.Outputs[i] = store.Output{URL: u}
		}
		return nil
	})
	if err != nil {
		return job, false, fmt.Errorf("record result of %q: %w", key, err)
	}
	r.stats.completed.Add(1)
	r.log.Info("timed-out job completed after all; collecting it", "key", job.Key, "request_id", job.RequestID)
	return job, true, nil
}
