package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Version is sent as the User-Agent "pikabatch/<Version>". Release builds set
// it with -ldflags "-X github.com/pikabatch/pikabatch/runner/api.Version=v1.2.3".
var Version = "dev"

// DefaultBaseURL is the Model API's base URL.
const DefaultBaseURL = "https://model-api.runcomfy.net"

// Defaults for Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRetries     = 6
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
)

const (
	maxRedirects = 10
	// maxBodyBytes bounds a 2xx body; a result lists a few URLs.
	maxBodyBytes = 4 << 20
	// maxErrorBodyBytes bounds what is read of an error body, and drained
	// of any body so that the connection can be reused.
	maxErrorBodyBytes = 64 << 10
	// maxRetryAfter bounds a parsed Retry-After, so that no header can
	// overflow a time.Duration. The caller's ctx bounds the actual wait.
	maxRetryAfter = 24 * time.Hour
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the API's base URL; default DefaultBaseURL. It must use
	// https unless the host is loopback (localhost, 127.0.0.0/8, ::1). It
	// may have a path prefix, but no credentials, query or fragment.
	BaseURL string
	// Token is the API token; required.
	Token Token
	// HTTPClient sends the requests; default: a client with dial and TLS
	// timeouts and a keep-alive pool sized for a batch. The Client uses a
	// copy whose CheckRedirect refuses redirects to another origin (so the
	// token is never sent there) and redirects that turn a POST into a GET;
	// the given client's own CheckRedirect still runs for the others.
	HTTPClient *http.Client
	// Limiter, if set, is waited on right before every HTTP request,
	// retries and followed redirects included. Its rate adapts: a 429
	// halves it (at most once a second, down to a twentieth), and calls
	// that succeed bring it back to the configured rate over about 20s.
	Limiter *rate.Limiter
	// FixedRate keeps Limiter's rate as configured, 429s or not.
	FixedRate bool
	// RequestTimeout bounds each HTTP request, from sending it to reading
	// the whole answer; default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxRetries is the number of retries per call on transient errors;
	// 0 means DefaultMaxRetries, negative means none.
	MaxRetries int
	// BackoffBase and BackoffMax shape the wait before retry n (from 0): a
	// uniform random duration in [0, min(BackoffMax, BackoffBase*2^n)), or
	// the server's Retry-After when that is longer. Defaults
	// DefaultBackoffBase and DefaultBackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Logger receives Debug lines per request and Warn lines per retry;
	// default: discard.
	Logger *slog.Logger
	// Sleep waits d or until ctx is done, returning ctx's error then. It is
	// called from concurrent calls. Default: a timer in a select with ctx.Done().
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the backoff jitter; calls to it are
	// serialised. Default: math/rand/v2.
	Rand func() float64
}

// Client calls the Model API. It is safe for concurrent use.
type Client struct {
	base       *url.URL // scheme and host: the only origin that gets the token
	prefix     string   // scheme://host/path-prefix, no trailing slash
	auth       string   // Authorization header value
	secrets    []string // forms of the token scrubbed from response text
	hc         *http.Client
	limiter    *rate.Limiter
	pace       *pacer         // hands limiter tokens to urgent calls first
	adapt      *adaptiveLimit // nil: the limiter's rate is fixed
	timeout    time.Duration
	maxRetries int
	backoffMin time.Duration
	backoffMax time.Duration
	log        *slog.Logger
	sleep      func(ctx context.Context, d time.Duration) error
	rand       func() float64
	now        func() time.Time

	calls struct {
		submit, status, result, cancel, retries, rateLimited, slowdowns atomic.Int64
		pollsLimited                                                    atomic.Int64 // 429s on other calls than submit
	}
}

// Calls counts a Client's HTTP requests by kind (every attempt counts), the
// retries among them, the 429 answers received and the times they made the
// client slow its limiter down.
type Calls struct {
	Submit, Status, Result, Cancel int64
	Retries                        int64
	RateLimited                    int64
	Slowdowns                      int64
}

