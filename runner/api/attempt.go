package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// attempt sends r once. It reports whether a failure may be retried.
func (c *Client) attempt(ctx context.Context, r call, n int, decode func([]byte) error) (retry bool, err error) {
	actx, cancel, sending := c.attemptContext(ctx, r)
	defer cancel()
	actx, wrote := traceSend(actx, sending)
	req, err := c.newRequest(actx, r)
	if err != nil {
		return false, err
	}
	c.count(r.op)

	resp, err := c.hc.Do(req)
	if err != nil {
		retry, err := c.transportError(ctx, r, err, wrote())
		c.log.Debug("api request failed", append(r.logAttrs(n), "err", err)...)
		return retry, err
	}
	defer drainClose(resp.Body)
	c.log.Debug("api request", append(r.logAttrs(n), "code", resp.StatusCode)...)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.classify(c.errorAnswer(r, resp))
	}
	return c.answer(ctx, r, resp, decode)
}

// attemptContext returns the context one attempt of r runs under, and
// sending, to be called when the request starts going out (see
// submitContext). Only a submit outlives ctx.
func (c *Client) attemptContext(ctx context.Context, r call) (context.Context, context.CancelFunc, func() bool) {
	if r.op == opSubmit {
		return c.submitContext(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	return actx, cancel, func() bool { return true }
}

// traceSend watches the request sent under ctx. wrote tells a lost answer
// (the API may have acted) from a request that never fully left (it cannot
// have).
func traceSend(ctx context.Context, sending func() bool) (_ context.Context, wrote func() bool) {
	// unsent marks a request whose connection was closed before it was
	// written to.
	var written, unsent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		// With a connection in hand the request starts going out: from
		// here on a stop no longer cuts a submit short. A stop that came
		// first closes the connection before a byte is written, or the
		// transport might still send the request: it can pick an idle
		// connection over the stop. (WroteRequest then still reports
		// success: it fires once the request is buffered, before the
		// flush that fails.)
		GotConn: func(info httptrace.GotConnInfo) {
			if !sending() {
				unsent.Store(true)
				_ = info.Conn.Close()
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	})
	return ctx, func() bool { return written.Load() && !unsent.Load() }
}

// newRequest builds r's HTTP request, with the token, under ctx.
func (c *Client) newRequest(ctx context.Context, r call) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pikabatch/"+Version)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// errorAnswer reads a non-2xx answer to r.
func (c *Client) errorAnswer(r call, resp *http.Response) *StatusError {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes)) // a partial body still has the message
	se := c.errorBody(data)
	se.Code = resp.StatusCode
	se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	se.Op = r.op
	return se
}

// answer reads and decodes a 2xx answer to r. It reports whether a failure
// may be retried.
func (c *Client) answer(ctx context.Context, r call, resp *http.Response, decode func([]byte) error) (retry bool, err error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		err = fmt.Errorf("%s: read response: %w", r.op, err)
		if r.op == opSubmit {
			return false, &UncertainError{Err: withStop(ctx, err)}
		}
		return ctx.Err() == nil, err // a body cut off is worth another look
	}
	if len(data) > maxBodyBytes {
		err = fmt.Errorf("%s: %w: body over %d bytes", r.op, ErrBadResponse, maxBodyBytes)
	} else {
		err = decode(data)
	}
	var se *StatusError
	switch {
	case err == nil:
		c.adapt.recover(c.now())
		return false, nil
	case errors.As(err, &se):
		if se.HTTPStatus != 0 {
			se.HTTPStatus = resp.StatusCode
		}
		return c.classify(se)
	case r.op == opSubmit:
		return false, &UncertainError{Err: err}
	}
	return false, err
}

// drainClose reads a little of what is left of body so that the connection
// can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBodyBytes))
	_ = body.Close()
}
