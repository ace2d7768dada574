package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/backoff"
	"github.com/pikabatch/pikabatch/store"
)

// The polling loop: it asks the poll policy (poll.go) when to look at a
// job, looks, tells the policy what it saw and records it.

// pollUntilDone looks at a submitted job until the API finishes it, then
// records the outcome. It returns the job as recorded.
func (r *run) pollUntilDone(ctx context.Context, job store.Job) (store.Job, error) {
	w := &jobWatch{submittedAt: job.SubmittedAt, queuePos: -1}
	if w.submittedAt.IsZero() {
		w.submittedAt = r.cfg.Now()
	}
	defer r.poll.forget(w)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var trouble jobTrouble // this job's own calls failing in a row
	for {
		l := r.poll.plan(w)
		timedOut, replan, err := r.waitToLook(ctx, w, l, timer)
		switch {
		case err != nil:
			return job, err
		case replan:
			continue // the policy learned something: plan again
		case timedOut:
			return r.timeOut(ctx, job, w)
		}
		seen, err := r.lookAt(ctx, job, w, l)
		if err != nil {
			if j, done, ferr := r.lookFailed(ctx, job, w, &trouble, err, w.lastLook); done {
				return j, ferr
			}
			continue // look again later
		}
		trouble = jobTrouble{}
		r.outage.ok(r.cfg.Now())
		r.poll.observe(w, seen.status, seen.pos, w.lastLook)
		var done bool
		if job, done, err = r.actOnLook(ctx, job, w, l, seen, &trouble); done {
			return job, err
		}
	}
}

// waitToLook waits until the look l plans is due. It reports replan when
// the plan went stale meanwhile, and timedOut when --job-timeout is
// reached first.
func (r *run) waitToLook(ctx context.Context, w *jobWatch, l look, timer *time.Timer) (timedOut, replan bool, err error) {
	wait := l.at.Sub(r.cfg.Now())
	if r.cfg.JobTimeout > 0 {
		left := w.submittedAt.Add(r.cfg.JobTimeout).Sub(r.cfg.Now())
		if left <= wait {
			wait, timedOut = max(left, 0), true
		}
	}
	if wait > 0 {
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return false, false, ctx.Err()
		case <-l.wake:
			timer.Stop()
			return false, true, nil
		case <-timer.C:
		}
	}
	return timedOut, false, nil
}

// lookSeen is what one look at a job saw.
type lookSeen struct {
	status string
	pos    int        // queue position, -1 if unknown
	res    api.Result // the result, when the look was a result call
	word   string     // the status word as the API spelled it
}

// lookAt looks at job once, with the call l chose.
func (r *run) lookAt(ctx context.Context, job store.Job, w *jobWatch, l look) (lookSeen, error) {
	w.looks++
	w.lastLook = r.cfg.Now()
	r.stats.polls.Add(1)
	if l.useResult {
		res, err := r.api.Result(ctx, job.RequestID)
		return lookSeen{status: res.Status, pos: -1, res: res, word: res.Word}, err
	}
	st, err := r.api.Status(ctx, job.RequestID)
	return lookSeen{status: st.Status, pos: st.QueuePosition, word: st.Word}, err
}

// actOnLook records what a look saw. It reports done when polling the job
// is over: it finished, or its state could not be recorded.
func (r *run) actOnLook(ctx context.Context, job store.Job, w *jobWatch, l look, seen lookSeen, trouble *jobTrouble) (store.Job, bool, error) {
	var err error
	switch seen.status {
	case api.StatusUnknown:
		// A word outside the docs: still running, as far as we know.
		// Look less often (bounded by Poll.Max) and never fail the row.
		r.unknownWord(job, seen.word)
		w.late++
		return job, false, nil
	case api.StatusInQueue:
		job, err = r.moveTo(ctx, job, store.StateQueued)
	case api.StatusInProgress:
		if l.late {
			w.late++
		}
		job, err = r.moveTo(ctx, job, store.StateRunning)
	default:
		return r.collect(ctx, job, w, l, seen.res, trouble)
	}
	return job, err != nil, err
}

// collect records a job the API finished, with one result call unless
// the look was one. It reports done unless the job must be looked at again.
func (r *run) collect(ctx context.Context, job store.Job, w *jobWatch, l look, res api.Result, trouble *jobTrouble) (store.Job, bool, error) {
	if !l.useResult {
		// Finished: one result call gets the outputs or the error.
		r.stats.polls.Add(1)
		asked := r.cfg.Now()
		var err error
		if res, err = r.api.Result(ctx, job.RequestID); err != nil {
			return r.lookFailed(ctx, job, w, trouble, err, asked)
		}
	}
	switch res.Status {
	case api.StatusUnknown:
		r.unknownWord(job, res.Word)
		w.late++
		return job, false, nil
	case api.StatusInQueue, api.StatusInProgress:
		return job, false, nil // status and result disagree for a moment; look again
	}
	job, err := r.recordResult(ctx, job, w, res)
	return job, true, err
}

