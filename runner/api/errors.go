package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Errors returned by New.
var (
	// ErrNoToken means Config.Token is empty.
	ErrNoToken = errors.New("no API token")

	// ErrInvalidToken means Config.Token holds characters a bearer token
	// cannot have: spaces, control characters (such as a trailing newline
	// read from a file) or non-ASCII.
	ErrInvalidToken = errors.New("API token contains whitespace, control or non-ASCII characters")

	// ErrInsecureBase means Config.BaseURL uses http with a host that is not
	// loopback. The token would cross the network in clear text.
	ErrInsecureBase = errors.New("base URL must use https unless the host is loopback")
)

// Errors returned by calls. Test with errors.Is: a *StatusError unwraps to the
// sentinel that matches its code and message.
var (
	// ErrUnauthorized means the API rejected the token (401, 403). The rest of
	// the batch will fail the same way.
	ErrUnauthorized = errors.New("unauthorized: the API rejected the token")

	// ErrPaymentRequired means the account cannot pay for more jobs (402, or
	// an error whose message is about balance, credits, funds or billing).
	ErrPaymentRequired = errors.New("payment required: the account cannot pay for more jobs")

	// ErrNotFound means the model or request ID is unknown or has expired (404).
	ErrNotFound = errors.New("not found")

	// ErrRejected means the API rejected the input (400, 422). Only that
	// request fails; others may go on.
	ErrRejected = errors.New("input rejected")

	// ErrNotCancellable means a cancel came too late: the job is no longer
	// queued (409 on cancel, or 400/422 saying so).
	ErrNotCancellable = errors.New("not cancellable: the job is no longer queued")

	// ErrUncertain means a submit was sent and its answer was lost: a paid job
	// may or may not exist. Submit never retries it; see UncertainError.
	ErrUncertain = errors.New("submit outcome unknown: a job may have been created")

	// ErrUnavailable means a call kept failing with transient errors until its
	// retries ran out; see UnavailableError.
	ErrUnavailable = errors.New("API unavailable")

	// ErrRedirect means the API answered with a redirect the client did not
	// follow: to another origin (the token stays with the base URL's
	// origin), one that would turn a POST into a GET, one too many, or one
	// the limiter would not let through in time. It is permanent and, on
	// submit, not uncertain: the server answered without accepting the job.
	ErrRedirect = errors.New("redirect not followed")

	// ErrBadResponse means a 2xx answer could not be understood: not JSON,
	// missing fields or an unknown status. On submit it is reported inside
	// an UncertainError, because the job may have been created.
	ErrBadResponse = errors.New("malformed API response")

	// ErrInvalidID means a model or request ID cannot be put in a URL path
	// (empty, or with an empty, "." or ".." segment). Nothing was sent.
	ErrInvalidID = errors.New("invalid model or request ID")
)

// Operation names, as in StatusError.Op.
const (
	opSubmit = "submit"
	opStatus = "status"
	opResult = "result"
	opCancel = "cancel"
)

// StatusError is an answer from the API that reports an error: an HTTP status
// outside 2xx, or a 200 whose body has a non-empty error_code field.
//
// For a 200 with error_code, ErrorCode holds that field and Code is the
// error_code itself when it is a number from 400 to 599 (so that it is
// classified like that HTTP status), otherwise 200, which is permanent and
// unwraps to ErrPaymentRequired only when the code or message is about
// payment.
type StatusError struct {
	Code int
	// Message is the API's own message (from error_message, message, detail,
	// error or error.message), else the start of the body. It never holds
	// request headers, and the token is removed from it.
	Message string
	// RetryAfter is the server's Retry-After (seconds or HTTP date); 0 if absent.
	RetryAfter time.Duration
	// Op is the call: "submit", "status", "result" or "cancel".
	Op string
	// ErrorCode is the body's error_code on a 200 answer; empty otherwise.
	ErrorCode string
}

