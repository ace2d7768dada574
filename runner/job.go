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
		var resend bool
		if job, resend, err = r.resolveUncertain(ctx, job); resend {
			job, err = r.submit(ctx, job, sl)
		}
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
// doc, "Submits whose answers are lost") to a row whose submit's outcome
// is unknown: it reports whether to re-send it (up to MaxResends times,
// each counted) or to hold the row, as asked.
func (r *run) resolveUncertain(ctx context.Context, job store.Job) (store.Job, bool, error) {
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
			return job, false, fmt.Errorf("record uncertain %q: %w", job.Key, err)
		}
		job = rec
	}
	if r.cfg.HoldUncertain || job.Resent >= r.cfg.MaxResends {
		r.log.Warn("uncertain submit held; not re-sent", "key", job.Key, "resent", job.Resent)
		return job, false, nil
	}
	r.log.Warn("re-sending uncertain submit; a duplicate charge is possible", "key", job.Key)
	return job, true, nil
}

// submit sends one paid submit and records what came of it, sending it
// again while the outcome says to: a lost answer is re-sent as the
// uncertain-submit policy allows, and a submit an outage turned away goes
// again once the API is back.
func (r *run) submit(ctx context.Context, job store.Job, sl *slot) (store.Job, error) {
	for {
		var a *submitAttempt
		var err error
		if job, a, err = r.sendOnce(ctx, job, sl); a == nil {
			return job, err
		}
		again := false
		switch {
		case a.err == nil:
			return r.submitted(ctx, a, sl)
		case errors.Is(a.err, api.ErrUncertain):
			job, again, err = r.submitLost(ctx, a)
		case errors.Is(a.err, api.ErrRejected):
			return r.submitRejected(ctx, a)
		default:
			job, again, err = r.submitRefused(ctx, a)
		}
		if !again {
			return job, err
		}
	}
}

// submitAttempt is one send of a submit and the API's answer to it.
type submitAttempt struct {
	prev     store.Job // the row before the attempt
	job      store.Job // the row as the attempt recorded it at the send gate
	recorded bool      // the gate wrote "submitting" and let the send go
	resp     api.SubmitResponse
	err      error
}

// sendOnce sends job's submit once, recording "submitting" durably right
// before the POST leaves. It returns no attempt when none was made: the
// run is stopping, submits stopped, or "submitting" could not be written.
func (r *run) sendOnce(ctx context.Context, job store.Job, sl *slot) (store.Job, *submitAttempt, error) {
	if err := ctx.Err(); err != nil {
		return job, nil, err
	}
	if r.stopSubmits.Load() {
		return job, nil, nil
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
			return job, nil, ctx.Err()
		}
		if r.stopSubmits.Load() {
			return job, nil, nil
		}
	}
	a := &submitAttempt{prev: job, job: nextAttempt(job)}
	// "submitting" is written at the send gate, after the rate limiter's
	// wait: a row still waiting for a token when the run dies stays what
	// it was (pending), not a possible duplicate charge. The gate also
	// refuses the send once the run is stopping: the submit is
	// irreversible, and a refused one provably never left. Every API
	// asks the gate before it sends (see API.Submit), so a submit that
	// went out was recorded.
	record := func() error {
		if a.recorded {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.store.Put(ctx, a.job); err != nil {
			return &recordError{err: err}
		}
		a.recorded = true
		return nil
	}

	// The run's ctx stops a submit still waiting to be sent (for a rate
	// token, a slot); one already on the wire still gets its answer, for
	// up to the client's SubmitGrace, so its request ID is recorded.
	opts := api.SubmitOptions{SendGate: record, Hold: sl.hold(ctx)}
	resend := a.prev.State == store.StateUncertain
	a.resp, a.err = r.sendSubmit(ctx, submitJob{input: a.job.Input, resend: resend}, opts)
	// Stop before the probe lets the other submits go: none of them may leave.
	switch {
	case errors.Is(a.err, api.ErrPaymentRequired):
		r.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, a.err))
	case errors.Is(a.err, api.ErrUnknownModel), errors.Is(a.err, api.ErrUnauthorized):
		r.stopSubmits.Store(true)
	}
	if isProbe {
		r.endProbe()
	}
	var rerr *recordError
	if errors.As(a.err, &rerr) {
		return a.prev, nil, fmt.Errorf("record submitting %q: %w", job.Key, rerr.err)
	}
	return a.job, a, nil
}