// New checks cfg and returns a Client. It fails with ErrInsecureBase for an
// http base URL whose host is not loopback, ErrNoToken for an empty token and
// ErrInvalidToken for a token no header can carry.
func New(cfg Config) (*Client, error) {
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, ErrNoToken
	}
	if !validToken(string(cfg.Token)) {
		return nil, ErrInvalidToken
	}
	c := &Client{
		base:       &url.URL{Scheme: base.Scheme, Host: base.Host},
		prefix:     base.Scheme + "://" + base.Host + strings.TrimRight(base.EscapedPath(), "/"),
		auth:       "Bearer " + string(cfg.Token),
		secrets:    tokenForms(string(cfg.Token)),
		limiter:    cfg.Limiter,
		timeout:    cfg.RequestTimeout,
		maxRetries: cfg.MaxRetries,
		backoffMin: cfg.BackoffBase,
		backoffMax: cfg.BackoffMax,
		log:        cfg.Logger,
		sleep:      cfg.Sleep,
		now:        time.Now,
	}
	if !cfg.FixedRate {
		c.adapt = newAdaptiveLimit(cfg.Limiter)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.backoffMin <= 0 {
		c.backoffMin = DefaultBackoffBase
	}
	if c.backoffMax <= 0 {
		c.backoffMax = DefaultBackoffMax
	}
	c.backoffMax = max(c.backoffMax, c.backoffMin)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	c.pace = newPacer(cfg.Limiter, sleepCtx)
	if cfg.Rand == nil {
		c.rand = rand.Float64
	} else {
		var mu sync.Mutex
		c.rand = func() float64 {
			mu.Lock()
			defer mu.Unlock()
			return cfg.Rand()
		}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	own := *hc
	own.CheckRedirect = c.checkRedirect(hc.CheckRedirect)
	c.hc = &own
	return c, nil
}

// parseBase checks a base URL; see Config.BaseURL.
func parseBase(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the raw URL, which might hold credentials
		}
		return nil, fmt.Errorf("base URL: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("base URL %s: scheme must be https", u.Redacted())
	case u.Opaque != "" || u.Hostname() == "":
		return nil, fmt.Errorf("base URL %s: no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("base URL %s: must not hold credentials; set the token instead", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("base URL %s: must not have a query or fragment", u.Redacted())
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("base URL %s: %w", u.Redacted(), ErrInsecureBase)
	}
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// isLoopback reports whether host is localhost, in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// validToken reports whether t can go in a header as a bearer token:
// printable ASCII without spaces.
func validToken(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// tokenForms returns the token as it may appear in a response body: as is,
// and escaped inside a JSON string.
func tokenForms(t string) []string {
	forms := []string{t}
	if b, err := json.Marshal(t); err == nil {
		if s := string(b[1 : len(b)-1]); s != t {
			forms = append(forms, s)
		}
	}
	return forms
}

func defaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	t.DialContext = dialer.DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.IdleConnTimeout = 90 * time.Second
	t.MaxIdleConns = 100
	// A batch keeps many calls in flight to one host; the default of 2 idle
	// connections per host would redial for most of them.
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

// checkRedirect refuses redirects that would take the token to another
// origin or turn a POST into a GET, runs next for the others, and waits on
// the limiter before the redirected request goes out.
func (c *Client) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, c.base) {
			return fmt.Errorf("%w: to %s", ErrRedirect, originOf(req.URL))
		}
		if len(via) > 0 && via[0].Method != req.Method {
			return fmt.Errorf("%w: %s would become %s", ErrRedirect, via[0].Method, req.Method)
		}
		if next != nil {
			if err := next(req, via); err != nil {
				if errors.Is(err, http.ErrUseLastResponse) {
					return err
				}
				return fmt.Errorf("%w: %w", ErrRedirect, err)
			}
		} else if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects", ErrRedirect, maxRedirects)
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(req.Context()); err != nil {
				return fmt.Errorf("%w: rate limiter: %w", ErrRedirect, err)
			}
		}
		return nil
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(strings.TrimSuffix(a.Hostname(), "."), strings.TrimSuffix(b.Hostname(), ".")) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

func originOf(u *url.URL) string { return u.Scheme + "://" + u.Host }

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Calls returns the counts of requests made so far.
func (c *Client) Calls() Calls {
	return Calls{
		Submit:      c.calls.submit.Load(),
		Status:      c.calls.status.Load(),
		Result:      c.calls.result.Load(),
		Cancel:      c.calls.cancel.Load(),
		Retries:     c.calls.retries.Load(),
		RateLimited: c.calls.rateLimited.Load(),
		Slowdowns:   c.calls.slowdowns.Load(),
	}
}

// CloseIdleConnections closes the HTTP client's idle keep-alive connections,
// e.g. at the end of a run.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// String describes the client without its token.
func (c *Client) String() string { return "api.Client{" + c.prefix + "}" }

// Format prints String for every verb: the Client's fields hold the token,
// and fmt would print unexported fields verbatim.
func (c *Client) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the base URL only.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// call is one API operation, possibly sent several times.
type call struct {
	op        string
	method    string
	url       string
	body      []byte // JSON; nil for none
	requestID string // for logs
	model     string // for logs
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
			c.log.Warn("retrying api request", append(r.logAttrs(attempt-1), "delay", delay, "err", last)...)
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
		if err := checkSendGate(ctx); err != nil {
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

// holdSubmit asks the caller's submit hold (WithSubmitHold), if any, about
// a 429 on a submit.
func (c *Client) holdSubmit(ctx context.Context, r call, se *StatusError) (HoldDecision, error) {
	if r.op != opSubmit {
		return AsRateLimit, nil
	}
	hold, ok := ctx.Value(submitHoldKey{}).(SubmitHold)
	if !ok || hold == nil {
		return AsRateLimit, nil
	}
	return hold(ctx, Refusal{StatusError: se, PollsRateLimited: c.calls.pollsLimited.Load()})
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
	ceiling := c.backoffMin
	for i := 0; i < n && ceiling < c.backoffMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.backoffMax)
	f := c.rand()
	if f < 0 || f >= 1 || math.IsNaN(f) {
		f = 0
	}
	delay := time.Duration(f * float64(ceiling))
	var se *StatusError
	if errors.As(last, &se) && se.RetryAfter > delay {
		delay = se.RetryAfter
	}
	return delay
}

// attempt sends r once. It reports whether a failure may be retried.
func (c *Client) attempt(ctx context.Context, r call, n int, decode func([]byte) error) (retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// wrote tells a lost answer (the API may have acted) from a request
	// that never fully left (it cannot have).
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, r.url, body)
	if err != nil {
		return false, fmt.Errorf("%s: %w", r.op, err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pikabatch/"+Version)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.count(r.op)

	resp, err := c.hc.Do(req)
	if err != nil {
		retry, err := c.transportError(ctx, r, err, wrote.Load())
		c.log.Debug("api request failed", append(r.logAttrs(n), "err", err)...)
		return retry, err
	}
	defer drainClose(resp.Body)
	c.log.Debug("api request", append(r.logAttrs(n), "code", resp.StatusCode)...)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes)) // a partial body still has the message
		se := &StatusError{
			Code:       resp.StatusCode,
			Message:    c.bodyMessage(data),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
			Op:         r.op,
		}
		return c.classify(se), se
	}

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		err = fmt.Errorf("%s: read response: %w", r.op, err)
		if r.op == opSubmit {
			return false, &UncertainError{Err: err}
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
		return c.classify(se), err
	case r.op == opSubmit:
		return false, &UncertainError{Err: err}
	}
	return false, err
}

