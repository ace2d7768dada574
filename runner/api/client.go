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
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner/backoff"
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
	DefaultSubmitGrace    = 15 * time.Second
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
	// apiVersionPath ends the paths the client builds. A base URL may end
	// with it too (RunComfy's own MCP server is configured that way).
	apiVersionPath = "/v1"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the API's base URL; default DefaultBaseURL. It must use
	// https unless the host is loopback (localhost, 127.0.0.0/8, ::1). It
	// may have a path prefix, but no credentials, query or fragment. A
	// trailing "/v1" is optional: "https://h" and "https://h/v1" both
	// submit to https://h/v1/models/{model}.
	BaseURL string
	// BalanceURL is the base of the balance endpoint, GET
	// {BalanceURL}/prod/v2/balance (a trailing /prod/v2 is optional), held
	// to the same rules as BaseURL. It is the only other origin the token
	// goes to. Empty means DefaultBalanceURL when BaseURL is RunComfy's
	// own, and BaseURL's origin otherwise (a simulator or staging host
	// serves its balance beside its API).
	BalanceURL string
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
	// SubmitGrace is how long a submit already going out may still wait
	// for its answer once the caller's ctx is done, so that the request ID
	// of a job the API created is still returned; default
	// DefaultSubmitGrace. RequestTimeout still bounds the whole request.
	SubmitGrace time.Duration
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
	base          *url.URL // scheme and host: the API's origin, which gets the token
	prefix        string   // scheme://host/path-prefix, no trailing slash
	balance       *url.URL // scheme and host of the balance endpoint: the only other origin that gets the token
	balancePrefix string   // scheme://host/path-prefix of the balance endpoint, without /prod/v2
	auth          string   // Authorization header value
	secrets       []string // forms of the token scrubbed from response text
	hc            *http.Client
	limiter       *rate.Limiter
	pace          *pacer         // hands limiter tokens to urgent calls first
	adapt         *adaptiveLimit // nil: the limiter's rate is fixed
	timeout       time.Duration
	grace         time.Duration // Config.SubmitGrace
	maxRetries    int
	retryWait     backoff.Policy // before retry n of a call, unless Retry-After says longer
	log           *slog.Logger
	sleep         func(ctx context.Context, d time.Duration) error
	now           func() time.Time
	stopSeen      func() // test hook: a submit attempt saw its ctx end

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
	// PollsRateLimited counts the 429s of RateLimited on status, result
	// and cancel calls: a rate limit's, never the account's limit on jobs
	// at once, which refuses only submits.
	PollsRateLimited int64
	Slowdowns        int64
}

