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
// sentinel that matches it. The API's numeric error_code decides whatever the
// HTTP status that carries it (a 200 included); only an answer without a
// known code falls back to its HTTP status (see StatusError.Unwrap).
var (
	// ErrUnknownModel means the API does not know the model ID (error_code
	// 400001, InvalidResourceIdentifier). Every submit of the batch would
	// fail the same way: stop before sending another.
	ErrUnknownModel = errors.New("unknown model")

	// ErrUnauthorized means the API rejected the token or the account
	// (error_code 400004, UserAccountError: a bad, expired or revoked token
	// or an inactive account; without a code, 401 or 403). The rest of the
	// batch will fail the same way.
	ErrUnauthorized = errors.New("unauthorized: the API rejected the token or the account")

	// ErrPaymentRequired means the account cannot pay for more jobs
	// (error_code 400002, InsufficientResources; without a code, 402 or a
	// 4xx whose message is about balance, credits, funds or billing). Jobs
	// already accepted still run.
	ErrPaymentRequired = errors.New("payment required: the account cannot pay for more jobs")

	// ErrPermissionDenied means the request ID belongs to another account
	// (error_code 403001, PermissionDeniedError). Only that job is affected:
	// unlike a bare 403, it says nothing about the token.
	ErrPermissionDenied = errors.New("permission denied: the request belongs to another account")

	// ErrNotFound means the request ID is unknown, deleted or expired
	// (error_code 404001, ResourceNotFound; without a code, 404).
	ErrNotFound = errors.New("not found")

	// ErrRejected means the API rejected this request's input (error_code
	// 422001, a validation error; without a code: 400, 422, or 413 for a
	// body too large). Only that request
	// fails; others may go on.
	ErrRejected = errors.New("input rejected")

	// ErrNotCancellable means the API did not accept a cancel: the job is
	// already running or finished (cancel's outcome "not_cancellable", a
	// status showing the job running or done, 409, or a 400/422 saying so).
	// The job goes on and is billed: keep polling it and collect its output.
	ErrNotCancellable = errors.New("not cancellable: the job is no longer queued")

	// ErrUncertain means a submit reached the API and no clear answer came
	// back (a 5xx or 408, a timeout or a cut connection after the body was
	// written, an unreadable 2xx, a 2xx without request_id): a paid job may
	// or may not exist. Submit never retries it; see UncertainError.
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
	// or without the fields it must have (a status, a request_id). On
	// submit it is reported inside an UncertainError, because the job may
	// have been created. An unknown status word is not an error: it reads
	// as StatusUnknown.
	ErrBadResponse = errors.New("malformed API response")

	// ErrInvalidID means a model or request ID cannot be put in a URL path
	// (empty, or with an empty, "." or ".." segment). Nothing was sent.
	ErrInvalidID = errors.New("invalid model or request ID")
)

// The API's documented error codes (the body's error_code).
const (
	CodeInvalidResource   = 400001 // InvalidResourceIdentifier: unknown model ID
	CodeInsufficientFunds = 400002 // InsufficientResources: no balance
	CodeUserAccount       = 400004 // UserAccountError: bad token or inactive account
	CodePermissionDenied  = 403001 // PermissionDeniedError: another account's request
	CodeResourceNotFound  = 404001 // ResourceNotFound: unknown or expired request ID
	CodeValidation        = 422001 // validation error: this request's input was rejected
	CodeRetryLater        = 500001 // server error: retry with exponential backoff
)

// codeSentinels maps each documented error_code to its sentinel.
var codeSentinels = map[int]error{
	CodeInvalidResource:   ErrUnknownModel,
	CodeInsufficientFunds: ErrPaymentRequired,
	CodeUserAccount:       ErrUnauthorized,
	CodePermissionDenied:  ErrPermissionDenied,
	CodeResourceNotFound:  ErrNotFound,
	CodeValidation:        ErrRejected,
}

// Operation names, as in StatusError.Op.
const (
	opSubmit = "submit"
	opStatus = "status"
	opResult = "result"
	opCancel = "cancel"
)

// StatusError is an answer from the API that reports an error: an HTTP status
// outside 2xx, or a 2xx whose body carries an error_code instead of what
// the call asked for.
//
// ErrorCode, when it is one of the documented codes (Code* constants),
// decides what the error means whatever Code says. Otherwise Code does: for
// a 2xx carrying an error_code, Code is that error_code when it is a number
// from 400 to 599 (so that it is classified like that HTTP status), else
// the 2xx status, which is permanent.
type StatusError struct {
	// Code is the HTTP status, or the error_code of a 2xx as said above.
	Code int
	// ErrorCode is the body's error_code (top level, or error.code), given
	// as a number or a numeric string; 0 when absent or not a number.
	ErrorCode int
	// ErrorCodeText is the body's error_code when it is not a number (e.g.
	// "INSUFFICIENT_BALANCE"), cleaned and bounded; empty otherwise. It is
	// shown and read for words about payment, never branched on otherwise.
	ErrorCodeText string
	// Message is the API's own message (from error_message, message, detail,
	// error or error.message), else the start of the body. It never holds
	// request headers, and the token is removed from it.
	Message string
	// RetryAfter is the server's Retry-After (seconds or HTTP date); 0 if absent.
	RetryAfter time.Duration
	// Op is the call: "submit", "status", "result" or "cancel".
	Op string
	// HTTPStatus is the status of a 2xx answer that carried an error_code;
	// 0 for an answer outside 2xx, whose status is Code.
	HTTPStatus int
}

