package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// heldTimeout is a transport on which a request's deadline takes effect only
// once the request was written and the server has it (received is closed):
// the answer, not the send, is what comes too late.
type heldTimeout struct {
	received <-chan struct{}
	tr       http.Transport
}

func (h *heldTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	// The request goes out under a context of its own, with the client's
	// trace: its WroteRequest tells the client the request left.
	wrote := make(chan struct{})
	trace := httptrace.ClientTrace{}
	if ct := httptrace.ContextClientTrace(req.Context()); ct != nil {
		trace = *ct
	}
	clientWrote := trace.WroteRequest
	trace.WroteRequest = func(info httptrace.WroteRequestInfo) {
		if clientWrote != nil {
			clientWrote(info)
		}
		if info.Err == nil {
			close(wrote)
		}
	}
	ctx, cancel := context.WithCancel(httptrace.WithClientTrace(context.Background(), &trace))
	defer cancel()
	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := h.tr.RoundTrip(req.WithContext(ctx))
		answered <- answer{resp, err}
	}()
	for _, ch := range []<-chan struct{}{wrote, h.received, req.Context().Done()} {
		select {
		case <-ch:
		case a := <-answered:
			return a.resp, a.err
		}
	}
	cancel()
	if a := <-answered; a.resp != nil {
		_ = a.resp.Body.Close()
	}
	return nil, req.Context().Err()
}

func (h *heldTimeout) CloseIdleConnections() { h.tr.CloseIdleConnections() }

func TestSubmitCancelledAfterSending(t *testing.T) {
	t.Parallel()
	received := make(chan struct{})
	srv := serve(func(w http.ResponseWriter, r *http.Request) {
		close(received)
		<-r.Context().Done()
	})
	// No answer ever comes: the grace after the stop runs out.
	f := setup(t, srv, func(c *Config) { c.SubmitGrace = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-received
		cancel()
	}()
	_, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
	require.ErrorIs(t, err, ErrUncertain)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, srv.Count())
}

// TestSubmitStopOnTheWire: a stop that comes once the submit is on the wire
// does not cut it short: the job the API created has its request ID
// returned (a stop must not lose a paid job).
func TestSubmitStopOnTheWire(t *testing.T) {
	t.Parallel()
	received, stopSeen, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	srv := serve(func(w http.ResponseWriter, r *http.Request) {
		close(received)
		select {
		case <-release: // answers only after the client saw the stop
		case <-r.Context().Done():
			return // the client gave up on the request
		}
		reply(http.StatusOK, `{"request_id":"late"}`)(w, r)
	})
	f := setup(t, srv)
	f.client.stopSeen = func() { close(stopSeen) }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-received
		cancel()
		<-stopSeen
		close(release)
	}()
	resp, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
	require.NoError(t, err)
	assert.Equal(t, "late", resp.RequestID)
	assert.Equal(t, 1, srv.Count())
}

// TestSubmitStopWhileWaitingForAToken: a stop ends a submit still waiting
// for the rate limiter at once, unsent: it was never paid for.
func TestSubmitStopWhileWaitingForAToken(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r"}`))
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	require.True(t, lim.Allow(), "the only token is gone: the next wait is an hour")
	f := setup(t, srv, func(c *Config) { c.Limiter = lim; c.FixedRate = true })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
		done <- err
	}()
	// The waiting submit has reserved the next token.
	require.Eventually(t, func() bool { return lim.Tokens() < -0.5 }, time.Minute, time.Millisecond)
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Submit still waits for a token after the stop")
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrUncertain)
	assert.Zero(t, srv.Count(), "nothing was sent")
	assert.Zero(t, f.client.Calls().Submit)
}

// TestSubmitStopJustBeforeSending: a stop that comes as the transport looks
// for a connection sends nothing, and is not uncertain, even when an idle
// connection is ready (the transport may pick it over the stop).
func TestSubmitStopJustBeforeSending(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r","status":"in_queue"}`))
	f := setup(t, srv)
	var stopSeen chan struct{}
	f.client.stopSeen = func() { close(stopSeen) }
	for i := range 40 {
		_, err := f.client.Status(t.Context(), "r") // leaves an idle connection
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		stopSeen = make(chan struct{})
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GetConn: func(string) {
			cancel()
			<-stopSeen // the client has seen the stop
		}})
		_, err = f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
		cancel()
		require.ErrorIs(t, err, context.Canceled, "try %d", i)
		require.NotErrorIs(t, err, ErrUncertain, "try %d: nothing was written", i)
	}
	for _, r := range srv.Requests() {
		require.Equal(t, http.MethodGet, r.Method, "no submit reached the server")
	}
}

func TestSubmitCancelledBeforeSending(t *testing.T) {
	t.Parallel()
	srv := serve(reply(http.StatusOK, `{"request_id":"r"}`))
	f := setup(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := f.client.Submit(ctx, model, map[string]any{"image": "x"}, SubmitOptions{})
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrUncertain)
	assert.Zero(t, srv.Count())
	assert.Zero(t, f.client.Calls().Submit)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestSubmitNotListening(t *testing.T) {
	t.Parallel()
	sl := &sleeper{}
	c, err := New(Config{BaseURL: "http://" + closedAddr(t), Token: testToken, Sleep: sl.Sleep, MaxRetries: 2, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)

	_, err = c.Submit(t.Context(), model, map[string]any{"image": "x"}, SubmitOptions{})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.NotErrorIs(t, err, ErrUncertain, "a refused connection cannot have created a job")
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr)
	assert.Equal(t, Calls{Submit: 3, Retries: 2}, c.Calls())
	assert.Len(t, sl.Delays(), 2)
}