// New checks cfg and returns a Client. It fails with ErrInsecureBase for an
// http base URL whose host is not loopback, ErrNoToken for an empty token and
// ErrInvalidToken for a token no header can carry.
func New(cfg Config) (*Client, error) {
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	bal, err := balanceBase(cfg, base)
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
		base:          &url.URL{Scheme: base.Scheme, Host: base.Host},
		prefix:        base.Scheme + "://" + base.Host + basePath(base),
		balance:       &url.URL{Scheme: bal.Scheme, Host: bal.Host},
		balancePrefix: balancePrefixOf(bal),
		auth:          "Bearer " + string(cfg.Token),
		secrets:       tokenForms(string(cfg.Token)),
		limiter:       cfg.Limiter,
		timeout:       cfg.RequestTimeout,
		grace:         cfg.SubmitGrace,
		maxRetries:    cfg.MaxRetries,
		retryWait:     backoff.Policy{Base: cfg.BackoffBase, Max: cfg.BackoffMax, Rand: cfg.Rand},
		log:           cfg.Logger,
		sleep:         cfg.Sleep,
		now:           time.Now,
	}
	if !cfg.FixedRate {
		c.adapt = newAdaptiveLimit(cfg.Limiter)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.grace <= 0 {
		c.grace = DefaultSubmitGrace
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.retryWait.Base <= 0 {
		c.retryWait.Base = DefaultBackoffBase
	}
	if c.retryWait.Max <= 0 {
		c.retryWait.Max = DefaultBackoffMax
	}
	c.retryWait.Max = max(c.retryWait.Max, c.retryWait.Base)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = backoff.Sleep
	}
	c.pace = newPacer(cfg.Limiter, backoff.Sleep)
	if cfg.Rand != nil {
		var mu sync.Mutex
		c.retryWait.Rand = func() float64 {
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

// basePath is the base URL's path prefix without trailing slashes and
// without a trailing "/v1", which the client adds to every path itself.
func basePath(base *url.URL) string {
	p := strings.TrimRight(base.EscapedPath(), "/")
	if strings.EqualFold(path.Base(p), strings.TrimPrefix(apiVersionPath, "/")) {
		p = strings.TrimRight(p[:len(p)-len(apiVersionPath)], "/")
	}
	return p
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
		if !sameOrigin(req.URL, c.base) && !sameOrigin(req.URL, c.balance) {
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

// Calls returns the counts of requests made so far.
func (c *Client) Calls() Calls {
	return Calls{
		Submit:           c.calls.submit.Load(),
		Status:           c.calls.status.Load(),
		Result:           c.calls.result.Load(),
		Cancel:           c.calls.cancel.Load(),
		Retries:          c.calls.retries.Load(),
		RateLimited:      c.calls.rateLimited.Load(),
		PollsRateLimited: c.calls.pollsLimited.Load(),
		Slowdowns:        c.calls.slowdowns.Load(),
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

// attempt sends r once. It reports whether a failure may be retried.
func (c *Client) attempt(ctx context.Context, r call, n int, decode func([]byte) error) (retry bool, err error) {
	var (
		actx    context.Context
		cancel  context.CancelFunc
		sending = func() bool { return true }
	)
	if r.op == opSubmit {
		actx, cancel, sending = c.submitContext(ctx)
	} else {
		actx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()
	// wrote tells a lost answer (the API may have acted) from a request
	// that never fully left (it cannot have). unsent marks a request whose
	// connection was closed before it was written to.
	var wrote, unsent atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
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
		retry, err := c.transportError(ctx, r, err, wrote.Load() && !unsent.Load())
		c.log.Debug("api request failed", append(r.logAttrs(n), "err", err)...)
		return retry, err
	}
	defer drainClose(resp.Body)
	c.log.Debug("api request", append(r.logAttrs(n), "code", resp.StatusCode)...)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes)) // a partial body still has the message
		se := c.errorBody(data)
		se.Code = resp.StatusCode
		se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		se.Op = r.op
		return c.classify(se)
	}

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

// submitContext returns the context one submit attempt runs under, and
// sending, to be called when the request starts going out; it reports
// false if ctx ended first, and the request must not go. Until then the
// context ends with ctx: a stop during the dial sends nothing. From then on
// it outlives ctx by c.grace, so that the answer of a job the API may be
// creating (its request ID) is still read. RequestTimeout bounds it either
// way.
func (c *Client) submitContext(ctx context.Context) (context.Context, context.CancelFunc, func() bool) {
	actx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	actx, cancelTimeout := context.WithTimeout(actx, c.timeout)
	const (
		before  = iota // not sending yet
		sending        // the request is going out
		stopped        // ctx ended before it went out
	)
	var phase atomic.Int32
	stopWatch := context.AfterFunc(ctx, func() {
		if c.stopSeen != nil {
			defer c.stopSeen()
		}
		if phase.CompareAndSwap(before, stopped) {
			cancelCause(context.Cause(ctx))
			return
		}
		t := time.AfterFunc(c.grace, func() {
			cancelCause(fmt.Errorf("no answer %s after the stop: %w", c.grace, context.Cause(ctx)))
		})
		context.AfterFunc(actx, func() { t.Stop() })
	})
	cancel := func() {
		stopWatch()
		cancelTimeout()
		cancelCause(context.Canceled)
	}
	// A followed redirect gets a connection too: still sending.
	return actx, cancel, func() bool { return phase.CompareAndSwap(before, sending) || phase.Load() == sending }
}

// withStop adds ctx's error to err when ctx is done and err does not say so.
func withStop(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
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

// bodyMessage is the API's message in an error body, else its text.
func (c *Client) bodyMessage(data []byte) string { return c.errorBody(data).Message }

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
// /v1/models/{model}. Each accepted submit is a paid generation, and the API
// has no idempotency key, so Submit repeats a request only when the API
// provably created nothing:
//
//   - a 429 (the API refused the job; the caller's SubmitHold, if any, is
//     asked what it means), waiting out its Retry-After;
//   - a request that never left in full: a dial, TLS or write error.
//
// A 5xx or 408, a timeout or cut connection after the body was written, an
// unreadable 2xx and a 2xx without request_id are uncertain: the job may
// exist. Submit returns an *UncertainError (errors.Is(err, ErrUncertain))
// and never retries it; the caller decides. An answer with an error_code is
// a refusal, whatever its HTTP status: a *StatusError matching the code's
// sentinel (ErrUnknownModel, ErrPaymentRequired, ErrUnauthorized…), as is
// any other 4xx (413 and 400/422 without a code match ErrRejected). A 2xx
// with a request_id is accepted even if it also has an error_code, because
// the job exists. Any error but an UncertainError means no job was created.
//
// ctx bounds everything before the request goes out: the limiter's wait,
// opts' send gate, backoff and holds. Once the request is
// going out, a ctx that ends no longer cuts it short: Submit waits up to
// Config.SubmitGrace more for the answer, so that a created job's request ID
// is returned rather than lost; past that it returns an *UncertainError that
// also matches ctx's error.
func (c *Client) Submit(ctx context.Context, model string, input any, opts SubmitOptions) (SubmitResponse, error) {
	path, err := modelPath(model)
	if err != nil {
		return SubmitResponse{}, fmt.Errorf("submit: %w", err)
	}
	body, err := json.Marshal(input)
	if err != nil {
		return SubmitResponse{}, fmt.Errorf("submit: encode input: %w", err)
	}
	var out SubmitResponse
	err = c.exec(ctx, call{op: opSubmit, method: http.MethodPost, url: c.prefix + "/v1/models/" + path, body: body, model: model, submit: opts},
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
				if f.hasErrorCode() {
					c.log.Warn("submit accepted with an error_code; keeping its request ID", "op", opSubmit, "request_id", out.RequestID,
						"err", c.errorCodeError(opSubmit, f))
				}
				return nil
			}
			if f.hasErrorCode() {
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
// an error_code body. A documented error_code decides even beside a status;
// an unknown status word is StatusUnknown, not an error.
func (c *Client) decodeState(op string, data []byte) (fields, string, string, error) {
	f, err := decodeObject(data)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %w: %w", op, ErrBadResponse, err)
	}
	if n, _ := f.errorCode(); codeSentinels[n] != nil {
		return nil, "", "", c.errorCodeError(op, f)
	}
	raw := f.str("status")
	if strings.TrimSpace(raw) == "" {
		if f.hasErrorCode() {
			return nil, "", "", c.errorCodeError(op, f)
		}
		return nil, "", "", fmt.Errorf("%s: %w: no status", op, ErrBadResponse)
	}
	st := normaliseStatus(raw)
	if st != StatusUnknown {
		return f, st, "", nil
	}
	// Guessing what an unknown word means could end a running job's
	// tracking (or bill it twice): the caller keeps looking instead, and
	// may say which word it saw.
	word := c.clean(raw, maxWordText)
	c.log.Debug("unknown status word", "op", op, "word", word)
	return f, st, word, nil
}

// Status reads a job's state: GET /v1/requests/{id}/status. It is idempotent
// and retried on network errors, 408, 429 and 5xx. A status word the client
// does not know reads as StatusUnknown, with the word in Status.Word. An
// unknown, deleted or expired ID gives ErrNotFound; another account's,
// ErrPermissionDenied.
func (c *Client) Status(ctx context.Context, requestID string) (Status, error) {
	u, err := c.requestURL(opStatus, requestID, "status")
	if err != nil {
		return Status{}, err
	}
	var out Status
	err = c.exec(ctx, call{op: opStatus, method: http.MethodGet, url: u, requestID: requestID}, func(data []byte) error {
		f, st, word, err := c.decodeState(opStatus, data)
		if err != nil {
			return err
		}
		out = Status{RequestID: requestID, Status: st, Word: word, QueuePosition: f.queuePosition()}
		return nil
	})
	if err != nil {
		return Status{}, err
	}
	return out, nil
}

// Result reads a job's outcome: GET /v1/requests/{id}/result. It is idempotent
// and retried like Status, and reads status words like it ("succeeded" is
// StatusCompleted). Before the job finishes it reports the current status
// with no Outputs. A job that completed without output reads as
// StatusFailed, with the API's message or "completed without output".
func (c *Client) Result(ctx context.Context, requestID string) (Result, error) {
	u, err := c.requestURL(opResult, requestID, "result")
	if err != nil {
		return Result{}, err
	}
	// RunComfy's partner nodes ask for the job's cost this way; an API that
	// ignores the parameter answers as before.
	u += "?include_cost=true"
	var out Result
	err = c.exec(ctx, call{op: opResult, method: http.MethodGet, url: u, requestID: requestID}, func(data []byte) error {
		f, st, word, err := c.decodeState(opResult, data)
		if err != nil {
			return err
		}
		out = Result{
			RequestID:  requestID,
			Status:     st,
			Word:       word,
			CreatedAt:  parseTime(f["created_at"]),
			FinishedAt: parseTime(f["finished_at"]),
		}
		// A cost above what any job costs is no figure to sum: the job
		// counts at its estimate, as one without a reported cost.
		if cost, ok := amount(f["cost"]); ok && cost <= MaxCostUSD {
			out.Cost = &cost
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

// Cancel asks the API to cancel a job: POST /v1/requests/{id}/cancel. nil
// means the API accepted the cancel: the answer's outcome is "cancelled"
// (or "cancellation_requested"), or, without an outcome, its status is
// in_queue, cancelled or cancellation_requested, or it has neither (a bare
// 2xx). The answer's status is not the job's new state: the documented
// {"status":"completed","outcome":"cancelled"} is accepted.
// ErrNotCancellable means it was not: outcome "not_cancellable" or a word
// the client does not know, a status of a running or finished job without
// an outcome, 409, or a 400/422 saying so. Such a job goes on and is
// billed: keep polling it and collect its output. Repeating a cancel is
// harmless, so it is retried like Status.
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
		if f.hasErrorCode() {
			return c.errorCodeError(opCancel, f)
		}
		if raw := f.str("outcome"); strings.TrimSpace(raw) != "" {
			switch strings.ToLower(strings.TrimSpace(raw)) {
			case "cancelled", "canceled", "cancellation_requested":
				return nil
			}
			// "not_cancellable", or a word that does not say yes: the job
			// may still run, so it must not be recorded cancelled.
			return fmt.Errorf("cancel: outcome %q: %w", c.clean(raw, maxWordText), ErrNotCancellable)
		}
		raw := f.str("status")
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "", StatusInQueue, StatusCancelled, "canceled", "cancellation_requested":
			return nil
		}
		return fmt.Errorf("cancel: job is %q: %w", c.clean(raw, maxWordText), ErrNotCancellable)
	})
}
