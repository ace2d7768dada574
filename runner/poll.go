package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/store"
)

// PollConfig tunes when jobs are looked at. Zero values take the defaults.
type PollConfig struct {
	// Initial is the first gap before anything has been learned about how
	// long jobs take. Default 1s; later gaps grow by half each time.
	Initial time.Duration
	// Min is the shortest gap between two looks at one job. Default 100ms.
	Min time.Duration
	// Max is the longest gap. Default 30s.
	Max time.Duration
}

// pollPolicy is the one place that decides when each job is looked at next.
// It learns how long jobs run from the ones that finished (the API reports
// created_at and finished_at), so a job is first looked at near its expected
// finish — one call instead of a fixed beat — and then at short steps.
type pollPolicy struct {
	cfg PollConfig
	now func() time.Time

	mu      sync.Mutex
	runTime time.Duration // learned typical time from start to finish; 0 = unknown
	samples int
	running int // jobs currently seen in progress, to convert queue positions into time
}

func newPollPolicy(cfg PollConfig, now func() time.Time) *pollPolicy {
	if cfg.Initial <= 0 {
		cfg.Initial = time.Second
	}
	if cfg.Min <= 0 {
		cfg.Min = 100 * time.Millisecond
	}
	if cfg.Max <= 0 {
		cfg.Max = 30 * time.Second
	}
	if cfg.Min > cfg.Max {
		cfg.Min = cfg.Max
	}
	return &pollPolicy{cfg: cfg, now: now}
}

// jobWatch is what the policy knows of one job.
type jobWatch struct {
	submittedAt  time.Time // when the job was accepted (or first seen, on resume)
	lastQueuedAt time.Time // last look that saw it queued; it started after this
	queuePos     int       // last queue position seen; -1 if not queued
	running      bool
	looks        int // looks so far
	late         int // looks after the expected finish
}

// next says how long to wait before looking at w again, and whether to ask
// for the result directly (when the job is expected to be finished, the
// result call answers both questions at once).
func (p *pollPolicy) next(w *jobWatch) (time.Duration, bool) {
	p.mu.Lock()
	learned, running := p.runTime, p.running
	p.mu.Unlock()
	now := p.now()

	if w.looks == 0 && now.Sub(w.submittedAt) > p.cfg.Initial && learned == 0 {
		return 0, false // resumed job, nothing known: look now
	}
	if learned == 0 {
		gap := p.cfg.Initial
		for i := 0; i < w.looks && gap < p.cfg.Max; i++ {
			gap += gap / 2
		}
		return p.clamp(gap), false
	}
	if w.queuePos >= 0 {
		// Queued: about (position+1) finishes must happen before it starts,
		// spread over the jobs running now.
		slots := max(running, 1)
		wait := time.Duration(w.queuePos+1) * learned / time.Duration(slots)
		return p.clamp(wait), false
	}
	start := w.submittedAt
	if !w.lastQueuedAt.IsZero() {
		start = w.lastQueuedAt
	}
	if wait := start.Add(learned).Sub(now); wait > 0 {
		return p.clamp(wait), true
	}
	// Past its expected finish: short steps that grow slowly.
	step := max(p.cfg.Min, learned/20)
	for i := 0; i < w.late && step < p.cfg.Max; i++ {
		step += step / 4
	}
	w.late++
	return p.clamp(step), true
}

func (p *pollPolicy) clamp(d time.Duration) time.Duration {
	return min(max(d, p.cfg.Min), p.cfg.Max)
}

// learn records a finished job's run time.
func (p *pollPolicy) learn(d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.samples++
	if p.runTime == 0 {
		p.runTime = d
		return
	}
	// An exponentially weighted mean follows drift (a busier account) without
	// letting one outlier move the schedule much.
	p.runTime += (d - p.runTime) / 5
}

func (p *pollPolicy) setRunning(delta int) {
	p.mu.Lock()
	p.running += delta
	p.mu.Unlock()
}

// pollUntilDone looks at a submitted job until the API finishes it, then
// records the outcome. It returns the job as recorded.
func (r *Runner) pollUntilDone(ctx context.Context, job store.Job) (store.Job, error) {
	w := &jobWatch{submittedAt: job.SubmittedAt, queuePos: -1}
	if w.submittedAt.IsZero() {
		w.submittedAt = r.cfg.Now()
	}
	defer func() {
		if w.running {
			r.poll.setRunning(-1)
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait, useResult := r.poll.next(w)
		timedOut := false
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
				return job, ctx.Err()
			case <-timer.C:
			}
		}
		if timedOut {
			return r.timeOut(ctx, job, w)
		}
		w.looks++
		r.stats.polls.Add(1)

		status := ""
		var res api.Result
		var err error
		if useResult {
			res, err = r.api.Result(ctx, job.RequestID)
			status = res.Status
		} else {
			var st api.Status
			st, err = r.api.Status(ctx, job.RequestID)
			status = st.Status
			if st.Status == api.StatusInQueue {
				w.queuePos = st.QueuePosition
			}
		}
		if err != nil {
			if werr := r.outage.wait(ctx, err, r.poll.cfg.Min); werr == nil {
				continue // the API is briefly unavailable: look again later
			}
			return r.pollFailed(ctx, job, err)
		}
		r.outage.ok()
		switch status {
		case api.StatusInQueue:
			w.lastQueuedAt = r.cfg.Now()
			if w.queuePos < 0 {
				w.queuePos = 0
			}
			job, err = r.moveTo(ctx, job, store.StateQueued)
		case api.StatusInProgress:
			w.queuePos = -1
			if !w.running {
				w.running = true
				r.poll.setRunning(1)
			}
			job, err = r.moveTo(ctx, job, store.StateRunning)
		default:
			if !useResult {
				// Finished: one result call gets the outputs or the error.
				r.stats.polls.Add(1)
				res, err = r.api.Result(ctx, job.RequestID)
				if err != nil {
					if werr := r.outage.wait(ctx, err, r.poll.cfg.Min); werr == nil {
						continue
					}
					return r.pollFailed(ctx, job, err)
				}
			}
			if res.Status == api.StatusInQueue || res.Status == api.StatusInProgress {
				continue // status and result disagree for a moment; look again
			}
			return r.recordResult(ctx, job, w, res)
		}
		if err != nil {
			return job, err
		}
	}
}