// classify counts a 429, slows the shared limiter down for it, and reports
// whether se may be retried.
func (c *Client) classify(se *StatusError) bool {
	if se.Code == http.StatusTooManyRequests {
		c.calls.rateLimited.Add(1) // exec decides whether the rate slows down
		if se.Op != opSubmit {
			c.calls.pollsLimited.Add(1)
		}
	}
	return se.Temporary()
}

// transportError classifies an error from http.Client.Do.
func (c *Client) transportError(ctx context.Context, r call, err error, wrote bool) (retry bool, _ error) {
	err = c.scrub(fmt.Errorf("%s: %w", r.op, err))
	switch {
	case errors.Is(err, ErrRedirect):
		// The API answered with a redirect; nothing was accepted.
		return false, err
	case r.op == opSubmit && wrote:
		return false, &UncertainError{Err: err}
	}
	if cerr := ctx.Err(); cerr != nil {
		if !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return false, err
	}
	return true, err
}

// scrub removes the token from err's text. A redirect error names the
// Location the server sent, which the client does not control.
func (c *Client) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = c.redact(ue.URL)
	}
	if msg := err.Error(); c.redact(msg) != msg {
		return &scrubbedError{msg: c.redact(msg), err: err}
	}
	return err
}

// scrubbedError is err with the token removed from its text.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func (c *Client) count(op string) {
	switch op {
	case opSubmit:
		c.calls.submit.Add(1)
	case opStatus:
		c.calls.status.Add(1)
	case opResult:
		c.calls.result.Add(1)
	case opCancel:
		c.calls.cancel.Add(1)
	}
}

