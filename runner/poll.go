package runner

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
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
	// Rate is the run's call budget, in calls per second (--rps); 0 means
	// unlimited. While rows wait for a slot, the looks at running jobs
	// spend at most three quarters of it, leaving the rest to submits and
	// result fetches.
	Rate float64
}

// schedule is the one place that decides when each job is looked at next:
// a pure policy. Its methods take what a look saw, with the time it saw
// it, and return when to look next; those that learn something report
// whether every poller should plan again. The caller serialises them
// (pollPolicy).
//
// It learns how long jobs run from the ones that finished (the result
// reports created_at and finished_at), so a running job is looked at once,
// with a result call, when it is expected to be done — then at short,
// slowly growing steps, sized by how much run times vary. A queued job is
// looked at when the jobs ahead of it (queue_position) should have made
// room, at the pace the queue was seen to move.
type schedule struct {
	cfg   PollConfig
	since time.Time // when the run began: jobs submitted since were watched from their submit

	runTime   time.Duration // learned typical run time (start to finish); 0 = nothing learned
	spread    time.Duration // learned mean absolute deviation of run times
	samples   int
	recent    [recentRuns]time.Duration // the last run times learned, samples%recentRuns next
	longest   time.Duration             // longest submit to seen-finished, in our clock, of a job submitted since (see maxRun)
	announced time.Duration             // runTime when the pollers were last told to plan again
	running   int                       // jobs currently seen in progress
	// advanced and advancing measure how fast the queue moves: positions
	// gained over the time it took, decayed so that old looks fade.
	advanced, advancing float64
	queued              int                    // jobs last seen queued: a new submit lands behind them
	waiting             map[*jobWatch]struct{} // those jobs, to hand a freed slot to
	probe               *jobWatch              // the job looked at closely while nothing is learned
	watched             int                    // jobs planned for and not forgotten
	// rowsWait says rows of the batch wait for a slot of ours (the
	// account's limit or --concurrency holds them): set before each plan.
	rowsWait bool
}

// withDefaults fills in the zero values.
func (cfg PollConfig) withDefaults() PollConfig {
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
	return cfg
}

// newSchedule returns the schedule of a run that began at since.
func newSchedule(cfg PollConfig, since time.Time) *schedule {
	return &schedule{cfg: cfg.withDefaults(), since: since, waiting: map[*jobWatch]struct{}{}}
}

// jobWatch is what the policy knows of one job. pollPolicy's mutex guards
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
	looks      int  // looks so far
	late       int  // looks at or after the expected finish that found it unfinished
	counted    bool // in schedule.watched
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
	wake      <-chan struct{} // closed if the decision may have become stale (set by pollPolicy)
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

