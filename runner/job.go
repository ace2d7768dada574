package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/store"
)

// start acquires what the job needs and runs it on g. It blocks while the
// pool is full, which is what keeps a million-row manifest streaming.
func (r *run) start(ctx context.Context, g *errgroup.Group, job store.Job, act action) error {
	if (act == actSubmit || act == actResend) && r.stopSubmits.Load() {
		r.countUnstarted(job)
		return nil
	}
	if err := r.started.Acquire(ctx, 1); err != nil {
		return err
	}
	if act == actDownload {
		if err := r.downloads.Acquire(ctx, 1); err != nil {
			r.started.Release(1)
			return err
		}
		g.Go(func() error {
			defer r.started.Release(1)
			defer r.downloads.Release(1)
			job, err := r.download(ctx, job)
			return r.finish(ctx, job, err)
		})
		return nil
	}
	sl, err := r.slots.acquire(ctx)
	if err != nil {
		r.started.Release(1)
		return err
	}
	g.Go(func() error {
		defer r.started.Release(1)
		defer sl.release()
		job, err := r.onAPI(ctx, job, act, sl)
		sl.release()
		if err != nil || job.State != store.StateRendered {
			return r.finish(ctx, job, err)
		}
		if err := r.downloads.Acquire(ctx, 1); err != nil {
			return r.finish(ctx, job, err)
		}
		defer r.downloads.Release(1)
		job, err = r.download(ctx, job)
		return r.finish(ctx, job, err)
	})
	return nil
}