// Error returns e.g. "submit: HTTP 422: image must be a URL".
func (e *StatusError) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, "HTTP 200 error_code %s", e.ErrorCode)
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.Code)
	}
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case e.ErrorCode == "" && http.StatusText(e.Code) != "":
		b.WriteString(" ")
		b.WriteString(http.StatusText(e.Code))
	}
	return b.String()
}

// Temporary reports whether the call may succeed if repeated: 408, 429 and
// 5xx, unless the error is about payment (some services answer 429 when the
// credits run out, and waiting does not fix that).
func (e *StatusError) Temporary() bool {
	if e.isPayment() {
		return false
	}
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500 && e.Code <= 599
}

// Unwrap returns the sentinel for the error: ErrUnauthorized (401, 403),
// ErrPaymentRequired (402, or a 4xx/error_code about payment), ErrNotFound
// (404), ErrNotCancellable (409 on cancel, or 400/422 on cancel saying the
// job is not queued), ErrRejected (400, 422); nil otherwise.
func (e *StatusError) Unwrap() error {
	switch {
	case e.isPayment():
		return ErrPaymentRequired
	case e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden:
		return ErrUnauthorized
	case e.Code == http.StatusNotFound:
		return ErrNotFound
	case e.Op == opCancel && e.Code == http.StatusConflict:
		return ErrNotCancellable
	case e.Code == http.StatusBadRequest || e.Code == http.StatusUnprocessableEntity:
		if e.Op == opCancel && notQueuedRE.MatchString(e.Message) {
			return ErrNotCancellable
		}
		return ErrRejected
	}
	return nil
}

var (
	// paymentRE matches messages about money. Whole words only: "load
	// balancer" is not about the balance.
	paymentRE = regexp.MustCompile(`(?i)\b(balance|credits?|funds|payment|billing)\b`)
	// notQueuedRE matches cancel refusals for jobs that already left the queue.
	notQueuedRE = regexp.MustCompile(`(?i)not (in (the )?)?queue|no longer queued|already|in[ _]progress|running|started|completed|finished|cannot be cancell?ed|can't be cancell?ed|not cancell?able`)
)

// isPayment reports whether e is about the account's ability to pay. Messages
// count for 4xx and error_code answers only: a 5xx mentioning credits is a
// server fault, not an empty account.
func (e *StatusError) isPayment() bool {
	if e.Code == http.StatusPaymentRequired {
		return true
	}
	if e.ErrorCode == "" && (e.Code < 400 || e.Code > 499) {
		return false
	}
	text := strings.NewReplacer("_", " ", "-", " ").Replace(e.ErrorCode + " " + e.Message)
	return paymentRE.MatchString(text)
}

// UncertainError is returned by Submit when the request was written and its
// answer was lost (reset, EOF, timeout, unreadable or malformed 200): a paid
// job may exist. It matches ErrUncertain and unwraps to the cause, which may
// be the context's error.
type UncertainError struct {
	Err error
}

func (e *UncertainError) Error() string {
	return "submit outcome unknown, a job may have been created: " + e.Err.Error()
}

// Is reports whether target is ErrUncertain.
func (e *UncertainError) Is(target error) bool { return target == ErrUncertain }

// Unwrap returns the cause.
func (e *UncertainError) Unwrap() error { return e.Err }

// UnavailableError is returned when a call failed with transient errors on
// every attempt. It matches ErrUnavailable and unwraps to the last error, so
// errors.As finds a *StatusError when the last attempt got one.
type UnavailableError struct {
	Attempts int
	// Failing is how long the call kept failing, from its first attempt
	// to its last: how long the API has been down, as far as it knows.
	Failing time.Duration
	Err     error
}

func (e *UnavailableError) Error() string {
	return "API unavailable after " + strconv.Itoa(e.Attempts) + " attempts: " + e.Err.Error()
}

// Is reports whether target is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the last error.
func (e *UnavailableError) Unwrap() error { return e.Err }
