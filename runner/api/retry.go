package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

// call is one API operation, possibly sent several times.
type call struct {
	op        string
	method    string
	url       string
	body      []byte        // JSON; nil for none
	requestID string        // for logs
	model     string        // for logs
	submit    SubmitOptions // a submit's own policies; zero for other calls
}

func (r call) logAttrs(attempt int) []any {
	attrs := []any{"op", r.op, "attempt", attempt}
	if r.requestID != "" {
		attrs = append(attrs, "request_id", r.requestID)
	}
	if r.model != "" {
		attrs = append(attrs, "model", r.model)
	}
	return attrs
}

// exec sends r until it succeeds, fails permanently or runs out of retries.
// decode gets every 2xx body: a *StatusError from it (an error_code answer)
// follows the HTTP error rules; any other error is final, and uncertain on
// submit because the API said yes.
func (c *Client) exec(ctx context.Context, r call, decode func(body []byte) error) error {
	var last error
	start := c.now()
	retries := 0     // failed attempts that count toward maxRetries
	backOff := false // whether to wait before the next attempt
	for attempt := 1; ; attempt++ {
		if backOff {
			delay := c.backoff(retries-1, last)
			c.log.Debug("retrying api request", append(r.logAttrs(attempt-1), "delay", delay, "err", last)...)
			if err := c.sleep(ctx, delay); err != nil {
				return fmt.Errorf("%s: waiting to retry: %w (last error: %w)", r.op, err, last)
			}
			c.calls.retries.Add(1)
		}
		if err := c.pace.wait(ctx, urgencyOf(r.op)); err != nil {
			return c.stopped(r.op, fmt.Errorf("rate limiter: %w", err), last)
		}
		// The submit cannot be undone once sent: a stop that came while we
		// waited must win.
		if err := ctx.Err(); err != nil {
			return c.stopped(r.op, err, last)
		}
		if err := r.submit.sendGate(); err != nil {
			return c.stopped(r.op, err, last)
		}
		retry, err := c.attempt(ctx, r, attempt, decode)
		if err == nil || !retry {
			return err
		}
		last = err
		if se := rateLimited(err); se != nil {
			decision, herr := c.holdSubmit(ctx, r, se)
			if herr != nil {
				return c.stopped(r.op, herr, last)
			}
			if decision == Held {
				// The caller waited for room on the account: send again
				// now. Not a retry, and not a reason to slow the rate.
				backOff = false
				continue
			}
			if decision == AsRateLimit && c.adapt.slowDown(c.now()) {
				c.calls.slowdowns.Add(1)
				c.log.Warn("api rate limited; slowing down", "op", se.Op, "rps", math.Round(float64(c.limiter.Limit())*10)/10)
			}
		}
		backOff = true
		retries++
		if retries > c.maxRetries {
			return &UnavailableError{Attempts: attempt, Failing: c.now().Sub(start), Err: err}
		}
	}
}

// rateLimited returns err's 429, if it is one.
func rateLimited(err error) *StatusError {
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusTooManyRequests {
		return se
	}
	return nil
}

// holdSubmit asks the submit's hold (SubmitOptions.Hold), if any, about
// a 429 on it.
func (c *Client) holdSubmit(ctx context.Context, r call, se *StatusError) (HoldDecision, error) {
	if r.op != opSubmit || r.submit.Hold == nil {
		return AsRateLimit, nil
	}
	return r.submit.Hold(ctx, Refusal{StatusError: se, PollsRateLimited: c.calls.pollsLimited.Load()})
}

// stopped is the error of a call that ended before an attempt was sent.
func (c *Client) stopped(op string, err, last error) error {
	if last == nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w (last error: %w)", op, err, last)
}

// backoff returns the wait before retry n (from 0) after the error last.
func (c *Client) backoff(n int, last error) time.Duration {
	delay := c.retryWait.Delay(n)
	var se *StatusError
	if errors.As(last, &se) && se.RetryAfter > delay {
		delay = se.RetryAfter
	}
	return delay
}

// classify counts a 429 and decides whether se may be retried. A submit is
// retried only on a 429 (the API refused the job, nothing was created) and
// never on a documented error_code (a verdict). Its 408 and 5xx answers,
// and error_code 500001 whatever the status, are uncertain: a gateway or the
// API may give up after the job was created.
func (c *Client) classify(se *StatusError) (retry bool, err error) {
	if se.Code == http.StatusTooManyRequests {
		c.calls.rateLimited.Add(1) // exec decides whether the rate slows down
		if se.Op != opSubmit {
			c.calls.pollsLimited.Add(1)
		}
	}
	if se.Op != opSubmit {
		return se.Temporary(), se
	}
	switch {
	case se.ErrorCode == CodeRetryLater:
		// A server fault on the API's side says nothing of whether the job
		// was created before it.
		return false, &UncertainError{Err: se}
	case se.coded() != nil:
		return false, se
	case se.Code == http.StatusTooManyRequests:
		return se.Temporary(), se // not when it is about payment
	case se.Code == http.StatusRequestTimeout || se.Code >= 500 && se.Code <= 599:
		return false, &UncertainError{Err: se}
	}
	return false, se
}

// transportError classifies an error from http.Client.Do. ctx is the
// caller's: on submit, the attempt's own context outlives it.
func (c *Client) transportError(ctx context.Context, r call, err error, wrote bool) (retry bool, _ error) {
	err = c.scrub(fmt.Errorf("%s: %w", r.op, err))
	switch {
	case errors.Is(err, ErrRedirect):
		// The API answered with a redirect; nothing was accepted.
		return false, err
	case r.op == opSubmit && wrote:
		return false, &UncertainError{Err: withStop(ctx, err)}
	}
	if ctx.Err() != nil {
		return false, withStop(ctx, err)
	}
	return true, err
}