// observe records what a look at w saw at at.
func (s *schedule) observe(w *jobWatch, status string, queuePos int, at time.Time) {
	if w.seen == api.StatusInQueue && status != api.StatusInQueue {
		s.queued--
	}
	if w.seen == api.StatusInProgress && status != api.StatusInProgress {
		s.running--
	}
	if status == api.StatusInQueue {
		s.waiting[w] = struct{}{}
		w.handedSlot = time.Time{} // it did not get that slot after all
	} else {
		delete(s.waiting, w)
	}
	switch status {
	case api.StatusInQueue:
		if w.seen != api.StatusInQueue {
			s.queued++
		}
		w.lastQueuedAt = at
		switch {
		case queuePos >= 0 && w.queuePos >= 0:
			s.advance(w.queuePos-queuePos, at.Sub(w.posAt))
			w.queuePos, w.posAt = queuePos, at
		case queuePos >= 0 || w.queuePos < 0:
			// A result call says queued without a position: assume the head.
			w.queuePos, w.posAt = max(queuePos, 0), at
		}
	case api.StatusInProgress:
		if w.seen != api.StatusInProgress {
			s.running++
			w.runningAt = at
		}
		if w.queuePos >= 0 {
			s.advance(w.queuePos+1, at.Sub(w.posAt)) // at least: it started
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

// advance records that the queue moved by n positions in d.
func (s *schedule) advance(n int, d time.Duration) {
	if n < 0 || d <= 0 {
		return
	}
	const keep = 0.9
	s.advanced = s.advanced*keep + float64(n)
	s.advancing = s.advancing*keep + d.Seconds()
}

// queueWait is how long until a job at position pos takes a slot.
func (s *schedule) queueWait(pos int) time.Duration {
	if s.advanced > 0 && s.advancing > 0 {
		perSec := s.advanced / s.advancing
		return time.Duration(float64(pos+1) / perSec * float64(time.Second))
	}
	// Not measured yet: about (position+1) finishes, spread over the jobs running.
	return time.Duration(pos+1) * s.runTime / time.Duration(max(s.running, 1))
}

// plan decides, at now, the next look at w. It changes nothing but the
// probe role, so a woken poller may plan again.
func (s *schedule) plan(w *jobWatch, now time.Time) look {
	var l look
	if !w.counted {
		w.counted = true
		s.watched++
	}
	if s.probe == w && w.queuePos >= 0 {
		s.probe = nil // a queued job finishes late: let a running one probe
	}
	last := w.lastLook
	if last.IsZero() {
		last = w.submittedAt
	}

	if s.samples == 0 {
		if w.looks == 0 && now.Sub(w.submittedAt) > s.cfg.Initial {
			l.at = now // resumed job, nothing known: look now
			return l
		}
		if s.probe == nil && w.queuePos < 0 {
			s.probe = w
		}
		age := last.Sub(w.submittedAt)
		if s.probe == w {
			l.at = last.Add(s.clamp(max(age/8, s.cfg.Initial)))
			return l
		}
		// The others wait for the probe to say how long jobs run: it wakes
		// them. Their own looks are a backstop, quadrupling, so that while
		// nothing is known they spend few of the calls the rate allows.
		l.at = last.Add(s.clamp(max(3*age, 16*s.cfg.Initial)))
		return l
	}

	if w.looks == 0 && s.queued > 0 {
		// Our other jobs are queuing, so this one is behind them: its
		// position says more than its age.
		l.at = last.Add(s.cfg.Min)
		return l
	}
	if w.queuePos >= 0 && w.handedSlot.IsZero() {
		// Queued: it starts once (position+1) slots have come free, at the
		// pace the queue was seen to move. Our own finishes hand it a slot
		// sooner (freed); this look is for slots freed by jobs we do not
		// see, so it leaves them half a run time to do that first.
		l.at = maxTime(w.posAt.Add(s.queueWait(w.queuePos)+s.runTime/2), last.Add(s.cfg.Min))
		l.at = minTime(l.at, last.Add(s.cfg.Max))
		return l
	}
	start, _ := w.started()
	l = s.planDue(w, start, last)
	if s.slotBound() {
		// Rows wait for a slot: looks in between, never later.
		if b := s.planBound(start, last); b.at.Before(l.at) {
			return b
		}
	}
	return l
}

// planDue decides the next look at w, a running job that started at
// start and was last looked at (or submitted) at last: once when it is
// due, then short steps that grow slowly.
func (s *schedule) planDue(w *jobWatch, start, last time.Time) look {
	l := look{useResult: true}
	early := s.spread / 2
	if !w.lastQueuedAt.IsZero() {
		early = 0 // its start is already an early estimate
	}
	// Looking half a spread early finds the quick ones sooner and costs a
	// look or two on the slow ones; with fixed run times it is exact.
	if due := start.Add(min(s.runTime, s.maxRun()) - early); w.lastLook.Before(due) {
		l.at = due
		if w.looks > 0 {
			l.at = maxTime(due, last.Add(s.cfg.Min))
		}
		return l
	}
	// Overdue: short steps that grow slowly.
	step := max(s.cfg.Min, s.runTime/20, s.spread/2)
	for i := 0; i < w.late && step < s.cfg.Max; i++ {
		step += step / 4
	}
	l.at, l.late = last.Add(s.clamp(step)), true
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

func (s *schedule) clamp(d time.Duration) time.Duration {
	return min(max(d, s.cfg.Min), s.cfg.Max)
}

// maxRun bounds the run time a running job is expected to take: twice
// the longest run seen in our own clock, at least Max, so that a run time
// learned from a skewed clock (a job resumed from a long-gone run can pass
// runTime's checks) cannot stop the polling.
func (s *schedule) maxRun() time.Duration {
	return max(s.cfg.Max, 2*s.longest)
}

// finished records what a job seen finished at now teaches. Its slot went
// to the job first in line when it finished: in our clock, its submit plus
// the API's own created-to-finished time. A completed job (isRun) teaches
// a run time, and, if it was submitted since the policy began, how long a
// job can take in our own clock (maxRun). It reports whether the pollers
// should plan again.
func (s *schedule) finished(w *jobWatch, created, finishedAt time.Time, isRun bool, now time.Time) (planAgain bool) {
	freedAt := now
	if !created.IsZero() && finishedAt.After(created) {
		freedAt = minTime(now, w.submittedAt.Add(finishedAt.Sub(created)))
	}
	planAgain = s.freed(maxTime(freedAt, w.lastUnfinished)) // it was seen running then
	if !isRun {
		return planAgain
	}
	if !w.submittedAt.Before(s.since) {
		s.longest = max(s.longest, now.Sub(w.submittedAt))
	}
	// Learn only from jobs whose start is known: one that went from
	// queued to done between two looks would teach its queue time.
	if start, known := w.started(); known {
		planAgain = s.learn(w.runTime(start, now, created, finishedAt)) || planAgain
	}
	return planAgain
}

// learn records a finished job's run time, and reports whether the
// pollers should plan again.
func (s *schedule) learn(d time.Duration) (planAgain bool) {
	if d <= 0 {
		return false
	}
	s.recent[s.samples%recentRuns] = d
	s.samples++
	if s.samples == 1 {
		s.runTime = d
	} else {
		// Exponentially weighted: follows drift (a busier account) without
		// letting one outlier move the schedule much.
		dev := d - s.runTime
		s.runTime += dev / 5
		s.spread += (dev.Abs() - s.spread) / 5
	}
	// The first sample ends the probing; a much shorter estimate makes
	// sleeping pollers overdue. Either way they should plan again.
	if s.samples == 1 || s.runTime < s.announced*9/10 {
		return s.announce()
	}
	return false
}

// freed records that a job of ours left its slot at t. Our queued jobs
// wait in line in the order they were submitted, and the k-th in line
// takes the k-th slot freed, so each is looked at once, when it should
// finish, instead of being polled while it waits. Finishes are seen out of
// order (a later one may be seen first), so the slot times handed so far
// are dealt out again in order with t. A look that finds a job still
// queued (another client's job took the slot) puts it back in line. It
// reports whether the pollers should plan again.
func (s *schedule) freed(t time.Time) (planAgain bool) {
	line := make([]*jobWatch, 0, len(s.waiting))
	slots := []time.Time{t}
	for w := range s.waiting {
		line = append(line, w)
		if !w.handedSlot.IsZero() {
			slots = append(slots, w.handedSlot)
		}
	}
	if len(slots) > len(line) {
		return false // everyone in line has a slot: this one went to a job not seen queued
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
	return s.announce()
}

// announce notes what the pollers are told when they plan again, and
// says they should.
func (s *schedule) announce() bool {
	s.announced = s.runTime
	return true
}

// forget drops w when its poller ends; if it was the probe and nothing was
// learned, another job takes over: it reports whether the pollers should
// plan again.
func (s *schedule) forget(w *jobWatch) (planAgain bool) {
	switch w.seen {
	case api.StatusInQueue:
		s.queued--
	case api.StatusInProgress:
		s.running--
	}
	w.seen = ""
	delete(s.waiting, w)
	if w.counted {
		w.counted = false
		s.watched--
	}
	if s.probe == w {
		s.probe = nil
		if s.samples == 0 {
			return s.announce()
		}
	}
	return false
}

// pollPolicy is the run's schedule, shared by its pollers: it serialises
// the schedule's decisions, reads the clock for them, and turns "plan
// again" into a wake channel that every sleeping poller waits on as well
// as its timer, so that what one job teaches reaches the others at once.
type pollPolicy struct {
	now func() time.Time
	// rowsWait, if set, reports whether rows wait for a slot (jobSlots);
	// it is read without p.mu's partner locks held, so it must not lock.
	rowsWait func() bool

	mu sync.Mutex
	*schedule
	wake chan struct{} // closed (and replaced) when looks may be due earlier
}

func newPollPolicy(cfg PollConfig, now func() time.Time) *pollPolicy {
	return &pollPolicy{now: now, schedule: newSchedule(cfg, now()), wake: make(chan struct{})}
}

// plan decides the next look at w, with the channel closed if the
// decision may have become stale.
func (p *pollPolicy) plan(w *jobWatch) look {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.schedule.rowsWait = p.rowsWait != nil && p.rowsWait()
	l := p.schedule.plan(w, p.now())
	l.wake = p.wake
	return l
}

// rowsWaiting wakes every poller to plan again if the last plan saw no
// row waiting for a slot: one began to, so finishes are worth noticing
// sooner. While rows keep waiting (a row takes each freed slot and the
// next one waits at once) the plans already say so, and waking every
// poller at each finish would cost a run of thousands of jobs dearly.
// Nor are they woken while no run time is learned: the looks that
// notice finishes sooner need one, and a poller woken then whose job was
// never looked at looks at once, as a resumed job would.
func (p *pollPolicy) rowsWaiting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeIf(!p.schedule.rowsWait && p.schedule.samples > 0)
}

// observe records what a look at w saw at at.
func (p *pollPolicy) observe(w *jobWatch, status string, queuePos int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.schedule.observe(w, status, queuePos, at)
}

// finished records a job seen finished at now (schedule.finished).
func (p *pollPolicy) finished(w *jobWatch, created, finishedAt time.Time, isRun bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeIf(p.schedule.finished(w, created, finishedAt, isRun, now))
}

// forget drops w when its poller ends.
func (p *pollPolicy) forget(w *jobWatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeIf(p.schedule.forget(w))
}

// wakeIf wakes every poller to plan again if planAgain. p.mu must be held.
func (p *pollPolicy) wakeIf(planAgain bool) {
	if planAgain {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}
