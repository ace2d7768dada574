// Package api is the HTTP client for RunComfy's Model API: it submits jobs,
// reads their status and results, and cancels queued jobs. It follows the
// documented contract (its Model API docs); testdata/api holds the
// documentation's own example answers, which the contract tests feed
// through the client.
//
// Every accepted submit is a paid generation and the API has no
// idempotency key, so the client is careful about what it repeats. Status,
// Result and Cancel are idempotent and are retried on network errors, 408,
// 429 and 5xx answers, with capped exponential backoff, full jitter and the
// server's Retry-After. Submit is retried only when the API provably created
// nothing: a 429, or a request that never reached the server in full (a
// dial, TLS or write error). A 5xx or 408, a timeout or cut connection after
// the body was written, an unreadable 2xx or a 2xx without request_id may
// have created a job: Submit returns an *UncertainError
// (errors.Is(err, ErrUncertain)) and leaves the decision to the caller.
//
// The caller's ctx stops a submit that has not gone out (waiting for the
// limiter, the send gate or a backoff) at once, unsent. Once it is going
// out, a stop no longer cuts it short: Submit waits up to Config.SubmitGrace
// for the answer, so that the request ID of a job the API created is
// returned rather than lost.
//
// A 429 means "slow down" for the whole account: besides waiting out its
// Retry-After, the client halves the rate of the shared Limiter (at most once
// a second, never below a twentieth of the configured rate) and brings it
// back gradually while calls succeed, so a batch settles at the rate the
// account allows whatever rate it was started with.
//
// Errors carry their meaning in types, never in strings. The API's numeric
// error_code decides whatever the HTTP status that carries it, a 200
// included: 400001 ErrUnknownModel, 400002 ErrPaymentRequired, 400004
// ErrUnauthorized, 403001 ErrPermissionDenied, 404001 ErrNotFound, 422001
// ErrRejected; 500001 asks for a retry with backoff, so it is transient on a
// status or result call and uncertain on a submit. Without a code the HTTP
// status does: 401/403 ErrUnauthorized, 402 ErrPaymentRequired,
// 404 ErrNotFound, 400/413/422 ErrRejected (that request's input). A
// *StatusError holds the HTTP status, the error_code, the API's own message
// and Retry-After, and unwraps to the sentinel. Retries that run out end in
// an *UnavailableError, which matches ErrUnavailable and still unwraps to
// the last error.
//
// Status words: "in_queue", "in_progress", "completed" (and the result's
// "succeeded"), "cancelled" ("canceled") and "failed" map to the Status*
// constants. Any other word is StatusUnknown, with the word in the Word
// field, never an error: the job is still there and may still finish.
// Cancel reads the answer's outcome first ("cancelled" or
// "cancellation_requested": accepted; "not_cancellable": ErrNotCancellable).
//
// The base URL may end in "/v1" or not. The token goes only to its origin:
// status, result and cancel URLs are built from the base and the request
// ID, never taken from a response, and redirects to another origin are
// refused before they are followed. Token values print as "[redacted]", and
// messages taken from response bodies have the token removed before they
// reach an error or a log.
//
// A Client is safe for concurrent use.
package api