// drainClose reads a little of what is left of body so that the connection
// can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBodyBytes))
	_ = body.Close()
}

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

// bodyMessage is the API's message in an error body, else its text.
func (c *Client) bodyMessage(data []byte) string {
	if f, err := decodeObject(data); err == nil {
		if m := message(f, errorMessageKeys); m != "" {
			return c.clean(m, maxMessageText)
		}
	}
	return c.clean(string(data), maxBodyText)
}

// clean makes response text safe for errors and logs: no token, no control
// characters, bounded length.
func (c *Client) clean(s string, limit int) string {
	return truncate(sanitize(c.redact(s)), limit)
}

// redact replaces the token in s.
func (c *Client) redact(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// errorCodeError is the error for a 200 answer with an error_code.
func (c *Client) errorCodeError(op string, f fields) *StatusError {
	se := &StatusError{
		Code:      http.StatusOK,
		Message:   c.clean(message(f, errorMessageKeys), maxMessageText),
		Op:        op,
		ErrorCode: c.clean(f.errorCode(), maxCodeText),
	}
	if n, err := strconv.Atoi(se.ErrorCode); err == nil && n >= 400 && n <= 599 {
		se.Code = n
	}
	return se
}

// modelPath escapes each segment of a model ID, keeping the slashes.
func modelPath(model string) (string, error) {
	segs := strings.Split(model, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("%w: model %q", ErrInvalidID, model)
		}
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/"), nil
}

// requestURL builds /v1/requests/{id}/{action} on the base URL.
func (c *Client) requestURL(op, id, action string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("%s: %w: request ID %q", op, ErrInvalidID, id)
	}
	return c.prefix + "/v1/requests/" + url.PathEscape(id) + "/" + action, nil
}

// Submit creates a job: it POSTs input, marshalled to JSON, to
// /v1/models/{model}. Each accepted submit is a paid generation.
//
// Submit retries only while the request provably did not create a job: it
// did not reach the server in full, or the server answered 408, 429 or 5xx.
// When the request was written and the answer was lost (reset, EOF, timeout,
// an unreadable or malformed 200), it returns an *UncertainError, matching
// ErrUncertain, and does not retry: the caller decides. A 200 without
// request_id but with error_code is a *StatusError; a 200 with request_id is
// accepted even if it also has an error_code, because the job exists.
// Any other error means no job was created.
func (c *Client) Submit(ctx context.Context, model string, input any) (SubmitResponse, error) {
	path, err := modelPath(model)
	if err != nil {
		return SubmitResponse{}, fmt.Errorf("submit: %w", err)
	}
	body, err := json.Marshal(input)
	if err != nil {
		return SubmitResponse{}, fmt.Errorf("submit: encode input: %w", err)
	}
	var out SubmitResponse
	err = c.exec(ctx, call{op: opSubmit, method: http.MethodPost, url: c.prefix + "/v1/models/" + path, body: body, model: model},
		func(data []byte) error {
			f, err := decodeObject(data)
			if err != nil {
				return fmt.Errorf("submit: %w: %w", ErrBadResponse, err)
			}
			out = SubmitResponse{
				RequestID: strings.TrimSpace(f.str("request_id")),
				StatusURL: f.str("status_url"),
				ResultURL: f.str("result_url"),
				CancelURL: f.str("cancel_url"),
			}
			if out.RequestID != "" {
				return nil
			}
			if f.errorCode() != "" {
				return c.errorCodeError(opSubmit, f)
			}
			return fmt.Errorf("submit: %w: no request_id", ErrBadResponse)
		})
	if err != nil {
		return SubmitResponse{}, err
	}
	c.log.Debug("job submitted", "op", opSubmit, "model", model, "request_id", out.RequestID)
	return out, nil
}