// nextAttempt is job as its next submit records it at the send gate.
func nextAttempt(job store.Job) store.Job {
	prev := job.State
	job.State = store.StateSubmitting
	job.Attempts++
	if prev == store.StateUncertain {
		job.Resent++
	}
	if prev.IsTerminal() {
		// --retry-failed: the old request ID and outputs belong to a render we gave up.
		job.RequestID, job.Outputs, job.LastError = "", nil, ""
		job.SubmittedAt, job.FinishedAt, job.DownloadedAt = time.Time{}, time.Time{}, time.Time{}
	}
	return job
}

// submitted records the request ID of a submit the API took, durably
// before anything else uses it.
func (r *run) submitted(ctx context.Context, a *submitAttempt, sl *slot) (store.Job, error) {
	wctx := context.WithoutCancel(ctx) // the outcome is always recorded
	r.outage.ok(r.cfg.Now())
	r.stats.submitted.Add(1)
	sl.submitted()
	now := r.cfg.Now()
	rec, err := r.store.Update(wctx, a.job.Key, func(j *store.Job) error {
		j.State = store.StateSubmitted
		j.RequestID = a.resp.RequestID
		j.SubmittedAt = now
		j.LastError = ""
		return nil
	})
	if err != nil {
		return r.requestIDNotRecorded(wctx, a.job, a.resp.RequestID, now, err)
	}
	r.log.Info("submitted", "key", rec.Key, "request_id", rec.RequestID)
	if h := r.cfg.Hooks.Submitted; h != nil {
		h(rec.Key, rec.RequestID)
	}
	return rec, nil
}

// submitLost records a submit whose answer was lost as uncertain and
// reports whether the policy re-sends it.
func (r *run) submitLost(ctx context.Context, a *submitAttempt) (store.Job, bool, error) {
	r.stats.uncertain.Add(1)
	rec, err := r.store.Update(context.WithoutCancel(ctx), a.job.Key, func(j *store.Job) error {
		j.State = store.StateUncertain
		j.LastError = a.err.Error()
		return nil
	})
	if err != nil {
		return a.job, false, fmt.Errorf("record uncertain %q: %w", a.job.Key, err)
	}
	r.log.Warn("submit outcome unknown", "key", rec.Key, "err", a.err)
	if ctx.Err() != nil {
		return rec, false, nil
	}
	return r.resolveUncertain(ctx, rec)
}

// submitRejected records a submit whose input the API refused: the row failed.
func (r *run) submitRejected(ctx context.Context, a *submitAttempt) (store.Job, error) {
	now := r.cfg.Now()
	rec, err := r.store.Update(context.WithoutCancel(ctx), a.job.Key, func(j *store.Job) error {
		j.State = store.StateFailed
		j.LastError = apiMessage(a.err)
		j.FinishedAt = now
		return nil
	})
	if err != nil {
		return a.job, fmt.Errorf("record rejection of %q: %w", a.job.Key, err)
	}
	r.stats.fail(rec.LastError)
	r.log.Warn("submit rejected", "key", rec.Key, "err", rec.LastError)
	return rec, nil
}

// submitRefused handles a submit the API answered no to, or never
// received: no job exists, so the row goes back to what it was. It
// reports whether to send it again (an outage ended) and otherwise
// whether the refusal ends the run or only its submits.
func (r *run) submitRefused(ctx context.Context, a *submitAttempt) (store.Job, bool, error) {
	err := a.err
	job := a.prev // nothing was written: the row is as it was
	if a.recorded {
		job = r.revert(a.job, a.prev.State, err.Error())
	}
	if errors.Is(err, api.ErrUnavailable) {
		if werr := r.outageWait(ctx, err); werr == nil {
			return job, true, nil
		} else if ctx.Err() != nil {
			return job, false, ctx.Err()
		}
	}
	switch {
	case errors.Is(err, api.ErrUnknownModel):
		// Usage, not the account: every row would be refused the same way.
		return job, false, fmt.Errorf("model %q: %w", r.cfg.Model, err)
	case errors.Is(err, api.ErrUnauthorized):
		return job, false, fmt.Errorf("submit %q: %w", job.Key, err)
	case errors.Is(err, api.ErrPaymentRequired), errors.Is(err, api.ErrUnavailable):
		r.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
		return job, false, nil
	case ctx.Err() != nil:
		return job, false, ctx.Err()
	}
	r.stopSubmitting(fmt.Errorf("submit %q: %w: %w", job.Key, ErrSubmitsStopped, err))
	return job, false, nil
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
