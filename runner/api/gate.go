package api

import "context"

// sendGateKey is the context key of a send gate.
type sendGateKey struct{}

// WithSendGate returns a context under which the client asks gate before
// every attempt of a call — the first and each retry, after the rate
// limiter's wait — and, if it returns an error, ends the call with it
// unsent. A caller whose permission to send can lapse while a call retries
// (a deadline after which no paid submit may leave) uses it: checking once
// before the call would let its retries go on sending for as long as their
// backoff lasts. Stopping between attempts never makes a submit uncertain:
// a retry follows only an attempt the API provably did not act on.
func WithSendGate(ctx context.Context, gate func() error) context.Context {
	return context.WithValue(ctx, sendGateKey{}, gate)
}

// checkSendGate runs the gate ctx carries, if any.
func checkSendGate(ctx context.Context) error {
	if gate, ok := ctx.Value(sendGateKey{}).(func() error); ok && gate != nil {
		return gate()
	}
	return nil
}
