package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pikabatch/pikabatch/runner/api"
)

// ErrUncertainSubmits: most submits were answered with an error after they
// were sent (a 5xx from a gateway, a dropped connection), so each may have
// created a paid job while telling the run nothing. The run stopped
// submitting, re-sends included, and collected what was in flight. It
// comes wrapped with ErrSubmitsStopped.
var ErrUncertainSubmits = errors.New("submits are being answered with errors after possibly creating jobs")

// The answer watch's sizes (see answerWatch).
const (
	answerWindow   = 10 // answers looked at: the last ones, in the order they came
	answerMinSeen  = 1  // at a run's start, the first answer lost is enough to go alone
	answerLostPct  = 70 // uncertain share of the window that makes submits go one at a time
	answerAloneRun = 7  // uncertain answers in a row, sent one at a time, that stop submits
)

// answerVerdict is what the answer watch says the run does next.
type answerVerdict int

const (
	answersFine    answerVerdict = iota // submits go as they come
	answersCareful                      // one submit at a time
	answersStop                         // no more submits this run
)

// answerWatch judges the answers of the run's submits, in the order they
// come, whatever worker sent them. A submit whose answer is an error after
// it was sent (api.ErrUncertain) may have created a paid job; a few are
// the weather (re-sent once, counted), but an API that answers most of
// them so is likely creating every job and saying it failed: each re-send
// and each new row then pays again for nothing.
//
// While at least answerLostPct of the last answerWindow answers (of
// answerMinSeen or more) are uncertain, submits go one at a time. Sent alone,
// their answers come in the order they were sent, so "in a row" means what
// it says however many workers the run has; answerAloneRun uncertain ones
// in a row, with no clear answer in between from anyone, stop submits.
// A clear answer (an accepted job or the API's own refusal) ends the row,
// and one at a time ends once the window has more clear answers again.
//
// It is a pure policy, safe for concurrent use: the run reports each
// sent submit's answer and whether it went alone, and follows the verdict.
type answerWatch struct {
	mu      sync.Mutex
	last    [answerWindow]bool // uncertain?, a ring in arrival order
	seen    int                // answers so far (the ring holds min(seen, answerWindow))
	aloneIn int                // uncertain answers in a row to submits sent alone
	stopped bool
}

// answer records one sent submit's answer: uncertain or clear, sent alone
// (while careful) or not. It returns what the run does next.
func (w *answerWatch) answer(uncertain, alone bool) answerVerdict {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last[w.seen%answerWindow] = uncertain
	w.seen++
	switch {
	case !uncertain:
		w.aloneIn = 0
	case alone:
		w.aloneIn++
	}
	if w.stopped || w.aloneIn >= answerAloneRun && w.mostlyUncertain() {
		w.stopped = true
		return answersStop
	}
	if w.mostlyUncertain() {
		return answersCareful
	}
	return answersFine
}

// careful reports whether submits go one at a time now.
func (w *answerWatch) careful() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopped || w.mostlyUncertain()
}

// lost reports the uncertain answers among the last ones, and how many
// those are. w.mu must be held.
func (w *answerWatch) lost() (uncertain, of int) {
	of = min(w.seen, answerWindow)
	for _, u := range w.last[:of] {
		if u {
			uncertain++
		}
	}
	return uncertain, of
}

// mostlyUncertain: w.mu must be held.
func (w *answerWatch) mostlyUncertain() bool {
	u, of := w.lost()
	return of >= answerMinSeen && u*100 >= answerLostPct*of
}

// sendSubmit sends one submit through the run's API and reports its answer
// to the answer watch and the outage clock: while answers are mostly
// uncertain (and for a re-send, always) it waits for its turn to go
// alone, and an answer that stops
// submits stops them before the caller lets anything else go. A re-send
// is counted here, once it was sent: one the budget or a limit refused is
// no duplicate charge.
func (r *run) sendSubmit(ctx context.Context, job submitJob, opts api.SubmitOptions) (api.SubmitResponse, error) {
	// A re-send goes alone always: it follows a lost answer, rare when
	// all is well, and the first sign when it is not.
	alone := job.resend || r.answers.careful()
	if alone {
		select {
		case r.alone <- struct{}{}:
			defer func() { <-r.alone }()
		case <-ctx.Done():
			return api.SubmitResponse{}, ctx.Err()
		}
		if r.stopSubmits.Load() {
			return api.SubmitResponse{}, errNotSent
		}
	}
	resp, err := r.api.Submit(ctx, r.cfg.Model, job.input, opts)
	uncertain := errors.Is(err, api.ErrUncertain)
	if job.resend && (err == nil || uncertain) {
		r.stats.resent.Add(1)
	}
	var se *api.StatusError
	switch {
	case ctx.Err() != nil:
		return resp, err // stopping: an answer cut short says nothing of the API
	case err != nil && !uncertain && (errors.Is(err, api.ErrUnavailable) || !errors.As(err, &se)):
		return resp, err // no answer from the API: not sent, or never reached it
	}
	verdict := r.answers.answer(uncertain, alone)
	var over bool
	if uncertain {
		// Every uncertain submit is a failed call to the outage clock: an
		// API that answers nothing else is as unavailable as a silent one.
		_, over = r.outage.failed(r.cfg.Now(), 0)
	}
	if verdict == answersStop || over {
		r.stopSubmitting(r.uncertainStop(over))
	}
	return resp, err
}

// submitJob is what sendSubmit needs of a job.
type submitJob struct {
	input  any
	resend bool // a re-send of a submit whose answer was lost
}

// errNotSent: a submit waiting for its turn found submits stopped.
var errNotSent = errors.New("submit not sent: submits stopped")

// uncertainStop is the reason submits stop when their answers are lost:
// over says the outage clock's limit was reached first.
func (r *run) uncertainStop(over bool) error {
	r.answers.mu.Lock()
	u, of := r.answers.lost()
	r.answers.mu.Unlock()
	if over {
		return fmt.Errorf("%w: %w: no clear answer from the API for %s (%d of the last %d submits uncertain)",
			ErrSubmitsStopped, ErrUncertainSubmits, r.cfg.OutageLimit, u, of)
	}
	return fmt.Errorf("%w: %w: %d of the last %d submits uncertain, the last %d sent one at a time",
		ErrSubmitsStopped, ErrUncertainSubmits, u, of, answerAloneRun)
}