// finish records a job's end state for the summary and decides whether err
// ends the whole run. Job-level outcomes are already in the store.
func (r *run) finish(ctx context.Context, job store.Job, err error) error {
	if job.Orphan {
		return r.finishOrphan(ctx, job, err)
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
func (r *run) onAPI(ctx context.Context, job store.Job, act action, sl *slot) (store.Job, error) {
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
		job, err = r.resolveUncertain(ctx, job, sl)
	case actSubmit:
		job, err = r.submit(ctx, job, sl)
	}
	if err != nil || job.RequestID == "" || job.State.IsTerminal() {
		return job, err
	}
	sl.place() // a job of an earlier run is on the account too
	return r.pollUntilDone(ctx, job)
}

// resolveUncertain applies the uncertain-submit policy (see the package
// doc, "Submits whose answers are lost"): re-send up to MaxResends times
// and count each, or hold the row when asked to.
func (r *run) resolveUncertain(ctx context.Context, job store.Job, sl *slot) (store.Job, error) {
	if job.State == store.StateSubmitting {
		// A run died between recording "submitting" and learning the outcome.
		rec, err := r.store.Update(ctx, job.Key, func(j *store.Job) error {
			j.State = store.StateUncertain
			if j.LastError == "" {
				j.LastError = "run stopped while the submit was in flight"
			}
			return nil
		})
		if err != nil {
			return job, fmt.Errorf("record uncertain %q: %w", job.Key, err)
		}
		job = rec
	}
	if r.cfg.HoldUncertain || job.Resent >= r.cfg.MaxResends {
		r.log.Warn("uncertain submit held; not re-sent", "key", job.Key, "resent", job.Resent)
		return job, nil
	}
	r.log.Warn("re-sending uncertain submit; a duplicate charge is possible", "key", job.Key)
	return r.submit(ctx, job, sl)
}

// submit sends one paid submit, recording "submitting" durably right
// before the POST leaves and the request ID durably before anything else
// uses it.
func (r *run) submit(ctx context.Context, job store.Job, sl *slot) (store.Job, error) {
	if err := ctx.Err(); err != nil {
		return job, err
	}
	if r.stopSubmits.Load() {
		return job, nil
	}
	// The run's first submit goes alone: an unknown model, a revoked
	// token or an empty account then costs one refused submit, not one
	// per slot.
	isProbe := r.probing.CompareAndSwap(false, true)
	if isProbe {
		defer r.endProbe()
	} else {
		select {
		case <-r.probe:
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
	opts := api.SubmitOptions{SendGate: record, Hold: sl.hold(ctx)}
	resp, err := r.sendSubmit(ctx, submitJob{input: job.Input, resend: resend}, opts)
	// Stop before the probe lets the other submits go: none of them may leave.
	switch {
	case errors.Is(err, api.ErrPaymentRequired):
		r.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
	case errors.Is(err, api.ErrUnknownModel), errors.Is(err, api.ErrUnauthorized):
		r.stopSubmits.Store(true)
	}
	if isProbe {
		r.endProbe()
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
		r.outage.ok(r.cfg.Now())
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
			return r.requestIDNotRecorded(wctx, job, resp.RequestID, now, err)
		}
		job = rec
		r.log.Info("submitted", "key", job.Key, "request_id", job.RequestID)
		if h := r.cfg.Hooks.Submitted; h != nil {
			h(job.Key, job.RequestID)
		}
		return job, nil
	case errors.Is(err, api.ErrUncertain):
		r.stats.uncertain.Add(1)
		rec, uerr := r.store.Update(wctx, job.Key, func(j *store.Job) error {
			j.State = store.StateUncertain
			j.LastError = err.Error()
			return nil
		})
		if uerr != nil {
			return job, fmt.Errorf("record uncertain %q: %w", job.Key, uerr)
		}
		job = rec
		r.log.Warn("submit outcome unknown", "key", job.Key, "err", err)
		if ctx.Err() != nil {
			return job, nil
		}
		return r.resolveUncertain(ctx, job, sl)
	case errors.Is(err, api.ErrRejected):
		now := r.cfg.Now()
		rec, uerr := r.store.Update(wctx, job.Key, func(j *store.Job) error {
			j.State = store.StateFailed
			j.LastError = apiMessage(err)
			j.FinishedAt = now
			return nil
		})
		if uerr != nil {
			return job, fmt.Errorf("record rejection of %q: %w", job.Key, uerr)
		}
		job = rec
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
		if werr := r.outageWait(ctx, err); werr == nil {
			return r.submit(ctx, job, sl)
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
		r.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
		return job, nil
	case ctx.Err() != nil:
		return job, ctx.Err()
	}
	r.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
	return job, nil
}

// recordError is a state write that failed at the send gate: the submit
// was not sent, and the run must stop (it cannot record what it pays for).
type recordError struct{ err error }

func (e *recordError) Error() string { return "record submitting: " + e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

// endProbe lets the submits waiting for the run's first one go.
func (r *run) endProbe() { r.probeOnce.Do(func() { close(r.probe) }) }

// revert puts a row that provably never reached the API back to its state before the submit.
func (r *run) revert(job store.Job, to store.State, lastErr string) store.Job {
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

func (r *run) stopSubmitting(reason error) {
	if r.stopSubmits.CompareAndSwap(false, true) {
		r.stopErr.Store(reason)
		if errors.Is(reason, money.ErrOverBudget) {
			// How a budgeted run ends, not a failure: the command says so once.
			r.log.Info("no further submits this run: the budget is spent; collecting jobs in flight")
			return
		}
		r.log.Error("no further submits this run; collecting jobs in flight", "err", reason)
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
func (r *run) lateLook(ctx context.Context, job store.Job) (store.Job, bool, error) {
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
	r.outage.ok(r.cfg.Now())
	// Recorded here, not by recordResult: it finished at some time since
	// the last run, which teaches the poll policy nothing and frees no slot.
	now := r.cfg.Now()
	rec, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.State = store.StateRendered
		j.FinishedAt = now
		j.Polls++
		j.LastError = ""
		j.CostUSD = res.Cost
		j.Outputs = make([]store.Output, len(res.Outputs))
		for i, u := range res.Outputs {
			j.Outputs[i] = store.Output{URL: u}
		}
		return nil
	})
	if err != nil {
		return job, false, fmt.Errorf("record result of %q: %w", job.Key, err)
	}
	job = rec
	r.stats.reportedCost(res.Cost)
	r.stats.completed.Add(1)
	r.log.Info("timed-out job completed after all; collecting it", "key", job.Key, "request_id", job.RequestID)
	return job, true, nil
}