// moveTo records a state change; unchanged states cost no write.
func (r *Runner) moveTo(ctx context.Context, job store.Job, s store.State) (store.Job, error) {
	if job.State == s {
		return job, nil
	}
	j, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.State = s
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record state of %q: %w", job.Key, err)
	}
	r.log.Debug("state", "key", j.Key, "request_id", j.RequestID, "state", string(s))
	return j, nil
}

// recordResult stores a finished job's outcome.
func (r *Runner) recordResult(ctx context.Context, job store.Job, w *jobWatch, res api.Result) (store.Job, error) {
	now := r.cfg.Now()
	var state store.State
	switch {
	case res.Status == api.StatusCompleted && len(res.Outputs) > 0:
		state = store.StateRendered
		if !res.CreatedAt.IsZero() && res.FinishedAt.After(res.CreatedAt) {
			queued := time.Duration(0)
			if !w.lastQueuedAt.IsZero() {
				queued = w.lastQueuedAt.Sub(w.submittedAt)
			}
			r.poll.learn(res.FinishedAt.Sub(res.CreatedAt) - queued)
		}
	case res.Status == api.StatusCancelled:
		state = store.StateCancelled
	default:
		state = store.StateFailed
	}
	msg := res.Error
	if state == store.StateFailed && msg == "" {
		msg = fmt.Sprintf("generation ended with status %q and no output", res.Status)
	}
	job, err := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
		j.State = state
		j.FinishedAt = now
		j.Polls += w.looks
		j.LastError = msg
		if state == store.StateRendered {
			j.Outputs = make([]store.Output, len(res.Outputs))
			for i, u := range res.Outputs {
				j.Outputs[i] = store.Output{URL: u}
			}
		}
		return nil
	})
	if err != nil {
		return job, fmt.Errorf("record result of %q: %w", job.Key, err)
	}
	switch state {
	case store.StateRendered:
		r.stats.completed.Add(1)
		r.log.Info("rendered", "key", job.Key, "request_id", job.RequestID, "polls", w.looks)
	case store.StateFailed:
		r.stats.fail(msg)
		r.log.Warn("generation failed", "key", job.Key, "request_id", job.RequestID, "err", msg)
	default:
		r.log.Info("cancelled on the API", "key", job.Key, "request_id", job.RequestID)
	}
	return job, nil
}

// pollFailed handles an error from a status or result call.
func (r *Runner) pollFailed(ctx context.Context, job store.Job, err error) (store.Job, error) {
	switch {
	case ctx.Err() != nil:
		return job, ctx.Err()
	case errors.Is(err, api.ErrNotFound):
		msg := "the API no longer knows this request ID; the render is lost (--retry-failed submits it again)"
		j, uerr := r.store.Update(context.WithoutCancel(ctx), job.Key, func(j *store.Job) error {
			j.State = store.StateExpired
			j.LastError = msg
			j.FinishedAt = r.cfg.Now()
			return nil
		})
		if uerr != nil {
			return job, fmt.Errorf("record expiry of %q: %w", job.Key, uerr)
		}
		r.stats.fail("request expired")
		r.log.Warn("request expired", "key", job.Key, "request_id", job.RequestID)
		return j, nil
	case errors.Is(err, api.ErrUnauthorized):
		return job, fmt.Errorf("poll %q: %w", job.Key, err)
	}
	// The API stayed unavailable: leave the job in flight for the next run.
	r.log.Error("poll gave up; job left in flight", "key", job.Key, "request_id", job.RequestID, "err", err)
	return job, fmt.Errorf("poll %q: %w", job.Key, err)
}

// timeOut gives up on a job that ran past --job-timeout, cancelling it if it is still queued.
func (r *Runner) timeOut(ctx context.Context, job store.Job, w *jobWatch) (store.Job, error) {
	msg := fmt.Sprintf("no result %s after submit (--job-timeout)", r.cfg.JobTimeout)
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
	r.stats.fail("job timed out")
	r.log.Warn("job timed out", "key", job.Key, "request_id", job.RequestID)
	return j, nil
}
