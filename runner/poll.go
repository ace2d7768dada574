package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/backoff"
	"github.com/pikabatch/pikabatch/store"
)

// PollConfig tunes when jobs are looked at. Zero values take the defaults.
type PollConfig struct {
	// Initial is the first gap after a submit while nothing has been
	// learned about how long jobs take. Default 250ms. Until the first job
	// finishes, one job (the probe) is then looked at every eighth of its
	// age, so the first finish is seen within about an eighth of its run
	// time; the others back off, doubling their gaps, and are woken as soon
	// as the probe's result says how long jobs run.
	Initial time.Duration
	// Min is the shortest gap between two looks at one job. Default 100ms.
	Min time.Duration
	// Max is the longest gap. Default 30s.
	Max time.Duration
}

// pollPolicy is the one place that decides when each job is looked at next.
// It learns how long jobs run from the ones that finished (the result
// reports created_at and finished_at), so a running job is looked at once,
// with a result call, when it is expected to be done — then at short,
// slowly growing steps, sized by how much run times vary. A queued job is
// looked at when the jobs ahead of it (queue_position) should have made
// room, at the pace the queue was seen to move. Every poller
// waits on the policy's wake channel as well as its timer, so what one job
// teaches reaches the others at once.
type pollPolicy struct {
	cfg   PollConfig
	now   func() time.Time
	since time.Time // when the policy began: jobs submitted since were watched from their submit

	mu        sync.Mutex
	runTime   time.Duration // learned typical run time (start to finish); 0 = nothing learned
	spread    time.Duration // learned mean absolute deviation of run times
	samples   int
	longest   time.Duration // longest submit to seen-finished, in our clock, of a job submitted since (see maxRun)
	announced time.Duration // runTime when the wake channel was last closed
	running   int           // jobs currently seen in progress
	// advanced and advancing measure how fast the queue moves: positions
	// gained over the time it took, decayed so that old looks fade.
	advanced, advancing float64
	queued              int                    // jobs last seen queued: a new submit lands behind them
	waiting             map[*jobWatch]struct{} // those jobs, to hand a freed slot to
	probe               *jobWatch              // the job looked at closely while nothing is learned
	wake                chan struct{}          // closed (and replaced) when looks may be due earlier
}

