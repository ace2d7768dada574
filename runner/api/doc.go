// Package api is the HTTP client for RunComfy's Model API: it submits jobs,
// reads their status and results, and cancels queued jobs.
//
// Every accepted submit is a paid generation, so the client is careful about
// what it repeats. Status, Result and Cancel are idempotent and are retried
// on network errors, 408, 429 and 5xx answers, with capped exponential
// backoff, full jitter and the server's Retry-After. Submit is retried only
// when the request provably did not create a job: it never reached the
// server in full (a dial, TLS or write error), or the server answered 408,
// 429 or 5xx. When a submit was written and its answer was lost, Submit
// returns an *UncertainError (errors.Is(err, ErrUncertain)) and leaves the
// decision to the caller.
//
// A 429 means "slow down" for the whole account: besides waiting out its
// Retry-After, the client halves the rate of the shared Limiter (at most once
// a second, never below a twentieth of the configured rate) and brings it
// back gradually while calls succeed, so a batch settles at the rate the
// account allows whatever rate it was started with.
//
// Errors carry their meaning in types, never in strings: *StatusError holds
// the HTTP code, the API's own message and Retry-After, and unwraps to
// sentinels such as ErrUnauthorized, ErrPaymentRequired, ErrNotFound,
// ErrRejected and ErrNotCancellable. Retries that run out end in an
// *UnavailableError, which matches ErrUnavailable and still unwraps to the
// last error.
//
// The token goes only to the base URL's origin: status, result and cancel
// URLs are built from the base and the request ID, never taken from a
// response, and redirects to another origin are refused before they are
// followed. Token values print as "[redacted]", and messages taken from
// response bodies have the token removed before they reach an error or a log.
//
// A Client is safe for concurrent use.
package api