// moveTo records a state change; unchanged states cost no write.
func (r *run) moveTo(ctx context.Context, job store.Job, s store.State) (store.Job, error) {
	if job.State == s {
		return job, nil
	}
	j, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		// A final state recorded meanwhile (a cancel through the live
		// run) stands: this look may have been answered before it.
		if !j.State.IsTerminal() {
			j.State = s
		}
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record state of %q: %w", job.Key, err)
	}
	r.log.Debug("state", "key", j.Key, "request_id", j.RequestID, "state", string(s))
	return j, nil
}

// recordResult stores a finished job's outcome.
func (r *run) recordResult(ctx context.Context, job store.Job, w *jobWatch, res api.Result) (store.Job, error) {
	now := r.cfg.Now()
	var state store.State
	switch {
	case res.Status == api.StatusCompleted && len(res.Outputs) > 0:
		state = store.StateRendered
	case res.Status == api.StatusCancelled:
		state = store.StateCancelled
	default:
		state = store.StateFailed
	}
	r.poll.finished(w, res.CreatedAt, res.FinishedAt, state == store.StateRendered, now)
	msg := res.Error
	if state == store.StateFailed && msg == "" {
		msg = fmt.Sprintf("generation ended with status %q and no output", res.Status)
	}
	rec, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.State = state
		j.FinishedAt = now
		j.Polls += w.looks
		j.LastError = msg
		j.CostUSD = res.Cost
		if state == store.StateRendered {
			j.Outputs = make([]store.Output, len(res.Outputs))
			for i, u := range res.Outputs {
				j.Outputs[i] = store.Output{URL: u}
			}
		}
		return nil
	})
	if err != nil {
		// The job as it was: Update's zero Job would be counted in a
		// state named "" and lose its key and orphan flag.
		return job, fmt.Errorf("record result of %q: %w", job.Key, err)
	}
	job = rec
	r.stats.reportedCost(res.Cost)
	switch state {
	case store.StateRendered:
		r.stats.completed.Add(1)
		r.log.Info("rendered", "key", job.Key, "request_id", job.RequestID, "polls", w.looks)
	case store.StateFailed:
		r.fail(job, msg)
		r.log.Warn("generation failed", "key", job.Key, "request_id", job.RequestID, "err", msg)
	default:
		if !job.Orphan {
			r.stats.cancelled.Add(1)
		}
		r.log.Info("cancelled on the API", "key", job.Key, "request_id", job.RequestID)
	}
	return job, nil
}

// pollFailed handles an error from a status or result call. Only the
// account's trouble (a rejected token, the outage clock run out) ends the
// run; a job's own trouble ends that job.
func (r *run) pollFailed(ctx context.Context, job store.Job, w *jobWatch, err error) (store.Job, error) {
	switch {
	case ctx.Err() != nil:
		return job, ctx.Err()
	case errors.Is(err, api.ErrNotFound):
		msg := "the API no longer knows this request ID; the render is lost"
		j, uerr := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
			j.State = store.StateExpired
			j.LastError = msg
			j.FinishedAt = r.cfg.Now()
			return nil
		})
		if uerr != nil {
			return job, fmt.Errorf("record expiry of %q: %w", job.Key, uerr)
		}
		r.fail(job, "request expired")
		r.log.Warn("request expired", "key", job.Key, "request_id", job.RequestID)
		return j, nil
	case errors.Is(err, api.ErrUnauthorized), errors.Is(err, api.ErrPaymentRequired):
		return job, fmt.Errorf("poll %q: %w", job.Key, err)
	case errors.Is(err, api.ErrUnavailable):
		// Every call failed for --outage-limit: the account's trouble.
		r.log.Error("poll gave up; job left in flight", "key", job.Key, "request_id", job.RequestID, "err", err)
		return job, fmt.Errorf("poll %q: %w", job.Key, err)
	}
	// Anything else is this request's own: another account's ID
	// (403001), a redirect to another origin, an answer that cannot be
	// read. It fails this job, with the API's message, and no other.
	return r.failJob(ctx, job, w, apiMessage(err))
}

// failJob records a job failed for msg.
func (r *run) failJob(ctx context.Context, job store.Job, w *jobWatch, msg string) (store.Job, error) {
	j, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.State = store.StateFailed
		j.LastError = msg
		j.Polls += w.looks
		j.FinishedAt = r.cfg.Now()
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record failure of %q: %w", job.Key, err)
	}
	r.fail(job, msg)
	r.log.Warn("job failed", "key", job.Key, "request_id", job.RequestID, "err", msg)
	return j, nil
}