// decodeState reads the status of a status or result body, or the error of
// an error_code body.
func (c *Client) decodeState(op string, data []byte) (fields, string, error) {
	f, err := decodeObject(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w: %w", op, ErrBadResponse, err)
	}
	raw := f.str("status")
	if strings.TrimSpace(raw) == "" {
		if f.errorCode() != "" {
			return nil, "", c.errorCodeError(op, f)
		}
		return nil, "", fmt.Errorf("%s: %w: no status", op, ErrBadResponse)
	}
	st, ok := normaliseStatus(raw)
	if !ok {
		// Guessing could end a running job's tracking (or bill it twice):
		// an unknown state is an error, and the job stays in flight.
		return nil, "", fmt.Errorf("%s: %w: unknown status %q", op, ErrBadResponse, c.clean(raw, maxCodeText))
	}
	return f, st, nil
}

// Status reads a job's state: GET /v1/requests/{id}/status. It is idempotent
// and retried on network errors, 408, 429 and 5xx. An unknown ID gives
// ErrNotFound.
func (c *Client) Status(ctx context.Context, requestID string) (Status, error) {
	u, err := c.requestURL(opStatus, requestID, "status")
	if err != nil {
		return Status{}, err
	}
	var out Status
	err = c.exec(ctx, call{op: opStatus, method: http.MethodGet, url: u, requestID: requestID}, func(data []byte) error {
		f, st, err := c.decodeState(opStatus, data)
		if err != nil {
			return err
		}
		out = Status{RequestID: requestID, Status: st, QueuePosition: f.queuePosition()}
		return nil
	})
	if err != nil {
		return Status{}, err
	}
	return out, nil
}

// Result reads a job's outcome: GET /v1/requests/{id}/result. It is idempotent
// and retried like Status. Before the job finishes it reports the current
// status with no Outputs. A job that completed without output reads as
// StatusFailed, with the API's message or "completed without output".
func (c *Client) Result(ctx context.Context, requestID string) (Result, error) {
	u, err := c.requestURL(opResult, requestID, "result")
	if err != nil {
		return Result{}, err
	}
	var out Result
	err = c.exec(ctx, call{op: opResult, method: http.MethodGet, url: u, requestID: requestID}, func(data []byte) error {
		f, st, err := c.decodeState(opResult, data)
		if err != nil {
			return err
		}
		out = Result{
			RequestID:  requestID,
			Status:     st,
			CreatedAt:  parseTime(f["created_at"]),
			FinishedAt: parseTime(f["finished_at"]),
		}
		msg := c.clean(message(f, resultMessageKeys), maxMessageText)
		switch st {
		case StatusCompleted:
			out.Outputs = outputURLs(f["output"])
			if len(out.Outputs) == 0 {
				out.Status = StatusFailed
				out.Error = msg
				if out.Error == "" {
					out.Error = "completed without output"
				}
			}
		case StatusFailed, StatusCancelled:
			out.Error = msg
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return out, nil
}

// Cancel cancels a queued job: POST /v1/requests/{id}/cancel. A job no longer
// queued gives ErrNotCancellable (409, a 400/422 saying so, or a 2xx whose
// status shows the job running or finished). Repeating a cancel is harmless,
// so it is retried like Status.
func (c *Client) Cancel(ctx context.Context, requestID string) error {
	u, err := c.requestURL(opCancel, requestID, "cancel")
	if err != nil {
		return err
	}
	return c.exec(ctx, call{op: opCancel, method: http.MethodPost, url: u, requestID: requestID}, func(data []byte) error {
		f, err := decodeObject(data)
		if err != nil {
			return nil // an empty or non-JSON 2xx is still a yes
		}
		if f.errorCode() != "" {
			return c.errorCodeError(opCancel, f)
		}
		// The documented answer's outcome decides; its status is not the
		// job's state (the docs' own example of an accepted cancel says
		// "completed").
		switch strings.ToLower(strings.TrimSpace(f.str("outcome"))) {
		case "cancelled", "canceled":
			return nil
		case "not_cancellable":
			return fmt.Errorf("cancel: %w", ErrNotCancellable)
		}
		if st, ok := normaliseStatus(f.str("status")); ok && st != StatusInQueue && st != StatusCancelled {
			return fmt.Errorf("cancel: job is %s: %w", st, ErrNotCancellable)
		}
		return nil
	})
}