func newPollPolicy(cfg PollConfig, now func() time.Time) *pollPolicy {
	if cfg.Initial <= 0 {
		cfg.Initial = 250 * time.Millisecond
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
	return &pollPolicy{cfg: cfg, now: now, since: now(), wake: make(chan struct{}), waiting: map[*jobWatch]struct{}{}}
}

// jobWatch is what the policy knows of one job. The policy's mutex guards
// the fields seen, which the policy's counts follow.
type jobWatch struct {
	submittedAt  time.Time // when the job was accepted (or first seen, on resume)
	lastLook     time.Time // zero before the first look
	lastQueuedAt time.Time // last look that saw it queued; it started after this
	posAt        time.Time // when queuePos was seen
	runningAt    time.Time // first look that saw it in progress
	queuePos     int       // last queue position seen; -1 if not queued
	// handedSlot is when a job of ours finished while this one was first
	// in line: it took that slot then, as far as the policy can tell.
	handedSlot time.Time
	looks      int // looks so far
	late       int // looks at or after the expected finish that found it unfinished
	// lastUnfinished is the last look that found it queued or running: it
	// finished after that.
	lastUnfinished time.Time
	seen           string // last status seen: "", api.StatusInQueue or api.StatusInProgress
}

// look is the policy's decision for one job: when, with which call, and
// whether the job is then overdue.
type look struct {
	at        time.Time
	useResult bool // the job is expected done: the result call answers both questions
	late      bool
	wake      <-chan struct{} // closed if the decision may have become stale
}

// started estimates when w took a slot, and whether that is known well
// enough to learn its run time from.
func (w *jobWatch) started() (time.Time, bool) {
	switch {
	case !w.handedSlot.IsZero():
		// A look that found it still queued would have taken the slot
		// back: nothing seen since contradicts it. Learning from these
		// starts keeps the run time true in a long queue, where few jobs
		// are ever seen starting.
		return w.handedSlot, true
	case w.lastQueuedAt.IsZero():
		return w.submittedAt, true
	case w.runningAt.After(w.lastQueuedAt):
		// Between the last look that saw it queued and the first that saw
		// it running.
		return w.lastQueuedAt.Add(w.runningAt.Sub(w.lastQueuedAt) / 2), true
	}
	return w.lastQueuedAt, false
}

// runTime is what a job that was found finished at now teaches about how
// long jobs run, from its start (in our clock) to its finish.
//
// The API's created_at and finished_at say it best; but the docs promise
// neither their precision nor that they are there at all. Whole seconds
// are off by up to a second either way (an instant job reads 0), yet on
// average right, so they are taken as they are. What our own looks saw
// bounds them: the job finished after the last look that found it
// unfinished and before this one. A value well outside that window (more
// than a second, or a tenth of the window, beyond it) is a clock that is
// off on the API's side, days even, and is left out; then, as without
// timestamps, the middle of the window is the estimate.
func (w *jobWatch) runTime(start, now, created, finished time.Time) time.Duration {
	lo, hi := max(w.lastUnfinished.Sub(start), 0), max(now.Sub(start), 0)
	if !created.IsZero() && !finished.Before(created) {
		d := finished.Sub(created) - start.Sub(w.submittedAt) // less its time in the queue
		tolerance := max(time.Second, hi/10)
		if d >= lo-tolerance && d <= hi+tolerance {
			return max(min(max(d, lo), hi), time.Millisecond)
		}
	}
	return max(lo+(hi-lo)/2, time.Millisecond) // a job that ran at all took some time
}

// observe records what a look saw.
func (p *pollPolicy) observe(w *jobWatch, status string, queuePos int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.seen == api.StatusInQueue && status != api.StatusInQueue {
		p.queued--
	}
	if w.seen == api.StatusInProgress && status != api.StatusInProgress {
		p.running--
	}
	if status == api.StatusInQueue {
		p.waiting[w] = struct{}{}
		w.handedSlot = time.Time{} // it did not get that slot after all
	} else {
		delete(p.waiting, w)
	}
	switch status {
	case api.StatusInQueue:
		if w.seen != api.StatusInQueue {
			p.queued++
		}
		w.lastQueuedAt = at
		switch {
		case queuePos >= 0 && w.queuePos >= 0:
			p.advance(w.queuePos-queuePos, at.Sub(w.posAt))
			w.queuePos, w.posAt = queuePos, at
		case queuePos >= 0 || w.queuePos < 0:
			// A result call says queued without a position: assume the head.
			w.queuePos, w.posAt = max(queuePos, 0), at
		}
	case api.StatusInProgress:
		if w.seen != api.StatusInProgress {
			p.running++
			w.runningAt = at
		}
		if w.queuePos >= 0 {
			p.advance(w.queuePos+1, at.Sub(w.posAt)) // at least: it started
		}
		w.queuePos = -1
	default:
		w.queuePos = -1
	}
	if status != api.StatusCompleted && status != api.StatusFailed && status != api.StatusCancelled {
		w.lastUnfinished = at
	}
	w.seen = status
}

// advance records that the queue moved by n positions in d. p.mu must be held.
func (p *pollPolicy) advance(n int, d time.Duration) {
	if n < 0 || d <= 0 {
		return
	}
	const keep = 0.9
	p.advanced = p.advanced*keep + float64(n)
	p.advancing = p.advancing*keep + d.Seconds()
}

// queueWait is how long until a job at position pos takes a slot.
func (p *pollPolicy) queueWait(pos int) time.Duration {
	if p.advanced > 0 && p.advancing > 0 {
		perSec := p.advanced / p.advancing
		return time.Duration(float64(pos+1) / perSec * float64(time.Second))
	}
	// Not measured yet: about (position+1) finishes, spread over the jobs running.
	return time.Duration(pos+1) * p.runTime / time.Duration(max(p.running, 1))
}

// plan decides the next look at w. It changes nothing but the probe role,
// so a woken poller may plan again.
func (p *pollPolicy) plan(w *jobWatch) look {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	l := look{wake: p.wake}
	if p.probe == w && w.queuePos >= 0 {
		p.probe = nil // a queued job finishes late: let a running one probe
	}
	last := w.lastLook
	if last.IsZero() {
		last = w.submittedAt
	}

	if p.samples == 0 {
		if w.looks == 0 && now.Sub(w.submittedAt) > p.cfg.Initial {
			l.at = now // resumed job, nothing known: look now
			return l
		}
		if p.probe == nil && w.queuePos < 0 {
			p.probe = w
		}
		age := last.Sub(w.submittedAt)
		if p.probe == w {
			l.at = last.Add(p.clamp(max(age/8, p.cfg.Initial)))
			return l
		}
		// The others wait for the probe to say how long jobs run: it wakes
		// them. Their own looks are a backstop, quadrupling, so that while
		// nothing is known they spend few of the calls the rate allows.
		l.at = last.Add(p.clamp(max(3*age, 16*p.cfg.Initial)))
		return l
	}

	if w.looks == 0 && p.queued > 0 {
		// Our other jobs are queuing, so this one is behind them: its
		// position says more than its age.
		l.at = last.Add(p.cfg.Min)
		return l
	}
	if w.queuePos >= 0 && w.handedSlot.IsZero() {
		// Queued: it starts once (position+1) slots have come free, at the
		// pace the queue was seen to move. Our own finishes hand it a slot
		// sooner (freed); this look is for slots freed by jobs we do not
		// see, so it leaves them half a run time to do that first.
		l.at = maxTime(w.posAt.Add(p.queueWait(w.queuePos)+p.runTime/2), last.Add(p.cfg.Min))
		l.at = minTime(l.at, last.Add(p.cfg.Max))
		return l
	}
	start, _ := w.started()
	l.useResult = true
	early := p.spread / 2
	if !w.lastQueuedAt.IsZero() {
		early = 0 // its start is already an early estimate
	}
	// Looking half a spread early finds the quick ones sooner and costs a
	// look or two on the slow ones; with fixed run times it is exact.
	if due := start.Add(min(p.runTime, p.maxRun()) - early); w.lastLook.Before(due) {
		l.at = due
		if w.looks > 0 {
			l.at = maxTime(due, last.Add(p.cfg.Min))
		}
		return l
	}
	// Overdue: short steps that grow slowly.
	step := max(p.cfg.Min, p.runTime/20, p.spread/2)
	for i := 0; i < w.late && step < p.cfg.Max; i++ {
		step += step / 4
	}
	l.at, l.late = last.Add(p.clamp(step)), true
	return l
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (p *pollPolicy) clamp(d time.Duration) time.Duration {
	return min(max(d, p.cfg.Min), p.cfg.Max)
}

// maxRun bounds the run time a running job is expected to take: twice
// the longest run seen in our own clock, at least Max, so that a run time
// learned from a skewed clock (a job resumed from a long-gone run can pass
// runTime's checks) cannot stop the polling. p.mu must be held.
func (p *pollPolicy) maxRun() time.Duration {
	return max(p.cfg.Max, 2*p.longest)
}

// finished records what a job seen finished at now teaches. Its slot went
// to the job first in line when it finished: in our clock, its submit plus
// the API's own created-to-finished time. A completed job (isRun) teaches
// a run time, and, if it was submitted since the policy began, how long a
// job can take in our own clock (maxRun).
func (p *pollPolicy) finished(w *jobWatch, created, finishedAt time.Time, isRun bool, now time.Time) {
	freedAt := now
	if !created.IsZero() && finishedAt.After(created) {
		freedAt = minTime(now, w.submittedAt.Add(finishedAt.Sub(created)))
	}
	p.freed(maxTime(freedAt, w.lastUnfinished)) // it was seen running then
	if !isRun {
		return
	}
	if !w.submittedAt.Before(p.since) {
		p.mu.Lock()
		p.longest = max(p.longest, now.Sub(w.submittedAt))
		p.mu.Unlock()
	}
	// Learn only from jobs whose start is known: one that went from
	// queued to done between two looks would teach its queue time.
	if start, known := w.started(); known {
		p.learn(w.runTime(start, now, created, finishedAt))
	}
}

// learn records a finished job's run time.
func (p *pollPolicy) learn(d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.samples++
	if p.samples == 1 {
		p.runTime = d
	} else {
		// Exponentially weighted: follows drift (a busier account) without
		// letting one outlier move the schedule much.
		dev := d - p.runTime
		p.runTime += dev / 5
		p.spread += (dev.Abs() - p.spread) / 5
	}
	// The first sample ends the probing; a much shorter estimate makes
	// sleeping pollers overdue. Either way they should plan again.
	if p.samples == 1 || p.runTime < p.announced*9/10 {
		p.announce()
	}
}

// freed records that a job of ours left its slot at t. Our queued jobs
// wait in line in the order they were submitted, and the k-th in line
// takes the k-th slot freed, so each is looked at once, when it should
// finish, instead of being polled while it waits. Finishes are seen out of
// order (a later one may be seen first), so the slot times handed so far
// are dealt out again in order with t. A look that finds a job still
// queued (another client's job took the slot) puts it back in line.
func (p *pollPolicy) freed(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := make([]*jobWatch, 0, len(p.waiting))
	slots := []time.Time{t}
	for w := range p.waiting {
		line = append(line, w)
		if !w.handedSlot.IsZero() {
			slots = append(slots, w.handedSlot)
		}
	}
	if len(slots) > len(line) {
		return // everyone in line has a slot: this one went to a job not seen queued
	}
	slices.SortFunc(line, func(a, b *jobWatch) int {
		if c := a.submittedAt.Compare(b.submittedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.queuePos, b.queuePos)
	})
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	for i, w := range line {
		if i < len(slots) {
			w.handedSlot = slots[i]
		} else if w.queuePos > 0 {
			w.queuePos-- // one place nearer the head
		}
	}
	p.announce()
}

// announce wakes every poller to plan again. p.mu must be held.
func (p *pollPolicy) announce() {
	close(p.wake)
	p.wake = make(chan struct{})
	p.announced = p.runTime
}

// forget drops w when its poller ends; if it was the probe and nothing was
// learned, another job takes over.
func (p *pollPolicy) forget(w *jobWatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch w.seen {
	case api.StatusInQueue:
		p.queued--
	case api.StatusInProgress:
		p.running--
	}
	w.seen = ""
	delete(p.waiting, w)
	if p.probe == w {
		p.probe = nil
		if p.samples == 0 {
			p.announce()
		}
	}
}

// pollUntilDone looks at a submitted job until the API finishes it, then
// records the outcome. It returns the job as recorded.
func (r *Runner) pollUntilDone(ctx context.Context, job store.Job) (store.Job, error) {
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
		wait := l.at.Sub(r.cfg.Now())
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
			case <-l.wake:
				timer.Stop()
				continue // the policy learned something: plan again
			case <-timer.C:
			}
		}
		if timedOut {
			return r.timeOut(ctx, job, w)
		}
		w.looks++
		w.lastLook = r.cfg.Now()
		r.stats.polls.Add(1)

		status, pos := "", -1
		var res api.Result
		var st api.Status
		var err error
		if l.useResult {
			res, err = r.api.Result(ctx, job.RequestID)
			status = res.Status
		} else {
			st, err = r.api.Status(ctx, job.RequestID)
			status, pos = st.Status, st.QueuePosition
		}
		if err != nil {
			if j, done, ferr := r.lookFailed(ctx, job, w, &trouble, err, w.lastLook); done {
				return j, ferr
			}
			continue // look again later
		}
		trouble = jobTrouble{}
		r.outage.ok()
		r.poll.observe(w, status, pos, w.lastLook)
		if status == api.StatusUnknown {
			// A word outside the docs: still running, as far as we know.
			// Look less often (bounded by Poll.Max) and never fail the row.
			r.unknownWord(job, word(res.Word, st.Word, l.useResult))
			w.late++
			continue
		}
		switch status {
		case api.StatusInQueue:
			job, err = r.moveTo(ctx, job, store.StateQueued)
		case api.StatusInProgress:
			if l.late {
				w.late++
			}
			job, err = r.moveTo(ctx, job, store.StateRunning)
		default:
			if !l.useResult {
				// Finished: one result call gets the outputs or the error.
				r.stats.polls.Add(1)
				asked := r.cfg.Now()
				res, err = r.api.Result(ctx, job.RequestID)
				if err != nil {
					if j, done, ferr := r.lookFailed(ctx, job, w, &trouble, err, asked); done {
						return j, ferr
					}
					continue
				}
			}
			if res.Status == api.StatusUnknown {
				r.unknownWord(job, res.Word)
				w.late++
				continue
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
func (r *Runner) recordResult(ctx context.Context, job store.Job, w *jobWatch, res api.Result) (store.Job, error) {
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
	key := job.Key // job is the zero Job when Update fails
	job, err := r.store.Update(context.WithoutCancel(ctx), key, func(j *store.Job) error {
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
		return job, fmt.Errorf("record result of %q: %w", key, err)
	}
	switch state {
	case store.StateRendered:
		r.stats.completed.Add(1)
		r.log.Info("rendered", "key", job.Key, "request_id", job.RequestID, "polls", w.looks)
	case store.StateFailed:
		r.fail(job, msg)
		r.log.Warn("generation failed", "key", job.Key, "request_id", job.RequestID, "err", msg)
	default:
		r.log.Info("cancelled on the API", "key", job.Key, "request_id", job.RequestID)
	}
	return job, nil
}

// pollFailed handles an error from a status or result call. Only the
// account's trouble (a rejected token, the outage clock run out) ends the
// run; a job's own trouble ends that job.
func (r *Runner) pollFailed(ctx context.Context, job store.Job, w *jobWatch, err error) (store.Job, error) {
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
func (r *Runner) failJob(ctx context.Context, job store.Job, w *jobWatch, msg string) (store.Job, error) {
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
func (r *Runner) lookFailed(ctx context.Context, job store.Job, w *jobWatch, t *jobTrouble, err error, asked time.Time) (store.Job, bool, error) {
	if r.parkable(t, err, asked) {
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
	if werr := r.outage.wait(ctx, err, r.poll.cfg.Min); werr == nil {
		return job, false, nil // the API is briefly unavailable
	}
	j, perr := r.pollFailed(ctx, job, w, err)
	return j, true, perr
}

// parkable reports whether err, one more failure of this job's calls (the
// failing one made at asked), makes the job's trouble its own: its calls
// have kept failing for --outage-limit while calls for other jobs went
// through.
func (r *Runner) parkable(t *jobTrouble, err error, asked time.Time) bool {
	unreadable := errors.Is(err, api.ErrBadResponse)
	if !errors.Is(err, api.ErrUnavailable) && !unreadable {
		return false
	}
	now := r.cfg.Now()
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
func (r *Runner) park(ctx context.Context, job store.Job, w *jobWatch, err error) (store.Job, error) {
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

// word is the raw status word of a look.
func word(resultWord, statusWord string, useResult bool) string {
	if useResult {
		return resultWord
	}
	return statusWord
}

// unknownWord counts a status word outside the docs, logging each new one once.
func (r *Runner) unknownWord(job store.Job, w string) {
	if first := r.stats.word(w); first != "" {
		r.log.Warn("status word outside the API's docs; treating the job as still running",
			"word", first, "key", job.Key, "request_id", job.RequestID)
	}
}

// timeOut gives up on a job that ran past --job-timeout, cancelling it if it is still queued.
func (r *Runner) timeOut(ctx context.Context, job store.Job, w *jobWatch) (store.Job, error) {
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