// jobTrouble is one job's run of failed calls.
type jobTrouble struct {
	since time.Time // when the first of them began; zero: none
	tries int
}

// lookFailed decides what a failed status or result call (made at asked)
// means for the job: look again later (done false), or the job's end
// for this run, as recorded, with the run's error if it must stop.
func (r *run) lookFailed(ctx context.Context, job store.Job, w *jobWatch, t *jobTrouble, err error, asked time.Time) (store.Job, bool, error) {
	// One reading decides both: the job's trouble reaches the limit no
	// later than the outage that began after it, so a pause between two
	// readings could give the run up for one job's own trouble.
	now := r.cfg.Now()
	if r.parkable(t, err, asked, now) {
		j, perr := r.park(ctx, job, w, err)
		return j, true, perr
	}
	if errors.Is(err, api.ErrBadResponse) {
		// An answer that could not be read says nothing about the job
		// (a proxy's error page, a truncated body): look again, backing off.
		t.tries++
		if serr := backoff.Sleep(ctx, retryWait(r.poll.cfg.Min).Delay(min(t.tries, 8)-1)); serr != nil {
			return job, true, serr
		}
		return job, false, nil
	}
	if werr := r.outageWaitAt(ctx, err, now); werr == nil {
		return job, false, nil // the API is briefly unavailable
	}
	j, perr := r.pollFailed(ctx, job, w, err)
	return j, true, perr
}

// parkable reports whether err, one more failure of this job's calls (the
// failing one made at asked), makes the job's trouble its own: its calls
// have kept failing for --outage-limit while calls for other jobs went
// through. now is the time of the decision.
func (r *run) parkable(t *jobTrouble, err error, asked, now time.Time) bool {
	unreadable := errors.Is(err, api.ErrBadResponse)
	if !errors.Is(err, api.ErrUnavailable) && !unreadable {
		return false
	}
	if t.since.IsZero() {
		t.since = asked // the trouble began when the failing call did
		var ue *api.UnavailableError
		if errors.As(err, &ue) && ue.Failing > 0 {
			t.since = minTime(asked, now.Add(-ue.Failing))
		}
	}
	if now.Sub(t.since) < r.cfg.OutageLimit {
		return false
	}
	// Unreadable answers are this request's own; failures of every call
	// since it began are the account's (the outage clock decides).
	return unreadable || r.outage.okSince(t.since)
}

// park leaves a job whose own calls keep failing in flight, recorded, for
// the next run to look at again; this run goes on with the others.
func (r *run) park(ctx context.Context, job store.Job, w *jobWatch, err error) (store.Job, error) {
	msg := "its status kept failing while other calls succeeded; left in flight for the next run: " + apiMessage(err)
	if errors.Is(err, api.ErrBadResponse) {
		msg = "its status could not be read for the outage limit; left in flight for the next run: " + apiMessage(err)
	}
	j, uerr := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.LastError = msg
		j.Polls += w.looks
		return nil
	})
	if uerr != nil {
		return job, fmt.Errorf("record %q left in flight: %w", job.Key, uerr)
	}
	r.stats.parked.Add(1)
	r.log.Warn("job left in flight for the next run", "key", job.Key, "request_id", job.RequestID, "err", err)
	return j, nil
}

// unknownWord counts a status word outside the docs, logging each new one once.
func (r *run) unknownWord(job store.Job, w string) {
	if first := r.stats.word(w); first != "" {
		r.log.Warn("status word outside the API's docs; treating the job as still running",
			"word", first, "key", job.Key, "request_id", job.RequestID)
	}
}

// timeOut gives up on a job that ran past --job-timeout, cancelling it if it is still queued.
func (r *run) timeOut(ctx context.Context, job store.Job, w *jobWatch) (store.Job, error) {
	msg := fmt.Sprintf("no result %s after submit (the job timeout)", r.cfg.JobTimeout)
	if job.State != store.StateRunning {
		err := r.api.Cancel(ctx, job.RequestID)
		switch {
		case err == nil:
			msg += "; cancelled while queued"
		case errors.Is(err, api.ErrNotCancellable):
			msg += "; already running, could not cancel"
		case ctx.Err() != nil:
			return job, ctx.Err()
		default:
			msg += "; cancel failed: " + apiMessage(err)
		}
	}
	j, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.State = store.StateTimedOut
		j.LastError = msg
		j.Polls += w.looks
		j.FinishedAt = r.cfg.Now()
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record timeout of %q: %w", job.Key, err)
	}
	r.fail(job, "job timed out")
	r.log.Warn("job timed out", "key", job.Key, "request_id", job.RequestID)
	return j, nil
}