// Error returns e.g. "submit: HTTP 422: image must be a URL" or
// "submit: HTTP 400 error_code 400004: token revoked".
func (e *StatusError) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	status := e.Code
	if e.HTTPStatus != 0 {
		status = e.HTTPStatus
	}
	fmt.Fprintf(&b, "HTTP %d", status)
	switch {
	case e.ErrorCode != 0:
		fmt.Fprintf(&b, " error_code %d", e.ErrorCode)
	case e.ErrorCodeText != "":
		fmt.Fprintf(&b, " error_code %s", e.ErrorCodeText)
	}
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case e.ErrorCode == 0 && e.ErrorCodeText == "" && http.StatusText(status) != "":
		b.WriteString(" ")
		b.WriteString(http.StatusText(status))
	}
	return b.String()
}

// coded returns the sentinel of a documented error_code, or nil.
func (e *StatusError) coded() error { return codeSentinels[e.ErrorCode] }

// Temporary reports whether the call may succeed if repeated: error_code
// 500001 (the API asks for a retry with backoff), 408, 429 and 5xx, unless the answer carries a documented error_code (which is a
// verdict, not a hiccup) or is about payment (some services answer 429 when
// the credits run out, and waiting does not fix that). Submit retries fewer
// of these: see Client.Submit.
func (e *StatusError) Temporary() bool {
	if e.ErrorCode == CodeRetryLater {
		// The API's own word that a later attempt may work, whatever
		// status carries it.
		return true
	}
	if e.coded() != nil || e.isPayment() {
		return false
	}
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500 && e.Code <= 599
}

// Unwrap returns the sentinel for the error. A documented error_code
// decides: 400001 ErrUnknownModel, 400002 ErrPaymentRequired, 400004
// ErrUnauthorized, 403001 ErrPermissionDenied, 404001 ErrNotFound, 422001
// ErrRejected (ErrNotCancellable on a cancel saying the job is not
// queued), 500001 nil (transient: see Temporary). Without one:
// ErrPaymentRequired (402, or a 4xx/error_code about payment),
// ErrUnauthorized (401, 403), ErrNotFound (404), ErrNotCancellable (409 on
// cancel, or 400/422 on cancel saying the job is not queued), ErrRejected
// (400, 413, 422); nil otherwise.
func (e *StatusError) Unwrap() error {
	if s := e.coded(); s != nil {
		if s == ErrRejected && e.Op == opCancel && notQueuedRE.MatchString(e.Message) {
			return ErrNotCancellable
		}
		return s
	}
	if e.ErrorCode == CodeRetryLater {
		// A server fault, whatever status carries it: no verdict on the
		// row, the token or the account.
		return nil
	}
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
	case e.Code == http.StatusRequestEntityTooLarge:
		// The body (a prompt of megabytes) is too large for the API: that
		// row's input, not the account, is at fault.
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

// isPayment reports whether e, which carries no documented error_code, is
// about the account's ability to pay. Messages count for 4xx and 2xx
// error_code answers only: a 5xx mentioning credits is a server fault, not
// an empty account.
func (e *StatusError) isPayment() bool {
	if e.Code == http.StatusPaymentRequired {
		return true
	}
	if e.HTTPStatus == 0 && (e.Code < 400 || e.Code > 499) {
		return false
	}
	text := strings.NewReplacer("_", " ", "-", " ").Replace(e.ErrorCodeText + " " + e.Message)
	return paymentRE.MatchString(text)
}

// UncertainError is returned by Submit when the request reached the API and
// no clear answer came back: a 5xx or 408 (a gateway may give up after the
// job was created), a reset, EOF or timeout after the body was written, an
// unreadable 2xx or a 2xx without request_id. A paid job may exist. It
// matches ErrUncertain and unwraps to the cause: a *StatusError for an
// HTTP answer, and the context's error when a stop came first.
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

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 if absent,
// malformed or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		var d time.Duration
		for _, ch := range v {
			d = d*10 + time.Duration(ch-'0')*time.Second
			if d > maxRetryAfter {
				return maxRetryAfter
			}
		}
		return d
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

// errorBody reads an error answer's body: its error_code and message. The
// caller sets Code, Op and RetryAfter.
func (c *Client) errorBody(data []byte) *StatusError {
	se := &StatusError{}
	if f, err := decodeObject(data); err == nil {
		n, text := f.errorCode()
		se.ErrorCode, se.ErrorCodeText = n, c.clean(text, maxCodeText)
		if m := message(f, errorMessageKeys); m != "" {
			se.Message = c.clean(m, maxMessageText)
			return se
		}
	}
	se.Message = c.clean(string(data), maxBodyText)
	return se
}

// errorCodeError is the error for a 2xx answer with an error_code. Its
// HTTPStatus is set to the answer's status by attempt.
func (c *Client) errorCodeError(op string, f fields) *StatusError {
	n, text := f.errorCode()
	se := &StatusError{
		Code:          http.StatusOK,
		HTTPStatus:    http.StatusOK,
		ErrorCode:     n,
		ErrorCodeText: c.clean(text, maxCodeText),
		Message:       c.clean(message(f, errorMessageKeys), maxMessageText),
		Op:            op,
	}
	if n >= 400 && n <= 599 {
		se.Code = n
	}
	return se
}
