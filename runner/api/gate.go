package api

import "context"

// SubmitOptions are one submit's own policies, set by the caller. The zero
// value sends whenever the limiter allows and takes every 429 as a rate
// limit.
type SubmitOptions struct {
	// SendGate, if set, is asked before every attempt — the first and each
	// retry, after the rate limiter's wait — and, if it returns an error,
	// the call ends with it, unsent. A caller whose permission to send can
	// lapse while a call retries (a deadline after which no paid submit may
	// leave) uses it: checking once before the call would let its retries
	// go on sending for as long as their backoff lasts. Stopping between
	// attempts never makes a submit uncertain: a retry follows only an
	// attempt the API provably did not act on.
	SendGate func() error
	// Hold, if set, is asked about every 429 the submit gets (see SubmitHold).
	Hold SubmitHold
}

// sendGate runs o's send gate, if any.
func (o SubmitOptions) sendGate() error {
	if o.SendGate == nil {
		return nil
	}
	return o.SendGate()
}

// SubmitHold is asked what a 429 on a submit means. A 429 there is either
// the account's request rate or its limit on jobs at once — back-pressure,
// which no backoff cures: only a job of the account finishing makes room.
// Only the caller knows how many jobs it has on the account, so it decides
// (see HoldDecision). ctx is the submit's. An error ends the call unsent.
type SubmitHold func(ctx context.Context, refusal Refusal) (HoldDecision, error)

// HoldDecision is what a SubmitHold made of a refused submit.
type HoldDecision int

const (
	// AsRateLimit handles the 429 as a rate limit: the shared rate slows
	// down, and the submit backs off and is retried.
	AsRateLimit HoldDecision = iota
	// BackOffOnly backs this submit off and retries it, without slowing the
	// shared rate: the refusal may be the account's limit, which polls do
	// not share.
	BackOffOnly
	// Held says the caller waited for room on the account: the submit is
	// sent again at once, not counted as a retry, and the rate is kept.
	Held
)

// Refusal is a 429 on a submit, with what tells a rate limit from the
// account's limit on jobs at once.
type Refusal struct {
	*StatusError
	// PollsRateLimited counts the 429s status, result and cancel calls got
	// so far. A rate limit refuses those too; the account's limit on jobs
	// at once never does: if it grew since a submit's last refusal, the
	// rate is the likelier cause.
	PollsRateLimited int64
}
